"""Llama 3.1 built-in tools: ``<|python_tag|>brave_search.call(query="...")`` (also ``wolfram_alpha``).

The call is read with ``ast`` like the pythonic format; the name is the tool before ``.call``.
Code for the code interpreter after ``<|python_tag|>`` is not a call.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import finish, skip_ws
from punie.toolcalls.formats.pythonic import calls_from_items
from punie.toolcalls.result import ParseResult

NAME = "llama3_builtin"
START = "<|python_tag|>"
END_TOKENS = ("<|eom_id|>", "<|eot_id|>")
TRIGGERS = (START,)
GENERIC = False

_HEAD = re.compile(r"([A-Za-z_]\w*)\.call\s*\(")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    at = text.find(START)
    if at < 0:
        return None
    pos = skip_ws(text, at + len(START))
    if _HEAD.match(text, pos) is None:
        return None
    end = len(text)
    for tok in END_TOKENS:
        i = text.find(tok, pos)
        if 0 <= i < end:
            end = i
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    got, errs = calls_from_items(text, pos, end, ";\n", True)
    for call in got:
        if call["name"].endswith(".call") and call["name"].count(".") == 1:
            calls.append({"name": call["name"][: -len(".call")], "arguments": call["arguments"]})
        else:
            errors.append(f"{call['name']!r} is not a built-in tool call (TOOL.call(...))")
    errors.extend(errs)
    stop = end
    for tok in END_TOKENS:
        if text.startswith(tok, stop):
            stop += len(tok)
    return finish(NAME, text, calls, [(at, stop)], errors)
