"""Command R+: ``Action:`` and a JSON fence holding ``[{"tool_name": NAME, "parameters": {...}}]``.

``directly_answer`` (the template's "no tool" action) is not a call.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "command_r_plus"
START = "Action:"
TRIGGERS = (START,)
GENERIC = True

_HEAD = re.compile(r"Action:[ \t]*\r?\n?[ \t]*```[ \t]*(?:json)?[ \t]*\r?\n")
_NO_TOOL = ("directly_answer", "directly-answer")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    for m in _HEAD.finditer(text):
        close = text.find("```", m.end())
        limit = len(text) if close < 0 else close
        body = skip_ws(text, m.end())
        if body >= limit or text[body] not in "[{":
            continue
        values, _, errs, rep = read_json_values(text, body, end=limit)
        items = [i for v in values for i in (v if isinstance(v, list) else [v])]
        items = [i for i in items if not (isinstance(i, dict) and i.get("tool_name", i.get("name")) in _NO_TOOL)]
        got, bad = calls_from_values(items, tools, tagged=True)
        calls.extend(got)
        errors.extend(errs + bad)
        repaired |= rep
        spans.append((m.start(), len(text) if close < 0 else close + 3))
    if not spans:
        return None
    return finish(NAME, text, calls, spans, errors, repaired)
