"""Which tool-call format does a model emit, and are its calls right? (``punie probe``)

Sends tool-requiring prompts with known expected calls and prompts that need no tool through any
``Backend``; each reply is scored by ``punie.toolcalls.scoring.score_case``, the rule eval uses (so
broken call markup in a no-tool reply is a false call here as in a report).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import typer

from punie.models.precision import HELP as DTYPE_HELP
from punie.models.precision import check_dtype
from punie.toolcalls.result import NO_CALL_FORMAT
from punie.toolcalls.scoring import failure_reason, score_case

# (prompt, expected calls). Unambiguous requests: the right call is the only reasonable one.
TOOL_PROMPTS: list[tuple[str, list[dict[str, Any]]]] = [
    ("Show me README.md", [{"name": "read_file", "arguments": {"path": "README.md"}}]),
    ("Run the tests with `pytest -q`.", [{"name": "run_command", "arguments": {"command": "pytest -q"}}]),
    ("Open src/app.py", [{"name": "read_file", "arguments": {"path": "src/app.py"}}]),
    (
        "Create a file hello.txt containing exactly: hi",
        [{"name": "write_file", "arguments": {"path": "hello.txt", "content": "hi"}}],
    ),
    ("What's in pyproject.toml?", [{"name": "read_file", "arguments": {"path": "pyproject.toml"}}]),
    ("Run `git status` for me.", [{"name": "run_command", "arguments": {"command": "git status"}}]),
    ("Kill terminal t1.", [{"name": "kill_terminal", "arguments": {"terminal_id": "t1"}}]),
    (
        "Show the output so far of terminal t2.",
        [{"name": "get_terminal_output", "arguments": {"terminal_id": "t2"}}],
    ),
]

NO_TOOL_PROMPTS: list[str] = [
    "Hi!",
    "What is 2 + 2?",
    "Explain in one sentence what a Python list comprehension is.",
    "Thanks, that's all for now.",
    "What does HTTP stand for?",
    "Write a haiku about autumn.",
    "Is Python dynamically typed? Answer yes or no.",
    "What is the capital of France?",
]


@dataclass
class ProbeRow:
    kind: str  # "tool" | "no_tool"
    prompt: str
    format: str  # registry name of what the model emitted ("none": no call markup)
    parsed: bool  # calls were read without errors (no-tool rows: no markup at all, or clean)
    correct: bool  # tool rows: calls equal the expected ones; no-tool rows: no call
    calls: list[dict[str, Any]]
    expected_calls: list[dict[str, Any]]
    errors: list[str]
    raw: str
    failure: str | None = None  # why it is wrong (``scoring.FAILURE_REASONS``); None when correct


def probe_prompts(n: int) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """``n`` tool prompts then ``n`` no-tool prompts as (kind, prompt, expected_calls); lists cycle."""
    rows: list[tuple[str, str, list[dict[str, Any]]]] = []
    for i in range(n):
        prompt, expected = TOOL_PROMPTS[i % len(TOOL_PROMPTS)]
        rows.append(("tool", prompt, expected))
    for i in range(n):
        rows.append(("no_tool", NO_TOOL_PROMPTS[i % len(NO_TOOL_PROMPTS)], []))
    return rows


def run_probe(backend: Any, n: int = 4, *, max_new_tokens: int = 128) -> list[ProbeRow]:
    """Generate a reply for each probe prompt with ``backend`` and score it."""
    from punie.backends.base import GenerationRequest

    prompts = probe_prompts(n)
    requests = [
        GenerationRequest(messages=[{"role": "user", "content": p}], max_new_tokens=max_new_tokens)
        for _, p, _ in prompts
    ]
    generations = backend.generate(requests)
    rows = []
    for (kind, prompt, expected), gen in zip(prompts, generations, strict=True):
        rec = score_case({"id": prompt, "expected_calls": expected}, gen.text, finish_reason=gen.finish_reason)
        errors = rec["parse_errors"]
        rows.append(
            ProbeRow(
                kind=kind,
                prompt=prompt,
                format=rec["format"],
                parsed=bool(rec["calls"]) and not errors if kind == "tool" else not errors,
                correct=rec["correct"],
                calls=rec["calls"],
                expected_calls=expected,
                errors=errors,
                raw=gen.text,
                failure=failure_reason(rec),
            )
        )
    return rows


def summarize(rows: list[ProbeRow]) -> dict[str, Any]:
    tool = [r for r in rows if r.kind == "tool"]
    plain = [r for r in rows if r.kind == "no_tool"]
    formats: dict[str, dict[str, int]] = {}
    for r in rows:
        f = formats.setdefault(r.format, {"replies": 0, "parsed": 0, "correct": 0})
        f["replies"] += 1
        f["parsed"] += int(r.parsed and r.format != NO_CALL_FORMAT)
        f["correct"] += int(r.correct)
    return {
        "tool_prompts": len(tool),
        "tool_correct": sum(r.correct for r in tool),
        "tool_parsed": sum(r.parsed for r in tool),
        "no_tool_prompts": len(plain),
        "no_tool_correct": sum(r.correct for r in plain),
        "format_histogram": dict(Counter(r.format for r in rows).most_common()),
        "formats": formats,
    }


def rows_to_dicts(rows: list[ProbeRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


# ---- `punie probe` ----------------------------------------------------------------------------------
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

    check_dtype(dtype)
    backend = make_backend(model, adapter=adapter, base_url=base_url, dtype=dtype)
    rows = run_probe(backend, n, max_new_tokens=max_new_tokens)
    summary = summarize(rows)
    if as_json:
        report = {"model": model, "adapter": adapter, "base_url": base_url, "summary": summary,
                  "rows": rows_to_dicts(rows)}
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
