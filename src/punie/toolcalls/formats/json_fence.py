"""JSON calls in a Markdown code fence: ```` ```json\\n{"name": ..., "arguments": {...}}\\n``` ````.

Small and quantised models drift into this. A fence whose JSON is not call-shaped (a package.json,
a config) is left alone; a truncated call-shaped fence is an error, never a call.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import (
    calls_from_values,
    finish,
    looks_like_call,
    read_json_values,
    skip_ws,
)
from punie.toolcalls.result import ParseResult

NAME = "json_fence"
START = "```"
END = "```"
TRIGGERS = (START,)
GENERIC = True

_FENCE = re.compile(r"```[ \t]*(?:json5?|JSON|tool_calls?|tool_code|javascript|js)?[ \t]*\r?\n")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if START not in text:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    pos = 0
    while True:
        m = _FENCE.search(text, pos)
        if m is None:
            break
        close = text.find(END, m.end())
        limit = len(text) if close < 0 else close
        stop = len(text) if close < 0 else close + len(END)
        body = skip_ws(text, m.end())
        pos = stop
        if body >= limit or text[body] not in "{[":
            continue
        values, _, errs, rep = read_json_values(text, body, end=limit)
        got, bad = calls_from_values(values, tools, tagged=False)
        if errs and not looks_like_call(text[body:limit], tools):
            errs = []
        if got or errs or bad:
            calls.extend(got)
            errors.extend(errs + bad)
            repaired |= rep and bool(got)
            spans.append((m.start(), stop))
    if not spans:
        return None
    return finish(NAME, text, calls, spans, errors, repaired)
