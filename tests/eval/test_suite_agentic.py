"""The agentic suite: real tools in temp workspaces, judged by the final state and answer."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from punie.backends.base import Generation, GenerationRequest
from punie.errors import SuiteError
from punie.eval.suites import agentic
from punie.toolcalls import render_calls


class FakeBackend:
    """Scripted replies: ``reply(request) -> text``; records the batch sizes it was called with."""

    name = "fake"

    def __init__(self, reply: Callable[[GenerationRequest], str]) -> None:
        self.reply = reply
        self.batches: list[int] = []

    def generate(self, requests, *, progress=None):  # type: ignore[no-untyped-def]
        self.batches.append(len(requests))
        out = [Generation(text=self.reply(r)) for r in requests]
        if progress:
            progress(len(requests))
        return out

    def stream(self, request):  # type: ignore[no-untyped-def]
        yield self.reply(request)


def _task_of(request: GenerationRequest, cases: list[dict[str, Any]]) -> dict[str, Any]:
    first = request.messages[0]["content"]
    return next(c for c in cases if c["messages"][0]["content"] == first)


def oracle(cases: list[dict[str, Any]]) -> FakeBackend:
    """Replays each task's reference solution, then gives the reference answer."""

    def reply(request: GenerationRequest) -> str:
        case = _task_of(request, cases)
        step = sum(1 for m in request.messages if m["role"] == "assistant")
        if step >= len(case["reference"]):
            return case["reference_answer"]
        tool_text = " ".join(m["content"] for m in request.messages if m["role"] == "tool")
        ids = re.findall(r"term-\d+", tool_text)
        calls = []
        for call in case["reference"][step]:
            args = {k: (v.replace("{terminal_id}", ids[-1] if ids else "") if isinstance(v, str) else v)
                    for k, v in call["arguments"].items()}
            calls.append({"name": call["name"], "arguments": args})
        return render_calls(calls)

    return FakeBackend(reply)


@pytest.fixture(scope="module", autouse=True)
def fast_python3() -> Any:
    """Tasks run ``python3``; put this interpreter first on PATH (a pyenv shim costs ~0.6 s a call)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        yield


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    return agentic.load_cases("agentic")


def test_suite_has_enough_valid_tasks(cases: list[dict[str, Any]]) -> None:
    assert len(cases) >= 20
    assert len({c["id"] for c in cases}) == len(cases)
    assert all(c["category"] == "agentic" and c["checks"] for c in cases)
    # multi-step: most tasks need more than one tool round in the reference solution
    assert sum(len(c["reference"]) >= 2 for c in cases) >= 12


def test_reference_solutions_pass_every_task(cases: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Executes real tools (files, shell, background terminal) and checks the final states.

    Each command takes ~0.2 s here; the suite's 20 s per command is a budget for models, not what
    this test checks, so a loaded machine gets 120 s before a reference command counts as failed
    (it once failed under load). Output the reader got late is kept (test_workspace_commands)."""
    monkeypatch.setattr(agentic, "COMMAND_TIMEOUT_S", 120.0)
    backend = oracle(cases)
    done: list[int] = []
    records = agentic.evaluate(cases, backend, progress=done.append)
    failed = {r["id"]: r["detail"] for r in records if not r["correct"]}
    assert not failed
    assert sum(done) == len(cases)
    assert backend.batches[0] == len(cases)  # one batched request per round, not one per task
    bump = next(r for r in records if "bump-version" in r["id"])
    assert [c["name"] for c in bump["calls"]] == ["read_file", "write_file", "run_command"]
    assert bump["format"] == "hermes" and bump["stop_reason"] == "answered"


def test_doing_nothing_fails_every_task(cases: list[dict[str, Any]]) -> None:
    records = agentic.evaluate(cases, FakeBackend(lambda r: "I am not sure how to help with that."))
    assert not any(r["correct"] for r in records)
    assert all(r["steps"] == 1 and r["calls"] == [] and r["format"] == "none" for r in records)


@pytest.mark.parametrize(
    "text",
    ["", "\x00\xff garbage <tool_call>{not json", "<tool_call>\n{\"name\": \"nope\", \"arguments\": 5}\n</tool_call>",
     "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"../../etc/passwd\"}}\n</tool_call>",
     "word " * 3000],
)
def test_garbage_is_a_failure_not_a_crash(cases: list[dict[str, Any]], text: str) -> None:
    subset = cases[:3]
    records = agentic.evaluate(subset, FakeBackend(lambda r: text))
    assert [r["id"] for r in records] == [c["id"] for c in subset]
    assert not any(r["correct"] for r in records)


def test_step_limit_stops_a_looping_model(cases: list[dict[str, Any]]) -> None:
    case = dict(cases[0], max_steps=3)
    looping = render_calls([{"name": "read_file", "arguments": {"path": "setup.cfg"}}])
    backend = FakeBackend(lambda r: looping)
    [record] = agentic.evaluate([case], backend)
    assert record["steps"] == 3 and record["stop_reason"] == "step limit"
    assert not record["correct"] and len(record["calls"]) == 3
    assert backend.batches == [1, 1, 1]


def test_checker_reads_the_final_workspace_state(cases: list[dict[str, Any]]) -> None:
    case = next(c for c in cases if "bump-version" in c["id"])
    wrong = render_calls([{"name": "write_file", "arguments": {"path": "setup.cfg", "content": "version = 9\n"}}])
    replies = iter([wrong, "Done, bumped it."])
    [record] = agentic.evaluate([case], FakeBackend(lambda r: next(replies)))
    assert not record["correct"]
    assert "lacks 'version = 1.2.1'" in record["detail"] and record["answer"] == "Done, bumped it."
    assert record["checks_passed"] < record["checks_total"]


def test_answer_checks_read_the_final_answer(cases: list[dict[str, Any]]) -> None:
    case = next(c for c in cases if "config-port" in c["id"])
    [right] = agentic.evaluate([case], FakeBackend(lambda r: "It listens on port 8080."))
    [wrong] = agentic.evaluate([case], FakeBackend(lambda r: "It listens on port 80."))
    [longer] = agentic.evaluate([case], FakeBackend(lambda r: "It listens on port 18080."))
    assert right["correct"] and not wrong["correct"] and not longer["correct"]


def test_bad_task_files_name_the_task_and_rule(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tasks.json"
    path.write_text('[{"id": "t", "instruction": "x", "files": {}, "checks": [{"type": "smells_ok"}]}]')
    with pytest.raises(SuiteError) as err:
        agentic.load_tasks(path)
    assert "task 1" in str(err.value) and "smells_ok" in str(err.value)
    path.write_text('[{"id": "t", "instruction": "x", "files": {}, '
                    '"checks": [{"type": "file_contains", "path": "a"}]}]')
    with pytest.raises(SuiteError, match="'text' must be a string"):
        agentic.load_tasks(path)
    path.write_text("[{")
    with pytest.raises(SuiteError, match="invalid JSON"):
        agentic.load_tasks(path)


def test_runs_on_the_in_process_backend_with_a_tiny_model(cases: list[dict[str, Any]], tiny) -> None:  # type: ignore[no-untyped-def]
    """The real prompt builder and batched generator accept the transcripts the loop builds."""
    from punie.backends.inprocess import InProcessBackend

    model, tokenizer = tiny
    backend = InProcessBackend(model, tokenizer, batch_size=4)
    subset = [dict(c, max_steps=2) for c in cases[:3]]
    records = agentic.evaluate(subset, backend, max_new_tokens=6)
    assert [r["id"] for r in records] == [c["id"] for c in subset]
    assert all(isinstance(r["correct"], bool) and 1 <= r["steps"] <= 2 for r in records)
