"""The one scoring rule for tool-call replies (rules in DESIGN.md), used by eval, the in-training
eval, probe and compare.

A case is correct when the calls parsed from the reply equal the expected calls as a multiset:
names equal, arguments equal as JSON values (1 == 1.0, but true != 1), strings compared after
trimming surrounding whitespace, order-insensitive across several calls. ``failure_reason`` names
why a scored reply is wrong, ``call_pairs`` pairs expected with predicted tools for confusion tables;
both read only a record's saved fields, so they work on old report files too.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from punie.toolcalls.registry import parse
from punie.toolcalls.result import CANONICAL_FORMAT, NO_CALL_FORMAT, ParseResult

# Failure reasons, in the order they are tested: the first that applies names the failure.
FAILURE_REASONS = ("false_call", "truncated", "unparsable", "missed_call", "wrong_tool", "wrong_arguments", "other")
NO_CALL = "(no call)"  # confusion-table label: no call expected / none made
UNPARSABLE = "(unparsable)"  # confusion-table label: call markup the parser could not read


def canon(value: Any) -> Any:
    """A hashable canonical form: equal canon ⇔ equal as JSON values under punie's rules."""
    if isinstance(value, bool):  # before int: bool is an int subclass in Python, not in JSON
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", float(value))
    if isinstance(value, str):
        return ("str", value.strip())
    if value is None:
        return ("null",)
    if isinstance(value, list | tuple):
        return ("list", tuple(canon(v) for v in value))
    if isinstance(value, dict):
        return ("obj", frozenset((str(k), canon(v)) for k, v in value.items()))
    return ("other", repr(value))


def json_equal(a: Any, b: Any) -> bool:
    return canon(a) == canon(b)


def _call_key(call: dict[str, Any]) -> tuple[str, Any]:
    args = call.get("arguments")
    return (str(call.get("name", "")), canon(args if isinstance(args, dict) else {}))


def calls_equal(predicted: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    """Multiset equality of calls (order-insensitive)."""
    return Counter(map(_call_key, predicted)) == Counter(map(_call_key, expected))


def _fields(calls: list[dict[str, Any]]) -> Counter:
    out: Counter = Counter()
    for call in calls:
        args = call.get("arguments")
        for key, value in (args if isinstance(args, dict) else {}).items():
            out[(str(call.get("name", "")), str(key), canon(value))] += 1
    return out


def field_scores(predicted: list[dict[str, Any]], expected: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Precision, recall, F1 over (tool, argument, value) fields; a field only counts under the right tool."""
    pred, exp = _fields(predicted), _fields(expected)
    hits = sum((pred & exp).values())
    names_match = Counter(c.get("name") for c in predicted) == Counter(c.get("name") for c in expected)
    # Calls without arguments: nothing to count, so the name decides (1 if right, 0 if not).
    precision = hits / sum(pred.values()) if pred else float(names_match and not exp)
    recall = hits / sum(exp.values()) if exp else float(names_match and not pred)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score_calls(result: ParseResult, expected_calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-case scores for a parsed reply (see ``score_case``)."""
    calls = result.calls
    # A broken call block is still an attempted call: in a no-call case it is a false call, and in a
    # call case it means the agent would receive a parse error instead of running the tool.
    attempted = bool(calls) or bool(result.errors)
    expects_call = bool(expected_calls)
    lenient_ok = not result.errors
    strict_ok = lenient_ok and result.format in (CANONICAL_FORMAT, NO_CALL_FORMAT) and not result.repaired
    if expects_call:
        correct = lenient_ok and calls_equal(calls, expected_calls)
        name_correct = Counter(c.get("name") for c in calls) == Counter(c["name"] for c in expected_calls)
    else:
        correct = not attempted
        name_correct = not attempted
    precision, recall, f1 = field_scores(calls, expected_calls) if expects_call else (
        (1.0, 1.0, 1.0) if not calls else (0.0, 1.0, 0.0)
    )
    return {
        "correct": bool(correct),
        "calls": calls,
        "expected_calls": expected_calls,
        "format": result.format,
        "strict_ok": bool(strict_ok),
        "lenient_ok": bool(lenient_ok),
        "parse_errors": list(result.errors),
        "name_correct": bool(name_correct),
        "args_exact": bool(expects_call and lenient_ok and calls_equal(calls, expected_calls)),
        "arg_precision": precision,
        "arg_recall": recall,
        "arg_f1": f1,
        "expects_call": expects_call,
        "false_call": bool(not expects_call and attempted),
        "missed_call": bool(expects_call and not calls),
        "tools": sorted({c["name"] for c in expected_calls}),
    }


def score_case(case: dict[str, Any], raw: str | None, *, finish_reason: str = "stop") -> dict[str, Any]:
    """The full record for one tool-call case given the model's raw reply text."""
    raw = raw or ""
    try:
        result = parse(raw, case.get("tools"))
    except Exception as exc:  # the parser must never crash a run; a crash is a scored failure
        result = ParseResult(calls=[], content=raw, format=NO_CALL_FORMAT, errors=[f"parser crashed: {exc!r}"])
    calls = [c for c in result.calls if isinstance(c, dict)]
    result.calls = [{"name": str(c.get("name", "")), "arguments": c.get("arguments") or {}} for c in calls]
    record = {"id": case["id"], "category": case.get("category", "tool_call"), "raw": raw}
    record.update(score_calls(result, case.get("expected_calls") or []))
    record["finish_reason"] = finish_reason
    record["content"] = result.content
    return record


def failure_reason(record: dict[str, Any]) -> str | None:
    """Why a scored case is wrong (one of ``FAILURE_REASONS``), None when it is correct.

    "wrong_tool": the tools called differ from the expected ones as a multiset (so a missing or extra
    call among several counts here; "missed_call" is a reply with no call at all). Records without
    tool-call fields (code, reasoning suites) fail as "other". A reply cut at the
    token limit counts as truncated before anything else in a call case: the cut is the cause of
    whatever broke after it.
    """
    if record.get("correct"):
        return None
    if "strict_ok" not in record:
        return "other"
    if not record.get("expects_call"):
        return "false_call"
    if record.get("finish_reason") == "length":
        return "truncated"
    if record.get("parse_errors"):
        return "unparsable"
    if not record.get("calls"):
        return "missed_call"
    if not record.get("name_correct"):
        return "wrong_tool"
    return "wrong_arguments"


def call_pairs(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(expected tool, predicted tool) pairs of one tool-call record, for a confusion table.

    Same names pair first; the leftovers pair in order; an unmatched expected tool pairs with
    "(no call)" (or "(unparsable)" when the reply's markup was broken), an unmatched predicted one
    with an expected "(no call)". Names outside the offered tools are kept as written.
    """
    expected = [str(c.get("name", "")) for c in record.get("expected_calls") or []]
    predicted = [str(c.get("name", "")) for c in record.get("calls") or [] if isinstance(c, dict)]
    missing = UNPARSABLE if record.get("parse_errors") else NO_CALL
    pairs = []
    for name in list(expected):
        if name in predicted:
            expected.remove(name)
            predicted.remove(name)
            pairs.append((name, name))
    while expected or predicted:
        pairs.append((expected.pop(0) if expected else NO_CALL, predicted.pop(0) if predicted else missing))
    return pairs or [(NO_CALL, missing)]  # a no-call case: none made, or broken markup (a false call)


__all__ = ["FAILURE_REASONS", "NO_CALL", "UNPARSABLE", "call_pairs", "calls_equal", "canon", "failure_reason",
           "field_scores", "json_equal", "score_calls", "score_case"]
