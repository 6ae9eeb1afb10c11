"""The OpenAI chat-completions wire format: request validation and response/chunk/error bodies.

Validation uses pydantic models (field types, ranges) plus the conversation rules pydantic can't
express (roles in order, tool results answering an assistant's calls). Every failure becomes an
``APIError`` carrying the OpenAI error body ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from punie.backends.base import Generation, GenerationRequest
from punie.toolcalls import parse, tool_name

ROLES = ("system", "developer", "user", "assistant", "tool")


class APIError(Exception):
    """An error answered to the client as an OpenAI-style JSON body with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


# ---- request models -------------------------------------------------------------------------------
class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown OpenAI fields are accepted and ignored


class FunctionCall(_Loose):
    name: str = Field(min_length=1)
    arguments: str | dict[str, Any] = "{}"


class ToolCall(_Loose):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Loose):
    role: str
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class FunctionSpec(_Loose):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolSpec(_Loose):
    type: Literal["function"] = "function"
    function: FunctionSpec


class NamedFunction(_Loose):
    name: str


class NamedToolChoice(_Loose):
    type: Literal["function"] = "function"
    function: NamedFunction


class StreamOptions(_Loose):
    include_usage: bool = False


class ChatRequest(_Loose):
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    tools: list[ToolSpec] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    parallel_tool_calls: bool = True


def _param(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "list[dict[str,any]]", "function-after", "literal['none','auto','required']"):
            continue  # union-branch labels pydantic adds to the location
        else:
            out += f".{part}" if out else str(part)
    return out


def json_depth(data: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, counted without recursion; stops once over ``limit``."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            todo.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def parse_chat_request(raw: bytes, *, max_depth: int = 64, max_tools: int = 128) -> ChatRequest:
    """Bytes of a request body → a validated ChatRequest, or APIError(400)."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON ({exc})", code="invalid_json") from exc
    except RecursionError as exc:  # nested deeper than the parser's stack
        raise APIError(
            400, f"the request body is nested deeper than {max_depth} levels", code="json_too_deep"
        ) from exc
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_json")
    if json_depth(data, max_depth) > max_depth:
        raise APIError(400, f"the request body is nested deeper than {max_depth} levels", code="json_too_deep")
    tools = data.get("tools")
    if isinstance(tools, list) and len(tools) > max_tools:
        raise APIError(
            400, f"tools: {len(tools)} tools is over this server's limit of {max_tools}", param="tools",
            code="too_many_tools",
        )
    try:
        req = ChatRequest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = _param(tuple(err.get("loc", ())))
        raise APIError(
            400, f"{param}: {err.get('msg')}" if param else str(err.get("msg")), param=param or None
        ) from exc
    check_messages(req.messages)
    # refused rather than ignored: a client relying on them would silently get something else
    if req.response_format and req.response_format.get("type", "text") != "text":
        raise APIError(
            400,
            "response_format: only 'text' is supported (use tools for structured output)",
            param="response_format",
            code="unsupported",
        )
    if req.logprobs:
        raise APIError(400, "logprobs: not supported by punie serve", param="logprobs", code="unsupported")
    check_tool_specs(req)
    if req.stop is not None:
        stops = [req.stop] if isinstance(req.stop, str) else req.stop
        if len(stops) > 4 or any(not s for s in stops):
            raise APIError(400, "stop: at most 4 non-empty strings", param="stop")
    return req


def check_tool_specs(req: ChatRequest) -> None:
    """Tool schemas usable for prompting and constrained decoding; tool_choice naming an offered tool."""
    from punie.backends._constrain import ToolSchemaError, check_tools

    tools = [t.model_dump(exclude_none=True) for t in req.tools or []]
    try:
        check_tools(tools)
    except ToolSchemaError as exc:
        raise APIError(400, str(exc), param=exc.param, code="invalid_tool_schema") from None
    if (req.tool_choice == "required" or isinstance(req.tool_choice, NamedToolChoice)) and not tools:
        raise APIError(400, "tool_choice: a call is required but no tools were given", param="tool_choice")


def text_of(content: str | list[dict[str, Any]] | None, where: str) -> str:
    """Message content as text; content parts must be text parts (no images on a text model)."""
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for j, part in enumerate(content):
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise APIError(
                400,
                f"{where}.content[{j}]: only text content parts are supported",
                param=f"{where}.content[{j}]",
            )
        parts.append(part["text"])
    return "".join(parts)


def check_messages(messages: list[Message]) -> None:
    """The conversation rules: known roles, tool results answer the preceding assistant's calls."""
    open_ids: set[str] | None = None  # ids of the last assistant's calls not yet answered
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if m.role not in ROLES:
            raise APIError(
                400,
                f"{where}.role: unknown role {m.role!r} (one of {', '.join(ROLES)})",
                param=f"{where}.role",
            )
        text_of(m.content, where)
        if m.role == "tool":
            if open_ids is None:
                raise APIError(
                    400,
                    f"{where}: a 'tool' message must follow an assistant message with tool_calls",
                    param=f"{where}.role",
                )
            # a missing tool_call_id is tolerated (small clients omit it; the prompt doesn't need it),
            # but one that names no call of the preceding assistant turn is a client bug
            if m.tool_call_id and open_ids and m.tool_call_id not in open_ids:
                raise APIError(
                    400,
                    f"{where}.tool_call_id: {m.tool_call_id!r} answers no call of the preceding assistant message",
                    param=f"{where}.tool_call_id",
                )
            continue
        if m.tool_calls and m.role != "assistant":
            raise APIError(
                400,
                f"{where}.tool_calls: only assistant messages carry tool_calls",
                param=f"{where}.tool_calls",
            )
        if m.role == "assistant" and m.tool_calls:
            for j, tc in enumerate(m.tool_calls):
                if isinstance(tc.function.arguments, str) and tc.function.arguments.strip():
                    try:
                        json.loads(tc.function.arguments)
                    except json.JSONDecodeError as exc:
                        p = f"{where}.tool_calls[{j}].function.arguments"
                        raise APIError(400, f"{p}: not valid JSON ({exc})", param=p) from exc
            open_ids = {tc.id for tc in m.tool_calls if tc.id}
            continue
        open_ids = None
    last = messages[-1].role
    if last not in ("user", "tool", "system", "developer"):
        raise APIError(
            400,
            f"messages[{len(messages) - 1}]: the last message must be from user or tool, not {last!r}",
            param=f"messages[{len(messages) - 1}].role",
        )


# ---- request → backend ------------------------------------------------------------------------------
@dataclass
class Plan:
    """What the server will ask the backend for, and how to read the reply."""

    request: GenerationRequest
    tools: list[dict[str, Any]]  # the tools the prompt offered (and the parser knows); [] = none
    parse_calls: bool
    include_usage: bool
    explicit_max_tokens: bool = True  # False: the server's default, shortened to fit the context


def to_messages(req: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, m in enumerate(req.messages):
        role = "system" if m.role == "developer" else m.role
        msg: dict[str, Any] = {"role": role, "content": text_of(m.content, f"messages[{i}]")}
        if m.tool_calls:
            msg["tool_calls"] = [tc.model_dump() for tc in m.tool_calls]
        if m.tool_call_id:
            msg["tool_call_id"] = m.tool_call_id
        out.append(msg)
    return out


def plan_request(req: ChatRequest, *, max_tokens_limit: int, default_max_tokens: int) -> Plan:
    max_tokens = req.max_completion_tokens or req.max_tokens
    field = "max_completion_tokens" if req.max_completion_tokens else "max_tokens"
    if max_tokens is not None and max_tokens > max_tokens_limit:
        raise APIError(
            400,
            f"{field}: {max_tokens} is over this server's limit of {max_tokens_limit} (start punie serve "
            "with a larger --max-tokens-limit)",
            param=field,
            code="max_tokens_exceeded",
        )
    tools = [t.model_dump(exclude_none=True) for t in req.tools or []]
    choice = req.tool_choice
    if isinstance(choice, NamedToolChoice):
        wanted = choice.function.name
        tools = [t for t in tools if tool_name(t) == wanted]
        if not tools:
            raise APIError(
                400, f"tool_choice: function {wanted!r} is not in tools", param="tool_choice.function.name"
            )
    elif choice == "none":
        tools = []
    # constrained decoding: with tools, a call that starts is held to them (auto) unless asked otherwise;
    # "none" keeps the model from writing call markup even though the prompt offers no tools
    if isinstance(choice, NamedToolChoice):
        tool_choice: Any = {"type": "function", "function": {"name": choice.function.name}}
    elif choice == "none":
        tool_choice = "none" if req.tools else None
    else:
        tool_choice = (choice or "auto") if tools else None
    stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    gen = GenerationRequest(
        messages=to_messages(req),
        tools=tools,  # [] → no tool block in the prompt (None would mean punie's 7 default tools)
        max_new_tokens=max_tokens or min(default_max_tokens, max_tokens_limit),
        temperature=req.temperature if req.temperature is not None else 0.0,
        top_p=req.top_p if req.top_p is not None else 1.0,
        stop=stops or None,
        seed=req.seed,
        tool_choice=tool_choice,
        parallel_tool_calls=req.parallel_tool_calls and not isinstance(choice, NamedToolChoice),
    )
    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    return Plan(gen, tools, parse_calls=bool(tools), include_usage=include_usage,
                explicit_max_tokens=max_tokens is not None)


# ---- responses --------------------------------------------------------------------------------------
_ALNUM = string.ascii_letters + string.digits


def new_id(prefix: str, n: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(n))


def openai_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """punie's parsed calls ``[{"name","arguments": dict}]`` → OpenAI ``tool_calls``."""
    return [
        {
            "id": new_id("call_"),
            "type": "function",
            "function": {
                "name": c["name"],
                "arguments": json.dumps(c.get("arguments") or {}, ensure_ascii=False),
            },
        }
        for c in calls
    ]


def cut_at_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    cuts = [i for s in stop or [] if s and (i := text.find(s)) >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


@dataclass
class Reply:
    content: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    parse_errors: list[str]
    format: str


def read_reply(text: str, plan: Plan, finish_reason: str) -> Reply:
    """Raw model text → content without call markup + OpenAI tool_calls, with punie's parser."""
    text, stopped = cut_at_stop(text, plan.request.stop)
    if stopped:
        finish_reason = "stop"
    if not plan.parse_calls:
        return Reply(text, [], finish_reason, [], "none")
    result = parse(text, plan.tools)
    kept, errors = offered_calls(result.calls, plan.tools)
    if not plan.request.parallel_tool_calls and len(kept) > 1:
        errors.append(f"{len(kept) - 1} call(s) after the first dropped (parallel_tool_calls is false)")
        kept = kept[:1]
    calls = openai_tool_calls(kept)
    content: str | None = result.content
    if calls:
        finish_reason = "tool_calls"
        content = content or None
    return Reply(content, calls, finish_reason, [*result.errors, *errors], result.format)


def offered_calls(calls: list[dict[str, Any]], tools: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The calls that name an offered tool (others dropped), and what was wrong: unknown tools, and
    arguments that fail the tool's schema (kept, so HTTP eval scores exactly as in-process eval).

    Constrained decoding already guarantees this for the in-process backend; the check also covers
    calls in other formats (and backends that can't constrain), so a client never gets a call it
    did not offer.
    """
    from jsonschema import Draft202012Validator

    from punie.backends._constrain import sanitize_schema
    from punie.toolcalls import tool_parameters

    schemas = {tool_name(t): tool_parameters(t) for t in tools}
    kept, errors = [], []
    for c in calls:
        name = c.get("name")
        if name not in schemas:
            errors.append(f"call to {name!r} dropped: not an offered tool")
            continue
        schema = sanitize_schema(schemas[name], "parameters")
        problem = next(iter(Draft202012Validator(schema).iter_errors(c.get("arguments") or {})), None)
        if problem is not None:  # reported, not dropped: eval over HTTP must score what the model wrote
            errors.append(f"call to {name!r}: arguments {problem.message}")
        kept.append(c)
    return kept, errors


def completion_body(completion_id: str, model: str, gen: Generation, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": {
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens,
        },
        # punie extension: what the parser saw (format name, errors), so clients can audit it
        "punie": {"format": reply.format, "parse_errors": reply.parse_errors},
    }


def chunk_body(
    completion_id: str,
    model: str,
    created: int,
    delta: dict[str, Any],
    finish_reason: str | None = None,
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def sse(obj: dict[str, Any] | str) -> str:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return f"data: {data}\n\n"
