"""`punie models` and `punie generate`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from punie.models.precision import HELP as DTYPE_HELP
from punie.models.precision import check_dtype
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


def generate_cmd(
    prompt: str = typer.Argument(..., help="User message."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Alias, HF folder, .gguf file or hub id."),
    adapter: str = typer.Option(None, "--adapter", "-a", help="PEFT adapter folder."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server instead of in-process."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0),
    no_tools: bool = typer.Option(False, "--no-tools", help="Don't offer the 7 tools."),
    dtype: str = typer.Option("auto", "--dtype", help=f"In-process weights' precision: {DTYPE_HELP}"),
) -> None:
    """Generate one reply (with the 7 tools offered) and show the parsed tool calls."""
    from punie.backends import make_backend
    from punie.backends.base import GenerationRequest
    from punie.toolcalls import parse

    check_dtype(dtype)
    start = time.time()
    backend = make_backend(model, adapter=adapter, base_url=base_url, dtype=dtype)
    loaded = time.time()
    req = GenerationRequest(
        [{"role": "user", "content": prompt}],
        tools=[] if no_tools else None,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
    )
    gen = backend.generate([req])[0]
    result = parse(gen.text)
    typer.echo(gen.text)
    typer.echo(
        json.dumps(
            {
                "calls": result.calls,
                "format": result.format,
                "finish_reason": gen.finish_reason,
                "completion_tokens": gen.completion_tokens,
                "load_s": round(loaded - start, 2),
                "generate_s": round(time.time() - loaded, 2),
            }
        ),
        err=True,
    )
