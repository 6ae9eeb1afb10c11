"""Confinement for model-written commands and code: bubblewrap namespaces, a scrubbed environment
and rlimits. Used by ``run_command`` (``Workspace``) and by the ``code`` eval suite alike.

Why bubblewrap (``bwrap``, Debian/Ubuntu package ``bubblewrap``) rather than our own ``unshare(2)``
launcher, which the code suite used before: measured on this 2-core machine, a ``bwrap`` start
costs about as much as a ``bash -c true`` (0.20 s vs 0.16 s under load), while a Python launcher
costs an interpreter start on top (0.6 s under the same load); and bwrap gives, tested, what
a launcher would have to re-implement as a Python PID 1: a PID namespace whose init takes every
process down with it (``setsid`` daemons included) when the command ends or bwrap is SIGKILLed,
``--die-with-parent``, tmpfs over private folders, all capabilities dropped. It is installed by
``scripts/ci_system_deps.sh``. Where it is missing or cannot create namespaces, model-written
commands are refused unless the user opts in (``PUNIE_ALLOW_UNCONFINED=1``, ``--allow-unconfined``),
and then they still get the scrubbed environment and the rlimits.

Inside: the workspace root is the only writable folder (bound at its real path, so paths look
the same); ``/`` is read-only; ``/home``, ``/root``, ``/tmp``, ``/run``... are empty tmpfs; no
network (only a loopback of its own) unless ``network=True``; PATH, HOME (the root) and LANG only.

Limits are rlimits set by a fixed shell prologue before the command is exec'd. RLIMIT_NPROC does
not bind uid 0 (the kernel exempts root), so where the kernel has per-namespace ``pid_max``
(Linux >= 6.14) the prologue also caps the PID namespace, forbids nested user namespaces and locks
``/proc/sys`` read-only before dropping every capability: a fork bomb then stops at
``300 + processes`` tasks, root or not. Elsewhere bwrap's ``--disable-userns`` does the middle part.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

ALLOW_UNCONFINED_ENV = "PUNIE_ALLOW_UNCONFINED"
ALLOW_NETWORK_ENV = "PUNIE_ALLOW_NETWORK"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHELL = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
# Emptied (tmpfs) inside: where users keep keys, tokens and sockets. The root is bound on top.
HIDDEN_DIRS = ("/home", "/root", "/tmp", "/var/tmp", "/run", "/var/run", "/mnt", "/media", "/srv", "/etc/ssh")
HIDDEN_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers")
_PROLOGUE_CAPS = ("CAP_SYS_ADMIN", "CAP_SETPCAP", "CAP_SYS_RESOURCE")
RESERVED_PIDS = 300  # the kernel hands out pids below this only before the first wrap-around
INSTALL_HINT = "install bubblewrap (apt-get install bubblewrap)"

# Fixed text, run by the shell inside the sandbox; model input only ever arrives as "$@" after the
# six numbers and is exec'd, never parsed by this (possibly still capable) shell.
_PROLOGUE = r"""
ulimit -c 0 -t "$1" -v "$2" -f "$3" -u "$4" -n "$5" \
  || { echo "punie sandbox: cannot set rlimits" >&2; exit 125; }
if [ "$6" != 0 ]; then
  { echo "$6" > /proc/sys/kernel/pid_max && echo 0 > /proc/sys/user/max_user_namespaces \
    && mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys; } 2>/dev/null \
    || { echo "punie sandbox: cannot cap the number of processes" >&2; exit 125; }
  shift 6
  exec setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- "$@"
fi
shift 6
exec "$@"
"""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def allow_unconfined_default() -> bool:
    return _flag(ALLOW_UNCONFINED_ENV)


def allow_network_default() -> bool:
    return _flag(ALLOW_NETWORK_ENV)


@dataclass(frozen=True)
class Limits:
    """Per-process rlimits for a confined command (processes: per sandbox where it can be enforced)."""

    cpu_s: int = 300
    memory_bytes: int = 4 << 30  # address space; less breaks JITs and big imports
    file_bytes: int = 1 << 30
    processes: int = 256
    open_files: int = 1024

    def values(self) -> list[int]:
        """The prologue's numbers, clamped to our own hard limits (raising them would fail)."""
        wanted = [
            (resource.RLIMIT_CPU, self.cpu_s, 1),
            (resource.RLIMIT_AS, self.memory_bytes, 1024),
            (resource.RLIMIT_FSIZE, self.file_bytes, 1024),  # bash counts -v and -f in KiB
            (resource.RLIMIT_NPROC, self.processes, 1),
            (resource.RLIMIT_NOFILE, self.open_files, 1),
        ]
        out = []
        for kind, value, unit in wanted:
            hard = resource.getrlimit(kind)[1]
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            out.append(max(1, value // unit))
        return out


@dataclass(frozen=True)
class Probe:
    """What bwrap can do here: ``problem`` is None when confinement works; ``pid_cap`` whether the
    per-namespace process cap works (Linux >= 6.14, setpriv and mount present)."""

    problem: str | None
    pid_cap: bool = False
    disable_userns: bool = False


@dataclass(frozen=True)
class Sandbox:
    """How one workspace's commands run. ``confined=False`` (opted in) keeps env and rlimits only."""

    root: str
    network: bool = False
    confined: bool = True
    limits: Limits = field(default_factory=Limits)
    expose: tuple[str, ...] = ()  # extra read-only paths shown even under a hidden folder (a venv)

    def argv(self, command: list[str], cwd: str) -> list[str]:
        return _argv(self, command, cwd, probe_bwrap() if self.confined else None)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The whole environment a command gets: nothing of the caller's leaks in."""
        return {"PATH": SAFE_PATH, "HOME": self.root, "LANG": "C.UTF-8", **(extra or {})}


def _argv(box: Sandbox, command: list[str], cwd: str, probe: Probe | None) -> list[str]:
    """``command`` under the limits prologue, inside bwrap unless ``probe`` is None (unconfined)."""
    pid_max = RESERVED_PIDS + box.limits.processes if probe and probe.pid_cap else 0
    numbers = [*map(str, box.limits.values()), str(pid_max)]
    inner = [SHELL, "-c", _PROLOGUE, "punie-sandbox", *numbers, *command]
    if probe is None:
        return inner
    exposed = [arg for path in box.expose if os.path.exists(path) for arg in ("--ro-bind", path, path)]
    return [*_bwrap_args(box.root, cwd, box.network, probe), *exposed, "--", *inner]


def _bwrap_args(root: str, cwd: str, network: bool, probe: Probe) -> list[str]:
    args = ["bwrap", "--die-with-parent", "--unshare-all", "--unshare-user", "--hostname", "punie-sandbox"]
    if probe.disable_userns and not probe.pid_cap:  # the prologue does it itself (max_user_namespaces=0)
        args.append("--disable-userns")  # no nested user namespace to regain capabilities in
    if network:
        args.append("--share-net")
    # The prologue needs these to cap pid_max, forbid nested user namespaces and lock /proc/sys;
    # it drops every capability (setpriv) before the command runs. Without the cap, none is kept.
    args += ["--cap-drop", "ALL"]
    if probe.pid_cap:
        args += [arg for cap in _PROLOGUE_CAPS for arg in ("--cap-add", cap)]
    args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in _existing(HIDDEN_DIRS, os.path.isdir):
        args += ["--tmpfs", path]
    for path in _existing(HIDDEN_FILES, os.path.isfile):
        args += ["--ro-bind", "/dev/null", path]
    return [*args, "--bind", root, root, "--chdir", cwd]


@functools.lru_cache(maxsize=4)
def _existing(paths: tuple[str, ...], test: object) -> tuple[str, ...]:
    # symlinks (/var/run -> /run) are skipped: bwrap would mount over their target twice
    return tuple(p for p in paths if not os.path.islink(p) and test(p))  # type: ignore[operator]


@functools.lru_cache(maxsize=1)
def probe_bwrap() -> Probe:
    """Run ``true`` confined once (cached): the full variant first, then without the pid cap."""
    if not sys.platform.startswith("linux"):
        return Probe(f"confinement needs Linux namespaces (this is {sys.platform})")
    if shutil.which("bwrap") is None:
        return Probe("bubblewrap (bwrap) is not installed")
    disable = _bwrap_knows("--disable-userns")
    can_cap = all(shutil.which(tool) for tool in ("setpriv", "mount"))
    problem: str | None = ""
    for pid_cap in ((True, False) if can_cap else (False,)):
        probe = Probe(None, pid_cap=pid_cap, disable_userns=disable)
        problem = _try(probe)
        if problem is None:
            return probe
    return Probe(f"bwrap cannot confine commands here ({problem})")


def _bwrap_knows(option: str) -> bool:
    try:
        out = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return option in out.stdout + out.stderr


def _try(probe: Probe) -> str | None:
    with tempfile.TemporaryDirectory(prefix="punie-probe-") as root:
        root = os.path.realpath(root)
        argv = _argv(Sandbox(root), ["true"], root, probe)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={"PATH": SAFE_PATH})
        except (OSError, subprocess.SubprocessError) as exc:
            return str(exc)
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1][:200] if lines else f"exit code {done.returncode}"


def confinement_problem() -> str | None:
    """Why model-written commands cannot be confined on this machine, or None when they can."""
    return probe_bwrap().problem


def refusal(what: str) -> str:
    """The one line saying that ``what`` cannot run confined here, and how to opt in."""
    return (
        f"refused: {what} cannot be confined on this machine: {confinement_problem()}; "
        f"{INSTALL_HINT}, or opt in to running it unconfined with --allow-unconfined "
        f"({ALLOW_UNCONFINED_ENV}=1, or allow_unconfined=True)"
    )


def require(what: str, location: str) -> None:
    """Raise one line (ConfigError) when ``what`` can neither be confined here nor was opted in to."""
    if confinement_problem() is not None and not allow_unconfined_default():
        from punie.errors import ConfigError

        raise ConfigError(refusal(what).removeprefix("refused: "), location=location)


def make_sandbox(
    root: str,
    *,
    network: bool | None = None,
    allow_unconfined: bool | None = None,
    limits: Limits | None = None,
    expose: tuple[str, ...] = (),
) -> Sandbox | None:
    """The sandbox for ``root``: confined where possible, unconfined only when opted in, else None."""
    network = allow_network_default() if network is None else network
    allow_unconfined = allow_unconfined_default() if allow_unconfined is None else allow_unconfined
    confined = confinement_problem() is None
    if not confined and not allow_unconfined:
        return None
    return Sandbox(root=root, network=network, confined=confined, limits=limits or Limits(), expose=expose)


__all__ = [
    "ALLOW_NETWORK_ENV",
    "ALLOW_UNCONFINED_ENV",
    "Limits",
    "Probe",
    "Sandbox",
    "confinement_problem",
    "make_sandbox",
    "probe_bwrap",
    "refusal",
    "require",
]
