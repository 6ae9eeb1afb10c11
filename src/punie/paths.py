"""Where punie keeps its cache, registry and converted models (``PUNIE_HOME``, default ~/.cache/punie)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def punie_home() -> Path:
    home = os.environ.get("PUNIE_HOME")
    path = Path(home).expanduser() if home else Path.home() / ".cache" / "punie"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_output_folder(out: Path, *, flag: str = "-o", kind: str = "output folder") -> None:
    """``out`` must be a folder or not exist yet, and nothing above it may be a file (ConfigError, exit 2)."""
    from punie.errors import ConfigError

    out = Path(out)
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == out else f"is inside {p}, which is a file"
                raise ConfigError(f"{out}: {what}, not a {kind}", location=flag,
                                  hint="give the path of a folder, existing or new")
            return


@contextmanager
def atomic_dir(target: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temp folder beside ``target``; rename it into place only if the block succeeds.

    A failed or killed command therefore never leaves a half-written output folder behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; outputs should look like any folder
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(str(target))
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file via temp + rename so readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
