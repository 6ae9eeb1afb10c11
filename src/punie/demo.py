"""`punie demo`: the main job, end to end, offline, on the embedded default model.

generate + validate data → leakage check → baseline eval → LoRA training → adapter eval →
comparison report with the verdict → runs registry → a summary on the terminal.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from punie.backends.base import DEFAULT_BATCH_SIZE
from punie.models.precision import HELP as DTYPE_HELP
from punie.models.registry import DEFAULT_MODEL

MARKER = ".punie-demo"
DEFAULT_SUITES = ("punie-tools", "reasoning")  # code/agentic are minutes each on 2 cores: opt in with --suite
# The base model calls no tool in the trained format (1 % on punie-tools): a stratified share of the
# suite measures that as well as all of it, and the minutes saved go to training.
BASELINE_SAMPLE = 0.2
# The 10-minute budget (`--minutes`): training gets what the other steps leave. They are estimated from
# the baseline eval just run: the adapter eval runs all of punie-tools where the baseline ran a fifth,
# and its replies are longer (measured 1.8-2.1x the baseline's time on 2 cores); the trainer's setup
# and its final in-training eval, and the report, take ~10-20 s each.
DEMO_MINUTES = 10.0
ADAPTER_EVAL_FACTOR = 2.2
FIXED_OVERHEAD_S = 40.0
# With a budget the steps are planned from the measured speed, up to this many (a machine ~4x faster
# than the 2-core fp32 one the default was tuned on; the generated data covers it without repeats).
BUDGET_MAX_ITERS = 300


def data_size(cfg: Any) -> int:
    """Train conversations to generate: every example seen once (+10 %), at least the default 3000."""
    from punie.data.generator import DEFAULT_SIZE

    return max(DEFAULT_SIZE, math.ceil(1.1 * cfg.iters * cfg.batch_size * cfg.grad_accum))


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=False, highlight=False)


def _prepare_out(out: Path) -> None:
    from punie.errors import ConfigError

    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(f"{out} exists and is not a punie demo folder; choose another --out", location="--out")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("punie demo output; safe to delete\n", encoding="utf-8")


# the demo folder's pages link to each other (hrefs relative to the page; the comparison is written last)
REPORT_LINKS = {
    "baseline": {"comparison": "../comparison.html", "adapter report": "../adapter_eval/report.html"},
    "adapter_eval": {"comparison": "../comparison.html", "baseline report": "../baseline/report.html"},
}
COMPARISON_LINKS = {"baseline report": "baseline/report.html", "adapter report": "adapter_eval/report.html"}


def _save_report(report: dict[str, Any], folder: Path, curves: list[dict[str, Any]] | None = None) -> tuple[Path, Any]:
    """FOLDER/report.html + report.json, recorded in the runs registry: (html path, run id)."""
    from punie.eval.runner import save_report

    folder.mkdir(parents=True, exist_ok=True)
    html = folder / "report.html"
    return html, save_report(report, html, config={"source": "demo"}, curves=curves,
                             links=REPORT_LINKS.get(folder.name))


def _fmt(block: dict[str, Any] | None) -> str:
    if not block or block.get("accuracy") is None:
        return "—"
    lo, hi = block.get("ci95") or (None, None)
    ci = f" [{100 * lo:.0f}–{100 * hi:.0f}]" if lo is not None and hi is not None else ""
    return f"{100 * block['accuracy']:.1f}%{ci} (n={block['n']})"


def _paired_cell(p: dict[str, Any] | None) -> tuple[str, str]:
    """Δ and p of a paired test (shared case ids only), "—" where the runs share no case."""
    if not p or not p.get("n_shared") or p.get("delta") is None:
        return "—", "—"
    return f"{100 * p['delta']:+.1f} pt{'*' if p['significant'] else ''}", f"{p['p_value']:.2g} ({p['n_shared']})"


def _summary(console: Any, base: dict[str, Any], cand: dict[str, Any], comparison: dict[str, Any]) -> None:
    """The terminal table: each run on all its cases; Δ and p paired on the cases both ran (as the verdict)."""
    from rich.table import Table

    from punie.eval.compare import paired_test

    table = Table(title="baseline → adapter", caption=(
        f"accuracy [95% interval] on each run's own cases; Δ and p paired on the {comparison.get('n_shared', 0)} "
        "cases both ran (McNemar exact, * p < 0.05), as the verdict"))
    for col in ("category", "baseline", "adapter", "Δ (paired)", "p (shared n)"):
        table.add_column(col, justify="left" if col == "category" else "right")
    paired = {r["category"]: r["values"][1].get("paired") if r["values"][1] else None for r in comparison["rows"]}
    rows: list[tuple[str, Any, Any, Any]] = [
        (c, base["categories"].get(c), cand["categories"].get(c), paired.get(c)) for c in cand["categories"]]
    if cand.get("tool_calling"):
        rows.append(("tool calling (all)", base.get("tool_calling"), cand.get("tool_calling"),
                     paired_test(base, cand, lambda r: "strict_ok" in r)))
    rows.append(("overall", base["overall"], cand["overall"], paired.get("overall")))
    for name, b, c, p in rows:
        table.add_row(name, _fmt(b), _fmt(c), *_paired_cell(p))
    console.print(table)
    fixed, broken = comparison.get("fixed") or [], comparison.get("broken") or []
    console.print(f"on the shared cases: {len(fixed)} fixed (wrong → right), {len(broken)} broken (right → wrong)"
                  " — listed in comparison.html", markup=False)
    for label, counts in (comparison.get("failure_reasons") or {}).items():
        text = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in counts.items() if n) or "none"
        console.print(f"failures of {label}: {text}", markup=False)
    tc = cand.get("tool_calling") or {}
    console.print(
        f"adapter: strict parse {100 * (tc.get('strict_parse_rate') or 0):.1f}%, no-call accuracy "
        f"{100 * (tc.get('no_call_accuracy') or 0):.1f}%, false-call rate {100 * (tc.get('false_call_rate') or 0):.1f}%"
    )
    console.print("formats (baseline): " + ", ".join(f"{k} {v}" for k, v in base.get("format_histogram", {}).items()))
    console.print("formats (adapter):  " + ", ".join(f"{k} {v}" for k, v in cand.get("format_histogram", {}).items()))


def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o",
                                      help="Output folder (replaced if it holds an earlier demo).")] = Path(
        "punie-demo"
    ),
    model: Annotated[str, typer.Option("--model", "-m", help="Base model (alias, HF folder, .gguf).")] = DEFAULT_MODEL,
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            help="Shipped training config: 'default' (fits 10 minutes on 2 CPU cores) or 'thorough' "
            "(6,400 examples; see docs/tuning.md for its time and accuracy).",
        ),
    ] = "default",
    config: Annotated[
        Path | None, typer.Option("--config", help="Training config file (TOML/YAML) instead of a preset.")
    ] = None,
    size: Annotated[
        int | None,
        typer.Option("--size", min=10, help="Training conversations to generate [default: enough that no "
                     "conversation is seen twice, at least 3000]."),
    ] = None,
    iters: Annotated[int | None, typer.Option("--iters", min=1, help="Override the training steps.")] = None,
    suite: Annotated[
        list[str] | None, typer.Option("--suite", "-s", help="Eval suites (default: punie-tools, reasoning).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1,
                                              help="Evaluate only the first N cases per suite.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for data and training.")] = 0,
    batch_size: Annotated[int, typer.Option("--eval-batch-size", min=1,
                                            help="Generation batch size.")] = DEFAULT_BATCH_SIZE,
    baseline_sample: Annotated[
        float,
        typer.Option(
            "--baseline-sample", min=0.01, max=1.0,
            help="Share of punie-tools the base model's baseline runs on (stratified by category; the "
            "adapter always runs all of it and McNemar pairs the shared cases). 1 = the whole suite.",
        ),
    ] = BASELINE_SAMPLE,
    dtype: Annotated[
        str | None, typer.Option("--dtype",
                                 help=f"Precision of training and evals: {DTYPE_HELP} [default: the config's]")
    ] = None,
    minutes: Annotated[
        float | None,
        typer.Option("--minutes", min=0.0, help="Wall-time budget of the whole demo (the one-time model conversion "
                     "excluded): training plans as many steps as the time left after the other steps holds "
                     "(measured after warmup). 0 = the config's steps exactly. [default: 10 with the default "
                     "preset; off with --preset thorough, --config or --iters]"),
    ] = None,
) -> None:
    """The main job: data → baseline eval → LoRA training → adapter eval → comparison report + verdict."""
    """The main job: data → baseline eval → LoRA training → adapter eval → comparison report + verdict."""
    from punie.eval.suites import load_suite

    demo = _Demo(out.resolve(), model, seed=seed, limit=limit, batch_size=batch_size)
    suites = [load_suite(s) for s in (suite or DEFAULT_SUITES)]  # bad names fail before any work
    cfg = _train_config(demo, preset, config, iters=iters, dtype=dtype)
    if minutes is None:
        minutes = DEMO_MINUTES if preset == "default" and not (config or iters) else 0.0
    _prepare_out(demo.out)
    with demo.timed("model ready (conversion on first run)"):
        from punie.models.loading import resolve_model

        resolve_model(model)  # first use converts the GGUF (cold start, timed separately)
    with demo.timed("data", "1/5 data"):
        splits, tool_suite = _data_step(demo, cfg, suites, size)
    with demo.timed("baseline eval", "2/5 baseline eval"):
        base = _baseline_step(demo, cfg, suites, tool_suite, baseline_sample)
    with demo.timed("training", "3/5 LoRA training"):
        result = _train_step(_budgeted(demo, cfg, minutes), splits, base)
    with demo.timed("adapter eval", "4/5 adapter eval"):
        cand = _adapter_step(demo, suites, base, result)
    demo.console.rule("[bold]5/5 report")
    _report_step(demo, cfg, base, cand, result, preset=None if config else preset)


class _Demo:
    """What every step of the demo shares: its folder, the model name, eval settings, the console, timings."""

    def __init__(self, out: Path, model: str, *, seed: int, limit: int | None, batch_size: int) -> None:
        self.out, self.model, self.seed, self.limit, self.batch_size = out, model, seed, limit, batch_size
        self.console = _console()
        self.t_start = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(self, name: str, rule: str | None = None) -> Iterator[None]:
        if rule:
            self.console.rule(f"[bold]{rule}")
        t0 = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t0
        self.console.print(f"[dim]  {name}: {self.timings[name]:.1f}s[/dim]")


@dataclass
class _Eval:
    """One eval of the demo: its report, HTML page and run id, and what the next steps take from it."""

    report: dict[str, Any]
    html: Path
    run_id: Any
    model: Any = None  # the base model, loaded once for the whole demo
    tokenizer: Any = None
    adapter_dir: Path | None = None
    curves: list[dict[str, Any]] | None = None  # the training curves shown with the adapter's report


def _train_config(demo: _Demo, preset: str, config: Path | None, *, iters: int | None, dtype: str | None) -> Any:
    from punie.errors import ConfigError
    from punie.train import load_config, preset_config

    if config and preset != "default":
        raise ConfigError("give --preset or --config, not both", location="--preset")
    cfg = load_config(config) if config else preset_config(preset)
    overrides: dict[str, Any] = {"model": demo.model, "data": str(demo.out / "data"),
                                 "output": str(demo.out / "adapter"), "seed": demo.seed}
    if iters:
        overrides["iters"] = iters
    if dtype:
        overrides["dtype"] = dtype
    return cfg.replace(**overrides).validate()


def _data_step(demo: _Demo, cfg: Any, suites: list[Any], size: int | None) -> tuple[dict[str, Any], Any]:
    """Generate, write and validate the dataset (once: training takes the validated splits); leakage check."""
    from punie.data import check_leakage, generate_dataset, validate_dataset, write_dataset
    from punie.errors import DatasetError
    from punie.train.data import load_splits

    ds = generate_dataset(seed=demo.seed, size=size or data_size(cfg))
    write_dataset(ds, demo.out / "data")
    report = validate_dataset(demo.out / "data")
    demo.console.print(
        f"generated {len(ds.train)} train / {len(ds.valid)} valid / {len(ds.test)} test conversations; "
        f"validation: {len(report.errors)} errors, {len(report.warnings)} warnings"
    )
    if report.errors:
        first = report.errors[0]
        raise DatasetError(f"generated data failed validation: {first}", location=str(demo.out / "data"))
    tool_suite = next((s for s in suites if s.name == "punie-tools"), None)
    if tool_suite is not None:
        leak = check_leakage(ds.train, tool_suite.cases)
        demo.console.print(f"leakage vs punie-tools: {leak.summary() if hasattr(leak, 'summary') else leak}")
    return load_splits(demo.out / "data", validate=False), tool_suite


def _baseline_step(demo: _Demo, cfg: Any, suites: list[Any], tool_suite: Any, baseline_sample: float) -> _Eval:
    """Load the base model (once for the whole demo) and evaluate it on a share of punie-tools."""
    from punie.backends.inprocess import InProcessBackend
    from punie.eval.runner import run_eval
    from punie.models.loading import load_model

    model, tok = load_model(demo.model, dtype=cfg.dtype)
    backend = InProcessBackend(model, tok, batch_size=demo.batch_size, model_name=demo.model)
    base_suites = [x.sample(baseline_sample) if x.name == "punie-tools" else x for x in suites]
    if baseline_sample < 1 and tool_suite is not None:
        n_base = len(base_suites[suites.index(tool_suite)].cases)
        demo.console.print(f"punie-tools baseline on a stratified {n_base}-case share "
                           f"({baseline_sample:g}; --baseline-sample 1 for all)")
    report = run_eval(backend, base_suites, model_name=demo.model, limit=demo.limit)
    html, run_id = _save_report(report, demo.out / "baseline")
    return _Eval(report, html, run_id, model, tok)


def _budgeted(demo: _Demo, cfg: Any, minutes: float) -> Any:
    """The config with ``time_budget``: the demo's minutes less what has run and what is still to come."""
    if not minutes:
        return cfg
    spent = time.perf_counter() - demo.t_start - demo.timings["model ready (conversion on first run)"]
    later = ADAPTER_EVAL_FACTOR * demo.timings["baseline eval"] + FIXED_OVERHEAD_S
    seconds = max(5.0, 60 * minutes - spent - later)  # spent already: warmup and its check only
    demo.console.print(f"time budget {minutes:g} min: {seconds:.0f}s of training steps "
                       f"(spent {spent:.0f}s, adapter eval and report estimated at {later:.0f}s)", markup=False)
    return cfg.replace(time_budget=seconds, iters=max(cfg.iters, BUDGET_MAX_ITERS)).validate()


def _train_step(cfg: Any, splits: dict[str, Any], base: _Eval) -> Any:
    """LoRA training on the validated splits; on the base model itself when it holds float32 weights
    (what training keeps), else on a float32 copy the trainer loads."""
    import torch

    from punie.train import train

    shared = (base.model, base.tokenizer) if base.model.dtype == torch.float32 else None
    return train(cfg, splits=splits, model=shared)


def _adapter_step(demo: _Demo, suites: list[Any], base: _Eval, result: Any) -> _Eval:
    """The best adapter on the base model, merged for the eval; judged against the baseline."""
    from punie.backends.inprocess import InProcessBackend
    from punie.eval.compare import verdict
    from punie.eval.report import read_metrics_jsonl
    from punie.eval.runner import run_eval
    from punie.models.loading import attach_adapters

    adapter_dir = result.best_dir or result.last_dir
    peft_model = attach_adapters(base.model, {"default": adapter_dir})
    peft_model.eval()
    # merged: the LoRA delta folded into the weights for the eval (no extra matmuls per block), restored after
    backend = InProcessBackend(peft_model, base.tokenizer, batch_size=demo.batch_size, model_name=demo.model,
                               adapter=str(adapter_dir), merge_adapter=True)
    report = run_eval(backend, suites, model_name=demo.model, adapter=str(adapter_dir), limit=demo.limit)
    report["verdict"] = verdict(base.report, report).to_dict()
    metrics_path = Path(result.output_dir) / "metrics.jsonl"
    curves = read_metrics_jsonl(metrics_path) if metrics_path.is_file() else None
    html, run_id = _save_report(report, demo.out / "adapter_eval", curves)
    return _Eval(report, html, run_id, adapter_dir=adapter_dir, curves=curves)


def _report_step(demo: _Demo, cfg: Any, base: _Eval, cand: _Eval, result: Any, *, preset: str | None) -> None:
    """comparison.html/.json, summary.json and the terminal summary."""
    from punie.eval.compare import compare_reports, verdict
    from punie.eval.report import write_comparison_html
    from punie.paths import atomic_write_text

    out, console = demo.out, demo.console
    comparison = compare_reports([base.report, cand.report])
    comparison["training_curves"] = cand.curves
    cmp_html = write_comparison_html(comparison, out / "comparison.html", links=COMPARISON_LINKS)
    atomic_write_text(out / "comparison.json", json.dumps(comparison, ensure_ascii=False, indent=1, default=str))
    v = verdict(base.report, cand.report)
    total = time.perf_counter() - demo.t_start
    cold = demo.timings["model ready (conversion on first run)"]
    summary = {
        "baseline_report": str(base.html),
        "adapter_report": str(cand.html),
        "comparison": str(cmp_html),
        "comparison_json": str(out / "comparison.json"),
        "adapter": str(cand.adapter_dir),
        "runs": {"baseline": base.run_id, "adapter": cand.run_id, "train": getattr(result, "run_id", None)},
        "verdict": v.to_dict(),
        "timings_s": {k: round(x, 1) for k, x in demo.timings.items()},
        "total_s": round(total, 1),
        "total_without_conversion_s": round(total - cold, 1),
        "train": {
            "steps": result.steps,
            "stop_reason": result.stop_reason,
            "best_step": result.best_step,
            "best_metric": result.best_metric,
            "examples_per_s": result.examples_per_s,
            "examples_seen": result.steps * cfg.batch_size * cfg.grad_accum,
            "time_budget_s": result.time_budget_s,
            "resolved_dtype": result.resolved_dtype,
            "preset": preset,
        },
        "tool_calling": {"baseline": base.report.get("tool_calling"), "adapter": cand.report.get("tool_calling")},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    _summary(console, base.report, cand.report, comparison)
    console.print(v.summary(), markup=False)
    console.print(
        f"total {total / 60:.1f} min ({total - cold:.0f}s without the one-time model conversion); "
        + ", ".join(f"{k} {x:.0f}s" for k, x in demo.timings.items()),
        markup=False,
    )
    console.print(f"comparison report: {cmp_html}", markup=False)
    console.print(f"adapter: {cand.adapter_dir}   registry: punie runs list", markup=False)
