"""`punie generate`: one reply from a model through a backend (a quick smoke test)."""

from __future__ import annotations

import json
import time

import typer

from punie.models.precision import HELP as DTYPE_HELP
from punie.models.precision import check_dtype
from punie.models.registry import DEFAULT_MODEL


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
