"""``punie dataset ...``: generate, validate, stats, inspect, filter, merge, split, dedupe, check-leakage."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from punie.data.generator import (
    DEFAULT_CALL_ONLY_SHARE,
    DEFAULT_MUTE_HISTORY,
    DEFAULT_MUTE_SHARE,
    DEFAULT_SIZE,
    SUITE_SIZE,
    WEIGHTS,
)
from punie.errors import ConfigError, DatasetError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Generate, validate, inspect and transform tool-calling datasets.")

ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model whose prompt builder/tokenizer to use.")]
OutOpt = Annotated[Path, typer.Option("--output", "-o", help="Output dataset folder (written atomically).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def _fail() -> None:
    raise typer.Exit(1)  # punie.cli.main turns it into the process exit code


def _builder(model: str | None) -> Any:
    from punie.models import PromptBuilder, load_tokenizer

    return PromptBuilder(load_tokenizer(model) if model else load_tokenizer())


def _read_some(path: Path) -> Any:
    """read_dataset, refusing an input with no examples (a transform of nothing would write an empty dataset)."""
    from punie.data.dataset import read_dataset

    ds = read_dataset(path)
    if not len(ds):
        raise DatasetError("has no examples; nothing to write", location=str(path))
    return ds


def _write(ds: Any, out: Path, note: dict[str, Any], *, why_empty: str = "no examples left") -> None:
    from punie.data.dataset import write_dataset

    if not len(ds):  # an empty dataset is never what a user wants, and train refuses it later
        raise DatasetError(f"{why_empty}; nothing written", location=str(out))
    counts = {s: len(c) for s, c in ds.splits().items()}
    write_dataset(ds, out, extra_files={"punie_dataset.json": json.dumps({**note, "counts": counts}, indent=1) + "\n"})
    typer.echo(f"wrote {out}: " + ", ".join(f"{s} {n}" for s, n in counts.items()))


@app.command("generate")
def generate_cmd(
    out: Annotated[Path, typer.Argument(help="Output folder (train/valid/test.jsonl).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same dataset.")] = 0,
    size: Annotated[int, typer.Option("--size", help="Number of train conversations.")] = DEFAULT_SIZE,
    heldout_size: Annotated[int | None, typer.Option("--heldout-size",
                                                     help="valid and test size each (default size/10, ≥ 50).")] = None,
    suite: Annotated[Path | None, typer.Option("--suite",
                                               help="Also write the held-out punie-tools eval suite here "
                                                    "(.jsonl).")] = None,
    suite_size: Annotated[int, typer.Option("--suite-size", help="Cases in --suite.")] = SUITE_SIZE,
    call_only_share: Annotated[
        float,
        typer.Option("--call-only-share", min=0.0, max=1.0,
                     help="Share of train tool conversations cut right after their last call (no final answer: "
                          "shorter, cheaper to train)."),
    ] = DEFAULT_CALL_ONLY_SHARE,
    mute_history: Annotated[
        bool,
        typer.Option("--mute-history/--no-mute-history",
                     help="Give weight 0 (context, not trained) to train answers after a tool result that a later "
                          "user turn follows, so the supervised turns after a result are not mostly answers."),
    ] = DEFAULT_MUTE_HISTORY,
    mute_share: Annotated[
        float,
        typer.Option("--mute-share", min=0.0, max=1.0,
                     help="With --mute-history: the share of those answers muted (each drawn on its own; the "
                          "conversations are the same for every share)."),
    ] = DEFAULT_MUTE_SHARE,
    mix: Annotated[str | None, typer.Option(
        "--mix", help="Change the weight of conversation kinds, e.g. 'clarify=0,parallel=12' (0 drops a kind). "
                      "Kinds and default weights: " + ", ".join(f"{k}={v:g}" for k, v in WEIGHTS.items()) + ".")
    ] = None,
) -> None:
    """Generate a tool-calling dataset for the 7 tools (valid/test use held-out phrasings and values)."""
    from punie.data.generator import generate_dataset, parse_mix, write_suite

    if size < 1:
        raise ConfigError("--size must be at least 1", location="--size")
    if heldout_size is not None and heldout_size < 0:
        raise ConfigError("--heldout-size must be ≥ 0", location="--heldout-size")
    weights = parse_mix(mix) if mix else None
    start = time.time()
    ds = generate_dataset(seed=seed, size=size, heldout_size=heldout_size, call_only_share=call_only_share,
                          weights=weights, mute_history=mute_history, mute_share=mute_share)
    meta = {"generator": "punie.data.generator", "seed": seed, "size": size, "heldout_size": heldout_size,
            "call_only_share": call_only_share, "mute_history": mute_history, "mute_share": mute_share}
    if weights:
        meta["mix"] = weights
    _write(ds, out, meta)
    if suite is not None:
        n = write_suite(suite, suite_size, seed)
        typer.echo(f"wrote {suite}: {n} held-out eval cases")
    typer.echo(f"generated in {time.time() - start:.1f}s")


@app.command("validate")
def validate_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset folder or one .jsonl file.")],
    model: ModelOpt = None,
    max_seq_length: Annotated[int, typer.Option("--max-seq-length",
                                                help="With --model: longest allowed conversation in tokens.")] = 2048,
    max_show: Annotated[int, typer.Option("--max-show", help="Print at most this many errors and warnings each.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Check every line; errors as file:line: message N: ... Exit 0 valid, 1 invalid."""
    from punie.data.validate import validate_dataset

    builder = _builder(model) if model else None
    report = validate_dataset(path, model=model, max_seq_length=max_seq_length, builder=builder)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        for issue in report.errors[:max_show]:
            typer.echo(str(issue))
        if len(report.errors) > max_show:
            typer.echo(f"... and {len(report.errors) - max_show} more errors")
        for issue in report.warnings[:max_show]:
            typer.echo(f"warning: {issue}")
        if len(report.warnings) > max_show:
            typer.echo(f"... and {len(report.warnings) - max_show} more warnings")
        typer.echo(report.summary())
    if not report.ok:
        _fail()


@app.command("stats")
def stats_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset folder or one .jsonl file.")],
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per split: examples, calls per tool, calls per example, no-call and multi-step shares (+ tokens with --model)."""
    from punie.data.dataset import read_dataset
    from punie.data.ops import dataset_stats

    stats = dataset_stats(read_dataset(path), _builder(model) if model else None)
    if as_json:
        typer.echo(json.dumps(stats))
        return
    from rich.console import Console
    from rich.table import Table

    splits = list(stats)
    table = Table(title=f"punie dataset stats: {path}")
    table.add_column("")
    for s in splits:
        table.add_column(s, justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("examples", [str(stats[s]["examples"]) for s in splits]),
        ("calls per example", [f"{stats[s]['calls_per_example']:.2f}" for s in splits]),
        ("no-call share", [f"{stats[s]['no_call_share']:.1%}" for s in splits]),
        ("multi-step share", [f"{stats[s]['multi_step_share']:.1%}" for s in splits]),
    ]
    tools = sorted({t for s in splits for t in stats[s]["tool_calls"]})
    rows += [(f"calls: {t}", [str(stats[s]["tool_calls"].get(t, 0)) for s in splits]) for t in tools]
    if model:
        for q in ("p50", "p90", "p99", "max"):
            rows.append((f"tokens {q}", [str(stats[s].get("tokens", {}).get(q, "—")) for s in splits]))
        rows.append(("supervised tokens", [f"{stats[s].get('supervised_token_share', 0):.1%}" for s in splits]))
        rows.append(("supervised after prefix",
                     [f"{stats[s].get('supervised_share_after_prefix', 0):.1%}" for s in splits]))
    for name, vals in rows:
        table.add_row(name, *vals)
    Console(width=120).print(table)


@app.command("inspect")
def inspect_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset folder or one .jsonl file.")],
    index: Annotated[int, typer.Option("--index", "-i", help="Which example (0-based) of the split.")] = 0,
    split: Annotated[str, typer.Option("--split", help="train, valid or test.")] = "train",
    model: ModelOpt = None,
    html_out: Annotated[Path | None, typer.Option("--html",
                                                  help="Write an HTML page here instead of printing.")] = None,
    count: Annotated[int, typer.Option("--count", "-n", help="With --html: how many examples from --index on.")] = 1,
) -> None:
    """An example rendered through the model's prompt builder: trained tokens vs masked tokens."""
    from punie.data.dataset import read_dataset
    from punie.data.inspect import render_html, render_terminal
    from punie.models import DEFAULT_MODEL

    ds = read_dataset(path)
    if split not in ds.splits():
        raise ConfigError(f"--split must be train, valid or test, got {split!r}", location="--split")
    convs = ds.splits()[split]
    if not 0 <= index < len(convs):
        raise ConfigError(f"--index {index} is out of range: {split} has {len(convs)} examples", location="--index")
    builder = _builder(model)
    if html_out is not None:
        from punie.paths import atomic_write_text

        chosen = [(f"{split} #{i}", convs[i]) for i in range(index, min(len(convs), index + max(1, count)))]
        atomic_write_text(html_out, render_html(chosen, builder, model or DEFAULT_MODEL))
        typer.echo(f"wrote {html_out}")
        return
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{split} #{index}[/bold]  ([bold green on grey15]trained[/] / [dim]masked[/])\n")
    console.print(render_terminal(convs[index], builder))


@app.command("filter")
def filter_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset folder or one .jsonl file.")],
    output: OutOpt,
    tool: Annotated[list[str] | None, typer.Option("--tool",
                                                   help="Keep examples calling this tool (repeatable).")] = None,
    calls: Annotated[str | None, typer.Option("--calls",
                                              help="some: with calls only; none: no-call only; any.")] = None,
    contains: Annotated[str | None, typer.Option("--contains",
                                                 help="Keep examples where a message matches this regex.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens",
                                                   help="Drop examples longer than this (needs --model).")] = None,
    min_turns: Annotated[int | None, typer.Option("--min-turns",
                                                  help="Keep examples with at least this many assistant "
                                                       "turns.")] = None,
    model: ModelOpt = None,
) -> None:
    """Keep matching examples; the output is written in canonical form."""
    from punie.data.ops import filter_dataset, make_filter

    ds = _read_some(path)
    keep = make_filter(tools=tool, calls=calls, contains=contains, max_tokens=max_tokens,
                       builder=_builder(model) if max_tokens is not None else None, min_turns=min_turns)
    out = filter_dataset(ds, keep)
    typer.echo(f"kept {len(out)} of {len(ds)} examples")
    _write(out, output, {"op": "filter", "source": str(path)}, why_empty=f"no example of {len(ds)} matches the filters")


@app.command("merge")
def merge_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Dataset folders or files to merge (split by split).")],
    output: OutOpt,
) -> None:
    """Concatenate datasets split by split."""
    from punie.data.dataset import read_dataset
    from punie.data.ops import merge_datasets

    if len(paths) < 2:
        raise ConfigError("merge needs at least two datasets", location="PATHS")
    _write(merge_datasets([read_dataset(p) for p in paths]), output,
           {"op": "merge", "sources": [str(p) for p in paths]},
           why_empty="the inputs have no examples")


@app.command("split")
def split_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset folder (all splits pooled) or one .jsonl file.")],
    output: OutOpt,
    ratios: Annotated[str, typer.Option("--ratios", help="train,valid,test ratios.")] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option("--seed", help="Shuffle seed.")] = 0,
) -> None:
    """Shuffle (seeded) and cut into train/valid/test by ratios."""
    from punie.data.ops import parse_ratios, split_dataset

    r = parse_ratios(ratios)
    _write(split_dataset(list(_read_some(path)), r, seed), output,
           {"op": "split", "source": str(path), "ratios": r, "seed": seed})


@app.command("dedupe")
def dedupe_cmd(
    path: Annotated[Path, typer.Argument(help="Dataset folder or one .jsonl file.")],
    output: OutOpt,
    mode: Annotated[str, typer.Option("--mode",
                                      help="exact: identical user prompts; normalized: ignoring case and "
                                           "whitespace.")] = "normalized",
) -> None:
    """Drop examples whose user prompts repeat an earlier one (test is kept over valid over train)."""
    from punie.data.ops import dedupe_dataset

    ds = _read_some(path)
    out, removed = dedupe_dataset(ds, mode)
    typer.echo(f"removed {sum(removed.values())} duplicates" + (f" ({removed})" if removed else ""))
    _write(out, output, {"op": "dedupe", "source": str(path), "mode": mode, "removed": removed})


@app.command("check-leakage")
def check_leakage_cmd(
    data: Annotated[Path, typer.Argument(help="Dataset folder or .jsonl file (its training prompts).")],
    suites: Annotated[list[str], typer.Argument(help="Suite .jsonl files, or punie-tools for the built-in suite.")],
    threshold: Annotated[float, typer.Option("--threshold",
                                             help="n-gram containment at which a prompt counts as a near copy.")] = 0.8,
    max_share: Annotated[float, typer.Option("--max-share",
                                             help="Share of leaked eval cases tolerated before exit 1.")] = 0.0,
    split: Annotated[str, typer.Option("--split",
                                       help="Which split's prompts to check (train, valid, test, all).")] = "train",
    as_json: JsonOpt = False,
) -> None:
    """Training prompts that equal or nearly equal eval prompts. Exit 1 above --max-share."""
    from punie.data.dataset import read_dataset
    from punie.data.leakage import check_leakage, read_suite_cases

    if not 0 < threshold <= 1:
        raise ConfigError("--threshold must be in (0, 1]", location="--threshold")
    ds = read_dataset(data)
    convs = list(ds) if split == "all" else ds.splits().get(split)
    if convs is None:
        raise ConfigError(f"--split must be train, valid, test or all, got {split!r}", location="--split")
    cases: list[dict[str, Any]] = []
    for s in suites:
        cases += _suite_cases(s, read_suite_cases)
    report = check_leakage(convs, cases, threshold, max_share=max_share)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        for leak in report.leaks[:20]:
            typer.echo(f"{leak.case_id}: {leak.similarity:.2f}: {leak.eval_prompt!r} ~ {leak.train_prompt!r}")
        typer.echo(report.summary())
    if not report.ok:
        _fail()


def _suite_cases(name: str, read_file: Any) -> list[dict[str, Any]]:
    if Path(name).exists():
        return read_file(name)
    try:  # built-in suites belong to the eval stage
        from punie.eval.suites import load_suite

        return list(load_suite(name).cases)
    except ImportError:
        pass
    if name == "punie-tools":
        from punie.data.generator import heldout_suite_cases

        return heldout_suite_cases()
    raise DatasetError(f"suite {name!r} is neither a file nor a built-in suite", location=name)


# ---- import / export (punie.data.convert) ---------------------------------------------------------


@app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="A .jsonl file, or a .json file holding one JSON array.")],
    output: Annotated[Path, typer.Option("--output", "-o",
                                         help="Output .jsonl file (punie's form, written atomically).")],
    fmt: Annotated[str, typer.Option("--format", "-f",
                                     help="auto, sharegpt, hermes, xlam, trl, openai or mlx.")] = "auto",
    max_show: Annotated[int, typer.Option("--max-show", help="Print at most this many line problems.")] = 50,
) -> None:
    """Convert ShareGPT/Hermes, xLAM, TRL, OpenAI or mlx-lm lines to punie's JSONL, `tools` on every line.
    Lines that can't be converted are reported as file:line and skipped; exit 1 if any was dropped."""
    from punie.data.convert import IMPORT_FORMATS, import_file
    from punie.data.dataset import dumps_line
    from punie.paths import atomic_write_text

    if fmt not in IMPORT_FORMATS:
        raise ConfigError(f"unknown format {fmt!r} (one of {', '.join(IMPORT_FORMATS)})", location="--format")
    if output.suffix != ".jsonl":
        raise ConfigError(f"{output}: give a .jsonl file", location="-o",
                          hint="split it afterwards with `punie dataset split OUT.jsonl -o DIR`")
    if output.is_dir():
        raise ConfigError(f"{output}: is a folder, not a .jsonl file", location="-o")
    if output.exists() and path.exists() and output.resolve() == path.resolve():
        raise ConfigError(f"{output}: is the input file; write the conversion elsewhere", location="-o")
    res = import_file(path, fmt)
    for where, msg in res.problems[:max_show]:
        typer.echo(f"{where}: {msg}", err=True)
    if len(res.problems) > max_show:
        typer.echo(f"... and {len(res.problems) - max_show} more problems", err=True)
    typer.echo(f"detected format: {res.detected()}" if fmt == "auto" else f"format: {fmt}")
    if not res.conversations:
        raise DatasetError(f"no line of {res.lines} could be converted; nothing written", location=str(path))
    atomic_write_text(output, "".join(dumps_line(c) + "\n" for c in res.conversations))
    for note, n in res.notes.most_common():
        typer.echo(f"  {n} line{'' if n == 1 else 's'}: {note}")
    typer.echo(f"wrote {output}: {len(res.conversations)} conversations"
               + (f"; dropped {res.dropped} of {res.lines} lines" if res.dropped else ""))
    if res.dropped:
        _fail()


@app.command("export")
def export_cmd(
    path: Annotated[Path, typer.Argument(help="punie dataset folder (train/valid/test.jsonl) or one .jsonl file.")],
    output: Annotated[Path, typer.Option("--output", "-o",
                                         help="Output folder (one file per split), or one .jsonl file for all of it.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="openai, sharegpt, mlx or trl.")],
    model: ModelOpt = None,
) -> None:
    """Write a dataset the way another trainer reads it: OpenAI fine-tuning, ShareGPT (Hermes-style), mlx-lm or TRL.
    mlx/trl: with --model's chat template when it renders tools, else punie's prompt as text (SmolLM2)."""
    from punie.data.convert import EXPORT_FORMATS, export_line
    from punie.data.dataset import SPLITS, read_dataset
    from punie.paths import atomic_dir, atomic_write_text

    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})", location="--format")
    one_file = output.suffix == ".jsonl"
    if one_file and output.is_dir():
        raise ConfigError(f"{output}: is a folder, not a .jsonl file", location="-o")
    if not one_file:
        if output.exists() and not output.is_dir():
            raise ConfigError(f"{output}: is a file; give a folder, or a name ending in .jsonl", location="-o")
        if output.is_dir():
            others = sorted(p.name for p in output.iterdir() if p.name not in {f"{s}.jsonl" for s in SPLITS})
            if others:
                raise ConfigError(f"{output}: holds other files ({', '.join(others[:3])}); refusing to replace it",
                                  location="-o", hint="choose a new or empty folder")
    if path.resolve() == output.resolve():
        raise ConfigError(f"{output}: is the input; write the export elsewhere", location="-o")
    ds = read_dataset(path)
    builder = _builder(model) if fmt in ("trl", "mlx") else None
    if builder is not None and not builder.native_tools:
        from punie.models import DEFAULT_MODEL

        typer.echo(f"{model or DEFAULT_MODEL}: its chat template does not render tools, so the tool list and "
                   "calls are written into the text exactly as punie renders them")

    def lines(convs: list[Any]) -> str:
        return "".join(json.dumps(export_line(c, fmt, builder), ensure_ascii=False) + "\n" for c in convs)

    if one_file:
        atomic_write_text(output, lines(list(ds)))
        typer.echo(f"wrote {output}: {len(ds)} {fmt} lines (all splits)")
        return
    counts = {s: len(c) for s, c in ds.splits().items() if c}
    with atomic_dir(output) as tmp:
        for split, convs in ds.splits().items():
            if convs:
                (tmp / f"{split}.jsonl").write_text(lines(convs), encoding="utf-8")
    typer.echo(f"wrote {output} ({fmt}): " + ", ".join(f"{s} {n}" for s, n in counts.items()))
