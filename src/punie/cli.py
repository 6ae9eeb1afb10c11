"""punie's command line: a table of commands, each imported only when it runs."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

# name -> ("module:attribute", one-line help). The attribute is a typer app (group) or a function.
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("punie.models.cli:models_cmd", "List model aliases, whether each is cached, size and path."),
    "generate": ("punie.backends.cli:generate_cmd", "Generate one reply with a model (quick smoke test)."),
    "parse": ("punie.toolcalls.cli:parse_cmd", "Parse model output into tool calls (JSON on stdout)."),
    "probe": ("punie.eval.probe:probe_cmd", "Which tool-call format does a model emit, and is it right?"),
    "dataset": ("punie.data.cli:app", "Generate, validate, inspect and transform tool-calling datasets."),
    "train": ("punie.train.cli:train_cmd", "Train a LoRA adapter on a dataset folder."),
    "fuse": ("punie.train.cli:fuse_cmd", "Merge an adapter into its base model."),
    "sweep": ("punie.train.cli:sweep_cmd", "Grid-search training settings; train and evaluate each."),
    "eval": ("punie.eval.cli:eval_cmd", "Evaluate a model or adapter on suites; HTML/JSON report."),
    "compare": ("punie.eval.cli:compare_cmd", "Compare eval reports side by side, with paired tests and a verdict."),
    "runs": ("punie.runs.cli:app", "The registry of training and eval runs."),
    "serve": ("punie.serve.cli:serve_cmd", "OpenAI-compatible server returning parsed tool_calls."),
    "demo": ("punie.demo:demo_cmd", "The main job: data → baseline eval → train → eval → report."),
}


def _load(name: str) -> click.Command:
    import typer

    target, help_text = COMMANDS[name]
    module_name, attr = target.split(":")
    obj: Any = getattr(importlib.import_module(module_name), attr)
    if isinstance(obj, typer.Typer):
        cmd = typer.main.get_command(obj)
    else:
        app = typer.Typer(add_completion=False)
        app.command(name=name, help=obj.__doc__ or help_text)(obj)
        cmd = typer.main.get_command(app)
    cmd.name = name
    if not cmd.help:
        cmd.help = help_text
    return cmd  # type: ignore[return-value]  # typer's vendored click Command: same interface


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return _load(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="PUNIE_DEBUG", help="Show tracebacks for errors.")
@click.version_option(package_name="punie")
def cli(debug: bool) -> None:
    """punie: tool-calling data, LoRA training, honest eval and serving for small local models.

    Every stage defaults to the embedded model smollm2-135m and works offline.
    """
    if debug:
        os.environ["PUNIE_DEBUG"] = "1"


def _exception_types() -> tuple[tuple[type[BaseException], ...], ...]:
    exits: list[type[BaseException]] = [click.exceptions.Exit]
    usage: list[type[BaseException]] = [click.exceptions.ClickException]
    aborts: list[type[BaseException]] = [click.exceptions.Abort]
    try:
        from typer import _click as tclick
        from typer import exceptions as texc

        exits.append(texc.Exit)
        usage.append(tclick.exceptions.ClickException)
        if hasattr(tclick.exceptions, "Abort"):
            aborts.append(tclick.exceptions.Abort)
        if hasattr(texc, "Abort"):
            aborts.append(texc.Abort)
    except ImportError:  # older typer uses the click package itself
        pass
    return tuple(exits), tuple(usage), tuple(aborts)


def main(argv: list[str] | None = None) -> int:
    from punie.errors import PunieError

    # typer >= 0.2x raises exceptions of its own vendored click copy; catch both families
    exits, usage_errors, aborts = _exception_types()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("PUNIE_DEBUG") == "1"
    try:
        rv = cli.main(args=args, prog_name="punie", standalone_mode=False)
    except PunieError as exc:
        if debug:
            raise
        click.echo(f"punie: error: {exc}", err=True)
        return 2
    except aborts:
        click.echo("punie: aborted", err=True)
        return 130
    except exits as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except usage_errors as exc:
        exc.show()  # type: ignore[attr-defined]  # a click UsageError of either family
        return 2
    except KeyboardInterrupt:
        click.echo("punie: interrupted", err=True)
        return 130
    # non-standalone click returns the exit code of a click.Exit instead of raising it
    return rv if isinstance(rv, int) else 0


def run() -> None:  # console-script entry
    sys.exit(main())


if __name__ == "__main__":
    run()
