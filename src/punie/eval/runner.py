"""Run suites against a backend and build the report object (keys in docs/json-output.md; extend, never rename)."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from punie.errors import ConfigError, SuiteError
from punie.eval import stats
from punie.eval.suites import TOOL_MODULE, Suite, import_module, load_suite, module_for_category, preflight

REQUIRED_RECORD_KEYS = ("id", "category", "correct", "calls", "expected_calls", "raw", "format")
PROMPT_CHARS = 4000  # per-case prompt text kept in the report (the full case is in the suite file)


class ConstrainedBackend:
    """``--constrained``: the wrapped backend, with ``tool_choice="auto"`` on every request that offers
    tools, so each call the model starts is held to an offered tool and that tool's schema (the
    constrained decoding ``punie serve`` applies). Requests that offer no tools (``tools=[]``: the
    answer suites, BFCL's prompt-described functions) and requests that already name a tool_choice go
    through unchanged; ``constrained_requests`` counts the rest. Everything else is the backend's."""

    def __init__(self, backend: Any) -> None:
        if not getattr(backend, "accepts_tool_choice", False):
            raise ConfigError(f"backend {getattr(backend, 'name', type(backend).__name__)!r} cannot decode "
                              "under tool_choice (use the in-process backend or --base-url)",
                              location="--constrained")
        self._backend = backend
        self.constrained_requests = 0

    def __getattr__(self, name: str) -> Any:  # name, merge_adapter, merged(), model, ...
        if name == "_backend":
            raise AttributeError(name)
        return getattr(self._backend, name)

    def _constrain(self, request: Any) -> Any:
        from punie.toolcalls import normalize_tools

        if request.tool_choice is not None or not normalize_tools(request.tools):
            return request
        self.constrained_requests += 1
        return dataclasses.replace(request, tool_choice="auto")

    def generate(self, requests: Sequence[Any], *, progress: Any = None) -> Any:
        return self._backend.generate([self._constrain(r) for r in requests], progress=progress)

    def stream(self, request: Any) -> Any:
        return self._backend.stream(self._constrain(request))


def _select(suite: Suite, categories: Sequence[str] | None, limit: int | None) -> list[dict[str, Any]]:
    cases = suite.cases
    if categories:
        wanted = set(categories)
        cases = [c for c in cases if c.get("category") in wanted]
    if limit is not None:
        cases = cases[: max(0, int(limit))]
    return cases


def prompt_text(case: dict[str, Any]) -> str:
    """The conversation the model saw, as plain text (for the per-case table)."""
    lines = []
    for msg in case.get("messages") or []:
        content = msg.get("content")
        if isinstance(content, list):  # OpenAI content parts
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        text = str(content or "")
        for call in msg.get("tool_calls") or []:
            fn = call.get("function", call)
            text += f"\n→ {fn.get('name')}({fn.get('arguments')})"
        lines.append(f"[{msg.get('role')}] {text.strip()}")
    if not lines and case.get("prompt"):
        lines.append(str(case["prompt"]))
    out = "\n".join(lines)
    return out if len(out) <= PROMPT_CHARS else out[:PROMPT_CHARS] + " …"


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr (stdout stays clean for --json); a no-op when disabled."""
    if not enabled or total == 0:
        yield lambda desc: (lambda n: None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(file=sys.stderr), transient=False,
    )
    task = progress.add_task("eval", total=total)

    def for_suite(desc: str):  # type: ignore[no-untyped-def]
        progress.update(task, description=desc)
        return lambda n=1: progress.advance(task, n)

    with progress:
        yield for_suite


def _evaluate_module(module_name: str, cases: list[dict[str, Any]], backend: Any, progress: Any,
                     max_new_tokens: int | None) -> list[dict[str, Any]]:
    module = import_module(module_name)
    kwargs: dict[str, Any] = {"progress": progress}
    params = inspect.signature(module.evaluate).parameters
    if "max_new_tokens" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs["max_new_tokens"] = max_new_tokens
    records = module.evaluate(cases, backend, **kwargs)
    if len(records) != len(cases):
        raise SuiteError(f"{module_name}.evaluate returned {len(records)} records for {len(cases)} cases")
    return records


def _finish_record(record: dict[str, Any], case: dict[str, Any], suite: str) -> dict[str, Any]:
    record = dict(record)
    record.setdefault("id", case["id"])
    record.setdefault("category", case.get("category"))
    record["correct"] = bool(record.get("correct"))
    record.setdefault("calls", [])
    record.setdefault("expected_calls", case.get("expected_calls"))
    record.setdefault("raw", "")
    record.setdefault("format", "none")
    record["suite"] = suite
    record.setdefault("prompt", prompt_text(case))
    return record


def run_suite(suite: Suite, backend: Any, cases: list[dict[str, Any]], progress_for: Any,
              max_new_tokens: int | None) -> list[dict[str, Any]]:
    """Evaluate one suite's cases, one ``evaluate`` call per module so each module can batch."""
    by_module: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        by_module[module_for_category(str(case.get("category")), case)].append(i)
    records: list[dict[str, Any] | None] = [None] * len(cases)
    for module_name, idx in by_module.items():
        sub = [cases[i] for i in idx]
        out = _evaluate_module(module_name, sub, backend, progress_for(f"{suite.name}"), max_new_tokens)
        for i, rec in zip(idx, out, strict=True):
            records[i] = _finish_record(rec, cases[i], suite.name)
    return [r for r in records if r is not None]


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall/category/tool metrics from case records (also used to re-score a saved report)."""
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_cat[str(r["category"])].append(r)
        by_suite[str(r.get("suite", ""))].append(r)
    categories = {}
    for cat, recs in by_cat.items():
        block = stats.accuracy_block(recs)
        if all("strict_ok" in r for r in recs):
            tm = stats.tool_metrics(recs)
            block.update({k: v for k, v in tm.items() if k not in block})
        categories[cat] = block
    tool_recs = [r for r in records if "strict_ok" in r]
    return {
        "overall": stats.accuracy_block(records),
        "categories": categories,
        "suite_scores": {s: stats.accuracy_block(rs) for s, rs in by_suite.items()},
        "tool_calling": stats.tool_metrics(tool_recs) if tool_recs else None,
        "per_tool": stats.per_tool(tool_recs),
        "format_histogram": stats.format_histogram(tool_recs or records),
        "failure_reasons": stats.failure_counts(records),
        "confusion": stats.confusion(tool_recs),
    }


def run_eval(
    backend: Any,
    suites: Sequence[str | Suite],
    *,
    model_name: str,
    adapter: str | None = None,
    limit: int | None = None,
    categories: Sequence[str] | None = None,
    progress: bool = True,
    max_new_tokens: int | None = None,
    constrained: bool = False,
) -> dict[str, Any]:
    """Evaluate ``backend`` on ``suites`` (names, .jsonl paths or Suite objects); returns the report.

    ``constrained``: decode every request that offers tools under ``tool_choice="auto"``
    (:class:`ConstrainedBackend`); ``settings.constrained`` records it (True / False).
    """
    if constrained:
        backend = ConstrainedBackend(backend)
    loaded = [s if isinstance(s, Suite) else load_suite(s) for s in suites]
    if not loaded:
        raise SuiteError("no suites given", location="--suite")
    selected = [(s, _select(s, categories, limit)) for s in loaded]
    total = sum(len(c) for _, c in selected)
    if total == 0:
        raise SuiteError(f"no cases selected (categories: {', '.join(categories or []) or 'all'})",
                         location="--category")
    preflight([Suite(s.name, cases) for s, cases in selected])  # before the first generation
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    records: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    # a backend asked to merge its adapter does it once for the whole run, not once per generate call
    merged = backend.merged() if getattr(backend, "merge_adapter", False) else contextlib.nullcontext()
    with _progress_bar(total, progress) as progress_for, merged:
        for suite, cases in selected:
            t = time.perf_counter()
            records.extend(run_suite(suite, backend, cases, progress_for, max_new_tokens))
            timings[suite.name] = round(time.perf_counter() - t, 3)
    duration = time.perf_counter() - t0
    extra = {"constrained_requests": backend.constrained_requests} if constrained else {}
    report: dict[str, Any] = {
        "model": model_name,
        "adapter": adapter,
        "suites": [s.name for s in loaded],
        "backend": getattr(backend, "name", type(backend).__name__),
        **summarize(records),
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round(duration, 3),
        "timings_s": timings,
        "settings": {"limit": limit, "categories": list(categories or []), "max_new_tokens": max_new_tokens,
                     "temperature": 0.0, "constrained": constrained,
                     "tool_choice": "auto" if constrained else None, **extra},
        "cases": records,
    }
    return report


def headline_scores(report: dict[str, Any]) -> dict[str, Any]:
    """The few numbers the runs registry keeps per eval."""
    tc = report.get("tool_calling") or {}
    return {
        "overall": report["overall"]["accuracy"],
        "n": report["overall"]["n"],
        "tool_calling": tc.get("accuracy"),
        "strict_parse_rate": tc.get("strict_parse_rate"),
        "false_call_rate": tc.get("false_call_rate"),
        "categories": {k: v["accuracy"] for k, v in report["categories"].items()},
    }


def save_report(report: dict[str, Any], html_path: Path, *, config: dict[str, Any], curves: Any = None,
                links: dict[str, str] | None = None) -> Any:
    """Write report.json beside the HTML report (each atomically), record the eval run; its id.

    ``config``: what the registry keeps beside the report's suites and settings (e.g. ``base_url``).
    """
    from punie.eval.report import render_report_html
    from punie.paths import atomic_write_text
    from punie.runs import record_run

    html = render_report_html(report, curves, links=links)
    atomic_write_text(html_path.with_suffix(".json"), json.dumps(report, ensure_ascii=False, indent=1))
    atomic_write_text(html_path, html)
    return record_run("eval", report["model"], adapter=report.get("adapter"),
                      config={"suites": report["suites"], **config, **report.get("settings", {})},
                      scores=headline_scores(report), report_path=str(html_path.resolve()),
                      duration_s=report.get("duration_s"))


__all__ = ["TOOL_MODULE", "ConstrainedBackend", "headline_scores", "prompt_text", "run_eval", "save_report",
           "summarize"]
