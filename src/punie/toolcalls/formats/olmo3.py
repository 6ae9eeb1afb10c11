"""OLMo 3: pythonic calls one per line in ``<function_calls>…</function_calls>``.

``f(a=1)`` lines, JSON spellings (``null``, ``true``) accepted; each line is read on its own and an
unfinished last line (no closing tag) is dropped.
"""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._common import finish
from punie.toolcalls.formats.pythonic import calls_from_items
from punie.toolcalls.result import ParseResult

NAME = "olmo3"
START = "<function_calls>"
END = "</function_calls>"
TRIGGERS = (START,)
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    at = text.find(START)
    if at < 0:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    while at >= 0:
        body = at + len(START)
        close = text.find(END, body)
        got, errs = calls_from_items(text, body, len(text) if close < 0 else close, "\n", close >= 0)
        calls.extend(got)
        errors.extend(errs)
        if not got and not errs:
            errors.append(f"{START} at offset {at} holds no call")
        stop = len(text) if close < 0 else close + len(END)
        spans.append((at, stop))
        at = text.find(START, stop)
    return finish(NAME, text, calls, spans, errors)
