"""The reasoning suite: answers extracted from the reply and matched exactly or numerically."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from punie.backends.base import Generation
from punie.eval.suites import reasoning


class FakeBackend:
    name = "fake"

    def __init__(self, reply) -> None:  # type: ignore[no-untyped-def]
        self.reply = reply
        self.batches: list[int] = []

    def generate(self, requests, *, progress=None):  # type: ignore[no-untyped-def]
        self.batches.append(len(requests))
        if progress:
            progress(len(requests))
        return [Generation(text=self.reply(r)) for r in requests]

    def stream(self, request):  # type: ignore[no-untyped-def]
        yield self.reply(request)


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    return reasoning.load_cases("reasoning")


def test_suite_size_and_prompt_instruction(cases: list[dict[str, Any]]) -> None:
    assert len(cases) >= 30 and len({c["id"] for c in cases}) == len(cases)
    assert all("Answer:" in c["messages"][0]["content"] for c in cases)


def test_right_answers_pass_wrong_fail(cases: list[dict[str, Any]]) -> None:
    by_prompt = {c["messages"][0]["content"]: c for c in cases}
    backend = FakeBackend(lambda r: f"Let me think.\nAnswer: {by_prompt[r.messages[0]['content']]['answer']}")
    records = reasoning.evaluate(cases, backend)
    assert all(r["correct"] for r in records)
    assert backend.batches == [len(cases)]
    wrong = reasoning.evaluate(cases, FakeBackend(lambda r: "Answer: 123456789"))
    assert not any(r["correct"] for r in wrong)


@pytest.mark.parametrize(
    ("answer", "match", "reply", "ok"),
    [
        (8, "numeric", "3 for $1, so 24 cost 8 dollars.\nAnswer: $8", True),
        (8, "numeric", "Answer: 8.0", True),
        (8, "numeric", "Answer: 8 (since 24 / 3 = 8)", True),
        (8, "numeric", "24 / 3 = 8", True),  # no Answer line: last number
        (8, "numeric", "Answer: 9\nwait, 24/3 = 8", False),  # the Answer line wins over later numbers
        (0.625, "numeric", "Answer: 5/8", True),
        (1024, "numeric", "Answer: 1,024", True),
        (-3, "numeric", "Answer: -3 degrees", True),
        (7, "numeric", "Answer: seven", False),
        ("yes", "exact", "Answer: Yes, Tom is an animal.", True),
        ("no", "exact", "Answer: yes", False),
        ("Paris", "exact", "The capital is Paris.\nAnswer: paris", True),
        ("H2O", "exact", "answer: H2O.", True),
        ("Carol", "exact", "Bob", False),
        ("Sunday", "exact", "", False),
    ],
)
def test_answer_extraction_and_matching(answer: Any, match: str, reply: str, ok: bool) -> None:
    case = {"answer": answer, "match": match}
    assert reasoning.check(case, reply)[0] is ok


@pytest.mark.parametrize("text", ["", "\x00\xff", "Answer:", "Answer: 1/0", "9" * 5000, "<tool_call>{bad"])
def test_garbage_is_a_failure_not_a_crash(cases: list[dict[str, Any]], text: str) -> None:
    records = reasoning.evaluate(cases[:2], FakeBackend(lambda r: text))
    assert [r["correct"] for r in records] == [False, False]


@given(st.integers(-10**6, 10**6), st.text(max_size=40).filter(lambda s: not any(c.isdigit() for c in s)))
def test_any_integer_round_trips_through_the_answer_line(n: int, prose: str) -> None:
    prose = prose.replace("\n", " ").replace("\r", " ")
    assert reasoning.check({"answer": n, "match": "numeric"}, f"{prose}\nAnswer: {n}")[0]


@pytest.mark.slow  # verified plumbing; the tiny model costs seconds on a loaded 2-core machine
def test_runs_on_the_in_process_backend_with_a_tiny_model(cases: list[dict[str, Any]], tiny) -> None:  # type: ignore[no-untyped-def]
    from punie.backends.inprocess import InProcessBackend

    model, tokenizer = tiny
    records = reasoning.evaluate(cases[:2], InProcessBackend(model, tokenizer), max_new_tokens=6)
    assert len(records) == 2 and all(isinstance(r["correct"], bool) for r in records)
