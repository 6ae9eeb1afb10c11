"""A fake Backend returning canned replies, for tests of eval (and of anything that takes a Backend)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from punie.backends.base import Generation, GenerationRequest
from punie.toolcalls import render_calls


class FakeBackend:
    """Replies from ``reply(request) -> str``; by default the expected answer looked up by user text."""

    name = "fake"

    def __init__(self, reply: Callable[[GenerationRequest], str] | dict[str, str] | None = None) -> None:
        self.reply = reply
        self.calls: list[list[GenerationRequest]] = []

    def _text(self, request: GenerationRequest) -> str:
        if callable(self.reply):
            return self.reply(request)
        user = next(m["content"] for m in reversed(request.messages) if m["role"] == "user")
        if isinstance(self.reply, dict):
            return self.reply.get(user, "")
        return ""

    def generate(self, requests: Sequence[GenerationRequest], *, progress: Any = None) -> list[Generation]:
        self.calls.append(list(requests))
        out = []
        for req in requests:
            text = self._text(req)
            out.append(Generation(text=text, finish_reason="stop", completion_tokens=len(text) // 4))
            if progress:
                progress(1)
        return out

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        yield self._text(request)


def oracle(cases: list[dict[str, Any]], wrong: set[str] = frozenset()) -> FakeBackend:  # type: ignore[assignment]
    """A backend that answers every case correctly, except ids in ``wrong`` (answered 'I don't know')."""
    table = {}
    for case in cases:
        user = next(m["content"] for m in reversed(case["messages"]) if m["role"] == "user")
        table[user] = "I don't know." if case["id"] in wrong else (render_calls(case["expected_calls"]) or "Hello!")
    return FakeBackend(table)
