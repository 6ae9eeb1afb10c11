"""A scripted Backend: replies are computed from the request, so tests are deterministic."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from punie.backends.base import Generation, GenerationRequest
from punie.toolcalls import render_calls

Script = Callable[[GenerationRequest, str | None], str]


def last_user(req: GenerationRequest) -> str:
    return next((str(m.get("content") or "") for m in reversed(req.messages) if m["role"] == "user"), "")


def echo_script(req: GenerationRequest, adapter: str | None) -> str:
    """Tool results → a final answer quoting them; 'read X' → a read_file call; else an echo."""
    last = req.messages[-1]
    if last["role"] == "tool":
        return f"The file says: {last['content']}"
    text = last_user(req)
    names = {t["function"]["name"] for t in req.tools or []}
    if text.startswith("read ") and "read_file" in names:
        return "Let me look.\n" + render_calls([{"name": "read_file", "arguments": {"path": text[5:]}}])
    return f"[{adapter or 'base'}] you said: {text}"


class FakeBackend:
    name = "fake"

    def __init__(
        self,
        script: Script = echo_script,
        *,
        adapters: Sequence[str] = (),
        delay: float = 0.0,
        chunk: int = 3,
    ) -> None:
        self.script = script
        self.adapters = set(adapters)
        self.delay = delay  # seconds per generate call / per stream delta
        self.chunk = chunk
        self.active: str | None = None
        self.lock = threading.RLock()
        self.calls: list[int] = []  # batch sizes passed to generate
        self.streams_closed = 0
        self.requests: list[GenerationRequest] = []

    @contextmanager
    def use_adapter(self, name: str | None) -> Iterator[None]:
        if name is not None and name not in self.adapters:
            raise KeyError(name)
        with self.lock:
            prev, self.active = self.active, name
            try:
                yield
            finally:
                self.active = prev

    def _reply(self, req: GenerationRequest) -> tuple[str, str]:
        text = self.script(req, self.active)
        words = text.split(" ")
        if len(words) > req.max_new_tokens:
            return " ".join(words[: req.max_new_tokens]), "length"
        return text, "stop"

    def generate(self, requests: Sequence[GenerationRequest], *, progress: Any = None) -> list[Generation]:
        self.calls.append(len(requests))
        self.requests.extend(requests)
        if self.delay:
            time.sleep(self.delay)
        out = []
        for r in requests:
            text, finish = self._reply(r)
            out.append(Generation(text, finish, prompt_tokens=10, completion_tokens=len(text.split(" "))))
        return out

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        self.requests.append(request)
        text, _ = self._reply(request)
        with self.lock:
            try:
                for i in range(0, len(text), self.chunk):
                    if self.delay:
                        time.sleep(self.delay)
                    yield text[i : i + self.chunk]
            finally:
                self.streams_closed += 1


class EndlessBackend(FakeBackend):
    """Streams forever (until closed): for client-disconnect tests."""

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        with self.lock:
            try:
                while True:
                    time.sleep(0.01)
                    yield "word "
            finally:
                self.streams_closed += 1
