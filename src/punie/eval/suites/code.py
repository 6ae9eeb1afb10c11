"""``code``: Python problems judged by running hidden unit tests on the generated code.

The model sees a signature and docstring; the reply's code (from a fence, else the raw text) runs
with the hidden asserts in a subprocess. What confines it (strongest first, see ``sandbox_mode``):

* ``namespace`` (Linux, root or unprivileged user namespaces): a private mount namespace where every
  mount is re-mounted read-only except a bind of the temp folder, an empty network namespace, and
  the capability bounding set dropped so the child cannot undo either. Writing outside the folder
  fails with EROFS; enforced by the kernel.
* always: ``resource.setrlimit`` (CPU seconds, address space, file size, open files, no core
  dumps), a wall-clock timeout that kills the whole process group, cwd/HOME/TMPDIR in the temp folder,
  a scrubbed environment, ``python -I -B``, and a Python audit hook in the child that refuses writes
  outside the folder, process creation, ctypes and sockets. The hook alone is not a security
  boundary (PEP 578) — where namespaces are unavailable it only guards against accidents.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

from punie.errors import SuiteError

CATEGORY = "code"
DATA_FILE = "code.jsonl"
MAX_NEW_TOKENS = 256  # the functions are short; an unclosed fence at the limit still extracts
TIMEOUT_S = 10.0
MEMORY_BYTES = 1 << 30
FILE_BYTES = 8 << 20
WORKERS = 2  # the test runs are short; more would only fight the generation for 2 cores
INSTRUCTION = "Complete this Python function. Reply with the whole function in one ```python code block."

# ---- data --------------------------------------------------------------------------------------------


def load_cases(name: str = CATEGORY) -> list[dict[str, Any]]:
    path = resources.files("punie.eval.suites").joinpath("data", DATA_FILE)
    cases = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt, entry, tests = row["prompt"], row["entry_point"], row["tests"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SuiteError(f"bad code case: {exc}", location=f"{DATA_FILE}:{lineno}") from exc
        cases.append(
            {
                "id": row["id"],
                "category": CATEGORY,
                "messages": [{"role": "user", "content": f"{INSTRUCTION}\n\n```python\n{prompt}```"}],
                "prompt": prompt,
                "entry_point": entry,
                "tests": tests,
                "reference": row.get("reference"),
            }
        )
    return cases


# ---- extraction ------------------------------------------------------------------------------------
_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_START = re.compile(r"^(def |class |import |from |@)", re.M)


def _compiles(code: str) -> bool:
    try:
        compile(code, "<solution>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def _prompt_header(prompt: str) -> str:
    """Import lines above the signature, so a reply that omits them still runs."""
    lines = []
    for line in prompt.splitlines():
        if line.startswith(("def ", "class ", "@")):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def extract_code(text: str, entry_point: str, prompt: str) -> str:
    """The program to test: a fenced block defining ``entry_point`` (else the first python/plain block,
    else code-looking raw text); a bare body is appended to the prompt's signature."""
    text = text or ""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    defining = [b for lang, b in blocks if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", b)]
    plain = [b for lang, b in blocks if lang in ("", "python", "py", "python3")]
    if defining:
        code = defining[0]
    elif plain:
        code = plain[0]
    else:
        m = re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", text) or _CODE_START.search(text)
        code = text[m.start():] if m else text
        lines = code.splitlines()
        while lines and not _compiles("\n".join(lines)):  # drop trailing prose
            lines.pop()
        code = "\n".join(lines) if lines else code
    code = code.strip("\n")
    if not re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", code):
        body = code if code[:1] in (" ", "\t") else textwrap.indent(code, "    ")
        code = prompt.rstrip("\n") + "\n" + body
    header = _prompt_header(prompt)
    return f"{header}\n\n{code}\n" if header else code + "\n"


# ---- sandbox ---------------------------------------------------------------------------------------
_HARNESS = r'''
import os, sys
_ROOT = os.path.realpath(os.getcwd())
_NONCE = sys.stdin.readline().strip()
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.symlink", "os.link", "os.chmod",
                "os.chown", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.copymode",
                "shutil.copystat", "shutil.move", "os.mkfifo", "os.mknod"}
_BLOCKED = {"subprocess.Popen", "os.system", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn",
            "os.spawn", "os.startfile", "os.kill", "os.killpg", "ctypes.dlopen", "ctypes.dlsym",
            "ctypes.cdata", "socket.connect", "socket.bind", "socket.sendto", "pty.spawn"}

def _inside(path):
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return real == _ROOT or real.startswith(_ROOT + os.sep)

def _hook(event, args):
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        if path is None or isinstance(path, int):
            return
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and not _inside(path):
            raise PermissionError(f"sandbox: writing outside the work folder is not allowed: {path}")
    elif event in _PATH_EVENTS:
        for arg in args:
            if isinstance(arg, (str, bytes, os.PathLike)) and not _inside(arg):
                raise PermissionError(f"sandbox: {event} outside the work folder is not allowed")
    elif event in _BLOCKED:
        raise PermissionError(f"sandbox: {event} is not allowed")

sys.addaudithook(_hook)
sys.path.insert(0, _ROOT)
import solution
_ns = dict(vars(solution))
exec(compile(open("tests.py").read(), "tests.py", "exec"), _ns)
print(_NONCE)
'''

# The launcher runs first in the child (a fresh interpreter, so no fork-with-threads hazards as
# with preexec_fn): it confines itself, sets the limits, then execs the harness.
_LAUNCHER = r"""
import ctypes, os, re, resource, sys
work, cpu_s, isolate = os.path.realpath(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
KEEP = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024,
        "nodiratime": 2048, "relatime": 1 << 21}

def mountpoints():
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            f = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), f[4])
            flags = 0
            for opt in f[5].split(","):
                flags |= KEEP.get(opt, 0)
            out.append((point, flags))
    return out

def isolate_mounts():
    # Every step is checked: on any failure the launcher exits 121 and nothing runs half-confined.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    def check(rc, what):
        if rc != 0:
            sys.stderr.write(f"sandbox: {what} failed: {os.strerror(ctypes.get_errno())}\n")
            os._exit(121)
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        check(libc.unshare(0x00020000 | 0x40000000), "unshare(mount, net)")
    else:  # unprivileged: a user namespace mapping us to ourselves grants the mount rights
        check(libc.unshare(0x10000000 | 0x00020000 | 0x40000000), "unshare(user, mount, net)")
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as fh:
                fh.write(text)
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "private mounts")
    for point, flags in mountpoints():
        if point == work or point.startswith(work + "/"):
            continue
        rc = libc.mount(None, point.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags, None)
        if point == "/":
            check(rc, "read-only /")
    check(libc.mount(work.encode(), work.encode(), None, MS_BIND, None), "bind work folder")
    check(libc.mount(None, work.encode(), None, MS_BIND | MS_REMOUNT, None), "writable work folder")
    os.chdir(work)  # the old cwd is the read-only directory under the bind
    for cap in range(64):  # without CAP_SYS_ADMIN nothing can be remounted writable again
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    check(libc.prctl(38, 1, 0, 0, 0), "no_new_privs")

def limit(kind, value):
    hard = resource.getrlimit(kind)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):  # e.g. macOS refuses RLIMIT_AS; the timeout and the hook still apply
        pass

if isolate:
    isolate_mounts()
limit(resource.RLIMIT_CPU, cpu_s)
limit(resource.RLIMIT_AS, AS_BYTES)
limit(resource.RLIMIT_FSIZE, FSIZE_BYTES)
limit(resource.RLIMIT_NOFILE, 64)
limit(resource.RLIMIT_CORE, 0)
# RLIMIT_NPROC is not set: it counts all of the user's processes machine-wide and root ignores it;
# the audit hook refuses fork/exec/subprocess and the timeout kills the whole process group.
os.execv(sys.executable, [sys.executable, "-I", "-B", "harness.py"])
""".replace("AS_BYTES", str(MEMORY_BYTES)).replace("FSIZE_BYTES", str(FILE_BYTES))


def _env(work: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": work,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def run_program(
    code: str, tests: str, *, timeout: float = TIMEOUT_S, isolate: bool | None = None, harness: str = _HARNESS
) -> dict[str, Any]:
    """Run ``code`` (as solution.py) then ``tests`` in a fresh temp folder; never raises for bad code.

    Returns {"passed", "timeout", "returncode", "output", "sandbox"}. ``harness`` is replaceable so
    tests can probe the kernel confinement without the audit hook.
    """
    if isolate is None:
        isolate = sandbox_mode() == "namespace"
    work = tempfile.mkdtemp(prefix="punie-code-")
    nonce = secrets.token_hex(16)
    try:
        Path(work, "solution.py").write_text(code, encoding="utf-8")
        Path(work, "tests.py").write_text(tests, encoding="utf-8")
        Path(work, "harness.py").write_text(harness, encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", _LAUNCHER, work, str(int(timeout) + 1), "1" if isolate else "0"],
            cwd=work,
            env=_env(work),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: the timeout kills every child too
        )
        timed_out = False
        try:
            out, _ = proc.communicate(nonce.encode() + b"\n", timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _killpg(proc.pid)
            out, _ = proc.communicate()
        _killpg(proc.pid)  # stray grandchildren, if any got started
        text = out.decode("utf-8", "replace")
        lines = text.strip().splitlines()
        passed = not timed_out and proc.returncode == 0 and bool(lines) and lines[-1] == nonce
        shown = "\n".join(ln for ln in lines if ln != nonce)[-2000:]
        return {
            "passed": passed,
            "timeout": timed_out,
            "returncode": proc.returncode,
            "output": shown,
            "sandbox": "namespace" if isolate else "audit-hook",
        }
    except (OSError, subprocess.SubprocessError) as exc:
        return {"passed": False, "timeout": False, "returncode": None, "output": f"could not run: {exc}",
                "sandbox": "namespace" if isolate else "audit-hook"}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@functools.lru_cache(maxsize=1)
def sandbox_mode() -> str:
    """"namespace" when the kernel confinement works here (probed once), else "audit-hook"."""
    if not sys.platform.startswith("linux") or os.environ.get("PUNIE_CODE_SANDBOX") == "audit-hook":
        return "audit-hook"
    # the child must see "/" mounted read-only (the audit hook would mask a plain write attempt)
    probe = (
        "ro = False\n"
        "for line in open('/proc/self/mountinfo'):\n"
        "    f = line.split()\n"
        "    if f[4] == '/':\n"
        "        ro = 'ro' in f[5].split(',')\n"
        "assert ro, 'root is writable'\n"
    )
    result = run_program("", probe, timeout=TIMEOUT_S, isolate=True)
    return "namespace" if result["passed"] else "audit-hook"


# ---- the suite ---------------------------------------------------------------------------------------


def judge(case: dict[str, Any], text: str) -> dict[str, Any]:
    if not (text or "").strip():
        return {"correct": False, "code": "", "output": "", "detail": "empty reply", "sandbox": sandbox_mode(),
                "timeout": False}
    code = extract_code(text, case["entry_point"], case["prompt"])
    result = run_program(code, case["tests"])
    if result["passed"]:
        detail = ""
    elif result["timeout"]:
        detail = f"timed out after {TIMEOUT_S:g} s"
    else:
        tail = result["output"].strip().splitlines()
        detail = tail[-1] if tail else f"exit code {result['returncode']}"
    return {"correct": result["passed"], "code": code, "output": result["output"], "detail": detail,
            "sandbox": result["sandbox"], "timeout": result["timeout"]}


def evaluate(
    cases: list[dict[str, Any]],
    backend: Any,
    *,
    progress: Callable[[int], None] | None = None,
    max_new_tokens: int | None = None,
) -> list[dict[str, Any]]:
    from punie.eval.suites._answers import base_record, generate_answers

    generations = generate_answers(cases, backend, max_new_tokens or MAX_NEW_TOKENS, progress)
    texts = [g.text or "" for g in generations]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        verdicts = list(pool.map(judge, cases, texts))
    records = []
    for case, gen, verdict in zip(cases, generations, verdicts, strict=True):
        record = base_record(case, gen, verdict["correct"], verdict["detail"])
        record.update(code=verdict["code"], test_output=verdict["output"], sandbox=verdict["sandbox"])
        records.append(record)
    return records


__all__ = ["CATEGORY", "TIMEOUT_S", "evaluate", "extract_code", "judge", "load_cases", "run_program", "sandbox_mode"]
