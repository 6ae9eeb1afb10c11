"""Qwen3-Coder XML: ``<tool_call><function=NAME><parameter=P>value</parameter></function></tool_call>``.

A JSON body (``<function=NAME>{...}</function>``) is Functionary v3.1's, left to that module.
The opening ``<tool_call>`` is often dropped by small models; it is optional here. Values are text;
with tools given they are coerced to the parameter's JSON Schema type. A ``<function=…>`` without its
``</function>`` is truncated output and never becomes a call.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import coerce, finish, param_schemas, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "qwen3_xml"
START = "<tool_call>"
END = "</tool_call>"
FUNCTION_START = "<function="
FUNCTION_END = "</function>"
TRIGGERS = (FUNCTION_START,)
GENERIC = False

_FUNC = re.compile(r"<function=([^>\n]*)>")
_PARAM = re.compile(r"<parameter=([^>\n]*)>(.*?)(?:</parameter>|(?=<parameter=)|\Z)", re.S)
_CLOSE_AFTER = re.compile(r"\s*</tool_call>")


def _value(raw: str) -> str:
    # the template writes "<parameter=p>\nvalue\n</parameter>": drop exactly that framing
    if raw.startswith("\n"):
        raw = raw[1:]
    if raw.endswith("\n"):
        raw = raw[:-1]
    return raw


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if FUNCTION_START not in text:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = _FUNC.search(text, pos)
        if m is None:
            break
        name = m.group(1).strip().strip("\"'")
        if text.startswith(("{", "["), skip_ws(text, m.end())):
            pos = m.end()  # <function=NAME>{json}</function> is Functionary v3.1: not ours
            continue
        close = text.find(FUNCTION_END, m.end())
        nxt = _FUNC.search(text, m.end())
        if close < 0 or (nxt is not None and nxt.start() < close):
            errors.append(f"<function={name}> at offset {m.start()} has no </function> (truncated)")
            stop = len(text) if nxt is None else nxt.start()
            spans.append((m.start(), stop))
            pos = stop
            continue
        body = text[m.end() : close]
        schemas = param_schemas(tools, name) if name else {}
        args: dict[str, Any] = {}
        for p in _PARAM.finditer(body):
            key = p.group(1).strip().strip("\"'")
            args[key] = coerce(_value(p.group(2)), schemas.get(key))
        if name:
            calls.append({"name": name, "arguments": args})
        else:
            errors.append(f"<function=> at offset {m.start()} has no name")
        start, stop = m.start(), close + len(FUNCTION_END)
        opening = text.rfind(START, 0, start)
        if opening >= 0 and not text[opening + len(START) : start].strip():
            start = opening
        after = _CLOSE_AFTER.match(text, stop)
        if after:
            stop = after.end()
        spans.append((start, stop))
        pos = stop
    return finish(NAME, text, calls, spans, errors)
