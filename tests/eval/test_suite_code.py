"""The code suite: hidden unit tests run on the generated code in a confined subprocess."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from punie.backends.base import Generation
from punie.eval.suites import code


class FakeBackend:
    name = "fake"

    def __init__(self, reply) -> None:  # type: ignore[no-untyped-def]
        self.reply = reply
        self.batches: list[int] = []

    def generate(self, requests, *, progress=None):  # type: ignore[no-untyped-def]
        self.batches.append(len(requests))
        if progress:
            progress(len(requests))
        return [Generation(text=self.reply(r)) for r in requests]

    def stream(self, request):  # type: ignore[no-untyped-def]
        yield self.reply(request)


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    return code.load_cases("code")


def _case(cases: list[dict[str, Any]], entry: str) -> dict[str, Any]:
    return next(c for c in cases if c["entry_point"] == entry)


def test_suite_size_and_reference_solutions_pass(cases: list[dict[str, Any]]) -> None:
    assert len(cases) >= 30 and len({c["id"] for c in cases}) == len(cases)
    by_prompt = {c["messages"][0]["content"]: c for c in cases}

    def reply(request):  # type: ignore[no-untyped-def]
        case = by_prompt[request.messages[0]["content"]]
        return f"Here you go:\n```python\n{case['prompt']}{case['reference']}\n```\nThis works because ..."

    backend = FakeBackend(reply)
    records = code.evaluate(cases, backend)
    assert [r["id"] for r in records if not r["correct"]] == []
    assert backend.batches == [len(cases)]  # one batched generate call


def test_wrong_code_fails_and_says_why(cases: list[dict[str, Any]]) -> None:
    case = _case(cases, "add")
    [record] = code.evaluate([case], FakeBackend(lambda r: "```python\ndef add(a, b):\n    return a - b\n```"))
    assert not record["correct"] and "AssertionError" in record["detail"]


def test_keywords_without_working_code_fail(cases: list[dict[str, Any]]) -> None:
    case = _case(cases, "factorial")
    text = "def factorial(n): return factorial  # uses recursion, math.factorial, n * (n-1)!"
    [record] = code.evaluate([case], FakeBackend(lambda r: text))
    assert not record["correct"]


@pytest.mark.parametrize("text", ["", "I cannot help with that.", "```python\ndef add(a, b:\n```", "\x00\x01\x02",
                                  "x" * 20000])
def test_garbage_is_a_failure_not_a_crash(cases: list[dict[str, Any]], text: str) -> None:
    [record] = code.evaluate([_case(cases, "add")], FakeBackend(lambda r: text))
    assert record["correct"] is False


@pytest.mark.parametrize(
    "reply",
    [
        "```python\ndef is_even(n):\n    return n % 2 == 0\n```",  # fenced, full function
        "```\ndef is_even(n):\n    return n % 2 == 0\n```",  # unlabeled fence
        "Sure! def is_even(n):\n    return n % 2 == 0",  # raw text with prose before
        "def is_even(n):\n    return n % 2 == 0\n\nThis returns True for even numbers.",  # prose after
        "    return n % 2 == 0",  # a bare body continuing the signature
        # the defining block wins
        "```python\nimport math\n```\n```python\ndef is_even(n):\n    return n % 2 == 0\n```",
    ],
)
def test_extraction_variants(cases: list[dict[str, Any]], reply: str) -> None:
    [record] = code.evaluate([_case(cases, "is_even")], FakeBackend(lambda r: reply))
    assert record["correct"], record["detail"]


def test_infinite_loop_is_killed_at_the_timeout() -> None:
    start = time.monotonic()
    result = code.run_program("def f():\n    while True:\n        pass\n", "f()", timeout=1.5)
    assert result["timeout"] and not result["passed"]
    assert time.monotonic() - start < 6


def test_sleeping_code_is_killed_at_the_wall_clock_timeout() -> None:
    # RLIMIT_CPU does not catch a sleeper; the wall-clock timeout kills its whole process group
    result = code.run_program("import time\ntime.sleep(60)\n", "pass", timeout=1.0)
    assert result["timeout"] and not result["passed"]


def test_memory_bomb_fails_cleanly() -> None:
    result = code.run_program("x = bytearray(4 << 30)\n", "pass", timeout=5)
    assert not result["passed"] and not result["timeout"]
    assert "MemoryError" in result["output"]


def test_writes_outside_the_temp_folder_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    prog = f"open({str(target)!r}, 'w').write('x')\n"
    result = code.run_program(prog, "pass")
    assert not result["passed"]
    assert "PermissionError" in result["output"] or "Read-only" in result["output"]
    assert not target.exists()
    inside = code.run_program("open('inside.txt', 'w').write('ok')\n", "assert open('inside.txt').read() == 'ok'")
    assert inside["passed"], inside["output"]


def test_subprocess_and_fork_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "via_shell.txt"
    result = code.run_program(f"import os\nos.system('touch {target}')\n", "pass")
    assert not result["passed"] and not target.exists()
    result = code.run_program("import os\nos.fork()\n", "pass")
    assert not result["passed"]


def test_kernel_confinement_without_the_audit_hook(tmp_path: Path) -> None:
    """Where namespaces work, the filesystem itself is read-only (or hidden) outside the folder."""
    if code.sandbox_mode() != "namespace":
        pytest.skip("namespaces are not available here; only the audit hook confines the child")
    target = tmp_path / "raw_escape.txt"
    harness = (
        "import os, sys\nsys.stdin.readline()\n"
        f"for path in ({str(target)!r}, '/usr/punie-raw-escape'):\n"
        "    try:\n        open(path, 'w')\n    except OSError as e:\n        print('blocked', e.errno)\n"
        "open('inside.txt', 'w').write('ok')\nprint(open('inside.txt').read())\n"
    )
    result = code.run_program("", "", harness=harness)
    assert result["output"].splitlines() == ["blocked 2", "blocked 30", "ok"]  # /tmp hidden; /usr EROFS
    assert not target.exists() and not Path("/usr/punie-raw-escape").exists()


@pytest.mark.slow  # verified plumbing; the tiny model costs seconds on a loaded 2-core machine
def test_runs_on_the_in_process_backend_with_a_tiny_model(cases: list[dict[str, Any]], tiny) -> None:  # type: ignore[no-untyped-def]
    from punie.backends.inprocess import InProcessBackend

    model, tokenizer = tiny
    records = code.evaluate(cases[:2], InProcessBackend(model, tokenizer), max_new_tokens=6)
    assert [r["correct"] for r in records] == [False, False]  # random weights write no working code


def test_endless_output_is_cut_at_the_cap_and_the_run_killed() -> None:
    # 400 MB of stdout once took the parent to 1.5 GB RSS (communicate() kept it all)
    start = time.monotonic()
    result = code.run_program("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", "pass", timeout=30)
    assert not result["passed"] and not result["timeout"]
    assert time.monotonic() - start < 25  # killed at the cap, not at the timeout
    assert "killed: the output passed 1048576 bytes" in result["output"]
    assert len(result["output"]) <= 2000


def test_a_solution_printing_the_nonce_line_itself_does_not_pass() -> None:
    result = code.run_program("import sys\nprint(sys.stdin.readline().strip())\nraise SystemExit(0)\n", "pass")
    assert not result["passed"]


def test_refused_without_confinement_unless_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from punie.agent import sandbox
    from punie.errors import PunieError

    monkeypatch.setattr(sandbox, "probe_bwrap", lambda: sandbox.Probe("bubblewrap (bwrap) is not installed"))
    monkeypatch.delenv(sandbox.ALLOW_UNCONFINED_ENV, raising=False)
    assert code.sandbox_mode() == "refused"
    with pytest.raises(PunieError, match="--allow-unconfined"):
        code.preflight()
    refused = code.run_program("def f():\n    return 1\n", "assert f() == 1")
    assert not refused["passed"] and "--allow-unconfined" in refused["output"]
    monkeypatch.setenv(sandbox.ALLOW_UNCONFINED_ENV, "1")
    code.preflight()
    ran = code.run_program("def f():\n    return 1\n", "assert f() == 1")
    assert ran["passed"] and ran["sandbox"] == "audit-hook"
