"""``punie serve``: load the model (+ adapters) once and serve the OpenAI chat-completions API."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from punie.errors import ConfigError
from punie.models.precision import HELP as DTYPE_HELP
from punie.models.precision import check_dtype
from punie.models.registry import DEFAULT_MODEL
from punie.serve._limits import DEFAULT_LIMITS as _DEFAULTS

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_adapters(specs: list[str], *, base_name: str) -> dict[str, Path]:
    """``NAME=PATH`` (or a bare PATH, named after its folder) → {name: adapter folder}."""
    from punie.models.loading import check_adapter_dir

    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).name, spec
        where = f"--adapter {spec}"
        if not _NAME.match(name):
            raise ConfigError(f"adapter name {name!r}: use letters, digits, '.', '_' or '-'", location=where)
        if name in out or name == base_name:
            raise ConfigError(
                f"adapter name {name!r} is used twice (or is the base model's name)", location=where
            )
        out[name] = check_adapter_dir(path)
    return out


def serve_cmd(
    model: str = typer.Option(
        DEFAULT_MODEL, "--model", "-m", help="Base model: alias, HF folder, .gguf or hub id."
    ),
    adapter: list[str] = typer.Option(
        [],
        "--adapter",
        "-a",
        help="NAME=PATH of a LoRA adapter (repeatable); clients pick it with model=NAME.",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind; 0.0.0.0 exposes it to the network."
    ),
    port: int = typer.Option(8766, "--port", help="Port to listen on."),
    served_model_name: str | None = typer.Option(
        None, "--served-model-name", help="Name clients use for the base model (default: the --model value)."
    ),
    max_tokens_limit: int = typer.Option(
        _DEFAULTS.max_tokens_limit, "--max-tokens-limit", help="Largest max_tokens a request may ask for."
    ),
    max_body_bytes: int = typer.Option(
        _DEFAULTS.max_body_bytes, "--max-body-bytes", help="Largest request body (413 above)."
    ),
    batch_size: int = typer.Option(
        _DEFAULTS.max_batch, "--batch-size", help="Concurrent requests generated together."
    ),
    no_prefix_cache: bool = typer.Option(
        False, "--no-prefix-cache", help="Prefill the tool prompt every time."
    ),
    no_jump_forward: bool = typer.Option(
        False,
        "--no-jump-forward",
        help="Decode grammar-forced tool-call text one token per forward (for comparison; outputs are the same).",
    ),
    print_launch: str | None = typer.Option(
        None,
        "--print-launch",
        help="Print commands to serve the same base + adapters on vllm or llama.cpp (paths relative to here; "
        "the chat template is written here), then exit.",
    ),
    dtype: str = typer.Option("auto", "--dtype", help=f"Weights' precision: {DTYPE_HELP}"),
) -> None:
    """OpenAI-compatible server whose replies carry tool_calls parsed with punie's own parser."""
    from punie.serve.launch import KINDS

    if print_launch is not None and print_launch not in KINDS:
        raise ConfigError(
            f"unknown target {print_launch!r} (one of {', '.join(KINDS)})", location="--print-launch"
        )
    check_dtype(dtype)
    if not 0 < port < 65536:
        raise ConfigError(f"port {port} is out of range", location="--port")
    if max_tokens_limit < 1:
        raise ConfigError("must be at least 1", location="--max-tokens-limit")
    base_name = served_model_name or model
    if not base_name.strip():
        raise ConfigError("must not be empty", location="--served-model-name")
    adapters = parse_adapters(adapter, base_name=base_name)
    if print_launch is not None:
        from punie.serve.launch import launch_commands

        typer.echo(
            launch_commands(
                print_launch,
                model=model,
                adapters=adapters,
                template_dir=Path("."),  # beside the commands, which name it relative to here
                served_name=served_model_name,
            ),
            nl=False,
        )
        return
    _serve(
        model,
        base_name,
        adapters,
        host,
        port,
        max_tokens_limit,
        max_body_bytes,
        batch_size,
        not no_prefix_cache,
        dtype,
        jump_forward=not no_jump_forward,
    )


def _serve(
    model: str,
    base_name: str,
    adapters: dict[str, Path],
    host: str,
    port: int,
    max_tokens_limit: int,
    max_body_bytes: int,
    batch_size: int,
    prefix_cache: bool,
    dtype: str = "auto",
    *,
    jump_forward: bool = True,
) -> None:
    import uvicorn

    from punie.backends.inprocess import InProcessBackend
    from punie.models import load_model
    from punie.serve import ServeLimits, create_app

    if host not in LOOPBACK:
        typer.echo(
            f"punie serve: listening on {host}: anyone who can reach this machine can use the model", err=True
        )
    typer.echo(
        f"punie serve: loading {model}" + (f" with adapters {', '.join(adapters)}" if adapters else ""),
        err=True,
    )
    loaded, tok = load_model(model, adapter={n: str(p) for n, p in adapters.items()} or None, dtype=dtype)
    # keep_merged: an adapter's LoRA stays folded into the weights while requests keep asking for it
    # (batch-1 decode is memory-bound here; unmerged LoRA made a served tool call ~1.6x slower)
    backend = InProcessBackend(
        loaded, tok, batch_size=batch_size, prefix_cache=prefix_cache, model_name=model, keep_merged=bool(adapters),
        jump_forward=jump_forward,
    )
    limits = ServeLimits(
        max_body_bytes=max_body_bytes, max_tokens_limit=max_tokens_limit, max_batch=batch_size
    )
    from punie.serve._app import LOOPBACK_HOSTS

    app = create_app(
        backend,
        model_name=base_name,
        adapters={n: str(p) for n, p in adapters.items()},
        limits=limits,
        # bound to loopback: answer only loopback Host names (a DNS-rebinding page can't reach it)
        allowed_hosts=LOOPBACK_HOSTS if host in LOOPBACK else None,
    )
    typer.echo(f"punie serve: http://{host}:{port}/v1  models: {', '.join([base_name, *adapters])}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
