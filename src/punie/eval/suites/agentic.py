"""``agentic``: multi-step tasks run for real in a temporary sandboxed Workspace.

Each task (``data/agentic.json``) gives a small workspace (``files``), an instruction, a step limit
and declarative ``checks`` on the final workspace state and the final answer. The model loops:
all active tasks generate in one batch, their calls are executed by ``punie.agent.Workspace``, the
results go back as ``tool`` messages; a task ends when the model answers without a call or hits its
step limit. The verdict is the checks, never the text of the calls.

Check types: ``file_equals`` (path, text; compared after stripping surrounding whitespace),
``file_contains`` / ``file_not_contains`` (path, text), ``file_exists`` / ``file_absent`` (path),
``answer_contains`` (text as a whole token, case-insensitive), ``command_succeeds`` (command exits 0 in the workspace).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from punie.backends.base import GenerationRequest
from punie.errors import SuiteError

CATEGORY = "agentic"
DATA_FILE = "agentic.json"
MAX_NEW_TOKENS = 200  # enough for a small write_file; per step, so it bounds the loop cost
RESULT_CHARS = 2000  # tool output fed back per call; keeps prompts bounded on small models
COMMAND_TIMEOUT_S = 20.0
CHECK_TYPES = {
    "file_equals": ("path", "text"),
    "file_contains": ("path", "text"),
    "file_not_contains": ("path", "text"),
    "file_exists": ("path",),
    "file_absent": ("path",),
    "answer_contains": ("text",),
    "command_succeeds": ("command",),
}


# ---- data --------------------------------------------------------------------------------------------


def validate_task(task: Any, where: str) -> dict[str, Any]:
    if not isinstance(task, dict):
        raise SuiteError("a task must be an object", location=where)
    for key, kind in (("id", str), ("instruction", str), ("files", dict), ("checks", list)):
        if not isinstance(task.get(key), kind):
            raise SuiteError(f"{key!r} must be a {kind.__name__}", location=where)
    if not task["checks"]:
        raise SuiteError("a task needs at least one check", location=where)
    for i, check in enumerate(task["checks"]):
        ctype = check.get("type") if isinstance(check, dict) else None
        if ctype not in CHECK_TYPES:
            raise SuiteError(f"checks[{i}]: unknown type {ctype!r} (known: {', '.join(CHECK_TYPES)})", location=where)
        for field in CHECK_TYPES[ctype]:
            if not isinstance(check.get(field), str):
                raise SuiteError(f"checks[{i}] ({ctype}): {field!r} must be a string", location=where)
    steps = task.get("max_steps", 6)
    if not isinstance(steps, int) or steps < 1:
        raise SuiteError("max_steps must be a positive integer", location=where)
    return task


def load_tasks(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The task list from ``path`` (a JSON list) or the bundled ``agentic.json``."""
    if path is None:
        text = resources.files("punie.eval.suites").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
        where = DATA_FILE
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteError(f"invalid JSON: {exc.msg}", location=f"{where}:{exc.lineno}") from exc
    if not isinstance(tasks, list):
        raise SuiteError("must hold a JSON list of tasks", location=where)
    return [validate_task(t, f"{where}: task {i + 1}") for i, t in enumerate(tasks)]


def load_cases(name: str = CATEGORY) -> list[dict[str, Any]]:
    cases = []
    for task in load_tasks():
        cases.append(
            {
                "id": task["id"],
                "category": CATEGORY,
                "messages": [{"role": "user", "content": task["instruction"]}],
                "files": task["files"],
                "max_steps": task.get("max_steps", 6),
                "checks": task["checks"],
                "reference": task.get("reference", []),
                "reference_answer": task.get("reference_answer", ""),
            }
        )
    return cases


# ---- checks ------------------------------------------------------------------------------------------


def _read(root: Path, rel: str) -> str | None:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def run_check(check: dict[str, Any], ws: Any, answer: str) -> str | None:
    """None when the check holds, else why it doesn't."""
    kind = check["type"]
    root = Path(ws.root)
    if kind == "answer_contains":
        # whole-token match, so "13 files" does not pass a check for "3"
        found = re.search(rf"(?<!\w){re.escape(check['text'])}(?!\w)", answer or "", re.I)
        return None if found else f"answer lacks {check['text']!r}"
    if kind == "command_succeeds":
        result = ws.execute("run_command", {"command": check["command"]})
        if result.ok and result.exit_code == 0:
            return None
        return f"`{check['command']}` failed: {result.content.strip()[-300:]}"
    text = _read(root, check["path"])
    if kind == "file_exists":
        return None if (root / check["path"]).exists() else f"{check['path']} does not exist"
    if kind == "file_absent":
        return None if not (root / check["path"]).exists() else f"{check['path']} still exists"
    if text is None:
        return f"{check['path']} is missing"
    if kind == "file_equals":
        return None if text.strip() == check["text"].strip() else f"{check['path']} differs from the expected content"
    if kind == "file_contains":
        return None if check["text"] in text else f"{check['path']} lacks {check['text']!r}"
    if kind == "file_not_contains":
        return None if check["text"] not in text else f"{check['path']} still contains {check['text']!r}"
    return f"unknown check {kind!r}"


# ---- the loop ----------------------------------------------------------------------------------------


class _Run:
    """One task's conversation, workspace and call log."""

    def __init__(self, case: dict[str, Any], ws: Any) -> None:
        self.case = case
        self.ws = ws
        self.messages: list[dict[str, Any]] = [dict(m) for m in case["messages"]]
        self.calls: list[dict[str, Any]] = []
        self.formats: Counter[str] = Counter()
        self.raws: list[str] = []
        self.steps = 0
        self.answer = ""
        self.done = False
        self.stop_reason = ""

    def step(self, text: str) -> None:
        from punie.toolcalls import parse

        self.steps += 1
        self.raws.append(text)
        parsed = parse(text)
        self.formats[parsed.format] += 1
        if not parsed.calls:
            self.answer = parsed.content or text
            self.done, self.stop_reason = True, "answered"
            return
        ids = [f"call_{self.steps}_{i}" for i in range(len(parsed.calls))]
        self.messages.append(
            {
                "role": "assistant",
                "content": parsed.content,
                "tool_calls": [
                    {"id": cid, "type": "function", "function": {"name": str(c.get("name")), "arguments": _args(c)}}
                    for cid, c in zip(ids, parsed.calls, strict=True)
                ],
            }
        )
        for cid, call in zip(ids, parsed.calls, strict=True):
            result = self.ws.execute_call(call)
            content = result.content
            if len(content) > RESULT_CHARS:
                content = content[:RESULT_CHARS] + "\n[truncated]"
            self.calls.append({"name": str(call.get("name")), "arguments": _args(call), "ok": result.ok})
            self.messages.append({"role": "tool", "tool_call_id": cid, "content": content})
        if self.steps >= self.case["max_steps"]:
            self.done, self.stop_reason = True, "step limit"


def _args(call: dict[str, Any]) -> dict[str, Any]:
    """Arguments for the transcript; a non-object (a parser's best effort) is kept as raw text."""
    args = call.get("arguments")
    if isinstance(args, dict):
        return args
    return {} if args is None else {"__raw__": str(args)}


def preflight() -> None:
    """Refuse before any model loads when run_command could be neither confined nor opted in to."""
    from punie.agent.sandbox import require

    require("the agentic suite's run_command", location="--suite agentic")


def _workspace(files: dict[str, str]) -> Any:
    from punie.agent import Workspace

    return Workspace.temporary(files, command_timeout=COMMAND_TIMEOUT_S)


def evaluate(
    cases: list[dict[str, Any]],
    backend: Any,
    *,
    progress: Callable[[int], None] | None = None,
    max_new_tokens: int | None = None,
) -> list[dict[str, Any]]:
    """Run every task to its end (all active tasks batched per round), then judge the final states."""
    preflight()
    records: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        runs = [_Run(case, stack.enter_context(_workspace(case["files"]))) for case in cases]
        while True:
            active = [r for r in runs if not r.done]
            if not active:
                break
            requests = [
                GenerationRequest(messages=r.messages, tools=None, max_new_tokens=max_new_tokens or MAX_NEW_TOKENS)
                for r in active
            ]
            generations = backend.generate(requests)
            for run, gen in zip(active, generations, strict=True):
                run.step(gen.text or "")
            finished = sum(1 for r in active if r.done)
            if progress and finished:
                progress(finished)
        for run in runs:
            records.append(_record(run))
    return records


def _record(run: _Run) -> dict[str, Any]:
    failures = [f for f in (run_check(c, run.ws, run.answer) for c in run.case["checks"]) if f]
    used = [f for f, _ in run.formats.most_common() if f != "none"]
    expected = [c for step in run.case.get("reference") or [] for c in step]
    return {
        "id": run.case["id"],
        "category": run.case["category"],
        "correct": not failures,
        "calls": [{"name": c["name"], "arguments": c["arguments"]} for c in run.calls],
        "expected_calls": expected,  # a reference solution, for display only: the checks judge
        "raw": "\n\n".join(f"[step {i + 1}]\n{t}" for i, t in enumerate(run.raws)),
        "format": used[0] if used else "none",
        "answer": run.answer,
        "steps": run.steps,
        "stop_reason": run.stop_reason,
        "failed_tool_calls": sum(1 for c in run.calls if not c["ok"]),
        "checks_passed": len(run.case["checks"]) - len(failures),
        "checks_total": len(run.case["checks"]),
        "detail": "; ".join(failures),
    }


__all__ = ["CATEGORY", "CHECK_TYPES", "evaluate", "load_cases", "load_tasks", "run_check", "validate_task"]
