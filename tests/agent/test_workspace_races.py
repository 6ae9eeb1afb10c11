"""The file tools under attack while they run: a folder swapped for a symlink out of the root in a
loop (openat2 and the fallback walk), failed writes that must leave no folders, long paths."""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from punie.agent import Workspace, _paths

SECRET = "outside secret\n"


@pytest.fixture(params=["openat2", "walk"])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "walk":
        monkeypatch.setattr(_paths, "_openat2_missing", [True])  # as on a kernel without openat2
    return str(request.param)


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[tuple[Workspace, Path, Path]]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (root / "d" / "f").write_text("inside\n")
    (outside / "f").write_text(SECRET)
    with Workspace(root) as ws:
        yield ws, root, outside


def _exchange() -> Callable[[Path, Path], None]:
    """renameat2(RENAME_EXCHANGE): two names swapped in one step, so ``d`` never goes missing
    (write_file would make a fresh folder in such a gap)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        pytest.skip("no renameat2 in this C library")
    at_fdcwd, rename_exchange = -100, 2

    def swap(a: Path, b: Path) -> None:
        if libc.renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")

    return swap


def _swap_forever(root: Path, outside: Path, stop: threading.Event, swaps: list[int]) -> None:
    """``root/d`` flips between the real folder and a symlink to ``outside``."""
    link = root / "d-link"
    link.symlink_to(outside, target_is_directory=True)
    swap = _exchange()
    while not stop.is_set():
        swap(root / "d", link)
        swaps[0] += 1


def race(ws: Workspace, root: Path, outside: Path, seconds: float) -> dict[str, int]:
    """Read d/f and write d/w.txt while d is being swapped; counts what escaped."""
    stop, swaps = threading.Event(), [0]
    counts = {"reads": 0, "writes": 0, "read_inside": 0, "read_escapes": 0, "write_escapes": 0}
    _exchange()  # skips here, not in the thread, where renameat2 is missing
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: the windows between check and use are short
    swapper = threading.Thread(target=_swap_forever, args=(root, outside, stop, swaps), daemon=True)
    swapper.start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            content = ws.execute("read_file", {"path": "d/f"}).content
            counts["reads"] += 1
            counts["read_inside"] += content == "inside\n"
            counts["read_escapes"] += content == SECRET
            ws.execute("write_file", {"path": "d/w.txt", "content": "x"})
            counts["writes"] += 1
            if (outside / "w.txt").exists():
                counts["write_escapes"] += 1
                (outside / "w.txt").unlink()
    finally:
        stop.set()
        swapper.join(5)
        sys.setswitchinterval(old)
    return {**counts, "swaps": swaps[0]}


def test_directory_swap_race_never_escapes(impl: str, layout: tuple[Workspace, Path, Path]) -> None:
    ws, root, outside = layout
    counts = race(ws, root, outside, seconds=2.0)
    assert counts["read_escapes"] == 0 and counts["write_escapes"] == 0, counts
    assert counts["swaps"] > 10 and counts["read_inside"] > 0, counts  # the race did run both ways
    assert counts["reads"] > counts["read_inside"]  # and some reads met the link (and were refused)
    assert sorted(p.name for p in outside.iterdir()) == ["f"]


def test_failed_writes_leave_no_partial_folders(impl: str, layout: tuple[Workspace, Path, Path]) -> None:
    ws, root, _ = layout
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    for path in ("n1/n2/" + "x" * 300, "d/n3/n4/" + "y" * 300):  # the name is too long for the file system
        result = ws.execute("write_file", {"path": path, "content": "x"})
        assert not result.ok and result.error_kind == "error", result.content
    # a folder name too long, after two folders were made for it
    assert not ws.execute("write_file", {"path": "n5/n6/" + "z" * 300 + "/f.txt", "content": "x"}).ok
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before


def test_long_paths_are_refused_before_anything_is_made(impl: str, layout: tuple[Workspace, Path, Path]) -> None:
    ws, root, _ = layout
    deep = "a/" * 2500 + "f.txt"
    for tool, args in (("write_file", {"path": deep, "content": "x"}), ("read_file", {"path": deep}),
                       ("run_command", {"command": "true", "cwd": deep})):
        result = ws.execute(tool, args)
        assert not result.ok and "too long" in result.content, (tool, result.content[:200])
    assert not (root / "a").exists()


def test_the_walk_does_what_openat2_does(impl: str, layout: tuple[Workspace, Path, Path]) -> None:
    ws, root, outside = layout
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "d" / "alias").symlink_to("f")
    assert ws.execute("read_file", {"path": "d/f"}).content == "inside\n"
    assert ws.execute("read_file", {"path": "d/../d/./f"}).content == "inside\n"
    assert ws.execute("read_file", {"path": "out/f"}).error_kind == "refused"
    assert ws.execute("read_file", {"path": "d/alias"}).error_kind == "refused"
    assert ws.execute("write_file", {"path": "out/new.txt", "content": "x"}).error_kind == "refused"
    assert ws.execute("write_file", {"path": "e/g/h.txt", "content": "made"}).ok
    assert (root / "e" / "g" / "h.txt").read_text() == "made"
    assert ws.execute("read_file", {"path": "d/missing"}).error_kind == "not_found"
    assert sorted(p.name for p in outside.iterdir()) == ["f"]
