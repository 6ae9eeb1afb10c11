"""`punie parse`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from punie.errors import ConfigError
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
