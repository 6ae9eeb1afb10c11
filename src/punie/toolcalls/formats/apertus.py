"""Apertus: ``<|tools_prefix|>[{"NAME": {args}}, ...]<|tools_suffix|>`` (one key per item: the tool name).

Items are read one by one (a truncated tail is dropped); ``{"name", "arguments"}`` items are read too.
"""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "apertus"
START = "<|tools_prefix|>"
END = "<|tools_suffix|>"
TRIGGERS = (START,)
GENERIC = False


def _as_call(item: Any) -> Any:
    if isinstance(item, dict) and len(item) == 1 and "name" not in item:
        ((name, args),) = item.items()
        return {"name": name, "arguments": args}
    return item


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
        values, after, errs, rep = read_json_values(text, body, end=n if close < 0 else close)
        repaired |= rep
        errors.extend(errs)
        items = [_as_call(i) for v in values for i in (v if isinstance(v, list) else [v])]
        got, bad = calls_from_values(items, tools, tagged=True)
        calls.extend(got)
        errors.extend(bad)
        if not values and not errs:
            errors.append(f"{START} at offset {at} is not followed by JSON")
        stop = n if close < 0 else close + len(END)
        spans.append((at, stop))
        at = text.find(START, stop)
    return finish(NAME, text, calls, spans, errors, repaired)
