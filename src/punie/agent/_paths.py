"""Confining tool paths to the workspace root."""

from __future__ import annotations

import os


class PathRefused(Exception):
    """A tool path that must not be used; ``kind`` is the ToolResult error kind."""

    def __init__(self, message: str, kind: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def show(raw: object, limit: int = 200) -> str:
    """A path as it appears in result texts: as given, NULs made visible, long ones shortened."""
    text = raw if isinstance(raw, str) else repr(raw)
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_inside(root_real: str, real: str) -> bool:
    if root_real == os.sep:
        return True
    return real == root_real or real.startswith(root_real + os.sep)


def resolve_inside(root_real: str, raw: object, *, what: str = "path") -> str:
    """Resolve ``raw`` (relative to the root, or absolute) to a real path inside ``root_real``.

    Every symlink on the way is followed (``realpath``), so a link anywhere in the path, file or
    intermediate directory, that points out of the root is refused; links that stay inside are
    fine. Non-existing tails are kept as written, which is what write_file needs.
    """
    if not isinstance(raw, str):
        raise PathRefused(f"error: {what} must be a string", "invalid_arguments")
    if not raw.strip():
        raise PathRefused(f"error: {what} is empty", "invalid_arguments")
    if "\x00" in raw:
        raise PathRefused(f"refused: {what} {show(raw)} contains a NUL byte", "refused")
    if raw == "~" or raw.startswith("~/"):
        # The model means the home folder, which is never inside the workspace; don't create "./~".
        raise PathRefused(f"refused: {show(raw)} is outside the workspace", "refused")
    real = os.path.realpath(os.path.join(root_real, raw))
    if not is_inside(root_real, real):
        raise PathRefused(f"refused: {show(raw)} is outside the workspace", "refused")
    return real
