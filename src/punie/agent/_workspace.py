"""The Workspace: the 7 agent tools executed for real, confined to one root folder."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import secrets
import shutil
import signal
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import best_match

from punie.agent._paths import (
    PathRefused,
    open_beneath,
    relative_inside,
    remove_made,
    root_fd,
    show,
    walk,
)
from punie.agent._paths import refusal as path_refusal
from punie.agent._terminal import OUTPUT_CAP, Terminal, decode_prefix
from punie.agent.sandbox import SHELL, Limits, Sandbox, make_sandbox, refusal
from punie.errors import ConfigError
from punie.toolcalls.specs import TOOL_NAMES, default_tools, tool_name, tool_parameters

Policy = Literal["allow", "deny", "ask"]
AskCallback = Callable[[str, dict[str, Any]], bool]

_POLICIES = ("allow", "deny", "ask")
_BINARY_SNIFF = 8192
_DIR_LISTING = 50


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gave back. ``content`` is the text for the ``tool`` message.

    ``ok`` is False when the tool could not do what was asked (refused path, missing file,
    permission denied, timeout, bad arguments); a command that ran and exited non-zero is ok,
    with its ``exit_code``. ``error_kind`` names the failure for metrics: unknown_tool,
    invalid_arguments, refused, not_found, permission_denied, timeout, unknown_terminal, error,
    internal.
    """

    content: str
    ok: bool
    error_kind: str | None = None
    exit_code: int | None = None
    terminal_id: str | None = None
    truncated: bool = False

    def __str__(self) -> str:
        return self.content


@dataclass(frozen=True)
class ToolEvent:
    """One executed call, kept in ``Workspace.history`` (for agentic scoring)."""

    name: str
    arguments: Any
    result: ToolResult


def _error(content: str, kind: str = "error") -> ToolResult:
    return ToolResult(content=content, ok=False, error_kind=kind)


def _exit_line(code: int | None) -> str:
    if code is None:
        return "exit code: unknown"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"exit code: {code} (killed by {name})"
    return f"exit code: {code}"


def _kill_all(terminals: dict[str, Terminal], live: set[Terminal], grace: float) -> None:
    """SIGTERM every running terminal at once, then SIGKILL what is left after ``grace``."""
    running = [t for t in {*terminals.values(), *live} if t.running]
    for term in running:
        term.signal_group(signal.SIGTERM if term.graceful else signal.SIGKILL)
    deadline = time.monotonic() + grace
    for term in running:
        term.wait(max(0.0, deadline - time.monotonic()))
    for term in running:
        term.kill(0.0)


class Workspace:
    """Executes the 7 agent tools inside ``root``; ``execute`` never raises for any tool input.

    ``permissions`` maps tool names (or ``"*"`` for the rest) to ``"allow"``, ``"deny"`` or
    ``"ask"``; ``ask(name, arguments) -> bool`` decides the ``"ask"`` ones. Everything is allowed
    by default. Use as a context manager, or call ``close()``, to kill what is still running.

    Commands run confined (``punie.agent.sandbox``): only ``root`` writable, no network unless
    ``allow_network``, a scrubbed environment, ``limits``. Where this machine cannot confine them,
    ``run_command`` refuses unless ``allow_unconfined``. Both default to the environment
    (``PUNIE_ALLOW_NETWORK``, ``PUNIE_ALLOW_UNCONFINED``), which ``punie eval``'s flags set.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        permissions: Mapping[str, str] | None = None,
        command_timeout: float = 30.0,
        output_limit: int = 64 * 1024,
        ask: AskCallback | None = None,
        read_limit: int = 256 * 1024,
        kill_grace: float = 2.0,
        max_terminals: int = 16,
        allow_network: bool | None = None,
        allow_unconfined: bool | None = None,
        limits: Limits | None = None,
        output_cap: int = OUTPUT_CAP,
    ) -> None:
        root_path = Path(root).expanduser()
        if not root_path.is_dir():
            raise ConfigError(f"workspace root is not a directory: {root_path}", location="root")
        if command_timeout <= 0 or output_limit < 64 or read_limit < 1 or kill_grace < 0:
            raise ConfigError(
                "command_timeout and kill_grace must be positive, output_limit >= 64, read_limit >= 1",
                location="Workspace",
            )
        self.root = Path(os.path.realpath(root_path))
        self._root = str(self.root)
        self.command_timeout = float(command_timeout)
        self.output_limit = int(output_limit)
        self.read_limit = int(read_limit)
        self.kill_grace = float(kill_grace)
        self.max_terminals = int(max_terminals)
        self.output_cap = max(int(output_cap), self.output_limit)
        # made at the first command (probing costs a bwrap start); a Workspace for files never pays
        self._make_sandbox = functools.partial(
            make_sandbox, self._root, network=allow_network, allow_unconfined=allow_unconfined, limits=limits
        )
        self._sandbox_made: list[Sandbox | None] = []
        self.permissions = self._check_permissions(permissions, ask)
        self.ask = ask
        self.history: list[ToolEvent] = []
        self._validators = {
            tool_name(spec): jsonschema.Draft202012Validator(tool_parameters(spec))
            for spec in default_tools()
        }
        self._required = {
            tool_name(spec): set(tool_parameters(spec).get("required", [])) for spec in default_tools()
        }
        self._terminals: dict[str, Terminal] = {}
        self._live: set[Terminal] = set()  # foreground commands, so close() can kill them too
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False
        # Processes must not outlive the workspace even if nobody calls close().
        self._finalizer = weakref.finalize(self, _kill_all, self._terminals, self._live, 0.2)

    # -- public API ----------------------------------------------------------------------------
    @classmethod
    @contextmanager
    def temporary(cls, files: Mapping[str, str] | None = None, **kwargs: Any) -> Iterator[Workspace]:
        """A workspace in a fresh temp folder (seeded with ``files``), deleted afterwards."""
        root = tempfile.mkdtemp(prefix="punie-ws-")
        try:
            with cls(root, **kwargs) as ws:
                for path, text in (files or {}).items():
                    ws._seed(path, text)
                yield ws
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _seed(self, path: str, text: str) -> None:
        try:
            rel = relative_inside(self._root, path)
        except PathRefused as exc:
            raise ConfigError(exc.message, location=f"files[{path!r}]") from None
        result = self._write(rel, text.encode("utf-8"), path)
        if not result.ok:
            raise ConfigError(result.content, location=f"files[{path!r}]")

    def execute(self, name: Any, arguments: Any = None) -> ToolResult:
        """Run one tool call; every failure comes back as an error ToolResult."""
        try:
            result = self._execute(name, arguments)
        except Exception as exc:  # last line of defence: the agent loop must never die on a tool
            result = _error(f"error: {name!s:.80} failed: {type(exc).__name__}: {exc}", "internal")
        self.history.append(ToolEvent(name=str(name), arguments=arguments, result=result))
        return result

    def execute_call(self, call: Any) -> ToolResult:
        """Run a parsed call ``{"name", "arguments"}``; OpenAI's ``{"function": {...}}`` form and
        ``arguments`` given as a JSON string are accepted too."""
        if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
            call = call["function"]
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            result = _error('error: a tool call must be an object with a string "name"', "invalid_arguments")
            self.history.append(ToolEvent(name=str(call)[:80], arguments=None, result=result))
            return result
        arguments = call.get("arguments", call.get("parameters"))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                result = _error(f"error: arguments of {call['name']} are not valid JSON", "invalid_arguments")
                self.history.append(ToolEvent(name=call["name"], arguments=arguments, result=result))
                return result
        return self.execute(call["name"], arguments)

    def close(self) -> None:
        """Kill every command still running (whole process groups) and forget all terminals."""
        self._closed = True
        with self._lock:
            terminals, live = dict(self._terminals), set(self._live)
            self._terminals.clear()
        _kill_all(terminals, live, self.kill_grace)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def terminal_ids(self) -> list[str]:
        with self._lock:
            return list(self._terminals)

    # -- dispatch ------------------------------------------------------------------------------
    def _execute(self, name: Any, arguments: Any) -> ToolResult:
        if self._closed:
            return _error("error: the workspace is closed", "error")
        if not isinstance(name, str) or name not in TOOL_NAMES:
            return _error(
                f"error: unknown tool {show(name, 80)}; available: {', '.join(TOOL_NAMES)}", "unknown_tool"
            )
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            return _error(f"error: arguments of {name} must be a JSON object", "invalid_arguments")
        # Models often spell an omitted optional parameter as null; treat it as omitted.
        args = {k: v for k, v in arguments.items() if v is not None or k in self._required[name]}
        problem = best_match(self._validators[name].iter_errors(args))
        if problem is not None:
            where = ".".join(str(p) for p in problem.absolute_path)
            detail = f"{where}: {problem.message}" if where else problem.message
            return _error(f"error: invalid arguments for {name}: {detail[:300]}", "invalid_arguments")
        denied = self._check_permission(name, args)
        if denied is not None:
            return denied
        return getattr(self, f"_tool_{name}")(**args)

    @staticmethod
    def _check_permissions(permissions: Mapping[str, str] | None, ask: AskCallback | None) -> dict[str, str]:
        table = {"*": "allow"}
        for key, value in (permissions or {}).items():
            if key != "*" and key not in TOOL_NAMES:
                raise ConfigError(
                    f"unknown tool {key!r} in permissions",
                    location="permissions",
                    hint=f"tools: {', '.join(TOOL_NAMES)}",
                )
            if value not in _POLICIES:
                raise ConfigError(
                    f"permission for {key!r} must be one of {', '.join(_POLICIES)}, not {value!r}",
                    location="permissions",
                )
            table[key] = value
        if "ask" in table.values() and ask is None:
            raise ConfigError('a permission is "ask" but no ask callback was given', location="permissions")
        return {tool: table.get(tool, table["*"]) for tool in TOOL_NAMES}

    def _check_permission(self, name: str, args: dict[str, Any]) -> ToolResult | None:
        policy = self.permissions[name]
        if policy == "allow":
            return None
        if policy == "ask" and self.ask is not None:
            try:
                if self.ask(name, dict(args)):
                    return None
            except Exception:
                pass  # a broken callback must not allow anything
            return _error(f"permission denied: {name} was not approved", "permission_denied")
        return _error(f"permission denied: {name} is not allowed in this workspace", "permission_denied")

    # -- files ---------------------------------------------------------------------------------
    def _tool_read_file(self, path: str) -> ToolResult:
        try:
            rel = relative_inside(self._root, path)
            with root_fd(self._root) as top:
                # O_NONBLOCK: opening a FIFO must not hang
                fd = open_beneath(top, rel, os.O_RDONLY | os.O_NONBLOCK)
        except PathRefused as exc:
            return _error(exc.message, exc.kind)
        except OSError as exc:
            refused = path_refusal(exc, path)
            return _error(refused.message, refused.kind)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                return _error(_directory_message(fd, path), "error")
            if not stat.S_ISREG(st.st_mode):
                return _error(f"refused: {show(path)} is not a regular file", "refused")
            data = _read_up_to(fd, self.read_limit + 1)
        finally:
            os.close(fd)
        return self._file_text(path, data, st.st_size)

    def _file_text(self, path: str, data: bytes, size: int) -> ToolResult:
        if b"\x00" in data[:_BINARY_SNIFF]:
            return _error(f"error: {show(path)} is a binary file ({size} bytes); read_file returns text", "error")
        if len(data) <= self.read_limit:
            return ToolResult(content=data.decode("utf-8", errors="replace"), ok=True)
        text = decode_prefix(data[: self.read_limit])
        marker = f"\n[... truncated: the file has {size} bytes; showing the first {self.read_limit} ...]"
        return ToolResult(content=text + marker, ok=True, truncated=True)

    def _tool_write_file(self, path: str, content: str) -> ToolResult:
        try:
            rel = relative_inside(self._root, path)
        except PathRefused as exc:
            return _error(exc.message, exc.kind)
        if rel == "." or path.endswith(("/", os.sep)):
            return _error(f"error: {show(path)} is a directory, not a file", "error")
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError:
            return _error("error: content is not valid Unicode (unpaired surrogates)", "invalid_arguments")
        return self._write(rel, data, path)

    def _write(self, rel: str, data: bytes, path: str) -> ToolResult:
        """Write ``data`` to ``rel``, making its folders; a failed write leaves none of them behind."""
        *parents, name = rel.split(os.sep)
        made: list[tuple[int, str]] = []
        result = _error(f"error: cannot write {show(path)}", "error")
        try:
            with root_fd(self._root) as top, walk(top, parents, made) as folder:
                result = _replace_in(folder, name, data, path)
        except OSError as exc:
            refused = path_refusal(exc, path)
            result = _error(refused.message.replace("cannot open", "cannot write"), refused.kind)
        finally:
            remove_made(made, keep=result.ok)
        return result

    # -- commands ------------------------------------------------------------------------------
    def _tool_run_command(self, command: str, cwd: str | None = None, background: bool = False) -> ToolResult:
        if not command.strip():
            return _error("error: command is empty", "invalid_arguments")
        if "\x00" in command:
            return _error("error: command contains a NUL byte", "invalid_arguments")
        workdir = self._root
        if cwd is not None:
            checked = self._check_cwd(cwd)
            if isinstance(checked, ToolResult):
                return checked
            workdir = checked
        if self.sandbox is None:
            return _error(refusal("run_command"), "refused")
        if background:
            return self._start_background(command, workdir)
        term = self._spawn(command, workdir)
        if isinstance(term, ToolResult):
            return term
        with self._lock:
            self._live.add(term)
        try:
            finished = term.wait(self.command_timeout)
            if not finished:
                term.kill(self.kill_grace)
        finally:
            with self._lock:
                self._live.discard(term)
        output, truncated = term.text()
        if not finished:
            return ToolResult(
                content=f"error: command timed out after {self.command_timeout:g} s; "
                f"its process group was killed\n{output}",
                ok=False,
                error_kind="timeout",
                exit_code=term.returncode,
                truncated=truncated,
            )
        return ToolResult(
            content=f"{_exit_line(term.returncode)}\n{output}",
            ok=True,
            exit_code=term.returncode,
            truncated=truncated,
        )

    def _check_cwd(self, cwd: str) -> str | ToolResult:
        """The cwd as a path string: opened beneath the root first, so no link leads it out (inside
        the sandbox the rest is read-only anyway; the string is what bwrap and chdir need)."""
        try:
            rel = relative_inside(self._root, cwd, what="cwd")
            with root_fd(self._root) as top:
                os.close(open_beneath(top, rel, os.O_RDONLY | os.O_DIRECTORY))
        except PathRefused as exc:
            return _error(exc.message, exc.kind)
        except NotADirectoryError:
            return _error(f"error: cwd is not a directory: {show(cwd)}", "error")
        except OSError as exc:
            refused = path_refusal(exc, cwd, what="cwd")
            return _error(refused.message, refused.kind)
        return os.path.normpath(os.path.join(self._root, rel))

    def _start_background(self, command: str, workdir: str) -> ToolResult:
        with self._lock:
            running = sum(t.running for t in self._terminals.values())
            if running >= self.max_terminals:
                return _error(
                    f"error: {running} background commands are already running (limit {self.max_terminals}); "
                    "kill or release one first",
                    "error",
                )
            term = self._spawn(command, workdir)
            if isinstance(term, ToolResult):
                return term
            tid = f"term-{next(self._ids)}"
            self._terminals[tid] = term
        return ToolResult(content=f"terminal_id: {tid}", ok=True, terminal_id=tid)

    @property
    def sandbox(self) -> Sandbox | None:
        """How commands run here; None when they cannot be confined and nobody opted in."""
        if not self._sandbox_made:
            self._sandbox_made.append(self._make_sandbox())
        return self._sandbox_made[0]

    def _spawn(self, command: str, workdir: str) -> Terminal | ToolResult:
        sandbox = self.sandbox
        assert sandbox is not None
        # PYTHONUNBUFFERED: background output should show up while the process runs.
        # PYTHONDONTWRITEBYTECODE: a .pyc is keyed by the source's mtime (whole seconds) and size, so a
        # fix written in the same second as a run that imported the file ("a - b" -> "a + b") would
        # run the stale bytecode and a correct edit would be judged wrong.
        env = sandbox.env({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        try:
            return Terminal(sandbox.argv([SHELL, "-c", command], workdir), cwd=workdir, env=env,
                            output_limit=self.output_limit, output_cap=self.output_cap,
                            graceful=not sandbox.confined)
        except OSError as exc:
            return _error(f"error: cannot start the command: {exc.strerror or exc}", "error")

    def _terminal(self, terminal_id: str) -> Terminal | ToolResult:
        with self._lock:
            term = self._terminals.get(terminal_id)
        if term is None:
            return _error(f"error: unknown terminal_id: {show(terminal_id, 80)}", "unknown_terminal")
        return term

    def _tool_get_terminal_output(self, terminal_id: str) -> ToolResult:
        term = self._terminal(terminal_id)
        if isinstance(term, ToolResult):
            return term
        if term.running:
            output, truncated = term.text()
            return ToolResult(
                content=f"status: running\n{output}", ok=True, terminal_id=terminal_id, truncated=truncated
            )
        term.wait(0)
        output, truncated = term.text()
        return ToolResult(
            content=f"{_exit_line(term.returncode)}\n{output}",
            ok=True,
            exit_code=term.returncode,
            terminal_id=terminal_id,
            truncated=truncated,
        )

    def _tool_wait_for_terminal_exit(self, terminal_id: str) -> ToolResult:
        term = self._terminal(terminal_id)
        if isinstance(term, ToolResult):
            return term
        if not term.wait(self.command_timeout):
            output, truncated = term.text()
            return ToolResult(
                content=f"error: {terminal_id} is still running after {self.command_timeout:g} s "
                f"(use kill_terminal to stop it)\n{output}",
                ok=False,
                error_kind="timeout",
                terminal_id=terminal_id,
                truncated=truncated,
            )
        output, truncated = term.text()
        return ToolResult(
            content=f"{_exit_line(term.returncode)}\n{output}",
            ok=True,
            exit_code=term.returncode,
            terminal_id=terminal_id,
            truncated=truncated,
        )

    def _tool_kill_terminal(self, terminal_id: str) -> ToolResult:
        term = self._terminal(terminal_id)
        if isinstance(term, ToolResult):
            return term
        if not term.running:
            return ToolResult(
                content=f"{terminal_id} had already exited ({_exit_line(term.returncode)})",
                ok=True,
                exit_code=term.returncode,
                terminal_id=terminal_id,
            )
        term.kill(self.kill_grace)
        return ToolResult(
            content=f"killed {terminal_id} ({_exit_line(term.returncode)})",
            ok=True,
            exit_code=term.returncode,
            terminal_id=terminal_id,
        )

    def _tool_release_terminal(self, terminal_id: str) -> ToolResult:
        term = self._terminal(terminal_id)
        if isinstance(term, ToolResult):
            return term
        was_running = term.running
        term.kill(self.kill_grace)
        with self._lock:
            self._terminals.pop(terminal_id, None)
        note = " (it was still running and has been killed)" if was_running else ""
        return ToolResult(content=f"released {terminal_id}{note}", ok=True, terminal_id=terminal_id)


def _directory_message(fd: int, raw: str) -> str:
    try:
        names = sorted(e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in os.scandir(fd))
    except OSError:
        names = []
    listing = ", ".join(names[:_DIR_LISTING]) + (", ..." if len(names) > _DIR_LISTING else "")
    return f"error: {show(raw)} is a directory (entries: {listing or 'none'})"


def _replace_in(folder: int, name: str, data: bytes, path: str) -> ToolResult:
    """Atomically replace ``name`` in the directory ``folder`` (a temp file, then rename): readers
    see the old file or the new one, never half; a link put there is replaced, never followed."""
    try:
        st = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        return _error(f"refused: path {show(path)} is or goes through a symbolic link "
                      "(file tools do not follow links; use the link's target)", "refused")
    if st is not None and stat.S_ISDIR(st.st_mode):
        return _error(f"error: {show(path)} is a directory, not a file", "error")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return _error(f"refused: {show(path)} is not a regular file", "refused")
    # Not mkstemp: it creates 0600 files, and a file the agent writes should get normal permissions.
    tmp = f".{name[:100]}.tmp-{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if st is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))  # keep an executable script executable
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder)
        raise
    verb = "overwrote" if st is not None else "created"
    return ToolResult(content=f"{verb} {show(path)} ({len(data)} bytes)", ok=True)


def _read_up_to(fd: int, n: int) -> bytes:
    chunks: list[bytes] = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
