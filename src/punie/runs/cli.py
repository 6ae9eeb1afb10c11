"""``punie runs [list|show ID]``: the cumulative table of training and eval runs."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from punie.runs.registry import get_run, list_runs, overall_accuracy, tool_call_accuracy

app = typer.Typer(add_completion=False, no_args_is_help=False, invoke_without_command=True,
                  help="The registry of training and eval runs.")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _table_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [str(r["id"]), r["kind"], r["created_at"].replace("T", " ").replace("+00:00", "Z"), r["model"] or "—",
         r["adapter"] or "—", _pct(tool_call_accuracy(r)), _pct(overall_accuracy(r)), r["report_path"] or "—"]
        for r in runs
    ]


@app.callback()
def main(ctx: typer.Context) -> None:
    """The registry of training and eval runs (default: list)."""
    if ctx.invoked_subcommand is None:
        list_cmd()


@app.command("list")
def list_cmd(
    kind: Annotated[str | None, typer.Option("--kind", help="Only runs of this kind (train, eval, …).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the last N runs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as a JSON list.")] = False,
) -> None:
    """All runs, oldest first: the cumulative table of adapter performance."""
    runs = list_runs(kind=kind, limit=limit)
    if as_json:
        typer.echo(json.dumps(runs, indent=1))
        return
    if not runs:
        typer.echo("no runs recorded yet (punie train / punie eval record them)")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="punie runs")
    for col, justify in (("id", "right"), ("kind", "left"), ("time (UTC)", "left"), ("model", "left"),
                         ("adapter", "left"), ("tool-call acc", "right"), ("overall acc", "right"),
                         ("report", "left")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in _table_rows(runs):
        table.add_row(*row)
    Console(width=200).print(table)


@app.command("show")
def show_cmd(run_id: Annotated[int, typer.Argument(metavar="ID", help="Run id from `punie runs list`.")]) -> None:
    """Everything recorded for one run, as JSON."""
    typer.echo(json.dumps(get_run(run_id), indent=1))
