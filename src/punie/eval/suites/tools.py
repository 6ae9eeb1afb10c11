"""``punie-tools``: held-out tool-call cases over the 7 agent tools, scored by ``punie.toolcalls.scoring``.

The cases live in ``data/punie_tools.jsonl``, written by the data stage's held-out generator from
phrasings disjoint from training (its one writer; regenerate the committed 260 cases with
``punie dataset generate DIR --suite src/punie/eval/suites/data/punie_tools.jsonl --suite-size 260``).
``punie-wild`` (``data/punie_wild.jsonl``) is the same kind of suite written by hand, independently of
the generator, in the many ways real users phrase requests; it is not generated and must not be
regenerated, and training data must not be tuned to its cases.
This module also evaluates any tool-call case from a user's suite file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from punie.backends.base import Generation, GenerationRequest, ProgressFn
from punie.toolcalls import render_calls
from punie.toolcalls.scoring import score_case

DATA_FILE = Path(__file__).parent / "data" / "punie_tools.jsonl"
WILD_FILE = Path(__file__).parent / "data" / "punie_wild.jsonl"
DATA_FILES = {"punie-tools": DATA_FILE, "punie-wild": WILD_FILE}
DEFAULT_MAX_NEW_TOKENS = 96
CHARS_PER_TOKEN = 2.5  # conservative for JSON with paths; budget must fit the expected answer


def load_cases(name: str = "punie-tools") -> list[dict[str, Any]]:
    from punie.eval.suites import read_suite_file

    return read_suite_file(DATA_FILES.get(name, DATA_FILE))


NO_CALL_MAX_NEW_TOKENS = 64
SLACK_TOKENS = 24


def token_budget(case: dict[str, Any], max_new_tokens: int | None = None) -> int:
    """Explicit value, else the case's own, else the expected answer's length plus slack.

    A reply that has not finished the expected calls within ~24 tokens of their canonical length
    is wrong anyway (a long preamble or rambling); a no-call reply gets 64 tokens to show a false
    call. Generation is the eval's whole cost, so budgets are as tight as the scoring allows.
    """
    if max_new_tokens:
        return int(max_new_tokens)
    if case.get("max_new_tokens"):
        return int(case["max_new_tokens"])
    expected = case.get("expected_calls") or []
    if not expected:
        return NO_CALL_MAX_NEW_TOKENS
    return int(len(render_calls(expected)) / CHARS_PER_TOKEN) + SLACK_TOKENS


def evaluate(
    cases: list[dict[str, Any]],
    backend: Any,
    *,
    progress: ProgressFn | None = None,
    max_new_tokens: int | None = None,
) -> list[dict[str, Any]]:
    """Generate replies for all cases in one batched call, then score each against expected_calls."""
    if not cases:
        return []
    requests = [
        GenerationRequest(
            messages=case["messages"],
            tools=case.get("tools"),
            max_new_tokens=token_budget(case, max_new_tokens),
            temperature=0.0,
        )
        for case in cases
    ]
    generations: list[Generation] = backend.generate(requests, progress=progress)
    records = []
    for case, gen in zip(cases, generations, strict=True):
        record = score_case(case, gen.text, finish_reason=gen.finish_reason)
        record["completion_tokens"] = gen.completion_tokens
        records.append(record)
    return records
