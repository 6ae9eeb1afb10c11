"""One command in its own process group, with capped output and a group-wide kill.

Threads, not asyncio: the Workspace is called synchronously from agent loops and eval runners,
and a reader thread per command is what keeps a chatty background process from filling its pipe.
The argv (usually a ``punie.agent.sandbox`` wrapper around a shell) and the environment are the
caller's; this module only runs, reads and kills.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time

# After the leader exits, keep reading this long for output still buffered in the pipe (or held
# open by a daemon that escaped the process group with setsid, unconfined) before giving up on EOF.
_DRAIN_S = 0.5
# How long wait() and kill() give the reader to finish after the leader exited. The reader stops by
# itself about _DRAIN_S after the exit, so this only matters when it is starved of CPU (a loaded
# machine): returning earlier would hand back output the command did write, cut short.
_READER_FINISH_S = _DRAIN_S + 15.0
# Past this much output (in total, not kept) the command is killed: a head/tail buffer keeps memory
# bounded, but a command printing gigabytes still costs the reader CPU for as long as it runs.
OUTPUT_CAP = 16 << 20


class OutputBuffer:
    """Keeps the first and last ``limit // 2`` bytes of a stream and counts what it drops.

    Head and tail, because build and test logs put the error at the end and the command's banner
    at the start; the middle is what an agent can do without.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(2, int(limit))
        self._head_cap = self.limit // 2
        self._tail_cap = self.limit - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> None:
        with self._lock:
            self.total += len(data)
            room = self._head_cap - len(self._head)
            if room > 0:
                self._head += data[:room]
                data = data[room:]
            if data:
                self._tail += data
                extra = len(self._tail) - self._tail_cap
                if extra > 0:
                    del self._tail[:extra]

    @property
    def dropped(self) -> int:
        with self._lock:
            return self.total - len(self._head) - len(self._tail)

    def text(self) -> tuple[str, bool]:
        """The kept output as text, and whether anything was dropped."""
        with self._lock:
            head, tail, dropped = (
                bytes(self._head),
                bytes(self._tail),
                self.total - len(self._head) - len(self._tail),
            )
        if dropped <= 0:
            return (head + tail).decode("utf-8", errors="replace"), False
        marker = f"\n[... {dropped} bytes of output truncated ...]\n"
        return decode_prefix(head) + marker + decode_suffix(tail), True


def decode_prefix(data: bytes) -> str:
    """Decode bytes cut at an arbitrary point, dropping a multi-byte character split at the end."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=False)


def decode_suffix(data: bytes) -> str:
    """Decode bytes that start at an arbitrary point, skipping a split character's continuation bytes."""
    skip = 0
    while skip < min(3, len(data)) and 0x80 <= data[skip] <= 0xBF:
        skip += 1
    return data[skip:].decode("utf-8", errors="replace")


class Terminal:
    """A running (or finished) command: ``argv`` with stdout and stderr merged into one capped buffer.

    The process runs in a new session, so its process group holds it and everything it starts
    (inside bwrap: the sandbox, whose PID namespace dies with it). The leader is waited for with
    ``WNOWAIT`` first: until we reap it, its pid (the group id) cannot be reused, so signalling the
    group can never hit an unrelated process. ``stdin`` bytes are written once, then closed.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        output_limit: int,
        output_cap: int | None = OUTPUT_CAP,
        stdin: bytes | None = None,
        graceful: bool = True,
    ) -> None:
        self.argv = argv
        # bwrap dies of SIGTERM and its namespace init then SIGKILLs everything: no grace to give
        self.graceful = graceful
        self.started = time.monotonic()
        self.output = OutputBuffer(output_limit)
        self.output_cap = output_cap
        self.overflowed = False  # killed for passing output_cap
        self._proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if stdin is not None:
            self._feed_stdin(stdin)
        self.pid = self._proc.pid
        self._lock = threading.Lock()
        self._reaped = False
        self._exited = threading.Event()
        self._eof = threading.Event()
        self._exit_time: float | None = None
        self._reader = threading.Thread(
            target=self._read_loop, name=f"punie-term-read-{self.pid}", daemon=True
        )
        self._waiter = threading.Thread(
            target=self._wait_loop, name=f"punie-term-wait-{self.pid}", daemon=True
        )
        self._reader.start()
        self._waiter.start()

    # -- state ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return not self._exited.is_set()

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._exited.is_set() else None

    def wait(self, timeout: float | None) -> bool:
        """Wait for the shell to exit; True if it did. Output is complete once this returns True."""
        if not self._exited.wait(timeout):
            return False
        self._eof.wait(_READER_FINISH_S)
        return True

    def text(self) -> tuple[str, bool]:
        text, truncated = self.output.text()
        if self.overflowed:
            text += f"\n[... killed: the output passed {self.output_cap} bytes ...]\n"
        return text, truncated or self.overflowed

    # -- signals -------------------------------------------------------------------------------
    def signal_group(self, sig: int) -> None:
        with self._lock:
            if self._reaped:
                return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    def kill(self, grace: float) -> None:
        """SIGTERM the whole group, then SIGKILL it if the leader is still alive after ``grace`` s
        (not graceful: SIGKILL at once).

        Group members that outlive the leader are SIGKILLed by the waiter as soon as it dies,
        so a grandchild that ignores SIGTERM cannot survive either way.
        """
        if self._exited.is_set():
            return
        if self.graceful:
            self.signal_group(signal.SIGTERM)
        if not self.graceful or not self._exited.wait(max(0.0, grace)):
            self.signal_group(signal.SIGKILL)
            self._exited.wait(10.0)
        self._eof.wait(_READER_FINISH_S)

    def _feed_stdin(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):  # a child that exits without reading is not our error
            self._proc.stdin.write(data)
        with contextlib.suppress(OSError):
            self._proc.stdin.close()

    # -- threads -------------------------------------------------------------------------------
    def _wait_loop(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        with self._lock:
            # The shell is gone: whatever it left behind in its group (``cmd &``) goes too, so
            # the pipe reaches EOF and nothing outlives the terminal.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            self._proc.wait()
            self._reaped = True
        self._exit_time = time.monotonic()
        self._exited.set()

    def _read_loop(self) -> None:
        assert self._proc.stdout is not None
        pipe = self._proc.stdout
        fd = pipe.fileno()
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(fd, selectors.EVENT_READ)
                while True:
                    if self._exit_time is not None and time.monotonic() - self._exit_time > _DRAIN_S:
                        # a setsid'd daemon still holds the pipe: stop waiting for EOF, but first take
                        # what is already buffered (a reader starved under load may get here before
                        # it read anything the command wrote before it exited)
                        self._drain_ready(sel, fd)
                        break
                    if not sel.select(0.05):
                        continue
                    if not self._read_once(fd):
                        break
        except OSError:
            pass
        finally:
            pipe.close()
            self._eof.set()

    def _read_once(self, fd: int) -> bool:
        """One read into the buffer; False at EOF or once past ``output_cap`` (the group is killed)."""
        data = os.read(fd, 65536)
        if not data:
            return False
        self.output.feed(data)
        if self.output_cap is not None and self.output.total > self.output_cap:
            self.overflowed = True
            self.signal_group(signal.SIGKILL)
            return False
        return True

    def _drain_ready(self, sel: selectors.BaseSelector, fd: int) -> None:
        """Read what the pipe holds now, without waiting; bounded (a pipe buffer is 64 KiB by default,
        so 64 reads cover what a daemon could add meanwhile many times over)."""
        for _ in range(64):
            if not sel.select(0) or not self._read_once(fd):
                return
