"""The FastAPI app factory and its plain handler functions (OpenAI-compatible chat completions)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from punie.backends.base import Backend, InvalidRequest
from punie.errors import ServeError
from punie.serve._engine import Engine, Overloaded, StreamEnd
from punie.serve._limits import ServeLimits
from punie.serve._stream import StopCutter, StreamSplitter, ToolCallChunks
from punie.serve._wire import (
    APIError,
    Plan,
    chunk_body,
    completion_body,
    new_id,
    parse_chat_request,
    plan_request,
    read_reply,
    sse,
)
from punie.toolcalls import tool_name
from punie.toolcalls.stream import StreamParser

log = logging.getLogger("punie.serve")


@dataclass
class ServeState:
    engine: Engine | None
    model_name: str
    adapters: dict[str, str]
    limits: ServeLimits
    created: int

    def resolve(self, model: str) -> str | None:
        """The request's ``model`` → None (base) or a configured adapter name; else 404."""
        if model == self.model_name:
            return None
        if model in self.adapters:
            return model
        raise APIError(
            404,
            f"The model `{model}` does not exist. Available: {', '.join(self.model_ids())}",
            param="model",
            code="model_not_found",
        )

    def model_ids(self) -> list[str]:
        return [self.model_name, *self.adapters]

    @property
    def ready_engine(self) -> Engine:
        if self.engine is None:
            raise APIError(503, "the model is still loading", type="server_error", code="loading")
        return self.engine


BackendSource = Engine | Backend | Callable[[], Backend]


def _to_engine(source: BackendSource, limits: ServeLimits) -> Engine:
    if isinstance(source, Engine):
        return source
    if hasattr(source, "generate") and hasattr(source, "stream"):
        return Engine(source, max_batch=limits.max_batch, max_queue=limits.max_queue)  # type: ignore[arg-type]
    backend = source()  # type: ignore[operator]
    return Engine(backend, max_batch=limits.max_batch, max_queue=limits.max_queue)


def create_app(
    backend: BackendSource,
    *,
    model_name: str,
    adapters: dict[str, str] | None = None,
    limits: ServeLimits | None = None,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """An OpenAI-compatible app over a Backend (or an Engine, or a zero-argument Backend factory).

    ``adapters`` maps the public adapter names (what clients put in ``model``) to their folders; the
    backend must already have them loaded and offer ``use_adapter(name | None)``.
    ``allowed_hosts``: the only ``Host`` header names answered (403 otherwise): ``punie serve`` bound
    to loopback passes the loopback names, so a web page on another origin that rebinds its DNS name
    to 127.0.0.1 can't reach the model. None: any host.
    """
    limits = limits or ServeLimits()
    adapters = dict(adapters or {})
    if model_name in adapters:
        raise ServeError(f"adapter name {model_name!r} is the base model's name", location="--adapter")
    state = ServeState(None, model_name, adapters, limits, int(time.time()))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # a factory may load a model: off the event loop
        engine = (
            state.engine if state.engine is not None else await asyncio.to_thread(_to_engine, backend, limits)
        )
        if adapters and not hasattr(engine.backend, "use_adapter"):
            raise ServeError("this backend can't switch adapters (no use_adapter)", location="--adapter")
        state.engine = engine
        engine.start()
        try:
            yield
        finally:
            engine.stop()

    app = FastAPI(title="punie serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.punie = state
    if isinstance(backend, Engine) or hasattr(backend, "generate"):
        # ready without the lifespan too (e.g. ASGI transports in tests that skip it)
        state.engine = _to_engine(backend, limits)
        if adapters and not hasattr(state.engine.backend, "use_adapter"):
            raise ServeError("this backend can't switch adapters (no use_adapter)", location="--adapter")
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/v1/models", list_models, methods=["GET"])
    app.add_api_route("/v1/models/{model_id:path}", get_model, methods=["GET"])
    app.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"])
    app.add_exception_handler(APIError, api_error_response)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error_response)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, server_error_response)
    if allowed_hosts is not None:
        app.add_middleware(HostGuard, allowed=allowed_hosts)  # type: ignore[arg-type]
    return app


LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]


class HostGuard:
    """Plain ASGI middleware: a request whose ``Host`` is not an allowed name gets a 403 error body."""

    def __init__(self, app: Any, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {h.lower().strip("[]") for h in allowed}

    @staticmethod
    def _hostname(value: str) -> str:
        value = value.strip().lower()
        if value.startswith("["):  # [::1]:8766
            return value[1:].split("]", 1)[0]
        return value.rsplit(":", 1)[0] if value.count(":") == 1 else value

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            if self._hostname(host) not in self.allowed:
                err = APIError(403, f"Host {host!r} is not served here (DNS-rebinding guard; "
                               "use 127.0.0.1 or localhost)", code="invalid_host")
                await JSONResponse(err.body(), status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ---- handlers ---------------------------------------------------------------------------------------
def _state(request: Request) -> ServeState:
    return request.app.state.punie  # type: ignore[no-any-return]


async def health(request: Request) -> dict[str, Any]:
    st = _state(request)
    return {"status": "ok" if st.engine is not None else "loading", "models": st.model_ids()}


def _model_card(st: ServeState, model_id: str) -> dict[str, Any]:
    card: dict[str, Any] = {"id": model_id, "object": "model", "created": st.created, "owned_by": "punie"}
    if model_id != st.model_name:
        card["parent"] = st.model_name
        card["root"] = st.model_name
    return card


async def list_models(request: Request) -> dict[str, Any]:
    st = _state(request)
    return {"object": "list", "data": [_model_card(st, m) for m in st.model_ids()]}


async def get_model(request: Request, model_id: str) -> dict[str, Any]:
    st = _state(request)
    st.resolve(model_id)
    return _model_card(st, model_id)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 when it is over ``limit`` bytes (drained first, so the client reads the 413)."""
    declared = request.headers.get("content-length")
    too_big = declared is not None and declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    if not too_big or int(declared or 0) <= 16 * limit:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                too_big = True
                chunks = []
                if size > 16 * limit:  # not worth draining further; the connection will be closed
                    break
            elif not too_big:
                chunks.append(chunk)
    if too_big:
        raise APIError(
            413,
            f"the request body is over this server's limit of {limit} bytes",
            code="request_too_large",
        )
    return b"".join(chunks)


def check_content_type(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise APIError(
            415,
            f"Content-Type must be application/json, not {media or 'missing'!r}",
            code="unsupported_media_type",
        )


async def check_with_backend(engine: Engine, plan: Plan) -> None:
    """What only the backend can tell (prompt vs context length, tool schemas it can't constrain) → 400.

    Off the event loop: tokenizing a 1 MB prompt or building a tool set's constraint takes a while.
    """
    check = getattr(engine.backend, "check_request", None)
    if check is None:
        return
    try:
        await asyncio.to_thread(check, plan.request, explicit_max_tokens=plan.explicit_max_tokens)
    except InvalidRequest as exc:
        raise APIError(400, str(exc), param=exc.param, code=exc.code) from exc


async def chat_completions(request: Request) -> Response:
    st = _state(request)
    raw = await read_body(request, st.limits.max_body_bytes)  # read first: a refused body is drained too
    check_content_type(request)
    req = parse_chat_request(raw, max_depth=st.limits.max_json_depth, max_tools=st.limits.max_tools)
    adapter = st.resolve(req.model)
    plan = plan_request(
        req, max_tokens_limit=st.limits.max_tokens_limit, default_max_tokens=st.limits.default_max_tokens
    )
    engine = st.ready_engine
    await check_with_backend(engine, plan)
    completion_id = new_id("chatcmpl-")
    try:
        if req.stream:
            engine.check_capacity()  # the job itself is queued once the response starts streaming
            return StreamingResponse(
                stream_events(engine, adapter, plan, req.model, completion_id),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        gen = await engine.generate(adapter, plan.request)
    except Overloaded as exc:
        raise APIError(
            503, f"server busy: {exc}; retry later", type="server_error", code="overloaded"
        ) from exc
    except Exception as exc:  # answered here: an unhandled exception would also drop the connection
        log.exception("generation failed")
        raise APIError(500, f"generation failed: {type(exc).__name__}: {exc}", type="server_error") from exc
    reply = read_reply(gen.text, plan, gen.finish_reason)
    return JSONResponse(completion_body(completion_id, req.model, gen, reply))


async def stream_events(
    engine: Engine, adapter: str | None, plan: Plan, model: str, completion_id: str
) -> AsyncIterator[str]:
    """SSE chunks: role, content deltas as they come, tool calls as they are written (name first,
    then argument fragments), finish, [DONE]."""
    created = int(time.time())
    splitter = StreamSplitter(watch_calls=False, stop=plan.request.stop)
    cutter = StopCutter(plan.request.stop)
    parser = StreamParser(plan.tools) if plan.parse_calls else None
    calls = ToolCallChunks({tool_name(t) for t in plan.tools}, plan.request.parallel_tool_calls)
    end = StreamEnd()
    # opened here, not in the handler: a client gone before streaming starts never queues a job
    try:
        job = engine.open_stream(adapter, plan.request)
    except Overloaded as exc:  # filled up since the handler checked: say so in-stream
        yield sse(APIError(503, f"server busy: {exc}", type="server_error", code="overloaded").body())
        yield sse("[DONE]")
        return
    try:
        yield sse(chunk_body(completion_id, model, created, {"role": "assistant", "content": ""}))
        try:
            async for item in engine.deltas(job):
                if isinstance(item, StreamEnd):
                    end = item
                    break
                if parser is None:
                    safe = splitter.feed(item)
                    if safe:
                        yield sse(chunk_body(completion_id, model, created, {"content": safe}))
                    if splitter.stopped:
                        break
                    continue
                for delta in calls.deltas(parser.feed(cutter.feed(item))):
                    yield sse(chunk_body(completion_id, model, created, delta))
                if cutter.stopped:
                    break
        except Exception as exc:  # headers are sent: report the failure in-stream, OpenAI-style
            log.exception("stream failed")
            err = APIError(500, f"generation failed: {type(exc).__name__}", type="server_error")
            yield sse(err.body())
            yield sse("[DONE]")
            return
        if parser is None:
            reply = read_reply(splitter.text, plan, end.finish_reason)
            rest = splitter.finish(reply.content)
            if rest:
                yield sse(chunk_body(completion_id, model, created, {"content": rest}))
        else:
            events = parser.feed(cutter.flush()) + parser.finish()
            for delta in calls.deltas(events):
                yield sse(chunk_body(completion_id, model, created, delta))
            reply = read_reply(cutter.text, plan, end.finish_reason)
            if calls.dropped:
                reply.parse_errors.append(
                    f"tool_calls {calls.dropped} were streamed in part, then were not calls (cut off or malformed)"
                )
        last = chunk_body(completion_id, model, created, {}, reply.finish_reason)
        last["punie"] = {"format": reply.format, "parse_errors": reply.parse_errors, "dropped_tool_calls": calls.dropped}
        yield sse(last)
        if plan.include_usage:
            usage = chunk_body(completion_id, model, created, {})
            usage["choices"] = []
            usage["usage"] = {
                "prompt_tokens": end.prompt_tokens,
                "completion_tokens": end.completion_tokens,
                "total_tokens": end.prompt_tokens + end.completion_tokens,
            }
            yield sse(usage)
        yield sse("[DONE]")
    finally:
        job.cancelled.set()  # client gone or stream done: the worker stops and frees the model


# ---- error bodies -------------------------------------------------------------------------------------
async def api_error_response(request: Request, exc: APIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def http_error_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    err = APIError(
        exc.status_code,
        str(exc.detail),
        type="invalid_request_error" if exc.status_code < 500 else "server_error",
    )
    return JSONResponse(err.body(), status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def server_error_response(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request failed", exc_info=exc)
    err = APIError(500, f"internal error: {type(exc).__name__}", type="server_error")
    return JSONResponse(err.body(), status_code=500)
