"""Workspace file tools: confinement (every escape attempt), reading, atomic writing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from punie.agent import ToolResult, Workspace
from punie.errors import ConfigError


@pytest.fixture
def box(tmp_path: Path) -> tuple[Workspace, Path, Path]:
    """(workspace, its root, a folder beside it holding a secret file that must stay unreachable)."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret\n")
    (root / "hello.txt").write_text("hello\n")
    with Workspace(root) as ws:
        yield ws, root, outside


def _refused(result: ToolResult) -> None:
    assert not result.ok
    assert result.error_kind == "refused"
    assert result.content.startswith("refused: ")


# -- escapes -------------------------------------------------------------------------------------
ESCAPES = [
    "../outside/secret.txt",
    "a/../../outside/secret.txt",
    "./../outside/secret.txt",
    "hello.txt/../../outside/secret.txt",
    "/etc/passwd",
    "/",
    "~/.bashrc",
    "~",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_read_escapes_are_refused(box, path: str) -> None:
    ws, _, _ = box
    result = ws.execute("read_file", {"path": path})
    _refused(result)
    assert "outside the workspace" in result.content
    assert "top secret" not in result.content


@pytest.mark.parametrize(
    "path", [*ESCAPES[:4], "../outside/new.txt", "../new.txt", "/tmp/punie-escape-test.txt"]
)
def test_write_escapes_are_refused_and_write_nothing(box, path: str) -> None:
    ws, root, outside = box
    before = sorted(p.name for p in root.parent.rglob("*"))
    result = ws.execute("write_file", {"path": path, "content": "pwned"})
    _refused(result)
    assert (outside / "secret.txt").read_text() == "top secret\n"
    assert sorted(p.name for p in root.parent.rglob("*")) == before
    assert not Path("/tmp/punie-escape-test.txt").exists()


def test_absolute_path_outside_is_refused(box) -> None:
    ws, _, outside = box
    _refused(ws.execute("read_file", {"path": str(outside / "secret.txt")}))
    _refused(ws.execute("write_file", {"path": str(outside / "x.txt"), "content": "x"}))
    assert not (outside / "x.txt").exists()


def test_absolute_path_inside_is_fine(box) -> None:
    ws, root, _ = box
    assert ws.execute("read_file", {"path": str(root / "hello.txt")}).content == "hello\n"
    # also through an unresolved spelling of the root
    assert ws.execute("read_file", {"path": str(root / "sub" / ".." / "hello.txt")}).content == "hello\n"


def test_symlinked_file_pointing_out_is_refused(box) -> None:
    ws, root, outside = box
    (root / "link.txt").symlink_to(outside / "secret.txt")
    _refused(ws.execute("read_file", {"path": "link.txt"}))
    _refused(ws.execute("write_file", {"path": "link.txt", "content": "pwned"}))
    assert (outside / "secret.txt").read_text() == "top secret\n"


def test_symlinked_intermediate_dir_pointing_out_is_refused(box) -> None:
    ws, root, outside = box
    (root / "sub").mkdir()
    (root / "sub" / "escape").symlink_to(outside, target_is_directory=True)
    _refused(ws.execute("read_file", {"path": "sub/escape/secret.txt"}))
    _refused(ws.execute("write_file", {"path": "sub/escape/deep/new.txt", "content": "x"}))
    _refused(ws.execute("run_command", {"command": "touch marker", "cwd": "sub/escape"}))
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_dangling_symlink_pointing_out_is_refused(box) -> None:
    ws, root, outside = box
    (root / "dangling").symlink_to(outside / "not-yet.txt")
    _refused(ws.execute("write_file", {"path": "dangling", "content": "x"}))
    assert not (outside / "not-yet.txt").exists()


def test_symlinks_are_not_followed_even_inside(box) -> None:
    # openat2(RESOLVE_NO_SYMLINKS) and the O_NOFOLLOW walk refuse every link alike
    ws, root, _ = box
    (root / "alias.txt").symlink_to("hello.txt")
    (root / "sub").mkdir()
    (root / "dirlink").symlink_to("sub", target_is_directory=True)
    for result in (ws.execute("read_file", {"path": "alias.txt"}),
                   ws.execute("write_file", {"path": "alias.txt", "content": "new\n"}),
                   ws.execute("write_file", {"path": "dirlink/new.txt", "content": "new\n"})):
        _refused(result)
        assert "symbolic link" in result.content
    assert (root / "hello.txt").read_text() == "hello\n" and not (root / "sub" / "new.txt").exists()


def test_symlink_to_device_is_refused(box) -> None:
    ws, root, _ = box
    (root / "zero").symlink_to("/dev/zero")
    _refused(ws.execute("read_file", {"path": "zero"}))
    _refused(ws.execute("read_file", {"path": "/dev/null"}))


def test_symlink_loop_is_an_error_result(box) -> None:
    ws, root, _ = box
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    assert not ws.execute("read_file", {"path": "loop1"}).ok
    assert not ws.execute("write_file", {"path": "loop1", "content": "x"}).ok


def test_nul_byte_is_refused(box) -> None:
    ws, _, _ = box
    _refused(ws.execute("read_file", {"path": "hello.txt\x00.png"}))
    _refused(ws.execute("write_file", {"path": "a\x00b", "content": "x"}))


def test_fifo_is_refused_without_hanging(box) -> None:
    ws, root, _ = box
    os.mkfifo(root / "pipe")
    result = ws.execute("read_file", {"path": "pipe"})
    _refused(result)
    assert "not a regular file" in result.content
    _refused(ws.execute("write_file", {"path": "pipe", "content": "x"}))


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device needs root")
def test_device_node_inside_root_is_refused(box) -> None:
    ws, root, _ = box
    os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    _refused(ws.execute("read_file", {"path": "null"}))
    _refused(ws.execute("write_file", {"path": "null", "content": "x"}))


# -- reading -------------------------------------------------------------------------------------
def test_missing_file(box) -> None:
    ws, _, _ = box
    result = ws.execute("read_file", {"path": "nope/missing.py"})
    assert (result.ok, result.error_kind) == (False, "not_found")
    assert result.content == "error: file not found: nope/missing.py"
    assert ws.execute("read_file", {"path": "hello.txt/child"}).error_kind == "not_found"


def test_directory_lists_entries(box) -> None:
    ws, root, _ = box
    (root / "pkg").mkdir()
    result = ws.execute("read_file", {"path": "."})
    assert not result.ok
    assert "is a directory" in result.content and "hello.txt" in result.content and "pkg/" in result.content


def test_large_file_is_capped(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("é" * 5000)  # 10,000 bytes, 2-byte characters
    with Workspace(tmp_path, read_limit=1001) as ws:
        result = ws.execute("read_file", {"path": "big.txt"})
    assert result.ok and result.truncated
    text, marker = result.content.split("\n[... truncated", 1)
    assert text == "é" * 500  # the split character at byte 1001 is dropped, not mangled
    assert "10000 bytes" in marker


def test_binary_and_non_utf8(box) -> None:
    ws, root, _ = box
    (root / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = ws.execute("read_file", {"path": "img.png"})
    assert not result.ok and "binary" in result.content
    (root / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    result = ws.execute("read_file", {"path": "latin1.txt"})
    assert result.ok and result.content == "caf\ufffd\n"


# -- writing -------------------------------------------------------------------------------------
def test_write_creates_parents_and_overwrites_atomically(box) -> None:
    ws, root, _ = box
    result = ws.execute("write_file", {"path": "src/pkg/mod.py", "content": "x = 1\n"})
    assert result.ok and result.content == "created src/pkg/mod.py (6 bytes)"
    assert (root / "src/pkg/mod.py").read_text() == "x = 1\n"
    result = ws.execute("write_file", {"path": "src/pkg/mod.py", "content": "x = 2\n"})
    assert result.ok and result.content.startswith("overwrote")
    assert (root / "src/pkg/mod.py").read_text() == "x = 2\n"
    assert sorted(p.name for p in (root / "src/pkg").iterdir()) == ["mod.py"]  # no temp files left


def test_write_keeps_mode_and_uses_normal_permissions(box) -> None:
    ws, root, _ = box
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    ws.execute("write_file", {"path": "run.sh", "content": "#!/bin/sh\necho hi\n"})
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    ws.execute("write_file", {"path": "new.txt", "content": ""})
    assert stat.S_IMODE((root / "new.txt").stat().st_mode) & 0o044 == 0o044  # not mkstemp's 0600


def test_write_errors(box) -> None:
    ws, root, _ = box
    (root / "pkg").mkdir()
    assert "is a directory" in ws.execute("write_file", {"path": "pkg", "content": "x"}).content
    assert "is a directory" in ws.execute("write_file", {"path": ".", "content": "x"}).content
    assert "is a directory" in ws.execute("write_file", {"path": "newdir/", "content": "x"}).content
    assert not ws.execute("write_file", {"path": "hello.txt/child.txt", "content": "x"}).ok
    result = ws.execute("write_file", {"path": "bad.txt", "content": "\ud800"})
    assert result.error_kind == "invalid_arguments"
    assert (root / "hello.txt").read_text() == "hello\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_write_then_read_round_trips(tmp_path: Path, text: str) -> None:
    with Workspace(tmp_path) as ws:
        assert ws.execute("write_file", {"path": "dir/f.txt", "content": text}).ok
        if "\x00" in text:
            return  # read_file reports NUL-containing files as binary
        assert ws.execute("read_file", {"path": "dir/f.txt"}).content == text


def test_bad_root_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Workspace(tmp_path / "missing")
    with pytest.raises(ConfigError):
        Workspace(tmp_path, command_timeout=0)


def test_temporary_workspace_is_seeded_and_removed() -> None:
    with Workspace.temporary(files={"src/app.py": "print('hi')\n"}) as ws:
        root = ws.root
        assert ws.execute("read_file", {"path": "src/app.py"}).content == "print('hi')\n"
    assert not root.exists()


def test_temporary_workspace_refuses_seeds_outside() -> None:
    with pytest.raises(ConfigError), Workspace.temporary(files={"../x.txt": "x"}):
        pass
