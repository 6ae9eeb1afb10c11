"""run_command and the terminal tools: exit codes, timeouts that kill whole groups, output caps,
the background lifecycle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from punie.agent import Workspace
from punie.agent.sandbox import confinement_problem


def _wait_for(path: Path, letters: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if all(c in text for c in letters):
            return
        time.sleep(0.02)
    got = path.read_text() if path.exists() else None
    raise AssertionError(f"expected beats {letters!r} in {path}, got {got!r}")


def _still_beating(path: Path, quiet: float = 0.8) -> bool:
    """True if anything still appends to ``path``: pids inside the sandbox are not ours to check,
    so a survivor is found by what it does, not by its pid."""
    time.sleep(0.3)  # writes already in flight when the kill landed
    before = path.stat().st_size
    time.sleep(quiet)
    return path.stat().st_size != before


@pytest.fixture
def ws(tmp_path: Path):
    with Workspace(tmp_path, command_timeout=10.0, kill_grace=0.2, allow_unconfined=True) as ws:
        yield ws


CONFINED = pytest.mark.skipif(
    confinement_problem() is not None, reason=f"no confinement here: {confinement_problem()}"
)
# A shell that ignores SIGTERM, a child that ignores it, a grandchild (through another shell) and
# a daemon that left the process group with setsid; each appends its letter to ``beat``.
STUBBORN = (
    "trap '' TERM; "
    "(trap '' TERM; while :; do echo a >> beat; sleep 0.05; done) & "
    "sh -c 'trap \"\" TERM; sh -c \"while :; do echo b >> beat; sleep 0.05; done\" & wait' & "
    "setsid sh -c 'trap \"\" TERM; while :; do echo c >> beat; sleep 0.05; done' & "
    "echo ready; wait"
)


def test_exit_code_and_merged_output(ws: Workspace) -> None:
    result = ws.execute("run_command", {"command": "echo out; echo err >&2; exit 3"})
    assert result.ok and result.exit_code == 3
    assert result.content == "exit code: 3\nout\nerr\n"


def test_cwd_inside_root_and_its_escapes(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert ws.execute("run_command", {"command": "pwd"}).content == f"exit code: 0\n{ws.root}\n"
    assert (
        ws.execute("run_command", {"command": "pwd", "cwd": "sub"}).content
        == f"exit code: 0\n{ws.root}/sub\n"
    )
    for cwd in ["..", "/", "/tmp", "sub/../..", "~"]:
        result = ws.execute("run_command", {"command": "touch escaped", "cwd": cwd})
        assert result.error_kind == "refused", cwd
    assert not (tmp_path.parent / "escaped").exists()
    assert ws.execute("run_command", {"command": "true", "cwd": "missing"}).error_kind == "not_found"
    (tmp_path / "file").write_text("")
    assert not ws.execute("run_command", {"command": "true", "cwd": "file"}).ok


@CONFINED
def test_timeout_kills_every_process_setsid_ones_included(tmp_path: Path) -> None:
    with Workspace(tmp_path, command_timeout=3.0, kill_grace=0.2) as ws:
        start = time.monotonic()
        result = ws.execute("run_command", {"command": STUBBORN})
        elapsed = time.monotonic() - start
    assert not result.ok and result.error_kind == "timeout"
    assert result.content.startswith("error: command timed out after 3 s")
    assert "ready" in result.content
    assert elapsed < 8.0
    assert set("abc") <= set((tmp_path / "beat").read_text())
    assert not _still_beating(tmp_path / "beat")


@CONFINED
def test_leftover_background_jobs_die_with_the_shell(ws: Workspace, tmp_path: Path) -> None:
    start = time.monotonic()
    command = (
        "(while :; do echo a >> beat; sleep 0.05; done) & "
        "setsid sh -c 'while :; do echo c >> beat; sleep 0.05; done' & sleep 0.5; echo done"
    )
    result = ws.execute("run_command", {"command": command})
    assert result.content == "exit code: 0\ndone\n"
    assert time.monotonic() - start < 6.0  # did not wait for the loops holding the pipe
    assert not _still_beating(tmp_path / "beat")


def test_output_is_capped_keeping_head_and_tail(tmp_path: Path) -> None:
    with Workspace(tmp_path, output_limit=1000, allow_unconfined=True) as ws:
        result = ws.execute("run_command", {"command": "seq 1 100000"})
    assert result.ok and result.truncated and result.exit_code == 0
    assert result.content.startswith("exit code: 0\n1\n2\n3\n")
    assert result.content.endswith("99999\n100000\n")
    assert "bytes of output truncated" in result.content
    assert len(result.content.encode()) < 1000 + 100


def test_default_output_cap_is_64_kib(ws: Workspace) -> None:
    result = ws.execute("run_command", {"command": "head -c 1000000 /dev/zero | tr '\\0' a"})
    assert result.truncated
    assert 64 * 1024 <= len(result.content) < 64 * 1024 + 200
    assert "[... 934464 bytes of output truncated ...]" in result.content


def test_non_utf8_output(ws: Workspace) -> None:
    result = ws.execute("run_command", {"command": "printf 'caf\\351\\n'"})
    assert result.content == "exit code: 0\ncaf\ufffd\n"


def test_background_lifecycle(ws: Workspace) -> None:
    started = ws.execute(
        "run_command", {"command": "echo start; sleep 0.8; echo done; exit 7", "background": True}
    )
    assert started.ok and started.terminal_id == "term-1" and started.content == "terminal_id: term-1"
    assert ws.terminal_ids == ["term-1"]
    running = ws.execute("get_terminal_output", {"terminal_id": "term-1"})
    assert running.ok and running.content.startswith("status: running") and running.exit_code is None
    finished = ws.execute("wait_for_terminal_exit", {"terminal_id": "term-1"})
    assert finished.content == "exit code: 7\nstart\ndone\n" and finished.exit_code == 7
    again = ws.execute("get_terminal_output", {"terminal_id": "term-1"})
    assert again.content == "exit code: 7\nstart\ndone\n"
    assert "already exited" in ws.execute("kill_terminal", {"terminal_id": "term-1"}).content
    assert ws.execute("release_terminal", {"terminal_id": "term-1"}).content == "released term-1"
    gone = ws.execute("get_terminal_output", {"terminal_id": "term-1"})
    assert gone.error_kind == "unknown_terminal" and gone.content == "error: unknown terminal_id: term-1"
    # ids are never reused
    assert ws.execute("run_command", {"command": "true", "background": True}).terminal_id == "term-2"


@CONFINED
def test_kill_terminal_kills_a_stubborn_group(ws: Workspace, tmp_path: Path) -> None:
    tid = ws.execute("run_command", {"command": STUBBORN, "background": True}).terminal_id
    _wait_for(tmp_path / "beat", "abc")
    start = time.monotonic()
    result = ws.execute("kill_terminal", {"terminal_id": tid})
    assert result.ok and result.content.startswith(f"killed {tid} (exit code: -9 (killed by SIGKILL))")
    assert time.monotonic() - start < 3.0
    assert not _still_beating(tmp_path / "beat")
    assert ws.execute("get_terminal_output", {"terminal_id": tid}).exit_code == -9


def test_wait_times_out_without_killing(tmp_path: Path) -> None:
    with Workspace(tmp_path, command_timeout=2.0, kill_grace=0.2, allow_unconfined=True) as ws:
        tid = ws.execute("run_command", {"command": "echo hi; sleep 60", "background": True}).terminal_id
        result = ws.execute("wait_for_terminal_exit", {"terminal_id": tid})
        assert not result.ok and result.error_kind == "timeout"
        assert "still running after 2 s" in result.content and result.content.endswith("hi\n")
        assert ws.execute("get_terminal_output", {"terminal_id": tid}).content.startswith("status: running")
        released = ws.execute("release_terminal", {"terminal_id": tid})
        assert "killed" in released.content and ws.terminal_ids == []


@CONFINED
def test_close_kills_everything_still_running_setsid_ones_included(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, kill_grace=0.2)
    ws.execute("run_command", {"command": STUBBORN, "background": True})
    _wait_for(tmp_path / "beat", "abc")
    ws.close()
    assert not _still_beating(tmp_path / "beat")
    assert ws.execute("read_file", {"path": "beat"}).content == "error: the workspace is closed"


def test_unknown_and_malformed_terminal_ids(ws: Workspace) -> None:
    for tool in ["get_terminal_output", "wait_for_terminal_exit", "kill_terminal", "release_terminal"]:
        assert ws.execute(tool, {"terminal_id": "term-99"}).error_kind == "unknown_terminal"
        assert ws.execute(tool, {"terminal_id": ""}).error_kind == "unknown_terminal"
        assert ws.execute(tool, {"terminal_id": 1}).error_kind == "invalid_arguments"
        assert ws.execute(tool, {}).error_kind == "invalid_arguments"


def test_background_terminal_limit(tmp_path: Path) -> None:
    with Workspace(tmp_path, max_terminals=2, kill_grace=0.1, allow_unconfined=True) as ws:
        assert ws.execute("run_command", {"command": "sleep 60", "background": True}).ok
        assert ws.execute("run_command", {"command": "sleep 60", "background": True}).ok
        third = ws.execute("run_command", {"command": "sleep 60", "background": True})
        assert not third.ok and "limit 2" in third.content


def test_endless_output_is_killed_past_the_cap(tmp_path: Path) -> None:
    with Workspace(tmp_path, output_cap=1 << 20, allow_unconfined=True) as ws:
        start = time.monotonic()
        result = ws.execute("run_command", {"command": "yes"})
    assert time.monotonic() - start < 10.0  # not the 30 s timeout: killed at the cap
    assert result.truncated and result.exit_code == -9
    assert result.content.rstrip().endswith("[... killed: the output passed 1048576 bytes ...]")
    assert len(result.content) < 64 * 1024 + 300


def test_output_already_in_the_pipe_survives_a_starved_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load the reader thread may first run long after the command exited: what the command
    wrote is still in the pipe and must be read, not dropped at the drain deadline (it was)."""
    from punie.agent import _terminal

    original = _terminal.Terminal._read_loop

    def late_reader(self: _terminal.Terminal) -> None:
        self._exited.wait(10.0)
        time.sleep(_terminal._DRAIN_S + 1.5)  # starved past the drain deadline and wait()'s old 1.5 s
        original(self)

    monkeypatch.setattr(_terminal.Terminal, "_read_loop", late_reader)
    with Workspace(tmp_path, command_timeout=10.0, allow_unconfined=True) as ws:
        result = ws.execute("run_command", {"command": "seq 1 2000"})
    assert result.ok and result.exit_code == 0
    assert result.content.splitlines()[1:] == [str(i) for i in range(1, 2001)], result.content[:200]
