"""Shared by the suites whose answers are plain text (code, reasoning): one batched generation, and
the common part of each record. A tool call in such an answer is a wrong answer; it is kept for diagnosis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from punie.backends.base import Generation, GenerationRequest


def generate_answers(
    cases: list[dict[str, Any]], backend: Any, budget: int, progress: Callable[[int], None] | None
) -> list[Generation]:
    """All cases in one ``backend.generate`` call, no tools offered."""
    requests = [GenerationRequest(messages=c["messages"], tools=[], max_new_tokens=budget) for c in cases]
    return backend.generate(requests, progress=progress) if requests else []


def base_record(case: dict[str, Any], gen: Generation, correct: bool, detail: str) -> dict[str, Any]:
    from punie.toolcalls import parse

    text = gen.text or ""
    parsed = parse(text)
    return {
        "id": case["id"],
        "category": case["category"],
        "correct": correct,
        "calls": parsed.calls,
        "expected_calls": [],
        "raw": text,
        "format": parsed.format,
        "finish_reason": getattr(gen, "finish_reason", "stop"),
        "detail": detail,
    }
