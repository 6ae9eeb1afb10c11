"""`punie models`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from punie.models.registry import DEFAULT_MODEL


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def models_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List model aliases, whether each is converted/cached, its size and path."""
    from rich.console import Console
    from rich.table import Table

    from punie.models.loading import _alias_gguf, cache_path_for, is_cached
    from punie.models.registry import ALIASES

    rows: list[dict[str, Any]] = []
    for name, alias in ALIASES.items():
        folder = cache_path_for(name)
        source = alias.hub_id or ""
        if alias.gguf_file:
            try:
                source = str(_alias_gguf(name))
            except Exception as exc:  # a missing wheel is a status, not an error, here
                source = f"missing: {exc}"
        rows.append(
            {
                "name": name,
                "default": name == DEFAULT_MODEL,
                "cached": is_cached(folder),
                "size_mb": round(_size(folder) / 1e6, 1),
                "path": str(folder),
                "source": source,
                "description": alias.description,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="punie models")
    for col in ("alias", "cached", "size", "path", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["name"] + (" (default)" if r["default"] else ""),
            "yes" if r["cached"] else "no",
            f"{r['size_mb']} MB" if r["cached"] else "-",
            r["path"],
            r["source"],
        )
    Console().print(table)
