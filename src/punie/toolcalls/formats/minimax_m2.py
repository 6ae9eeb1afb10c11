"""MiniMax-M2: ``<minimax:tool_call><invoke name="NAME"><parameter name="P">value</parameter></invoke></minimax:tool_call>``.

Several ``<invoke>`` blocks may share one section. Values are text, coerced to the parameter
schema's types when tools are given. An ``<invoke>`` without ``</invoke>`` is truncated, never a call.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import coerce, finish, param_schemas
from punie.toolcalls.result import ParseResult

NAME = "minimax_m2"
START = "<minimax:tool_call>"
END = "</minimax:tool_call>"
INVOKE_END = "</invoke>"
TRIGGERS = (START,)
GENERIC = False

_INVOKE = re.compile(r"<invoke\s+name\s*=\s*[\"']?([^\"'>]*)[\"']?\s*>")
_PARAM = re.compile(r"<parameter\s+name\s*=\s*[\"']?([^\"'>]*)[\"']?\s*>(.*?)</parameter>", re.S)
_PARAM_OPEN = re.compile(r"<parameter\s+name")


def _value(raw: str) -> str:
    if raw.startswith("\n"):
        raw = raw[1:]
    return raw[:-1] if raw.endswith("\n") else raw


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    at = text.find(START)
    if at < 0:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    while at >= 0:
        close = text.find(END, at)
        limit = len(text) if close < 0 else close
        spans.append((at, len(text) if close < 0 else close + len(END)))
        pos = at + len(START)
        found = False
        while True:
            m = _INVOKE.search(text, pos, limit)
            if m is None:
                break
            found = True
            name = m.group(1).strip()
            stop = text.find(INVOKE_END, m.end(), limit)
            if stop < 0:
                errors.append(f"<invoke name={name!r}> at offset {m.start()} has no {INVOKE_END} (truncated)")
                break
            schemas = param_schemas(tools, name)
            pairs = _PARAM.findall(text, m.end(), stop)
            if len(pairs) != len(_PARAM_OPEN.findall(text, m.end(), stop)):
                errors.append(f"<invoke name={name!r}> at offset {m.start()} has a <parameter> without its end")
            elif not name:
                errors.append(f"<invoke> at offset {m.start()} has no name")
            else:
                args = {k.strip(): coerce(_value(v), schemas.get(k.strip())) for k, v in pairs}
                calls.append({"name": name, "arguments": args})
            pos = stop + len(INVOKE_END)
        if not found:
            errors.append(f"{START} at offset {at} holds no <invoke name=...>")
        at = -1 if close < 0 else text.find(START, close + len(END))
    return finish(NAME, text, calls, spans, errors)
