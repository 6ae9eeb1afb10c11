"""The generation engine: one worker thread owns the model; requests queue up and run in batches.

Why one thread: the model (and PEFT's active adapter) is shared state, and generation must stay off
the event loop. While a batch runs, new requests queue; the next batch takes every queued request
for the same adapter at once, so concurrent clients share one ``backend.generate`` call (the
throughput lever) without any waiting window. A stream runs alone; its client disconnecting sets
``cancelled``, and the worker closes the backend's generator at the next delta, freeing the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from punie.backends.base import Backend, Generation, GenerationRequest
from punie.serve._limits import DEFAULT_LIMITS

log = logging.getLogger("punie.serve")


@dataclass
class StreamEnd:
    """Last item of a stream: token counts and why generation ended."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"


class Overloaded(Exception):
    pass


@dataclass
class _Job:
    adapter: str | None
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    stream: bool = False
    future: asyncio.Future[Generation] | None = None
    deltas: asyncio.Queue[Any] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)


class Engine:
    """Runs a Backend's generation in a worker thread, batching concurrent requests by adapter."""

    def __init__(self, backend: Backend, *, max_batch: int = DEFAULT_LIMITS.max_batch,
                 max_queue: int = DEFAULT_LIMITS.max_queue) -> None:
        self.backend = backend
        self.max_batch = max(1, max_batch)
        self.max_queue = max_queue
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._pending: list[_Job] = []  # taken from the queue but waiting for another adapter's batch
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        self.batches: list[int] = []  # sizes of the batches run (for tests and the bench)

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="punie-serve-engine", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _adapter_ctx(self, adapter: str | None) -> contextlib.AbstractContextManager[Any]:
        use = getattr(self.backend, "use_adapter", None)
        if use is None:
            if adapter is not None:
                raise KeyError(adapter)
            return contextlib.nullcontext()
        return use(adapter)

    # ---- async API (called on the event loop) ----------------------------------------------------------
    def check_capacity(self) -> None:
        if self._queue.qsize() + len(self._pending) >= self.max_queue:
            raise Overloaded(f"{self.max_queue} requests are already waiting")

    def _submit(self, job: _Job) -> None:
        self.check_capacity()
        self.start()
        self._queue.put(job)

    async def generate(self, adapter: str | None, request: GenerationRequest) -> Generation:
        loop = asyncio.get_running_loop()
        job = _Job(adapter, request, loop, future=loop.create_future())
        self._submit(job)
        assert job.future is not None
        try:
            return await job.future
        except asyncio.CancelledError:
            job.cancelled.set()  # the client went away: skip the job if it has not started
            raise

    def open_stream(self, adapter: str | None, request: GenerationRequest) -> _Job:
        """Queue a streaming job; read it with ``deltas(job)``; ``job.cancelled.set()`` stops it."""
        loop = asyncio.get_running_loop()
        job = _Job(adapter, request, loop, stream=True, deltas=asyncio.Queue())
        self._submit(job)
        return job

    async def deltas(self, job: _Job) -> Any:
        """Async iterator of text deltas, then one ``StreamEnd``."""
        assert job.deltas is not None
        while True:
            item = await job.deltas.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, StreamEnd):
                return

    # ---- worker thread ----------------------------------------------------------------------------
    def _next_jobs(self) -> list[_Job] | None:
        """The next stream job alone, or a batch of generate jobs for one adapter (None = shut down)."""
        first = self._pending.pop(0) if self._pending else self._queue.get()
        if first is None:
            return None
        if first.stream:
            return [first]
        batch = [first]
        # take what is waiting now; keep other adapters' and stream jobs for later, in order
        rest: list[_Job] = []
        for job in self._pending:
            (batch if self._fits(batch, job) else rest).append(job)
        self._pending = rest
        while True:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:  # shutting down: finish this batch first
                self._queue.put(None)
                break
            (batch if self._fits(batch, nxt) else self._pending).append(nxt)
        return batch

    def _fits(self, batch: list[_Job], job: _Job) -> bool:
        return not job.stream and job.adapter == batch[0].adapter and len(batch) < self.max_batch

    def _work(self) -> None:
        while True:
            jobs = self._next_jobs()
            if jobs is None:
                return
            jobs = [j for j in jobs if not j.cancelled.is_set()]
            if not jobs:
                continue
            if jobs[0].stream:
                self._run_stream(jobs[0])
            else:
                self._run_batch(jobs)

    def _run_batch(self, jobs: list[_Job]) -> None:
        self.batches.append(len(jobs))
        try:
            with self._adapter_ctx(jobs[0].adapter):
                gens = self.backend.generate([j.request for j in jobs])
        except BaseException as exc:  # answered as a 500 per request; the server keeps running
            log.exception("generation failed")
            for j in jobs:
                _post(j.loop, _set_exception, j.future, exc)
            return
        for j, g in zip(jobs, gens, strict=True):
            _post(j.loop, _set_result, j.future, g)

    def _run_stream(self, job: _Job) -> None:
        assert job.deltas is not None
        put = job.deltas.put_nowait
        gen: Iterator[str] | None = None
        text = ""
        try:
            with self._adapter_ctx(job.adapter):
                gen = iter(self.backend.stream(job.request))
                for delta in gen:
                    if job.cancelled.is_set():
                        break
                    text += delta
                    _post(job.loop, put, delta)
        except BaseException as exc:
            log.exception("streaming generation failed")
            _post(job.loop, put, exc)
            return
        finally:
            if gen is not None and hasattr(gen, "close"):
                gen.close()  # releases the backend's lock held inside its generator
        if not job.cancelled.is_set():
            _post(job.loop, put, self._stream_end(job.request, text))

    def _stream_end(self, request: GenerationRequest, text: str) -> StreamEnd:
        """Token counts for a streamed reply (the stream API yields text only, so count it again)."""
        tok = getattr(self.backend, "tokenizer", None)
        builder = getattr(self.backend, "builder", None)
        end = StreamEnd()
        try:
            if tok is not None:
                end.completion_tokens = len(tok(text, add_special_tokens=False)["input_ids"])
            if builder is not None:
                end.prompt_tokens = len(builder.encode_prompt(request.messages, request.tools).input_ids)
        except Exception:  # counts are informative only
            log.debug("could not count tokens", exc_info=True)
        if end.completion_tokens >= request.max_new_tokens:
            end.finish_reason = "length"
        return end


def _set_result(fut: asyncio.Future[Any] | None, value: Any) -> None:
    if fut is not None and not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[Any] | None, exc: BaseException) -> None:
    if fut is not None and not fut.done():
        fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))


def _post(loop: asyncio.AbstractEventLoop, fn: Any, *args: Any) -> None:
    # RuntimeError: the event loop is gone (server shutting down), so nobody is waiting
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)
