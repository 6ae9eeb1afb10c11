"""Kimi-K2: ``<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:0<|tool_call_argument_begin|>{...}<|tool_call_end|><|tool_calls_section_end|>``."""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values
from punie.toolcalls.result import ParseResult

NAME = "kimi_k2"
SECTION_START = "<|tool_calls_section_begin|>"
SECTION_END = "<|tool_calls_section_end|>"
START = "<|tool_call_begin|>"
ARGS = "<|tool_call_argument_begin|>"
END = "<|tool_call_end|>"
TRIGGERS = (START,)
GENERIC = False

_CALL = re.compile(r"<\|tool_call_begin\|>\s*(?:functions\.)?([^\s<]*?)(?::\d+)?\s*<\|tool_call_argument_begin\|>")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if START not in text:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    pos = 0
    while True:
        begin = text.find(START, pos)
        if begin < 0:
            break
        m = _CALL.match(text, begin)
        close = text.find(END, begin)
        if m is None:
            errors.append(f"{START} at offset {begin} is not followed by NAME{ARGS}")
            stop = len(text) if close < 0 else close + len(END)
        elif close < 0:
            errors.append(f"{START} at offset {begin} has no {END} (truncated)")
            stop = len(text)
        else:
            values, _, errs, rep = read_json_values(text, m.end(), seps="", end=close, max_values=1)
            repaired |= rep
            errors.extend(errs)
            if values:
                got, bad = calls_from_values([{"name": m.group(1), "arguments": values[0]}], tools, tagged=True)
                calls.extend(got)
                errors.extend(bad)
            elif not errs:
                errors.append(f"call {m.group(1)!r} at offset {begin} has no JSON arguments")
            stop = close + len(END)
        spans.append((begin, stop))
        pos = stop
    for marker in (SECTION_START, SECTION_END):
        i = text.find(marker)
        if i >= 0:
            spans.append((i, i + len(marker)))
    return finish(NAME, text, calls, spans, errors, repaired)
