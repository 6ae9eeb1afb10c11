"""DeepSeek-V3 / V3.1 tool calls between full-width-bar special tokens.

V3:   ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\\n```json\\n{...}\\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>``
V3.1: ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{...}<｜tool▁call▁end｜><｜tool▁calls▁end｜>``
A call without ``<｜tool▁call▁end｜>`` is truncated and never a call.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "deepseek_v3"
SECTION_START = "<｜tool▁calls▁begin｜>"
SECTION_END = "<｜tool▁calls▁end｜>"
START = "<｜tool▁call▁begin｜>"
SEP = "<｜tool▁sep｜>"
END = "<｜tool▁call▁end｜>"
TRIGGERS = (START,)
GENERIC = False

_V3_HEAD = re.compile(r"function\s*<｜tool▁sep｜>\s*([^\s`<]+)\s*(?:```(?:json)?\s*)?")
_V31_HEAD = re.compile(r"([^\s<]+)\s*<｜tool▁sep｜>")


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
        close = text.find(END, begin)
        stop = len(text) if close < 0 else close + len(END)
        spans.append((begin, stop))
        pos = stop
        if close < 0:
            errors.append(f"tool call at offset {begin} has no {END} (truncated)")
            break
        head_at = skip_ws(text, begin + len(START))
        m = _V3_HEAD.match(text, head_at, close) or _V31_HEAD.match(text, head_at, close)
        if m is None:
            errors.append(f"tool call at offset {begin} has no NAME{SEP}")
            continue
        values, _, errs, rep = read_json_values(text, m.end(), seps="", end=close, max_values=1)
        repaired |= rep
        errors.extend(errs)
        if values:
            got, bad = calls_from_values([{"name": m.group(1), "arguments": values[0]}], tools, tagged=True)
            calls.extend(got)
            errors.extend(bad)
        elif not errs:
            errors.append(f"call {m.group(1)!r} at offset {begin} has no JSON arguments")
    for marker in (SECTION_START, SECTION_END):
        i = text.find(marker)
        if i >= 0:
            spans.append((i, i + len(marker)))
    return finish(NAME, text, calls, spans, errors, repaired)
