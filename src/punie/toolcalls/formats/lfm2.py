"""LFM2: ``<|tool_call_start|>[f(x=1), g(y="a")]<|tool_call_end|>`` (pythonic; a JSON list is read too).

Usually after some prose. Items are read one by one; a list without its closing marker and bracket
is truncated: only its complete items count.
"""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._common import balanced_end, calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.formats.pythonic import calls_from_items
from punie.toolcalls.result import ParseResult

NAME = "lfm2"
START = "<|tool_call_start|>"
END = "<|tool_call_end|>"
TRIGGERS = (START,)
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    at = text.find(START)
    if at < 0:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    n = len(text)
    while at >= 0:
        body = skip_ws(text, at + len(START))
        close = text.find(END, body)
        limit = n if close < 0 else close
        if text.startswith(("[{", "{"), body) or text.startswith("{", skip_ws(text, body + 1)):
            values, _, errs, rep = read_json_values(text, body, end=limit)
            got, bad = calls_from_values(values, tools, tagged=True)
            errs += bad
            repaired |= rep
        elif text.startswith("[", body):
            end = balanced_end(text, body, limit)
            got, errs = calls_from_items(text, body + 1, limit if end is None else end - 1, ",", end is not None)
        else:
            got, errs = [], [f"{START} at offset {at} is not followed by a call list"]
        calls.extend(got)
        errors.extend(errs)
        stop = n if close < 0 else close + len(END)
        spans.append((at, stop))
        at = text.find(START, stop)
    return finish(NAME, text, calls, spans, errors, repaired)
