"""Wilson intervals and McNemar's exact test against published values."""

from __future__ import annotations

import pytest

from punie.eval.stats import format_histogram, mcnemar_exact, tool_metrics, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        (8, 10, 0.4902, 0.9433),  # Newcombe (1998), and R's prop.test(correct=FALSE)
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),  # Agresti & Coull example
        (1, 2, 0.0945, 0.9055),
    ],
)
def test_wilson_known_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-4)
    assert got[1] == pytest.approx(hi, abs=1e-4)


def test_wilson_empty_and_bounds():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for n in range(1, 40):
        for k in range(n + 1):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 0, 1.0),
        (2, 0, 0.5),  # a 2-case difference is nowhere near significant
        (0, 5, 0.0625),
        (1, 9, 0.021484375),
        (10, 10, 1.0),
        (3, 12, 0.03515625),
    ],
)
def test_mcnemar_exact(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-9)
    assert mcnemar_exact(c, b) == pytest.approx(p, rel=1e-9)  # symmetric


def _rec(correct, expects_call=True, calls=(), strict=True, lenient=True, false_call=False, fmt="hermes"):
    return {"correct": correct, "expects_call": expects_call, "calls": list(calls), "strict_ok": strict,
            "lenient_ok": lenient, "false_call": false_call, "missed_call": False, "name_correct": correct,
            "args_exact": correct, "arg_precision": 1.0 if correct else 0.0, "arg_recall": 1.0 if correct else 0.0,
            "arg_f1": 1.0 if correct else 0.0, "format": fmt, "tools": ["read_file"] if expects_call else []}


def test_tool_metrics_rates():
    recs = [_rec(True, calls=[1]), _rec(False, calls=[1], strict=False, fmt="json"),
            _rec(True, expects_call=False, fmt="none"), _rec(False, expects_call=False, calls=[1], false_call=True)]
    m = tool_metrics(recs)
    assert m["n"] == 4 and m["accuracy"] == 0.5
    assert m["strict_parse_rate"] == 0.75 and m["lenient_parse_rate"] == 1.0
    assert m["false_call_rate"] == 0.5 and m["no_call_accuracy"] == 0.5
    assert m["name_accuracy"] == 0.5 and m["arg_f1"] == 0.5
    assert format_histogram(recs) == {"hermes": 2, "json": 1, "none": 1}
