"""Llama 3.x JSON: ``<|python_tag|>{"name": ..., "parameters": {...}}`` (tag optional, ``;``-separated).

Without the tag the whole output must be the JSON (a lone object or ``;``-separated objects) and use
``parameters``; JSON with ``arguments`` and no tag is reported as ``bare_json``.
"""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "llama3_json"
START = "<|python_tag|>"
END_TOKENS = ("<|eom_id|>", "<|eot_id|>")
TRIGGERS = (START, '"parameters"')
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    at = text.find(START)
    if at >= 0:
        pos = skip_ws(text, at + len(START))
        span_start = at
    else:
        pos = skip_ws(text, 0)
        if not text.startswith("{", pos) or '"parameters"' not in text:
            return None
        span_start = pos
    if pos >= len(text) or text[pos] not in "{[":
        return None  # e.g. <|python_tag|> followed by code or a built-in tool call
    values, stop, errors, repaired = read_json_values(text, pos, seps=";,")
    calls, bad = calls_from_values(values, tools, tagged=at >= 0)
    errors.extend(bad)
    if at < 0 and not calls and not errors:
        return None
    end = skip_ws(text, stop)
    for tok in END_TOKENS:
        if text.startswith(tok, end):
            end = skip_ws(text, end + len(tok))
    if at < 0 and end < len(text):
        return None  # prose after a bare object: leave it to bare_json
    return finish(NAME, text, calls, [(span_start, max(stop, end))], errors, repaired)
