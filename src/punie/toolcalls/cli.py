"""`punie parse` and `punie probe`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from punie.errors import ConfigError
from punie.models.precision import HELP as DTYPE_HELP
from punie.models.precision import check_dtype
from punie.toolcalls.registry import FORMATS  # names only: format modules load on first parse
from punie.toolcalls.result import NO_CALL_FORMAT


def _read_text(path: Path | None) -> str:
    if path is None or str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ConfigError("file not found", location=str(path)) from None
    except (IsADirectoryError, PermissionError, OSError) as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", location=str(path)) from None


def load_tools(path: Path) -> list[dict[str, Any]]:
    """Tool specs from a JSON file: a list of specs (OpenAI-wrapped or bare) or ``{"tools": [...]}``."""
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", location=f"{path}:{exc.lineno}") from None
    if isinstance(data, dict) and isinstance(data.get("tools"), list):
        data = data["tools"]
    if not isinstance(data, list):
        raise ConfigError(
            "expected a JSON list of tool specs (or {\"tools\": [...]})", location=str(path)
        )
    for i, spec in enumerate(data):
        fn = spec.get("function", spec) if isinstance(spec, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ConfigError(f"tool {i} has no name", location=f"{path}: tools[{i}]")
    return data


def parse_cmd(
    file: Path | None = typer.Argument(None, help="Model output to parse (default: stdin; '-' = stdin)."),
    tools: Path | None = typer.Option(
        None,
        "--tools",
        help="JSON file with the tool specs offered: calls to other tools are reported as unknown "
        "(errors, not calls) and argument values are coerced to the parameters' types.",
    ),
    format: str | None = typer.Option(
        None, "--format", help="Read only this format: " + ", ".join((*FORMATS, NO_CALL_FORMAT)) + "."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print calls, format, content, errors, repaired."),
) -> None:
    """Parse model output into tool calls: prints a JSON list of {"name", "arguments"} ([] when none)."""
    from punie.toolcalls.registry import parse

    if format is not None and format not in (*FORMATS, NO_CALL_FORMAT):
        raise ConfigError(
            f"unknown format {format!r}", location="--format", hint=f"known: {', '.join(FORMATS)}, {NO_CALL_FORMAT}"
        )
    specs = load_tools(tools) if tools is not None else None
    result = parse(_read_text(file), specs, format=format, validate=specs is not None)
    out: Any = result.to_dict() if verbose else result.calls
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2 if verbose else None))


def probe_cmd(
    model: str | None = typer.Option(None, "--model", help="Model alias, HF folder, .gguf or hub id."),
    adapter: str | None = typer.Option(None, "--adapter", help="LoRA adapter folder."),
    base_url: str | None = typer.Option(None, "--base-url", help="Probe an OpenAI-compatible server instead."),
    n: int = typer.Option(4, "-n", min=1, help="Number of tool prompts and of no-tool prompts."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    dtype: str = typer.Option("auto", "--dtype", help=f"In-process weights' precision: {DTYPE_HELP}"),
) -> None:
    """Which tool-call format does the model emit, does it parse, and is the call right?"""
    from punie.backends import make_backend
    from punie.toolcalls.probe import rows_to_dicts, run_probe, summarize

    check_dtype(dtype)
    backend = make_backend(model, adapter=adapter, base_url=base_url, dtype=dtype)
    rows = run_probe(backend, n, max_new_tokens=max_new_tokens)
    summary = summarize(rows)
    if as_json:
        report = {"model": model, "adapter": adapter, "base_url": base_url, "summary": summary, "rows": rows_to_dicts(rows)}
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    _print_tables(rows, summary, model or "default", adapter)


def _print_tables(rows: list[Any], summary: dict[str, Any], model: str, adapter: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    def mark(ok: bool) -> str:
        return "[green]yes[/]" if ok else "[red]no[/]"

    title = f"punie probe: {model}" + (f" + {adapter}" if adapter else "")
    table = Table(title=title)
    for col in ("kind", "prompt", "format", "parsed?", "call right?", "reply"):
        table.add_column(col, overflow="fold")
    for r in rows:
        reply = r.raw.strip().replace("\n", "⏎")
        table.add_row(
            r.kind, r.prompt, r.format, mark(r.parsed), mark(r.correct), reply[:80] + ("…" if len(reply) > 80 else "")
        )
    per_format = Table(title="per format")
    for col in ("format", "replies", "parsed", "right"):
        per_format.add_column(col)
    for name, c in summary["formats"].items():
        per_format.add_row(name, str(c["replies"]), str(c["parsed"]), str(c["correct"]))
    console = Console()
    console.print(table)
    console.print(per_format)
    console.print(
        f"tool prompts: {summary['tool_correct']}/{summary['tool_prompts']} right, "
        f"{summary['tool_parsed']}/{summary['tool_prompts']} parsed; "
        f"no-tool prompts: {summary['no_tool_correct']}/{summary['no_tool_prompts']} answered without a call"
    )
