"""Compare eval reports (paired McNemar tests on shared cases) and judge a candidate against the gates.

Gates (the seed's): tool calling ≥ 95 %; overall accuracy not below the baseline.
Red flags: overall < 85 %; tool calling not significantly improved over the baseline; wrong output
format (the lenient parse rate clearly above the strict one); false-call rate up.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from punie.errors import ConfigError
from punie.eval.stats import mcnemar_exact, wilson_interval

TOOL_GATE = 0.95
OVERALL_FLAG = 0.85
ALPHA = 0.05
FORMAT_GAP = 0.05  # lenient − strict parse rate above this = the model drifted off the trained format


def case_key(record: dict[str, Any]) -> str:
    return f"{record.get('suite', '')}/{record['id']}"


def _label(report: dict[str, Any], index: int) -> str:
    base = report.get("label") or report.get("model") or f"report {index + 1}"
    adapter = report.get("adapter")
    return f"{base} + {Path(str(adapter)).name}" if adapter and not report.get("label") else str(base)


def paired_test(baseline: dict[str, Any], candidate: dict[str, Any], predicate=None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """McNemar exact test on the cases both reports share (optionally only those matching ``predicate``)."""
    a = {case_key(r): bool(r["correct"]) for r in baseline.get("cases", []) if predicate is None or predicate(r)}
    b = {case_key(r): bool(r["correct"]) for r in candidate.get("cases", []) if predicate is None or predicate(r)}
    shared = sorted(a.keys() & b.keys())
    only_base = sum(1 for k in shared if a[k] and not b[k])
    only_cand = sum(1 for k in shared if b[k] and not a[k])
    n = len(shared)
    acc_a = sum(a[k] for k in shared) / n if n else None
    acc_b = sum(b[k] for k in shared) / n if n else None
    p = mcnemar_exact(only_base, only_cand)
    delta = (acc_b - acc_a) if n else None
    return {
        "n_shared": n,
        "baseline_accuracy": acc_a,
        "candidate_accuracy": acc_b,
        "delta": delta,
        "only_baseline_correct": only_base,
        "only_candidate_correct": only_cand,
        "p_value": p,
        "significant": bool(n and p < ALPHA),
        "direction": ("better" if delta and delta > 0 else "worse" if delta and delta < 0 else "same")
        if n and p < ALPHA else "no significant difference",
    }


def _is_tool(record: dict[str, Any]) -> bool:
    return "strict_ok" in record


def _tc(report: dict[str, Any], key: str) -> float | None:
    tc = report.get("tool_calling") or {}
    return tc.get(key)


@dataclass
class Verdict:
    passed: bool
    gates: list[dict[str, Any]] = field(default_factory=list)  # {"name", "ok": bool|None, "detail"}
    red_flags: list[str] = field(default_factory=list)
    baseline: str | None = None
    candidate: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        head = "PASS" if self.passed else "FAIL"
        lines = [f"verdict: {head}" + (f" ({self.candidate} vs {self.baseline})" if self.baseline else "")]
        for g in self.gates:
            mark = {True: "ok  ", False: "FAIL", None: "n/a "}[g["ok"]]
            lines.append(f"  [{mark}] {g['name']}: {g['detail']}")
        for flag in self.red_flags:
            lines.append(f"  red flag: {flag}")
        return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def verdict(baseline_report: dict[str, Any] | None, candidate_report: dict[str, Any]) -> Verdict:
    """Judge ``candidate_report`` against the gates; ``baseline_report`` may be None (baseline gates n/a)."""
    cand, base = candidate_report, baseline_report
    gates: list[dict[str, Any]] = []
    flags: list[str] = []

    tool_acc = _tc(cand, "accuracy")
    tool_n = _tc(cand, "n") or 0
    if tool_acc is None:
        gates.append({"name": f"tool calling ≥ {TOOL_GATE:.0%}", "ok": None, "detail": "no tool-call cases"})
    else:
        lo, hi = wilson_interval(round(tool_acc * tool_n), tool_n)
        gates.append({"name": f"tool calling ≥ {TOOL_GATE:.0%}", "ok": tool_acc >= TOOL_GATE,
                      "detail": f"{_pct(tool_acc)} (95% CI {_pct(lo)}–{_pct(hi)}, n={tool_n})"})

    overall = cand["overall"]["accuracy"]
    if base is None:
        gates.append({"name": "overall not below baseline", "ok": None, "detail": "no baseline given"})
    else:
        t = paired_test(base, cand)
        if t["n_shared"]:
            ok = t["delta"] >= 0
            detail = (f"{_pct(t['baseline_accuracy'])} → {_pct(t['candidate_accuracy'])} on {t['n_shared']} shared "
                      f"cases (McNemar p={t['p_value']:.3g}, {t['direction']})")
        else:
            ok = overall >= base["overall"]["accuracy"]
            detail = f"{_pct(base['overall']['accuracy'])} → {_pct(overall)} (no shared cases: unpaired)"
        gates.append({"name": "overall not below baseline", "ok": ok, "detail": detail})

    if overall < OVERALL_FLAG:
        flags.append(f"overall accuracy {_pct(overall)} is under {OVERALL_FLAG:.0%}")
    if base is not None and tool_acc is not None and _tc(base, "accuracy") is not None:
        t = paired_test(base, cand, _is_tool)
        if t["n_shared"]:
            if not (t["significant"] and t["delta"] > 0):
                flags.append(f"tool calling not improved over the baseline: {_pct(t['baseline_accuracy'])} → "
                             f"{_pct(t['candidate_accuracy'])} (McNemar p={t['p_value']:.3g} on {t['n_shared']} cases)")
        else:
            blo, bhi = wilson_interval(round(_tc(base, "accuracy") * _tc(base, "n")), _tc(base, "n"))
            clo, _ = wilson_interval(round(tool_acc * tool_n), tool_n)
            if clo <= bhi:
                flags.append(f"tool calling not improved over the baseline: {_pct(_tc(base, 'accuracy'))} → "
                             f"{_pct(tool_acc)} (intervals overlap, no shared cases)")
    strict, lenient = _tc(cand, "strict_parse_rate"), _tc(cand, "lenient_parse_rate")
    if strict is not None and lenient is not None and lenient - strict > FORMAT_GAP:
        flags.append(f"wrong output format: strict parse rate {_pct(strict)} vs lenient {_pct(lenient)} "
                     "(the model writes calls in a format it was not trained on)")
    if base is not None:
        fb, fc = _tc(base, "false_call_rate"), _tc(cand, "false_call_rate")
        if fb is not None and fc is not None and fc > fb:
            t = paired_test(base, cand, lambda r: _is_tool(r) and not r.get("expects_call"))
            flags.append(f"false-call rate up: {_pct(fb)} → {_pct(fc)}"
                         + (f" (McNemar p={t['p_value']:.3g} on {t['n_shared']} no-call cases)" if t["n_shared"] else ""))

    passed = all(g["ok"] is not False for g in gates) and any(g["ok"] for g in gates)
    return Verdict(passed=passed, gates=gates, red_flags=flags,
                   baseline=_label(base, 0) if base else None, candidate=_label(cand, 1))


def compare_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Side-by-side per category, deltas and McNemar tests of each report against the first (the baseline)."""
    if len(reports) < 2:
        raise ConfigError("compare needs at least two reports", location="REPORT.json")
    labels = [_label(r, i) for i, r in enumerate(reports)]
    cats: list[str] = []
    for r in reports:
        cats.extend(c for c in r.get("categories", {}) if c not in cats)
    base = reports[0]
    rows = []
    for cat in [*cats, "overall"]:
        row: dict[str, Any] = {"category": cat, "values": []}
        for i, r in enumerate(reports):
            block = r["overall"] if cat == "overall" else r.get("categories", {}).get(cat)
            entry: dict[str, Any] = {"accuracy": block["accuracy"], "n": block["n"],
                                     "ci95": block.get("ci95")} if block else None  # type: ignore[assignment]
            if entry and i > 0:
                pred = None if cat == "overall" else (lambda rec, c=cat: rec.get("category") == c)
                entry["paired"] = paired_test(base, r, pred)
                b0 = base["overall"] if cat == "overall" else base.get("categories", {}).get(cat)
                entry["delta"] = block["accuracy"] - b0["accuracy"] if b0 else None
            row["values"].append(entry)
        rows.append(row)
    metrics = []
    for key in ("accuracy", "name_accuracy", "arg_exact_match", "arg_f1", "strict_parse_rate",
                "lenient_parse_rate", "no_call_accuracy", "false_call_rate"):
        metrics.append({"metric": key, "values": [_tc(r, key) for r in reports]})
    return {
        "labels": labels,
        "reports": [{"label": lab, "model": r.get("model"), "adapter": r.get("adapter"),
                     "suites": r.get("suites"), "started_at": r.get("started_at")}
                    for lab, r in zip(labels, reports, strict=True)],
        "rows": rows,
        "tool_metrics": metrics,
        "verdicts": [verdict(base, r).to_dict() for r in reports[1:]],
    }


def load_report(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("report file not found", location=str(path)) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"not a JSON report: {exc}", location=str(path)) from exc
    if not isinstance(data, dict) or "overall" not in data or "cases" not in data:
        raise ConfigError("not a punie eval report (needs 'overall' and 'cases')", location=str(path))
    return data


__all__ = ["Verdict", "compare_reports", "load_report", "paired_test", "verdict"]
