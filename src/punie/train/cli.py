"""``punie train``, ``punie fuse``, ``punie sweep``.

``train_cmd``'s options are generated from ``TrainConfig`` (one source of defaults, help and flags):
every option defaults to "not given", so only flags actually typed override the config file.
"""

from __future__ import annotations

import inspect
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Optional  # noqa: UP035  (typer reads Optional[...] annotations)

import typer

from punie.models.registry import DEFAULT_MODEL
from punie.train.config import TrainConfig, load_config


def _run_train(data: str, config: Optional[str], given: dict[str, Any]) -> None:  # noqa: UP045
    given = {k: v for k, v in given.items() if v is not None}
    if given.get("resume") and not config:
        # resume with the run's own resolved settings; flags typed now still override them
        saved = Path(given.get("output") or TrainConfig().output) / "config.json"
        config = str(saved) if saved.is_file() else None
    cfg = load_config(config, {**given, "data": data})
    from punie.train.trainer import train

    result = train(cfg)
    typer.echo(str(result.best_dir or result.last_dir))


def _build_train_cmd() -> Any:
    params = [
        inspect.Parameter(
            "data", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str,
            default=typer.Argument(..., metavar="DATA_DIR", help="Dataset folder (train.jsonl, valid.jsonl).",
                                   show_default=False),
        ),
        inspect.Parameter(
            "config", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[str],  # noqa: UP045
            default=typer.Option(None, "--config", "-c",
                                 help="TOML or YAML file with TrainConfig keys; flags override it."),
        ),
    ]
    for f in fields(TrainConfig):
        if not f.metadata.get("flag", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = type(f.default) if f.default is not MISSING else str
        decls = [flag] if kind is not bool else [f"{flag}/--no-{f.name.replace('_', '-')}"]
        if f.metadata.get("short"):
            decls.append(f.metadata["short"])
        params.append(
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[kind],  # noqa: UP045
                default=typer.Option(None, *decls, help=f"{f.metadata['help']} [default: {f.default}]",
                                     show_default=False),
            )
        )

    def train_cmd(**kwargs: Any) -> None:
        data = kwargs.pop("data")
        config = kwargs.pop("config")
        _run_train(data, config, kwargs)

    train_cmd.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    train_cmd.__annotations__ = {p.name: p.annotation for p in params}
    train_cmd.__doc__ = (
        "Train a LoRA adapter on a dataset folder. The adapter goes to OUT/best (also copied to OUT), "
        "with OUT/last, config.json, metrics.jsonl and checkpoint/ beside it."
    )
    return train_cmd


train_cmd = _build_train_cmd()


def fuse_cmd(
    adapter: str = typer.Option(..., "--adapter", "-a", help="Adapter folder (a run folder works: its best/)."),
    output: str = typer.Option(..., "--output", "-o", help="Folder for the merged HF model."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Base model the adapter was trained on."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Merge an adapter into its base model; save model + tokenizer as an HF folder."""
    from punie.train.fuse import fuse

    typer.echo(str(fuse(model, adapter, output, overwrite=overwrite)))


def sweep_cmd(
    data: str = typer.Argument(..., help="Dataset folder."),
    grid: str = typer.Option(..., "--grid", "-g",
                             help="TOML with a list per key (learning_rate, lora_rank, iters, ...)."),
    output: Optional[str] = typer.Option(  # noqa: UP045
        None, "--output", "-o", help="Sweep folder [default: sweeps/GRID-NAME]."
    ),
    config: Optional[str] = typer.Option(  # noqa: UP045
        None, "--config", "-c", help="Base TrainConfig file for every combination."
    ),
    model: Optional[str] = typer.Option(  # noqa: UP045
        None, "--model", "-m", help="Base model (overrides the config)."
    ),
    suite: Optional[str] = typer.Option(  # noqa: UP045
        None, "--suite", "-s",
        help="Also evaluate each best adapter on this eval suite (e.g. punie-tools) and rank by its overall accuracy.",
    ),
    suite_sample: float = typer.Option(
        1.0, "--suite-sample", min=0.01, max=1.0, help="With --suite: stratified share of the suite to run."
    ),
) -> None:
    """Train every combination of a grid and rank them (by --suite scores, else by the best in-training
    tool-call accuracy). Resumable: finished combinations and their suite scores are reused."""
    from punie.train.sweep import print_table, sweep

    base = load_config(config, {"model": model} if model else None) if (config or model) else None
    rows = sweep(data, grid, output=output, base=base, suite=suite, suite_sample=suite_sample)
    print_table(rows)
    if rows:
        typer.echo(str(Path(rows[0].output) / "best"))
