"""Parser throughput on a mixed corpus: punie's parser now vs the parser at a baseline commit (before
issue 14's span-based scan over ~26 formats) vs a naive try-everything parser, one core.

    python bench/parse.py [--seconds 4] [--baseline 771fee1]

The baseline is the ``punie.toolcalls`` package as it was at ``--baseline``, extracted with
``git archive`` into a temporary folder and imported under another name, so both run in one process.

The corpus holds calls in every registered format, no-call prose (with code, braces and a
package.json), and malformed outputs (truncated at random positions, random byte flips). The naive
baseline runs every format's regex and ``json.loads``/``ast.parse`` on every output, which is how
a parser looks before the cheap substring pre-checks. Goal: >= 10,000 outputs/s for ``parse``.
Both run in alternating rounds and the median is printed: the machine is shared and load drifts.
The wall-clock ratio swings with that load, so a CPU-time ratio (``time.process_time``, many short
alternating rounds, fastest and median rounds) is printed next to it: the steadier of the two.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import io
import json
import random
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from punie.toolcalls import FORMATS, parse

CALLS = [
    {"name": "read_file", "arguments": {"path": "src/app.py"}},
    {"name": "run_command", "arguments": {"command": "pytest -q tests/", "background": False}},
    {"name": "write_file", "arguments": {"path": "hello.py", "content": 'def main():\n    print("hi")\n\nmain()\n'}},
]


def _xml(call: dict) -> str:
    params = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in call["arguments"].items())
    return f"<tool_call>\n<function={call['name']}>\n{params}</function>\n</tool_call>"


def _glm(call: dict) -> str:
    args = "".join(
        f"<arg_key>{k}</arg_key>\n<arg_value>{v if isinstance(v, str) else json.dumps(v)}</arg_value>\n"
        for k, v in call["arguments"].items()
    )
    return f"<tool_call>{call['name']}\n{args}</tool_call>"


def _kimi(call: dict) -> str:
    return (
        "<|tool_calls_section_begin|><|tool_call_begin|>functions." + call["name"] + ":0"
        "<|tool_call_argument_begin|>" + json.dumps(call["arguments"]) + "<|tool_call_end|><|tool_calls_section_end|>"
    )


def _py(call: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in call["arguments"].items())
    return f"[{call['name']}({args})]"


RENDER: dict[str, Callable[[dict], str]] = {
    "hermes": lambda c: "I'll do that.\n<tool_call>\n" + json.dumps(c) + "\n</tool_call>",
    "qwen3_xml": _xml,
    "glm45": _glm,
    "mistral": lambda c: "[TOOL_CALLS]" + c["name"] + "[ARGS]" + json.dumps(c["arguments"]),
    "llama3_json": lambda c: "<|python_tag|>" + json.dumps({"name": c["name"], "parameters": c["arguments"]}),
    "granite": lambda c: "<|tool_call|>" + json.dumps([c]),
    "phi4_mini": lambda c: "functools" + json.dumps([c]),
    "jamba": lambda c: "<tool_calls>" + json.dumps([c]) + "</tool_calls>",
    "kimi_k2": _kimi,
    "deepseek_v3": lambda c: "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>" + c["name"]
    + "\n```json\n" + json.dumps(c["arguments"]) + "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
    "json_fence": lambda c: "Here is the call:\n```json\n" + json.dumps(c, indent=2) + "\n```",
    "pythonic": _py,
    "bare_json": lambda c: "Sure. " + json.dumps(c),
    "functionary_v31": lambda c: f"<function={c['name']}>" + json.dumps(c["arguments"]) + "</function>",
    "minimax_m2": lambda c: "<minimax:tool_call>\n" + f'<invoke name="{c["name"]}">\n'
    + "".join(f'<parameter name="{k}">{v}</parameter>\n' for k, v in c["arguments"].items())
    + "</invoke>\n</minimax:tool_call>",
    "minimax_m1": lambda c: "<tool_calls>\n" + json.dumps(c) + "\n</tool_calls>",
    "harmony": lambda c: "<|channel|>analysis<|message|>I should call it.<|end|>"
    + "<|start|>assistant<|channel|>commentary to=functions."
    + c["name"] + " <|constrain|>json<|message|>" + json.dumps(c["arguments"]) + "<|call|>",
    "llama3_builtin": lambda c: "<|python_tag|>" + _py(c)[1:-1].replace("(", ".call(", 1) + "<|eom_id|>",
    "function_gemma": lambda c: "<start_function_call>call:" + c["name"] + "{"
    + ",".join(f"{k}:<escape>{v}<escape>" for k, v in c["arguments"].items()) + "}<end_function_call>",
    "gemma4": lambda c: "<|tool_call>call:" + c["name"] + "{"
    + ",".join(f'{k}:<|"|>{v}<|"|>' for k, v in c["arguments"].items()) + "}<tool_call|>",
    "command_r7b": lambda c: "<|START_ACTION|>" + json.dumps([{"tool_call_id": "0", "tool_name": c["name"],
                                                               "parameters": c["arguments"]}]) + "<|END_ACTION|>",
    "command_r_plus": lambda c: "Action: ```json\n"
    + json.dumps([{"tool_name": c["name"], "parameters": c["arguments"]}])
    + "\n```",
    "apertus": lambda c: "<|tools_prefix|>" + json.dumps([{c["name"]: c["arguments"]}]) + "<|tools_suffix|>",
    "olmo3": lambda c: "<function_calls>\n" + _py(c)[1:-1] + "\n</function_calls>",
    "lfm2": lambda c: "Let me do that.<|tool_call_start|>" + _py(c) + "<|tool_call_end|>",
    "functionary_v32": lambda c: ">>>" + c["name"] + "\n" + json.dumps(c["arguments"]),
}

PROSE = [
    "Hello! How can I help you today?",
    "2 + 2 = 4.",
    "A list comprehension builds a list from an iterable in one expression, e.g. [x * x for x in xs].",
    "Your package.json:\n```json\n"
    + json.dumps({"name": "my-app", "version": "1.0.0", "scripts": {"test": "jest"}}, indent=2)
    + "\n```\nIt looks fine.",
    "Here's the fix:\n```python\ndef f(d):\n    return {k: v for k, v in d.items() if v}\n```\n"
    "This drops empty values (see PEP 274 (dict comprehensions)).",
    'The config is {"debug": true, "level": 3}; set level to 2 for less output. ' * 4,
    "I can't do that without more information. Which file do you mean: [a] src/app.py or [b] app/main.py?",
    "<think>The user greets me; no tool is needed.</think>Hi there! What are we working on?",
    ("Tool calling lets a model ask an agent to act. " * 30).strip(),
]


# the formats the parser had before issue 14: today's corpus, which the baseline can read too
BASELINE_FORMATS = ("hermes", "qwen3_xml", "glm45", "mistral", "llama3_json", "granite", "phi4_mini", "jamba",
                    "kimi_k2", "deepseek_v3", "json_fence", "pythonic", "bare_json")


def corpus(seed: int = 0, formats: tuple[str, ...] = FORMATS) -> list[str]:
    rng = random.Random(seed)
    calls = [RENDER[name](c) for name in formats if name in RENDER for c in CALLS]
    malformed = []
    for text in calls:
        malformed.append(text[: rng.randrange(1, len(text))])  # truncated
        data = bytearray(text.encode())
        for _ in range(2):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        malformed.append(data.decode("utf-8", "replace"))  # byte flips
    out = calls + PROSE * 3 + malformed[::2]
    rng.shuffle(out)
    return out


# --- the naive baseline: every format's regex and a JSON/AST parse on every output, no pre-checks ---

_NAIVE = [
    re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S),
    re.compile(r"<tool_calls>(.*?)(?:</tool_calls>|$)", re.S),
    re.compile(r"<\|tool_call\|>(.*)", re.S),
    re.compile(r"functools(\[.*)", re.S),
    re.compile(r"<\|python_tag\|>(.*)", re.S),
    re.compile(r"\[TOOL_CALLS\](.*)", re.S),
    re.compile(r"<\|tool_call_argument_begin\|>(.*?)<\|tool_call_end\|>", re.S),
    re.compile(r"<｜tool▁sep｜>(.*?)<｜tool▁call▁end｜>", re.S),
    re.compile(r"```(?:json)?\s*\n(.*?)```", re.S),
    re.compile(r"(\{.*\})", re.S),
    re.compile(r"(\[.*\])", re.S),
]
_NAIVE_XML = re.compile(r"<function=([^>]+)>(.*?)</function>", re.S)
_NAIVE_PARAM = re.compile(r"<parameter=([^>]+)>(.*?)</parameter>", re.S)


def naive_parse(text: str) -> list[dict]:
    text = re.sub(r"<think>.*?</think>", "", text, flags=re.S)
    found: list[dict] = []
    for pattern in _NAIVE:
        for body in pattern.findall(text):
            for chunk in body.split(";"):
                try:
                    value = json.loads(chunk.strip())
                except ValueError:
                    continue
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict) and "name" in item:
                        args = item.get("arguments", item.get("parameters", {}))
                        found.append({"name": item["name"], "arguments": args})
    for name, body in _NAIVE_XML.findall(text):
        found.append({"name": name, "arguments": dict(_NAIVE_PARAM.findall(body))})
    try:
        tree = ast.parse(text.strip(), mode="eval").body
        if isinstance(tree, ast.List):
            found.extend({"name": ast.unparse(c.func), "arguments": {}} for c in tree.elts if isinstance(c, ast.Call))
    except (SyntaxError, ValueError, RecursionError):
        pass
    return found


def throughput(fn: Callable[[str], object], texts: list[str], seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    while True:
        for t in texts:
            fn(t)
        n += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def interleaved(
    contenders: dict[str, Callable[[str], object]], texts: list[str], seconds: float, rounds: int = 5
) -> dict[str, float]:
    """Median outputs/s per contender over alternating short rounds (the order reversed every other
    round, so no contender always runs right after another)."""
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders.items())
    for k in range(rounds):
        for name, fn in order if k % 2 == 0 else order[::-1]:
            runs[name].append(throughput(fn, texts, seconds / rounds))
    return {name: statistics.median(r) for name, r in runs.items()}


def cpu_ratio(ours: Callable[[str], object], theirs: Callable[[str], object], texts: list[str], rounds: int,
              passes: int = 3) -> tuple[float, float]:
    """Their CPU time over ours (``time.process_time``, so time the process spends descheduled on a shared
    core does not count), over ``rounds`` alternating rounds of ``passes`` passes over the corpus each
    (who goes first alternates): (ratio of the fastest rounds, ratio of the median rounds)."""
    mine: list[float] = []
    other: list[float] = []
    for k in range(rounds):
        for fn, acc in ((ours, mine), (theirs, other)) if k % 2 == 0 else ((theirs, other), (ours, mine)):
            start = time.process_time()
            for _ in range(passes):
                for t in texts:
                    fn(t)
            acc.append(time.process_time() - start)
    return min(other) / min(mine), statistics.median(other) / statistics.median(mine)


def load_baseline(rev: str, into: Path) -> Callable[[str], object]:
    """``parse`` of the punie.toolcalls package at git revision ``rev``, imported as ``_baseline_punie``."""
    root = Path(__file__).resolve().parents[1]
    try:
        data = subprocess.run(["git", "-C", str(root), "archive", rev, "src/punie/toolcalls"],
                              check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        why = getattr(exc, "stderr", b"").decode().strip() or exc
        sys.exit(f"error: --baseline {rev}: cannot read it from git ({why})")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    pkg = into / "_baseline_punie"
    (into / "src" / "punie").rename(pkg)
    (pkg / "__init__.py").write_text("")
    for f in pkg.rglob("*.py"):
        f.write_text(f.read_text().replace("punie.toolcalls", "_baseline_punie.toolcalls"))
    sys.path.insert(0, str(into))
    return importlib.import_module("_baseline_punie.toolcalls.registry").parse


def main() -> None:
    ap = argparse.ArgumentParser(description="parse() throughput: now vs a baseline commit vs a naive parser")
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per contender and corpus, split into rounds")
    ap.add_argument("--baseline", default="771fee1", help="git revision of the parser to compare with")
    ap.add_argument("--cpu-rounds", type=int, default=100,
                    help="alternating rounds of the CPU-time ratio now/baseline (0: skip it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = load_baseline(args.baseline, Path(tmp))
        for title, texts in (
            (f"today's corpus ({len(BASELINE_FORMATS)} formats the baseline knows)", corpus(formats=BASELINE_FORMATS)),
            (f"all {len(FORMATS)} formats", corpus()),
        ):
            results = [parse(t) for t in texts]  # also warms up: lazy module imports, regex compilation
            base_results = [base(t) for t in texts]
            print(
                f"{title}: {len(texts)} outputs, mean {sum(map(len, texts)) // len(texts)} chars; with calls: "
                f"now {sum(bool(r.calls) for r in results)}, baseline {sum(bool(r.calls) for r in base_results)}"  # type: ignore[attr-defined]
            )
            contenders = {"punie parse (now)": parse, f"baseline {args.baseline}": base,
                          "naive try-everything": naive_parse}
            got = interleaved(contenders, texts, args.seconds)
            for name, rate in got.items():
                print(f"  {name:<26}{rate:>10,.0f} outputs/s")
            ours, then, naive = got["punie parse (now)"], got[f"baseline {args.baseline}"], got["naive try-everything"]
            print(f"  ratio now/baseline: {ours / then:.2f}x   now/naive: {ours / naive:.2f}x   "
                  f"goal >= 10,000/s: {'met' if ours >= 10_000 else 'NOT met'}")
            if args.cpu_rounds > 0:
                fast, mid = cpu_ratio(parse, base, texts, args.cpu_rounds)
                print(f"  CPU-time ratio now/baseline over {args.cpu_rounds} alternating rounds: "
                      f"{fast:.2f}x (fastest rounds), {mid:.2f}x (median rounds)")


if __name__ == "__main__":
    main()
