"""Statistics for eval scores: Wilson intervals, McNemar's exact paired test, metric aggregation.

Hand-written on purpose: both formulas are a few lines and pulling in scipy/statsmodels for them
would add ~100 MB to a CPU install. Tests pin them to published values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from punie.toolcalls.scoring import FAILURE_REASONS, call_pairs, failure_reason

Z95 = 1.959963984540054  # standard normal quantile for a two-sided 95 % interval


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at k = 0 or k = n the bound is exactly 0 or 1; rounding would put it a hair off
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (only A right) and c (only B right).

    Under H0 the discordant pairs split as Binomial(b + c, 1/2).
    """
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def _rate(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def accuracy_block(records: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(records)
    k = sum(1 for r in records if r.get("correct"))
    lo, hi = wilson_interval(k, n)
    return {"accuracy": k / n if n else 0.0, "n": n, "correct": k, "ci95": [lo, hi]}


def tool_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Tool-call metrics over records produced by ``scoring.score_case`` (others are ignored)."""
    recs = [r for r in records if "strict_ok" in r]
    calls = [r for r in recs if r.get("expects_call")]
    nocalls = [r for r in recs if not r.get("expects_call")]
    out = {
        **accuracy_block(recs),
        "name_accuracy": _rate([r["name_correct"] for r in calls]),
        "arg_exact_match": _rate([r["args_exact"] for r in calls]),
        "arg_precision": _mean([r["arg_precision"] for r in calls]),
        "arg_recall": _mean([r["arg_recall"] for r in calls]),
        "arg_f1": _mean([r["arg_f1"] for r in calls]),
        "strict_parse_rate": _rate([r["strict_ok"] for r in recs]),
        "lenient_parse_rate": _rate([r["lenient_ok"] for r in recs]),
        "no_call_accuracy": _rate([not r["false_call"] for r in nocalls]),
        "false_call_rate": _rate([r["false_call"] for r in nocalls]),
        "missed_call_rate": _rate([r["missed_call"] for r in calls]),
        "truncated_rate": _rate([r.get("finish_reason") == "length" for r in recs]),
        "n_call_cases": len(calls),
        "n_no_call_cases": len(nocalls),
    }
    # Strict vs lenient among replies that contain a call: the format-drift diagnostic.
    with_calls = [r for r in recs if r.get("calls")]
    out["strict_call_format_rate"] = _rate([r["strict_ok"] for r in with_calls])
    return out


def per_tool(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Accuracy of tool cases grouped by expected tool name ("(no call)" for no-call cases)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if "strict_ok" not in r:
            continue
        for name in r.get("tools") or ["(no call)"]:
            groups[name].append(r)
    out = {}
    for name in sorted(groups):
        rs = groups[name]
        block = accuracy_block(rs)
        block["name_accuracy"] = _rate([r["name_correct"] for r in rs])
        block["arg_f1"] = _mean([r["arg_f1"] for r in rs if r.get("expects_call")])
        out[name] = block
    return out


def failure_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    """How many failed cases fail for each reason (every reason listed, zeros included, so tables line up)."""
    counts = dict.fromkeys(FAILURE_REASONS, 0)
    for r in records:
        reason = failure_reason(r)
        if reason is not None:
            counts[reason] += 1
    return counts


def confusion(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Expected tool × predicted tool over tool-call records ({expected: {predicted: count}}), one count
    per (expected, predicted) call pair; "(no call)" on either side, unknown names as written."""
    table: dict[str, dict[str, int]] = {}
    for r in records:
        if "strict_ok" not in r:
            continue
        for exp, pred in call_pairs(r):
            row = table.setdefault(exp, {})
            row[pred] = row.get(pred, 0) + 1
    return {k: dict(sorted(v.items())) for k, v in sorted(table.items())}


def format_histogram(records: list[dict[str, Any]]) -> dict[str, int]:
    hist: dict[str, int] = defaultdict(int)
    for r in records:
        hist[str(r.get("format") or "none")] += 1
    return dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))


__all__ = [
    "accuracy_block",
    "confusion",
    "failure_counts",
    "format_histogram",
    "mcnemar_exact",
    "per_tool",
    "tool_metrics",
    "wilson_interval",
]
