"""Self-contained HTML reports (inline CSS, SVG and a few lines of JS; nothing fetched from the network)."""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any

from punie.eval.svg import SMOOTHED, bar_chart, line_chart
from punie.paths import atomic_write_text

TEMPLATES = Path(__file__).parent / "templates"
STANDARD_KEYS = {"id", "category", "correct", "calls", "expected_calls", "raw", "format", "suite", "prompt",
                 "content", "strict_ok", "lenient_ok", "parse_errors", "name_correct", "args_exact",
                 "arg_precision", "arg_recall", "arg_f1", "expects_call", "false_call", "missed_call",
                 "tools", "finish_reason", "completion_tokens"}
STEP_KEYS = ("step", "iter", "iteration", "global_step")


@cache
def _env():  # type: ignore[no-untyped-def]
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.ChainableUndefined, trim_blocks=False)
    env.globals["pct"] = pct
    return env


def pct(x: Any) -> str:
    return f"{100 * float(x):.1f}%" if isinstance(x, int | float) and not isinstance(x, bool) else "—"


def _dump(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True)


def call_lines(calls: Any) -> list[str]:
    """One line per call, ``name {"arg": value}``, sorted: an order-insensitive view for reading and diffing."""
    if not isinstance(calls, list):
        return []
    lines = []
    for call in calls:
        if isinstance(call, dict) and "name" in call:
            args = json.dumps(call.get("arguments") or {}, sort_keys=True, ensure_ascii=False)
            lines.append(f"{call['name']} {args}")
        else:
            lines.append(json.dumps(call, sort_keys=True, ensure_ascii=False, default=str))
    return sorted(lines)


def _diff(record: dict[str, Any]) -> list[dict[str, str]]:
    """Expected vs parsed calls, one line per call (- missing, + extra); other records show extra fields."""
    if record.get("expected_calls") is not None and "strict_ok" in record:
        if record.get("correct"):
            return [{"cls": "", "text": "(match)"}]
        lines = []
        for line in difflib.ndiff(call_lines(record.get("expected_calls")), call_lines(record.get("calls"))):
            if line.startswith(("- ", "+ ")):
                lines.append({"cls": "diff-add" if line[0] == "+" else "diff-del", "text": line})
        if not record.get("expected_calls") and not record.get("calls"):
            lines.append({"cls": "diff-del", "text": "no call expected; the reply attempted one"})
        for err in record.get("parse_errors") or []:
            lines.append({"cls": "diff-del", "text": f"parse error: {err}"})
        return lines
    extra = {k: v for k, v in record.items() if k not in STANDARD_KEYS}
    text = _dump(extra) if extra else ""
    return [{"cls": "", "text": text[:4000]}]


def _case_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for rec in report.get("cases", []):
        row = dict(rec)
        row["calls_json"] = "\n".join(call_lines(rec.get("calls"))) or ("(none)" if rec.get("calls") == [] else "")
        row["expected_json"] = ("\n".join(call_lines(rec.get("expected_calls"))) or "(no call)"
                                if rec.get("expected_calls") is not None else "")
        row["diff"] = _diff(rec)
        row.setdefault("prompt", "")
        rows.append(row)
    rows.sort(key=lambda r: bool(r.get("correct")))  # stable: failures first, suite order kept
    return rows


def training_series(metrics: list[dict[str, Any]]) -> tuple[dict[str, list], dict[str, list]]:
    """Split metrics.jsonl rows into loss-like and rate-like series keyed by metric name."""
    loss: dict[str, list] = {}
    rate: dict[str, list] = {}
    for i, row in enumerate(metrics or []):
        if not isinstance(row, dict):
            continue
        step = next((row[k] for k in STEP_KEYS if isinstance(row.get(k), int | float)), i)
        for key, value in row.items():
            if key in STEP_KEYS or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if "loss" in key or "ppl" in key:
                loss.setdefault(key, []).append((float(step), float(value)))
            elif any(w in key for w in ("acc", "rate", "f1", "match", "exact")):
                rate.setdefault(key, []).append((float(step), float(value)))
    return loss, rate


SMOOTH_MIN_POINTS = 8  # a series this long is per-step (noisy): draw it smoothed, the raw line faint behind
SMOOTH_WEIGHT = 0.8  # EMA weight of the previous value (TensorBoard-style, bias-corrected)


def smooth(points: list[tuple[float, float]], weight: float = SMOOTH_WEIGHT) -> list[tuple[float, float]]:
    """Bias-corrected exponential moving average: the first points are not dragged towards zero."""
    out, avg = [], 0.0
    for i, (x, y) in enumerate(points, start=1):
        avg = weight * avg + (1 - weight) * y
        out.append((x, avg / (1 - weight**i)))
    return out


def _held_out(name: str) -> bool:
    return any(w in name for w in ("val", "eval", "test", "held"))


def curve_charts(metrics: list[dict[str, Any]] | None) -> str:
    """Training loss (per-step series smoothed, held-out evals as points) and held-out rates on 0–100 %."""
    if not metrics:
        return ""
    loss, rate = training_series(metrics)
    lines: dict[str, list] = {}
    faint, dots = set(), set()
    for name, pts in loss.items():
        lines[name] = pts
        if _held_out(name) or len(pts) < SMOOTH_MIN_POINTS:
            dots.add(name)
        else:  # noisy per-step values: the trend is the smoothed line, the raw one stays pale behind it
            lines[name + SMOOTHED] = smooth(pts)
            faint.add(name)
    return (line_chart(lines, title="Training loss", faint=faint, dots=dots)
            + line_chart(rate, title="Held-out call accuracy during training", y_range=(0.0, 1.0),
                         percent=True, dots=set(rate)))


def confusion_view(table: dict[str, dict[str, int]] | None) -> dict[str, Any] | None:
    """Rows, columns and colour-scaled cells of an {expected: {predicted: count}} table for the HTML.

    Right calls (diagonal) shade green, confusions red, both scaled by the largest count in their kind
    so that a frequent confusion stands out even next to a large diagonal.
    """
    if not table:
        return None
    cols = sorted({p for row in table.values() for p in row} | set(table))
    hits = [n for e, row in table.items() for p, n in row.items() if p == e] or [1]
    misses = [n for e, row in table.items() for p, n in row.items() if p != e] or [1]
    rows = []
    for exp in sorted(table):
        cells = []
        for pred in cols:
            n = table[exp].get(pred, 0)
            right = pred == exp
            alpha = n / max(hits if right else misses) if n else 0.0
            rgb = "46,125,79" if right else "179,38,30"
            cells.append({"n": n, "style": f"background: rgba({rgb},{0.12 + 0.6 * alpha:.2f})" if n else ""})
        rows.append({"expected": exp, "cells": cells, "total": sum(table[exp].values())})
    # header labels may wrap after an underscore (a zero-width space), not in the middle of a word
    return {"cols": cols, "rows": rows, "labels": [c.replace("_", "_\u200b") for c in cols]}


def read_metrics_jsonl(path: str | Path) -> list[dict[str, Any]]:
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a half-written last line of a running job: skip, it's only a plot
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _category_rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = list(report.get("categories", {}).items())
    tc = report.get("tool_calling")
    if tc and len(rows) > 1:
        rows.append(("tool calling (all)", tc))
    rows.append(("overall", report["overall"]))
    return rows


def render_report_html(report: dict[str, Any], training_curves: list[dict[str, Any]] | None = None,
                       verdict: dict[str, Any] | None = None, links: dict[str, str] | None = None) -> str:
    """The one-file HTML page of an eval report; ``links``: name → href shown in the header (other runs'
    reports, the comparison)."""
    cats = report.get("categories", {})
    bars = bar_chart(
        [{"label": name, "values": [(b["accuracy"], b.get("ci95"))]} for name, b in _category_rows(report)],
        ["accuracy"], title="Accuracy per category (bars) with 95% Wilson intervals (whiskers)",
    )
    hist = report.get("format_histogram") or {}
    total = sum(hist.values()) or 1
    format_svg = bar_chart([{"label": f"{k} ({v})", "values": [(v / total, None)]} for k, v in hist.items()],
                           ["share"], title="Reply format (share of tool-call cases)")
    if verdict is None and report.get("verdict"):
        verdict = report["verdict"]
    from punie.eval.compare import decoding_label, decoding_mode

    return _env().get_template("report.html").render(
        decoding=decoding_label(decoding_mode(report)), r=report, rows=_category_rows(report), categories=list(cats),
        per_tool=report.get("per_tool") or {},
        cases=_case_rows(report), category_svg=bars, format_svg=format_svg,
        curves_svg=curve_charts(training_curves), verdict=verdict, style=_style(), links=links or {},
        confusion=confusion_view(report.get("confusion")), failure_reasons=report.get("failure_reasons") or {},
    )


def _style() -> str:
    from markupsafe import Markup

    return Markup((TEMPLATES / "_style.html").read_text(encoding="utf-8"))


def write_html_report(report: dict[str, Any], path: str | Path,
                      training_curves: list[dict[str, Any]] | None = None, links: dict[str, str] | None = None) -> Path:
    """Write the one-file HTML report for ``report`` (the ``run_eval`` object)."""
    path = Path(path)
    atomic_write_text(path, render_report_html(report, training_curves, links=links))
    return path


CHANGES_SHOWN = 200  # fixed/broken rows per list in the HTML (all of them are in the JSON)


def _change_rows(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in changes[:CHANGES_SHOWN]:
        row = dict(c)
        for side in ("baseline", "candidate"):
            row[f"{side}_calls_text"] = "\n".join(call_lines(c.get(f"{side}_calls"))) or "(no call)"
        row["expected_text"] = ("\n".join(call_lines(c.get("expected_calls"))) or "(no call)"
                                if c.get("expected_calls") is not None else "")
        rows.append(row)
    return rows


def write_comparison_html(comparison: dict[str, Any], path: str | Path, links: dict[str, str] | None = None) -> Path:
    """Write the comparison page; ``links``: name → href of each run's report.html (relative to ``path``)."""
    rows = comparison["rows"]
    bars = bar_chart(
        [{"label": r["category"], "values": [(v["accuracy"], v.get("ci95")) if v else None for v in r["values"]]}
         for r in rows],
        comparison["labels"], title="Accuracy per category (each run on all its cases) with 95% intervals",
    )
    confusions = [(r["label"], confusion_view(r.get("confusion"))) for r in comparison.get("reports", [])]
    html = _env().get_template("comparison.html").render(
        cmp=comparison, bars_svg=bars, style=_style(), links=links or {},
        fixed=_change_rows(comparison.get("fixed") or []), broken=_change_rows(comparison.get("broken") or []),
        shown_max=CHANGES_SHOWN, confusions=[(lab, v) for lab, v in confusions if v],
        curves_svg=curve_charts(comparison.get("training_curves")))
    path = Path(path)
    atomic_write_text(path, html)
    return path


__all__ = ["confusion_view", "curve_charts", "read_metrics_jsonl", "render_report_html", "smooth",
           "training_series", "write_comparison_html", "write_html_report"]
