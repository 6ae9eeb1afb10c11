"""``reasoning``: short questions with checkable answers (numeric with tolerance, or exact words).

A regression check on general ability (tool tuning can make a model forget). The prompt asks for a
final ``Answer: <answer>`` line; the answer is read from the last such line, else (numeric) from the
last number in the reply. A 135M model scores low here; the point is the before/after delta.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

from punie.errors import SuiteError

CATEGORY = "reasoning"
DATA_FILE = "reasoning.jsonl"
MAX_NEW_TOKENS = 128
INSTRUCTION = "Think briefly, then give the final answer on the last line in the form 'Answer: <answer>'."

_ANSWER_LINE = re.compile(r"answer\s*(?:is)?\s*[:=]\s*(.+)", re.I)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?|-?\.\d+")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def load_cases(name: str = CATEGORY) -> list[dict[str, Any]]:
    path = resources.files("punie.eval.suites").joinpath("data", DATA_FILE)
    cases = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question, answer = row["question"], row["answer"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SuiteError(f"bad reasoning case: {exc}", location=f"{DATA_FILE}:{lineno}") from exc
        cases.append(
            {
                "id": row["id"],
                "category": CATEGORY,
                "messages": [{"role": "user", "content": f"{question}\n{INSTRUCTION}"}],
                "answer": answer,
                "match": row.get("match", "numeric"),
                "tolerance": row.get("tolerance"),
            }
        )
    return cases


def _to_number(text: str) -> float | None:
    text = text.replace(",", "").replace(" ", "")
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        return None


def extract_answer(text: str) -> str | None:
    """The text after the last ``Answer:`` marker, or None."""
    found = None
    for line in (text or "").splitlines():
        m = _ANSWER_LINE.search(line)
        if m and m.group(1).strip():
            found = m.group(1).strip()
    return found


def extract_number(text: str) -> float | None:
    """First number of the final answer line; else the last number anywhere in the reply."""
    answer = extract_answer(text)
    if answer is not None:
        nums = _NUMBER.findall(answer)
        if nums:
            return _to_number(nums[0])
    nums = _NUMBER.findall(text or "")
    return _to_number(nums[-1]) if nums else None


def _words(text: str) -> list[str]:
    return [w for w in _NON_WORD.split(text.lower()) if w]


def check(case: dict[str, Any], text: str) -> tuple[bool, str, str]:
    """(correct, extracted answer, detail)."""
    expected = case["answer"]
    if case.get("match", "numeric") == "numeric":
        target = float(expected)
        got = extract_number(text)
        if got is None:
            return False, "", "no number in the reply"
        tol = case.get("tolerance")
        tol = float(tol) if tol is not None else 1e-6 * max(1.0, abs(target))
        ok = abs(got - target) <= tol
        shown = f"{got:g}"
        return ok, shown, "" if ok else f"got {shown}, expected {target:g}"
    answer = extract_answer(text)
    if answer is None:
        lines = [ln for ln in (text or "").splitlines() if ln.strip()]
        answer = lines[-1] if lines else ""
    want, got_words = _words(str(expected)), _words(answer)
    # exact after normalisation, or the answer line starts with the expected words ("Yes, because ...")
    ok = bool(want) and got_words[: len(want)] == want
    return ok, answer, "" if ok else f"got {answer!r}, expected {expected!r}"


def evaluate(
    cases: list[dict[str, Any]],
    backend: Any,
    *,
    progress: Callable[[int], None] | None = None,
    max_new_tokens: int | None = None,
) -> list[dict[str, Any]]:
    from punie.eval.suites._answers import base_record, generate_answers

    records = []
    answers = generate_answers(cases, backend, max_new_tokens or MAX_NEW_TOKENS, progress)
    for case, gen in zip(cases, answers, strict=True):
        ok, got, detail = check(case, gen.text or "")
        record = base_record(case, gen, ok, detail)
        record.update(answer=got, expected_answer=case["answer"])
        records.append(record)
    return records


__all__ = ["CATEGORY", "INSTRUCTION", "check", "evaluate", "extract_answer", "extract_number", "load_cases"]
