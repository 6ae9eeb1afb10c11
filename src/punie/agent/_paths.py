"""Confining tool paths to the workspace root, race-free.

A path is checked lexically first (``..``, absolute, ``~``, NUL), then opened *relative to a
descriptor of the root* without following any symbolic link: ``openat2(RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS)`` where the kernel has it (Linux >= 5.6), else a walk that opens one component
at a time with ``O_NOFOLLOW | O_DIRECTORY`` relative to the previous one. Nothing is ever re-opened
by its string after a check, so swapping a folder for a symlink while a tool runs cannot lead out:
the kernel refuses the link, or the descriptor already held is the real folder.

Links are refused even when they stay inside: the walk cannot follow them without re-implementing
path resolution, and the model can always name the target itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Iterator

RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
_SYS_OPENAT2 = 437  # the same number on every architecture (the unified syscall table)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
PATH_MAX = 4096  # longer paths fail in openat2 but not in the walk: refuse them alike, up front
_openat2_missing: list[bool] = []  # set once the kernel (or a seccomp filter) says ENOSYS


class PathRefused(Exception):
    """A tool path that must not be used; ``kind`` is the ToolResult error kind."""

    def __init__(self, message: str, kind: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def show(raw: object, limit: int = 200) -> str:
    """A path as it appears in result texts: as given, NULs made visible, long ones shortened."""
    text = raw if isinstance(raw, str) else repr(raw)
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_inside(root_real: str, real: str) -> bool:
    if root_real == os.sep:
        return True
    return real == root_real or real.startswith(root_real + os.sep)


def relative_inside(root_real: str, raw: object, *, what: str = "path") -> str:
    """``raw`` (relative to the root, or absolute) as a normalised path relative to the root, "."
    for the root itself. Only lexical: whatever the names are on disk is for ``open_beneath``."""
    if not isinstance(raw, str):
        raise PathRefused(f"error: {what} must be a string", "invalid_arguments")
    if not raw.strip():
        raise PathRefused(f"error: {what} is empty", "invalid_arguments")
    if "\x00" in raw:
        raise PathRefused(f"refused: {what} {show(raw)} contains a NUL byte", "refused")
    if raw == "~" or raw.startswith("~/"):
        # The model means the home folder, which is never inside the workspace; don't create "./~".
        raise PathRefused(f"refused: {show(raw)} is outside the workspace", "refused")
    norm = os.path.normpath(os.path.join(root_real, raw))
    if not is_inside(root_real, norm):
        raise PathRefused(f"refused: {show(raw)} is outside the workspace", "refused")
    if len(os.fsencode(norm)) >= PATH_MAX:
        raise PathRefused(f"error: {what} {show(raw)} is too long ({len(norm)} characters)", "invalid_arguments")
    return os.path.relpath(norm, root_real)


@contextlib.contextmanager
def root_fd(root_real: str) -> Iterator[int]:
    """A descriptor of the root (trusted: the user gave it), closed afterwards."""
    fd = os.open(root_real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def open_beneath(dir_fd: int, rel: str, flags: int, mode: int = 0o666) -> int:
    """Open ``rel`` under ``dir_fd`` following no symlink and never leaving it (OSError otherwise:
    ELOOP for a link on the way, EXDEV for a way out)."""
    flags |= os.O_CLOEXEC
    if rel == ".":
        return os.open(".", flags, dir_fd=dir_fd)
    if not _openat2_missing:
        fd = _openat2(dir_fd, rel, flags, mode)
        if fd is not None:
            return fd
    *parents, last = rel.split(os.sep)
    with walk(dir_fd, parents) as parent:
        return os.open(last, flags | os.O_NOFOLLOW, mode, dir_fd=parent)


def _openat2(dir_fd: int, rel: str, flags: int, mode: int) -> int | None:
    """The kernel's own confined open; None where the system call does not exist."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    how = _OpenHow(flags, mode if flags & os.O_CREAT else 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
    fd = libc.syscall(_SYS_OPENAT2, ctypes.c_int(dir_fd), os.fsencode(rel), ctypes.byref(how),
                      ctypes.c_size_t(ctypes.sizeof(how)))
    if fd >= 0:
        return int(fd)
    err = ctypes.get_errno()
    if err == errno.ENOSYS:
        _openat2_missing.append(True)
        return None
    raise OSError(err, os.strerror(err), rel)


@contextlib.contextmanager
def walk(dir_fd: int, names: list[str], made: list[tuple[int, str]] | None = None) -> Iterator[int]:
    """A descriptor of ``names`` under ``dir_fd``, opened one component at a time without following
    links. With ``made``, missing folders are created and recorded as (dup'd parent fd, name) so a
    failed write can remove them again (``remove_made``)."""
    fd = os.dup(dir_fd)
    try:
        for name in names:
            nxt = _open_dir(fd, name, made)
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _open_dir(parent: int, name: str, made: list[tuple[int, str]] | None) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if made is None:
            raise
    except NotADirectoryError:
        # O_DIRECTORY reports a link as "not a directory"; say what it is
        if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None
        raise
    os.mkdir(name, 0o777, dir_fd=parent)
    made.append((os.dup(parent), name))
    return os.open(name, _DIR_FLAGS, dir_fd=parent)


def remove_made(made: list[tuple[int, str]], *, keep: bool) -> None:
    """Close the descriptors ``walk`` recorded; unless ``keep``, remove its folders (newest first)."""
    for parent, name in reversed(made):
        if not keep:
            with contextlib.suppress(OSError):  # not empty any more: someone else's now
                os.rmdir(name, dir_fd=parent)
        os.close(parent)
    made.clear()


def refusal(exc: OSError, raw: str, what: str = "path") -> PathRefused:
    """The error result for an OSError from opening ``raw``."""
    shown = show(raw)
    if exc.errno == errno.ELOOP:
        return PathRefused(f"refused: {what} {shown} is or goes through a symbolic link "
                           "(file tools do not follow links; use the link's target)", "refused")
    if exc.errno == errno.EXDEV:
        return PathRefused(f"refused: {shown} is outside the workspace", "refused")
    if exc.errno == errno.ENOENT:
        return PathRefused(f"error: file not found: {shown}", "not_found")
    if exc.errno == errno.ENOTDIR:
        return PathRefused(f"error: file not found: {shown} (a parent is not a directory)", "not_found")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PathRefused(f"error: permission denied: {shown}", "permission_denied")
    return PathRefused(f"error: cannot open {shown}: {exc.strerror or exc}", "error")
