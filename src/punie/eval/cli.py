"""``punie eval`` and ``punie compare``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from punie.models.precision import HELP as DTYPE_HELP
from punie.models.precision import check_dtype, dtype_name

DEFAULT_SUITES = ["punie-tools"]


def _training_curves(adapter: str | None) -> list[dict[str, Any]] | None:
    """metrics.jsonl written by ``punie train`` in the adapter folder or the run folder above it."""
    if not adapter:
        return None
    from punie.eval.report import read_metrics_jsonl

    folder = Path(adapter)
    for candidate in (folder / "metrics.jsonl", folder.parent / "metrics.jsonl"):
        if candidate.is_file():
            return read_metrics_jsonl(candidate) or None
    return None


def _default_output() -> Path:
    from punie.paths import punie_home

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return punie_home() / "reports" / f"eval-{stamp}-{os.getpid()}" / "report.html"


def _print_summary(report: dict[str, Any], html_path: Path, verdict_text: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from punie.eval.report import pct

    console = Console(width=140)
    title = f"{report['model']}" + (f" + {report['adapter']}" if report.get("adapter") else "")
    table = Table(title=f"punie eval: {title}")
    for col in ("category", "accuracy", "95% interval", "n", "strict parse", "false calls"):
        table.add_column(col, justify="left" if col == "category" else "right")
    rows = list(report["categories"].items())
    if report.get("tool_calling") and len(rows) > 1:
        rows.append(("tool calling (all)", report["tool_calling"]))
    rows.append(("overall", report["overall"]))
    for name, c in rows:
        table.add_row(name, pct(c["accuracy"]), f"{pct(c['ci95'][0])} – {pct(c['ci95'][1])}", str(c["n"]),
                      pct(c.get("strict_parse_rate")), pct(c.get("false_call_rate")))
    console.print(table)
    hist = ", ".join(f"{k}: {v}" for k, v in (report.get("format_histogram") or {}).items())
    console.print(f"formats: {hist}", markup=False)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in report.get("timings_s", {}).items())
    console.print(f"duration: {report['duration_s']:.1f}s ({timings})", markup=False)
    from punie.eval.compare import decoding_label, decoding_mode

    console.print(f"decoding: {decoding_label(decoding_mode(report))}", markup=False)
    console.print(verdict_text, markup=False)
    console.print(f"report: {html_path}  (JSON: {html_path.with_suffix('.json')})", markup=False)


def _load_report(path: Path) -> dict[str, Any]:
    """A report checked by the code that will read it: compared with itself and judged against
    itself, so a JSON of the wrong shape fails here, in one line naming it, not after an eval."""
    from punie.errors import ConfigError
    from punie.eval.compare import compare_reports, load_report, verdict

    report = load_report(path)
    try:
        compare_reports([report, report])
        verdict(report, report)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ConfigError(f"not a punie eval report ({type(exc).__name__}: {exc})", location=str(path)) from None
    return report


def _opt_in(allow_network: bool, allow_unconfined: bool) -> None:
    """The flags reach every Workspace and code run of this process through the sandbox's env vars."""
    from punie.agent import sandbox

    for given, name in ((allow_network, sandbox.ALLOW_NETWORK_ENV), (allow_unconfined, sandbox.ALLOW_UNCONFINED_ENV)):
        if given:
            os.environ[name] = "1"


def eval_cmd(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Alias, HF folder, .gguf or hub id "
                                              "(default: the embedded smollm2-135m; with --base-url: the server's "
                                              "model name).")] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", "-a",
                                                help="LoRA adapter folder (adapter_config.json).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Evaluate an OpenAI-compatible server instead, "
                                                 "e.g. http://127.0.0.1:8766/v1.")] = None,
    suite: Annotated[list[str] | None, typer.Option("--suite", "-s", help="Built-in suite (punie-tools, agentic, "
                                                    "code, reasoning, bfcl:<category>) or a .jsonl file; "
                                                    "repeatable.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML report path; the JSON report goes "
                                                "next to it (.json).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report on stdout (progress goes to "
                                          "stderr).")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1,
                                              help="Evaluate only the first N cases of each suite.")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", "-c",
                                                       help="Only cases of this category; repeatable.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", min=1, help="Token limit per reply "
                                                       "(default: per suite; 96+ for tool calls).")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="A baseline report.json to judge this run "
                                                  "against (verdict).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="In-process generation batch size "
                                                   "(default: the backend's).")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")] = False,
    dtype: Annotated[str, typer.Option("--dtype", help=f"In-process weights' precision: {DTYPE_HELP}")] = "auto",
    allow_network: Annotated[bool, typer.Option("--allow-network", help="Let model-written commands (agentic "
                                                "suite) reach the network; off by default.")] = False,
    allow_unconfined: Annotated[bool, typer.Option("--allow-unconfined", help="Run model-written commands and "
                                                   "code even where bubblewrap cannot confine them.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when the verdict is FAIL (0 on PASS, 2 on bad "
                                        "input): a CI gate.")] = False,
    constrained: Annotated[bool, typer.Option("--constrained", help="Decode as punie serve does: tool_choice=auto on "
                                              "every request that offers tools, so a started call can only be an "
                                              "offered tool with schema-valid arguments (recorded in the "
                                              "report).")] = False,
) -> None:
    """Evaluate a model or adapter on suites; writes an HTML + JSON report and records the run."""
    from punie.backends import make_backend
    from punie.eval.compare import verdict
    from punie.eval.runner import run_eval, save_report
    from punie.eval.suites import load_suite, preflight

    _opt_in(allow_network, allow_unconfined)
    suites = [load_suite(s) for s in (suite or DEFAULT_SUITES)]  # bad names fail before the model loads
    preflight(suites)  # and suites that cannot run here (model-written code with nothing to confine it)
    check_dtype(dtype)
    base_report = _load_report(baseline) if baseline else None
    if adapter and not base_url:
        from punie.errors import AdapterError
        from punie.models.loading import check_adapter_dir

        try:
            adapter = str(check_adapter_dir(adapter))
        except AdapterError as exc:
            raise AdapterError(exc.message, location="--adapter") from None
    if base_url:
        backend = make_backend(model, base_url=base_url)
        model_name = model or base_url
    else:
        # one adapter: fold it into the base weights for the run (unmerged LoRA adds matmuls per step)
        options: dict[str, Any] = {"merge_adapter": bool(adapter), "dtype": dtype}
        if batch_size:
            options["batch_size"] = batch_size
        backend = make_backend(model, adapter=adapter, **options)
        from punie.models import DEFAULT_MODEL

        model_name = model or DEFAULT_MODEL

    report = run_eval(backend, suites, model_name=model_name, adapter=adapter, limit=limit, categories=category,
                      progress=not no_progress,
                      max_new_tokens=max_new_tokens, constrained=constrained)
    if not base_url:  # what --dtype auto became here
        report["settings"]["dtype"] = dtype_name(backend.model.dtype)
    elif not constrained:  # no tool_choice sent: the server's default decided (punie serve's is auto)
        report["settings"]["constrained"] = None
    v = verdict(base_report, report)
    report["verdict"] = v.to_dict()
    html_path = Path(output) if output else _default_output()
    curves = _training_curves(adapter)
    links = _report_links({"baseline report": baseline} if baseline else {}, html_path)
    run_id = save_report(report, html_path, config={"base_url": base_url}, curves=curves, links=links)
    report["run_id"] = run_id
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        typer.echo(f"report: {html_path} (run {run_id})", err=True)
    else:
        _print_summary(report, html_path, v.summary())
        typer.echo(f"recorded as run {run_id} (punie runs show {run_id})")
    _gate(check, [v.passed])


def _gate(check: bool, passed: list[bool]) -> None:
    """``--check``: a FAIL verdict becomes exit code 1, after everything was written and printed."""
    if check and not all(passed):
        raise typer.Exit(1)


def _report_links(json_paths: dict[str, Path], page: Path) -> dict[str, str]:
    """name → href (relative to ``page``) of each report's HTML twin (``punie eval`` writes X.html + X.json)."""
    links = {}
    for name, path in json_paths.items():
        html = Path(path).with_suffix(".html")
        if html.is_file():
            links[name] = Path(os.path.relpath(html.resolve(), page.resolve().parent)).as_posix()
    return links


def compare_cmd(
    reports: Annotated[list[Path], typer.Argument(metavar="REPORT.json ...",
                                                  help="Eval reports; the first is the baseline.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write an HTML comparison here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when any verdict is FAIL (0 on PASS, 2 on bad "
                                        "input): a CI gate.")] = False,
) -> None:
    """Compare eval reports side by side: paired per-category deltas (McNemar on shared cases), fixed and
    broken cases, failure reasons, tool confusion, and the verdict."""
    from punie.eval.compare import compare_reports
    from punie.eval.report import write_comparison_html

    loaded = [_load_report(p) for p in reports]
    comparison = compare_reports(loaded)
    if output:
        names = ["baseline report" if i == 0 else f"candidate {i} report" for i in range(len(reports))]
        links = _report_links(dict(zip(names, reports, strict=True)), Path(output))
        write_comparison_html(comparison, output, links=links)
    if as_json:
        typer.echo(json.dumps(comparison, ensure_ascii=False, indent=1))
    else:
        _print_comparison(comparison)
        if output:
            typer.echo(f"comparison: {output}")
    _gate(check, [v["passed"] for v in comparison["verdicts"]])


def _print_comparison(cmp: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from punie.eval.compare import Verdict
    from punie.eval.report import pct

    console = Console(width=160)
    table = Table(title=f"punie compare (Δ vs the first report on the cases both scored; p = McNemar exact; "
                        f"{cmp.get('n_shared', 0)} cases shared by all)")
    table.add_column("category")
    for i, label in enumerate(cmp["labels"]):
        table.add_column(label, justify="right", overflow="fold")
        if i:
            table.add_column("Δ", justify="right")
            table.add_column("p (n)", justify="right")
    for row in cmp["rows"]:
        cells = [row["category"]]
        for i, v in enumerate(row["values"]):
            cells.append(f"{pct(v['accuracy'])} (n={v['n']})" if v else "—")
            if i:
                cells += _delta_cells(v)
        table.add_row(*cells)
    console.print(table)
    console.print("* significant at p < 0.05; other differences are within noise.", markup=False)
    _print_changes(console, cmp)
    for v in cmp["verdicts"]:
        console.print(Verdict(**v).summary(), markup=False)


def _delta_cells(v: dict[str, Any] | None) -> list[str]:
    """Δ and p of one candidate cell: paired when the runs share cases, else the labelled unpaired Δ."""
    paired = (v or {}).get("paired")
    if v and paired and v.get("delta") is not None:
        sig = "*" if paired["significant"] else ""
        return [f"{100 * v['delta']:+.1f} pt{sig}", f"{paired['p_value']:.3g} ({paired['n_shared']})"]
    if v and v.get("unpaired_delta") is not None:
        return [f"{100 * v['unpaired_delta']:+.1f} pt (unpaired)", "— (0)"]
    return ["—", "—"]


def _print_changes(console: Any, cmp: dict[str, Any]) -> None:
    """Fixed/broken counts and the failure reasons per run, on the shared cases."""
    console.print(f"fixed (wrong → right): {len(cmp.get('fixed', []))}, "
                  f"broken (right → wrong): {len(cmp.get('broken', []))}", markup=False)
    for label, counts in (cmp.get("failure_reasons") or {}).items():
        text = ", ".join(f"{k} {n}" for k, n in counts.items() if n) or "none"
        console.print(f"failures of {label}: {text}", markup=False)
