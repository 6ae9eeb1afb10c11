"""``punie sweep``: train every combination of a grid, score each by its best tool-call accuracy.

GRID.toml holds lists per TrainConfig key (``learning_rate = [1e-4, 1e-3]``, ``lora_rank = [8, 16]``)
and optionally a ``[base]`` table of fixed settings. Each combination trains into its own subfolder
of the sweep folder; a finished combination (summary.json present) is skipped, so an interrupted
sweep resumes where it stopped. A ranked table is printed at the end and saved as sweep.json.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from punie.errors import ConfigError
from punie.paths import atomic_write_text
from punie.train.config import TrainConfig, load_config

NOT_SWEEPABLE = {"data", "output", "resume", "overwrite"}


@dataclass
class SweepRow:
    name: str
    params: dict[str, Any]
    output: str
    tool_call_accuracy: float | None
    val_loss: float | None
    best_step: int | None
    seconds: float | None
    skipped: bool = False
    # with --suite: the best adapter's scores on a held-out eval suite (what the sweep ranks by then)
    suite_scores: dict[str, Any] | None = None


def read_grid(path: str | Path) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: grid file not found", location="--grid")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: unreadable TOML ({exc})", location="--grid") from exc
    base = data.pop("base", {}) or {}
    if "grid" in data and isinstance(data["grid"], dict):
        data = data["grid"]
    known = set(TrainConfig.field_names())
    grid: dict[str, list[Any]] = {}
    for key, values in data.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigError(f"unknown grid key {key!r}", location=str(p),
                              hint=f"known keys: {', '.join(sorted(known))}")
        if name in NOT_SWEEPABLE:
            raise ConfigError(f"{key!r} can't be swept", location=str(p))
        vals = values if isinstance(values, list) else [values]
        if not vals:
            raise ConfigError(f"{key!r}: empty list", location=str(p))
        grid[name] = vals
    if not grid:
        raise ConfigError(f"{p}: no keys to sweep", location="--grid")
    return grid, base


def combo_name(params: dict[str, Any]) -> str:
    short = {"learning_rate": "lr", "lora_rank": "r", "batch_size": "bs", "num_layers": "L", "lora_alpha": "a"}
    return "_".join(f"{short.get(k, k)}{v}" for k, v in params.items()).replace("/", "-")


def combos(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(grid[k] for k in keys))]


SUITE_SCORES = "suite_scores.json"


def score_on_suite(adapter_dir: Path, model: str, suite: str, sample: float = 1.0, *,
                   progress: bool = True) -> dict[str, Any]:
    """Evaluate one adapter on a suite (in-process, greedy); the headline numbers.

    The in-training valid eval is a few dozen turns: fine to pick a checkpoint, too noisy to rank
    configurations. This is the same measurement ``punie eval --adapter`` makes.
    """
    from punie.backends.base import DEFAULT_BATCH_SIZE
    from punie.backends.inprocess import InProcessBackend
    from punie.eval.runner import run_eval
    from punie.eval.suites import load_suite
    from punie.models.loading import load_model

    chosen = load_suite(suite).sample(sample)
    peft_model, tok = load_model(model, adapter=str(adapter_dir))
    peft_model.eval()
    backend = InProcessBackend(peft_model, tok, batch_size=DEFAULT_BATCH_SIZE, model_name=model,
                               adapter=str(adapter_dir), merge_adapter=True)
    report = run_eval(backend, [chosen], model_name=model, adapter=str(adapter_dir), progress=progress)
    cats = report["categories"]
    scores = {
        "suite": suite,
        "sample": sample,
        "n": report["overall"]["n"],
        "overall": report["overall"]["accuracy"],
        "categories": {k: v["accuracy"] for k, v in cats.items()},
        "tool_calling": (report.get("tool_calling") or {}).get("accuracy"),
        "seconds": report.get("duration_s"),
    }
    return scores


def sweep(
    data: str, grid_path: str, *, output: str | None = None, base: TrainConfig | None = None, progress: bool = True,
    overrides: dict[str, Any] | None = None, suite: str | None = None, suite_sample: float = 1.0,
) -> list[SweepRow]:
    """Train every combination (skipping finished ones); with ``suite``, score each best adapter on it
    and rank by the suite's overall accuracy instead of the in-training valid accuracy."""
    from punie.train.trainer import train

    if suite is not None:
        from punie.eval.suites import load_suite

        load_suite(suite)  # an unknown suite fails before any training

    grid, base_table = read_grid(grid_path)
    base_cfg = base or load_config(None, {**base_table, **(overrides or {})})
    root = Path(output or f"sweeps/{Path(grid_path).stem}")
    root.mkdir(parents=True, exist_ok=True)
    all_combos = combos(grid)
    for params in all_combos:  # validate every combination before training any
        load_config(None, {**base_cfg.to_dict(), **params})
    rows: list[SweepRow] = []
    for i, params in enumerate(all_combos, 1):
        name = combo_name(params)
        out = root / name
        summary_path = out / "summary.json"
        skipped = summary_path.is_file()
        if not skipped:
            cfg = load_config(None, {**base_cfg.to_dict(), **params, "data": data, "output": str(out)})
            resume = (out / "checkpoint" / "state.pt").is_file()
            cfg = cfg.replace(resume=resume, overwrite=not resume)
            if progress:
                from rich.console import Console

                Console(stderr=True).print(f"[bold]sweep {i}/{len(all_combos)}[/bold]: "
                                           f"{name}{' (resuming)' if resume else ''}")
            train(cfg, progress=progress)
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        suite_scores = None
        if suite is not None:
            cached = out / SUITE_SCORES
            prev = json.loads(cached.read_text(encoding="utf-8")) if cached.is_file() else None
            if prev and prev.get("suite") == suite and prev.get("sample") == suite_sample:
                suite_scores = prev
            else:
                best = out / "best" if (out / "best").is_dir() else out / "last"
                model = json.loads((out / "config.json").read_text(encoding="utf-8")).get("model", base_cfg.model)
                suite_scores = score_on_suite(best, model, suite, suite_sample, progress=progress)
                atomic_write_text(cached, json.dumps(suite_scores, indent=2))
        rows.append(
            SweepRow(
                name=name, params=params, output=str(out),
                tool_call_accuracy=summary.get("best_metric"), val_loss=summary.get("best_val_loss"),
                best_step=summary.get("best_step"), seconds=summary.get("seconds"), skipped=skipped,
                suite_scores=suite_scores,
            )
        )

    def rank(r: SweepRow) -> tuple[float, float]:
        if suite is not None and r.suite_scores:
            return (r.suite_scores.get("overall") or -1.0, r.suite_scores.get("tool_calling") or -1.0)
        return (r.tool_call_accuracy if r.tool_call_accuracy is not None else -1.0,
                -(r.val_loss if r.val_loss is not None else float("inf")))

    rows.sort(key=rank, reverse=True)
    atomic_write_text(root / "sweep.json", json.dumps([r.__dict__ for r in rows], indent=2, default=str))
    return rows


def print_table(rows: list[SweepRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    scored = rows[0].suite_scores is not None
    title = (f"sweep (ranked by {rows[0].suite_scores['suite']} overall accuracy)" if scored  # type: ignore[index]
             else "sweep (ranked by best tool-call accuracy, ties by val loss)")
    table = Table(title=title)
    table.add_column("#", justify="right")
    for key in rows[0].params:
        table.add_column(key)
    cats = sorted({c for r in rows for c in ((r.suite_scores or {}).get("categories") or {})})
    suite_cols = ["suite overall", *cats] if scored else []
    for col in (*suite_cols, "valid acc", "val loss", "best step", "seconds", "folder"):
        table.add_column(col, justify="right" if col != "folder" else "left")

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    for i, r in enumerate(rows, 1):
        sc = r.suite_scores or {}
        suite_cells = [pct(sc.get("overall")),
                       *[pct((sc.get("categories") or {}).get(c)) for c in cats]] if scored else []
        table.add_row(
            str(i), *[str(v) for v in r.params.values()], *suite_cells,
            "-" if r.tool_call_accuracy is None else f"{100 * r.tool_call_accuracy:.1f}%",
            "-" if r.val_loss is None else f"{r.val_loss:.4f}",
            str(r.best_step), "-" if r.seconds is None else f"{r.seconds:.0f}" + (" (cached)" if r.skipped else ""),
            r.output,
        )
    Console().print(table)
