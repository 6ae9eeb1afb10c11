"""Compare eval reports (paired McNemar tests on shared cases) and judge a candidate against the gates.

Gates (the seed's): tool calling ≥ 95 %; overall accuracy not below the baseline.
Red flags: overall < 85 %; tool calling not significantly improved over the baseline; wrong output
format (the lenient parse rate clearly above the strict one); false-call rate up; the two runs decoded
differently (``settings.constrained``: ``punie eval --constrained`` against a run without it).

Paired first: every Δ, p and red flag that compares two runs uses only the case ids both scored
(a baseline often runs on a sample); a figure that could not be paired says "unpaired".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from punie.errors import ConfigError
from punie.eval import stats
from punie.eval.stats import mcnemar_exact, wilson_interval
from punie.toolcalls.scoring import failure_reason

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


def decoding_mode(report: dict[str, Any]) -> bool | None:
    """``settings.constrained`` of a report: True, False, or None (over HTTP without --constrained, the
    server's default decided). Reports written before the setting existed: False in-process, None over HTTP."""
    settings = report.get("settings") or {}
    if "constrained" in settings:
        value = settings["constrained"]
        return None if value is None else bool(value)
    return None if report.get("backend") == "openai-http" else False


def decoding_label(mode: bool | None) -> str:
    return {True: "constrained (tool_choice=auto)", False: "unconstrained", None: "the server's default"}[mode]


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
    delta = acc_b - acc_a if acc_a is not None and acc_b is not None else None
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


def _is_no_call(record: dict[str, Any]) -> bool:
    return _is_tool(record) and not record.get("expects_call")


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
    n_shared: int | None = None  # cases both runs scored (None without a baseline): what the Δs are over
    decoding: str | None = None  # the candidate's decoding (decoding_label): what the gates judged

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        head = "PASS" if self.passed else "FAIL"
        lines = [f"verdict: {head}" + (f" ({self.candidate} vs {self.baseline})" if self.baseline else "")
                 + (f", decoding {self.decoding}" if self.decoding else "")]
        for g in self.gates:
            mark = {True: "ok  ", False: "FAIL", None: "n/a "}[g["ok"]]
            lines.append(f"  [{mark}] {g['name']}: {g['detail']}")
        for flag in self.red_flags:
            lines.append(f"  red flag: {flag}")
        return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _paired_detail(t: dict[str, Any], what: str = "shared cases") -> str:
    return (f"{_pct(t['baseline_accuracy'])} → {_pct(t['candidate_accuracy'])} on {t['n_shared']} {what} "
            f"(McNemar p={t['p_value']:.3g}, {t['direction']})")


def _tool_gate(cand: dict[str, Any]) -> dict[str, Any]:
    """The candidate's own tool-call accuracy against the absolute gate (no comparison: all its cases)."""
    name = f"tool calling ≥ {TOOL_GATE:.0%}"
    acc, n = _tc(cand, "accuracy"), int(_tc(cand, "n") or 0)
    if acc is None:
        return {"name": name, "ok": None, "detail": "no tool-call cases"}
    lo, hi = wilson_interval(round(acc * n), n)
    return {"name": name, "ok": acc >= TOOL_GATE, "detail": f"{_pct(acc)} (95% CI {_pct(lo)}–{_pct(hi)}, n={n})"}


def _overall_gate(base: dict[str, Any] | None, cand: dict[str, Any]) -> dict[str, Any]:
    name = "overall not below baseline"
    if base is None:
        return {"name": name, "ok": None, "detail": "no baseline given"}
    t = paired_test(base, cand)
    if t["n_shared"]:
        return {"name": name, "ok": t["delta"] >= 0, "detail": _paired_detail(t)}
    b, c = base["overall"]["accuracy"], cand["overall"]["accuracy"]
    return {"name": name, "ok": c >= b, "detail": f"{_pct(b)} → {_pct(c)} (no shared cases: unpaired)"}


def _tool_flag(base: dict[str, Any], cand: dict[str, Any]) -> str | None:
    if _tc(cand, "accuracy") is None or _tc(base, "accuracy") is None:
        return None
    t = paired_test(base, cand, _is_tool)
    if t["n_shared"]:
        if t["significant"] and t["delta"] > 0:
            return None
        return f"tool calling not improved over the baseline: {_paired_detail(t, 'shared tool cases')}"
    # nothing to pair: only clearly separated 95 % intervals count as an improvement
    bacc, cacc = float(_tc(base, "accuracy") or 0), float(_tc(cand, "accuracy") or 0)
    bn, cn = int(_tc(base, "n") or 0), int(_tc(cand, "n") or 0)
    _, bhi = wilson_interval(round(bacc * bn), bn)
    clo, _ = wilson_interval(round(cacc * cn), cn)
    if clo > bhi:
        return None
    return (f"tool calling not improved over the baseline: {_pct(bacc)} → {_pct(cacc)} "
            "(unpaired: intervals overlap, no shared cases)")


def _format_flag(cand: dict[str, Any]) -> str | None:
    strict, lenient = _tc(cand, "strict_parse_rate"), _tc(cand, "lenient_parse_rate")
    if strict is None or lenient is None or lenient - strict <= FORMAT_GAP:
        return None
    return (f"wrong output format: strict parse rate {_pct(strict)} vs lenient {_pct(lenient)} "
            "(the model writes calls in a format it was not trained on)")


def _false_call_flag(base: dict[str, Any], cand: dict[str, Any]) -> str | None:
    """On shared no-call cases (a no-call case is correct exactly when it has no false call)."""
    t = paired_test(base, cand, _is_no_call)
    if t["n_shared"]:
        fb, fc = 1 - t["baseline_accuracy"], 1 - t["candidate_accuracy"]
        if fc <= fb:
            return None
        return (f"false-call rate up: {_pct(fb)} → {_pct(fc)} on {t['n_shared']} shared no-call cases "
                f"(McNemar p={t['p_value']:.3g})")
    fb, fc = _tc(base, "false_call_rate"), _tc(cand, "false_call_rate")
    if fb is None or fc is None or fc <= fb:
        return None
    return f"false-call rate up: {_pct(fb)} → {_pct(fc)} (unpaired: no shared no-call cases)"


def _changed_cases_flag(base: dict[str, Any], cand: dict[str, Any]) -> str | None:
    """Shared ids whose prompts differ: the suite was regenerated between the runs, so pairs by id
    are different cases and every paired figure is meaningless."""
    prompts = {case_key(r): r.get("prompt") for r in base.get("cases", [])}
    pairs = [(prompts[case_key(r)], r.get("prompt")) for r in cand.get("cases", []) if case_key(r) in prompts]
    differ = sum(1 for a, b in pairs if a and b and a != b)
    if not differ:
        return None
    return (f"{differ} of {len(pairs)} shared case ids have different prompts: the suite changed between "
            "the runs, so paired figures compare different cases (re-run the baseline on this suite)")


def _decoding_flag(base: dict[str, Any], cand: dict[str, Any]) -> str | None:
    """The runs decoded differently (constrained vs not): every Δ mixes the model with the decoding."""
    b, c = decoding_mode(base), decoding_mode(cand)
    if b == c:
        return None
    return (f"decoding differs: baseline {decoding_label(b)}, candidate {decoding_label(c)}; the deltas mix the "
            "model with the decoding (re-run one of them with the other's --constrained setting)")


def verdict(baseline_report: dict[str, Any] | None, candidate_report: dict[str, Any]) -> Verdict:
    """Judge ``candidate_report`` against the gates; ``baseline_report`` may be None (baseline gates n/a).

    Everything that compares the two runs is paired on their shared case ids; a figure computed
    without shared cases says "unpaired".
    """
    cand, base = candidate_report, baseline_report
    gates = [_tool_gate(cand), _overall_gate(base, cand)]
    flags = []
    if cand["overall"]["accuracy"] < OVERALL_FLAG:
        flags.append(f"overall accuracy {_pct(cand['overall']['accuracy'])} is under {OVERALL_FLAG:.0%}")
    checks = [_format_flag(cand)]
    if base is not None:
        checks = [_changed_cases_flag(base, cand), _decoding_flag(base, cand), _tool_flag(base, cand), checks[0],
                  _false_call_flag(base, cand)]
    flags += [f for f in checks if f]
    passed = all(g["ok"] is not False for g in gates) and any(g["ok"] for g in gates)
    return Verdict(passed=passed, gates=gates, red_flags=flags,
                   baseline=_label(base, 0) if base else None, candidate=_label(cand, 1),
                   n_shared=len(shared_keys([base, cand])) if base else None,
                   decoding=decoding_label(decoding_mode(cand)))


def shared_keys(reports: list[dict[str, Any]]) -> set[str]:
    """Case keys (suite/id) every report scored: the cases a paired figure may use."""
    keys = [{case_key(r) for r in rep.get("cases", [])} for rep in reports]
    return set.intersection(*keys) if keys else set()


def _side(record: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}_raw": record.get("raw", ""), f"{prefix}_calls": record.get("calls"),
            f"{prefix}_failure": failure_reason(record)}


def case_changes(baseline: dict[str, Any], candidate: dict[str, Any],
                 label: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(fixed, broken): shared cases wrong → right and right → wrong, with both replies and parsed calls."""
    base = {case_key(r): r for r in baseline.get("cases", [])}
    fixed: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    for rec in candidate.get("cases", []):
        old = base.get(case_key(rec))
        if old is None or bool(old.get("correct")) == bool(rec.get("correct")):
            continue
        entry = {"id": rec["id"], "suite": rec.get("suite"), "category": rec.get("category"),
                 "candidate": label, "prompt": rec.get("prompt") or old.get("prompt", ""),
                 "expected_calls": rec.get("expected_calls"), **_side(old, "baseline"), **_side(rec, "candidate")}
        (fixed if rec.get("correct") else broken).append(entry)
    return fixed, broken


def _paired_cases(report: dict[str, Any], keys: set[str]) -> list[dict[str, Any]]:
    return [r for r in report.get("cases", []) if case_key(r) in keys]


def _row_entry(base: dict[str, Any], report: dict[str, Any], cat: str, index: int) -> dict[str, Any] | None:
    """One cell of the per-category table: this run on all its cases, and (candidates) the paired Δ."""
    block = report["overall"] if cat == "overall" else report.get("categories", {}).get(cat)
    if not block:
        return None
    entry: dict[str, Any] = {"accuracy": block["accuracy"], "n": block["n"], "ci95": block.get("ci95")}
    if index == 0:
        return entry
    pred = None if cat == "overall" else (lambda rec, c=cat: rec.get("category") == c)
    entry["paired"] = paired_test(base, report, pred)
    b0 = base["overall"] if cat == "overall" else base.get("categories", {}).get(cat)
    # Δ is paired (shared ids only); the all-cases difference is kept under a name that says what it is
    entry["delta"] = entry["paired"]["delta"]
    entry["unpaired_delta"] = block["accuracy"] - b0["accuracy"] if b0 else None
    return entry


TOOL_METRIC_KEYS = ("accuracy", "name_accuracy", "arg_exact_match", "arg_f1", "strict_parse_rate",
                    "lenient_parse_rate", "no_call_accuracy", "false_call_rate")


def _tool_metric_rows(reports: list[dict[str, Any]], keys: set[str]) -> list[dict[str, Any]]:
    """Each metric per report on all its cases ("values") and on the cases all reports share ("shared")."""
    shared = [stats.tool_metrics(_paired_cases(r, keys)) if keys else {} for r in reports]
    return [{"metric": k, "values": [_tc(r, k) for r in reports], "shared": [m.get(k) for m in shared]}
            for k in TOOL_METRIC_KEYS]


def _unique(labels: list[str]) -> list[str]:
    """Labels key ``failure_reasons``: two runs of the same model must not collapse into one entry."""
    out: list[str] = []
    for lab in labels:
        out.append(lab if lab not in out else f"{lab} (#{len(out) + 1})")
    return out


def compare_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Side-by-side per category, paired deltas and McNemar tests of each report against the first (the
    baseline), fixed/broken cases, failure reasons and tool confusion on the cases all reports share."""
    if len(reports) < 2:
        raise ConfigError("compare needs at least two reports", location="REPORT.json")
    labels = _unique([_label(r, i) for i, r in enumerate(reports)])
    cats: list[str] = []
    for r in reports:
        cats.extend(c for c in r.get("categories", {}) if c not in cats)
    base = reports[0]
    rows = [{"category": cat, "values": [_row_entry(base, r, cat, i) for i, r in enumerate(reports)]}
            for cat in [*cats, "overall"]]
    keys = shared_keys(reports)
    # no shared ids at all: counts over each run's own cases (the HTML says so), better than nothing
    scoped = [_paired_cases(r, keys) if keys else r.get("cases", []) for r in reports]
    fixed: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    for label, r in zip(labels[1:], reports[1:], strict=True):
        f, b = case_changes(base, r, label)
        fixed += f
        broken += b
    return {
        "labels": labels,
        "reports": [{"label": lab, "model": r.get("model"), "adapter": r.get("adapter"),
                     "suites": r.get("suites"), "started_at": r.get("started_at"), "n": len(r.get("cases", [])),
                     "constrained": decoding_mode(r),
                     "confusion": stats.confusion(recs)}
                    for lab, r, recs in zip(labels, reports, scoped, strict=True)],
        "rows": rows,
        "tool_metrics": _tool_metric_rows(reports, keys),
        "verdicts": [verdict(base, r).to_dict() for r in reports[1:]],
        "n_shared": len(keys),
        "fixed": fixed,
        "broken": broken,
        "confusion": stats.confusion(scoped[1]),  # the (first) candidate's; each report's is in "reports"
        "failure_reasons": {lab: stats.failure_counts(recs) for lab, recs in zip(labels, scoped, strict=True)},
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


__all__ = ["Verdict", "case_changes", "compare_reports", "decoding_label", "decoding_mode", "load_report",
           "paired_test", "shared_keys", "verdict"]
