"""Escape attempts against run_command's confinement: writes outside the root, the caller's
secrets (environment, files beside the root), the network, fork bombs and the other rlimits,
capabilities; and the refusal (with the opt-in) where nothing can confine a command."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from punie.agent import Workspace, sandbox
from punie.agent.sandbox import Limits, Probe, confinement_problem

pytestmark = pytest.mark.skipif(
    confinement_problem() is not None, reason=f"no confinement here: {confinement_problem()}"
)


def _run(ws: Workspace, command: str) -> str:
    result = ws.execute("run_command", {"command": command})
    assert result.error_kind != "refused", result.content
    return result.content


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A workspace root with a sibling folder outside it holding a secret."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("the-outside-secret")
    return root, outside


@pytest.fixture
def ws(layout: tuple[Path, Path]) -> Iterator[Workspace]:
    with Workspace(layout[0], command_timeout=20.0) as ws:
        yield ws


def test_writes_outside_the_root_do_not_land(ws: Workspace, layout: tuple[Path, Path]) -> None:
    root, outside = layout
    out = _run(ws, f"echo x > {outside}/escaped; touch /etc/punie-escape; touch /usr/punie-escape; "
                   f"ln -s /etc/passwd {root}/link && echo y >> {root}/link; echo inside > {root}/ok.txt")
    assert "Read-only file system" in out
    assert not (outside / "escaped").exists()
    assert not Path("/etc/punie-escape").exists() and not Path("/usr/punie-escape").exists()
    assert "y" not in Path("/etc/passwd").read_text().splitlines()[-1:]
    assert (root / "ok.txt").read_text() == "inside\n"  # the root itself stays writable


def test_files_beside_the_root_and_in_home_are_hidden(ws: Workspace, layout: tuple[Path, Path]) -> None:
    out = _run(ws, f"cat {layout[1]}/secret.txt; ls -A /root /home | wc -l; cat /etc/shadow | wc -c")
    assert "the-outside-secret" not in out
    assert "No such file or directory" in out


def test_the_environment_is_scrubbed(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUNIE_TEST_SECRET", "hunter2-api-key")
    out = _run(ws, "env; cat /proc/self/environ /proc/1/environ 2>/dev/null | tr '\\0' '\\n'")
    assert "hunter2-api-key" not in out
    names = {line.split("=", 1)[0] for line in out.splitlines()[1:] if "=" in line}
    allowed = {"PATH", "HOME", "LANG", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PWD", "SHLVL", "_", "OLDPWD"}
    assert names <= allowed, names
    assert f"HOME={ws.root}" in out


def test_an_edit_in_the_same_second_runs_the_new_code(ws: Workspace) -> None:
    # same size, same mtime second: a cached .pyc from the first run would hide the fix
    src, when = ws.root / "calc.py", 1_700_000_000  # both versions get the same mtime
    ws.execute("write_file", {"path": "calc.py", "content": "def add(a, b):\n    return a - b\n"})
    os.utime(src, (when, when))
    first = _run(ws, "python3 -c 'import calc; print(calc.add(2, 3))'")
    ws.execute("write_file", {"path": "calc.py", "content": "def add(a, b):\n    return a + b\n"})
    os.utime(src, (when, when))
    second = _run(ws, "python3 -c 'import calc; print(calc.add(2, 3))'")
    assert first.strip().endswith("-1") and second.strip().endswith("5"), (first, second)


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on the caller's 127.0.0.1 that answers every connection with 'hello'."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"hello\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def test_no_network_by_default_and_the_opt_in(layout: tuple[Path, Path], listener: int) -> None:
    probe = f"exec 3<>/dev/tcp/127.0.0.1/{listener} && head -n1 <&3"
    with Workspace(layout[0]) as ws:
        assert "hello" not in _run(ws, probe)
    with Workspace(layout[0], allow_network=True) as ws:
        assert "hello" in _run(ws, probe)


def test_no_capabilities_no_nested_namespaces_and_a_locked_proc_sys(ws: Workspace) -> None:
    out = _run(ws, "grep CapEff /proc/self/status; unshare -Ur true && echo NESTED; "
                   "echo 4000000 > /proc/sys/kernel/pid_max && echo RAISED; "
                   "mount -t tmpfs x /mnt && echo MOUNTED")
    assert "CapEff:\t0000000000000000" in out
    assert "NESTED" not in out and "RAISED" not in out and "MOUNTED" not in out


FORK_LOOP = (
    "python3 -c \"import os, signal\n"
    "n = 0\n"
    "try:\n"
    "    while n < 3000:\n"
    "        if os.fork() == 0:\n"
    "            signal.pause()\n"
    "        n += 1\n"
    "except OSError:\n"
    "    pass\n"
    "print('forked', n)\""
)


def test_a_fork_bomb_stops_at_the_process_limit(layout: tuple[Path, Path]) -> None:
    if os.geteuid() == 0 and not sandbox.probe_bwrap().pid_cap:
        pytest.skip("root ignores RLIMIT_NPROC and this kernel has no per-namespace pid_max")
    with Workspace(layout[0], limits=Limits(processes=32), command_timeout=20.0) as ws:
        out = _run(ws, FORK_LOOP)
        forked = int(out.split("forked")[1].split()[0])
        assert forked <= sandbox.RESERVED_PIDS + 32  # not 3000
        assert _run(ws, "echo still-usable").endswith("still-usable\n")  # the children died with it


def test_memory_file_size_and_cpu_limits(layout: tuple[Path, Path]) -> None:
    limits = Limits(cpu_s=1, memory_bytes=256 << 20, file_bytes=1 << 20)
    with Workspace(layout[0], limits=limits) as ws:
        assert "MemoryError" in _run(ws, "python3 -c 'x = bytearray(512 << 20)'")
        big = _run(ws, "head -c 2000000 /dev/zero > big; echo rc=$?")
        assert "rc=153" in big and (layout[0] / "big").stat().st_size <= 1 << 20  # SIGXFSZ
        # the kernel's own view of the command's limits; a busy loop would prove it too, but takes
        # a CPU-second, which a machine loaded by a training run hands out over many wall seconds
        rows = _run(ws, "cat /proc/self/limits").splitlines()
        table = {line[:26].strip(): line[26:].split()[:2] for line in rows}
        assert table["Max cpu time"] == ["1", "1"] and table["Max processes"] == ["256", "256"]
        assert table["Max address space"] == [str(256 << 20)] * 2
        assert table["Max file size"] == [str(1 << 20)] * 2


def test_refused_where_nothing_confines_unless_opted_in(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "probe_bwrap", lambda: Probe("bubblewrap (bwrap) is not installed"))
    monkeypatch.delenv(sandbox.ALLOW_UNCONFINED_ENV, raising=False)
    with Workspace(layout[0]) as ws:
        result = ws.execute("run_command", {"command": "touch ran"})
    assert not result.ok and result.error_kind == "refused"
    assert "\n" not in result.content
    assert "--allow-unconfined" in result.content and "bubblewrap" in result.content
    assert not (layout[0] / "ran").exists()
    monkeypatch.setenv(sandbox.ALLOW_UNCONFINED_ENV, "1")
    monkeypatch.setenv("PUNIE_TEST_SECRET", "hunter2-api-key")
    with Workspace(layout[0]) as ws:
        out = ws.execute("run_command", {"command": "touch ran; env; ulimit -u"}).content
    assert (layout[0] / "ran").exists()
    assert "hunter2-api-key" not in out and "256" in out  # unconfined still scrubs and limits
