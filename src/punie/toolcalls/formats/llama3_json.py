"""Llama 3.x JSON: ``<|python_tag|>{"name": ..., "parameters": {...}}`` (tag optional, ``;``-separated).

Without the tag the whole output must be the JSON (a lone object or ``;``-separated objects) and use
``parameters``; JSON with ``arguments`` and no tag is reported as ``bare_json``.
"""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._common import calls_from_values, read_json_values, result, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "llama3_json"
START = "<|python_tag|>"
END_TOKENS = ("<|eom_id|>", "<|eot_id|>")
TRIGGERS = (START, '"parameters"')
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    at = text.find(START)
    if at >= 0:
        content = text[:at]
        body = text[at + len(START) :]
    else:
        stripped = text.strip()
        if not stripped.startswith("{") or '"parameters"' not in stripped:
            return None
        content, body = "", stripped
    for tok in END_TOKENS:
        body = body.replace(tok, "")
    pos = skip_ws(body, 0)
    if pos >= len(body) or body[pos] not in "{[":
        return None  # e.g. <|python_tag|> followed by code for the code interpreter
    values, stop, errors, repaired = read_json_values(body, pos, seps=";,")
    calls, bad = calls_from_values(values, tools, tagged=at >= 0)
    errors.extend(bad)
    if at < 0 and not calls and not errors:
        return None
    rest = body[stop:].strip()
    if rest and at < 0:
        return None  # prose after a bare object: leave it to bare_json
    return result(NAME, calls, (content + "\n" + rest).strip(), errors, repaired)
