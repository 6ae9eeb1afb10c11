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
            raise ConfigError(f"unknown grid key {key!r}", location=str(p), hint=f"known keys: {', '.join(sorted(known))}")
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


def sweep(
    data: str, grid_path: str, *, output: str | None = None, base: TrainConfig | None = None, progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> list[SweepRow]:
    from punie.train.trainer import train

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

                Console(stderr=True).print(f"[bold]sweep {i}/{len(all_combos)}[/bold]: {name}{' (resuming)' if resume else ''}")
            train(cfg, progress=progress)
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        rows.append(
            SweepRow(
                name=name, params=params, output=str(out),
                tool_call_accuracy=summary.get("best_metric"), val_loss=summary.get("best_val_loss"),
                best_step=summary.get("best_step"), seconds=summary.get("seconds"), skipped=skipped,
            )
        )
    rows.sort(key=lambda r: (r.tool_call_accuracy if r.tool_call_accuracy is not None else -1.0,
                             -(r.val_loss if r.val_loss is not None else float("inf"))), reverse=True)
    atomic_write_text(root / "sweep.json", json.dumps([r.__dict__ for r in rows], indent=2, default=str))
    return rows


def print_table(rows: list[SweepRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    table = Table(title="sweep (ranked by best tool-call accuracy, ties by val loss)")
    table.add_column("#", justify="right")
    for key in rows[0].params:
        table.add_column(key)
    for col in ("tool-call acc", "val loss", "best step", "seconds", "folder"):
        table.add_column(col, justify="right" if col != "folder" else "left")
    for i, r in enumerate(rows, 1):
        table.add_row(
            str(i), *[str(v) for v in r.params.values()],
            "-" if r.tool_call_accuracy is None else f"{100 * r.tool_call_accuracy:.1f}%",
            "-" if r.val_loss is None else f"{r.val_loss:.4f}",
            str(r.best_step), "-" if r.seconds is None else f"{r.seconds:.0f}" + (" (cached)" if r.skipped else ""),
            r.output,
        )
    Console().print(table)
