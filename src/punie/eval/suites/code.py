"""``code``: Python problems judged by running hidden unit tests on the generated code.

The model sees a signature and docstring; the reply's code (from a fence, else the raw text) runs
with the hidden asserts in a subprocess, confined exactly as ``run_command`` is
(``punie.agent.sandbox``, see ``sandbox_mode``):

* ``namespace``: bubblewrap namespaces: only the temp folder writable, the rest read-only or
  hidden, no network, no capabilities, a PID namespace that dies with the run; enforced by the kernel.
* always: rlimits (CPU seconds, address space, file size, processes, open files, no core dumps), a
  wall-clock timeout and an output cap that kill every process of the run, cwd/HOME/TMPDIR in the
  temp folder, a scrubbed environment, ``python -I -B``, and a Python audit hook in the child that
  refuses writes outside the folder, process creation, ctypes and sockets. The hook alone is not a
  security boundary (PEP 578): without namespaces (``audit-hook``) the suite refuses to run unless
  the user opts in (``--allow-unconfined``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

from punie.agent import Terminal
from punie.agent.sandbox import (
    Limits,
    Sandbox,
    allow_unconfined_default,
    confinement_problem,
    make_sandbox,
    refusal,
    require,
)
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

OUTPUT_KEEP = 64 << 10  # what is kept of a run's output (head and tail); only the end is shown
OUTPUT_CAP = 1 << 20  # a run printing more than this is killed: its output is not worth reading


def _limits(timeout: float) -> Limits:
    # threads count as processes; 64 leaves room for a BLAS pool, the hook refuses fork anyway
    return Limits(cpu_s=int(timeout) + 1, memory_bytes=MEMORY_BYTES, file_bytes=FILE_BYTES, processes=64,
                  open_files=64)


def _env(work: str) -> dict[str, str]:
    return {"TMPDIR": work, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}


def run_program(
    code: str, tests: str, *, timeout: float = TIMEOUT_S, isolate: bool | None = None, harness: str = _HARNESS
) -> dict[str, Any]:
    """Run ``code`` (as solution.py) then ``tests`` in a fresh temp folder; never raises for bad code.

    Returns {"passed", "timeout", "returncode", "output", "sandbox"}. ``isolate=False`` runs without
    namespaces (as an opted-in user would); ``harness`` is replaceable so tests can probe the kernel
    confinement without the audit hook.
    """
    work = os.path.realpath(tempfile.mkdtemp(prefix="punie-code-"))
    try:
        box = _sandbox(work, isolate)
        if box is None:
            return _failed(refusal("the code suite"), "refused")
        mode = "namespace" if box.confined else "audit-hook"
        for name, text in (("solution.py", code), ("tests.py", tests), ("harness.py", harness)):
            Path(work, name).write_text(text, encoding="utf-8")
        return _run(box, work, timeout) | {"sandbox": mode}
    except (OSError, subprocess.SubprocessError) as exc:
        return _failed(f"could not run: {exc}", sandbox_mode())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sandbox(work: str, isolate: bool | None) -> Sandbox | None:
    # the interpreter (a venv under a hidden /home, say) must stay visible, read-only
    expose = tuple(dict.fromkeys((sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)))))
    box = make_sandbox(work, network=False, limits=_limits(TIMEOUT_S), expose=expose)
    if box is not None and isolate is False:
        box = dataclasses.replace(box, confined=False)
    return box


def _run(box: Sandbox, work: str, timeout: float) -> dict[str, Any]:
    nonce = secrets.token_hex(16)
    box = dataclasses.replace(box, limits=_limits(timeout))
    argv = box.argv([sys.executable, "-I", "-B", "harness.py"], work)
    term = Terminal(argv, cwd=work, env=box.env(_env(work)), output_limit=OUTPUT_KEEP, output_cap=OUTPUT_CAP,
                    stdin=nonce.encode() + b"\n", graceful=False)
    finished = term.wait(timeout)
    if not finished:
        term.kill(0.0)  # the whole process group; inside bwrap the PID namespace goes with it
    text, _ = term.text()
    lines = text.strip().splitlines()
    passed = finished and not term.overflowed and term.returncode == 0 and bool(lines) and lines[-1] == nonce
    shown = "\n".join(ln for ln in lines if ln != nonce)[-2000:]
    return {"passed": passed, "timeout": not finished, "returncode": term.returncode, "output": shown}


def _failed(output: str, mode: str) -> dict[str, Any]:
    return {"passed": False, "timeout": False, "returncode": None, "output": output, "sandbox": mode}


def sandbox_mode() -> str:
    """"namespace" where bubblewrap confines runs here, "audit-hook" where the user opted in to
    running without it, "refused" otherwise."""
    if confinement_problem() is None:
        return "namespace"
    return "audit-hook" if allow_unconfined_default() else "refused"


def preflight() -> None:
    """Refuse before any model loads when runs could be neither confined nor opted in to."""
    require("the code suite", location="--suite code")


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

    preflight()
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


__all__ = ["CATEGORY", "TIMEOUT_S", "evaluate", "extract_code", "judge", "load_cases", "preflight", "run_program",
           "sandbox_mode"]
