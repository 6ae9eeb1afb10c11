"""Hermes / Qwen2.5 JSON in ``<tool_call>`` tags — punie's canonical training format.

Also read: an array or several objects in one tag, ``arguments`` as a JSON string, ``parameters``
instead of ``arguments``, ``{"type": "function", "function": {...}}`` wrappers, ``</tool_call>`` inside
a string value (JSON is read before the closing tag is looked for), and a missing closing tag at the
end of the output when the JSON is complete.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "hermes"
START = "<tool_call>"
END = "</tool_call>"
TRIGGERS = (START,)
GENERIC = False

_GLM_BODY = re.compile(r"[A-Za-z_][\w.\-]*\s*(?:<arg_key>|</tool_call>|\Z)")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if START not in text:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    claimed = False
    pos = 0
    n = len(text)
    while True:
        start = text.find(START, pos)
        if start < 0:
            break
        body = skip_ws(text, start + len(START))
        if body < n and text[body] in "{[":
            pass  # JSON (the usual case): none of the tests below could hold
        elif text.startswith("<", body) and not text.startswith(END, body):
            pos = body  # another inner format (Qwen3-Coder XML): not ours
            continue
        elif _GLM_BODY.match(text, body):
            pos = body  # GLM-4.5 "<tool_call>name<arg_key>…": not ours
            continue
        elif body < n and not text.startswith(END, body):
            # a name or prose after the tag (GLM-style): ours only if nothing else claims it
            close = text.find(END, body)
            stop = n if close < 0 else close + len(END)
            errors.append(f"<tool_call> at offset {start} does not hold JSON")
            spans.append((start, stop))
            claimed = True
            pos = stop
            continue
        claimed = True
        values, after, errs, rep = read_json_values(text, body)
        repaired |= rep
        errors.extend(errs)
        got, bad = calls_from_values(values, tools, tagged=True)
        calls.extend(got)
        errors.extend(bad)
        if body >= n:
            errors.append(f"<tool_call> at offset {start} is empty (output ended)")
        elif not values and not errs:
            errors.append(f"<tool_call> at offset {start} is empty")
        tail = skip_ws(text, after)
        if text.startswith(END, tail):
            stop = tail + len(END)
        elif tail >= n or END.startswith(text[tail:]):
            stop = n  # closing tag missing (or cut) at the end of the output
        else:
            close = text.find(END, tail)
            stop = after if close < 0 else close + len(END)
        spans.append((start, stop))
        pos = max(stop, start + 1)
    if not claimed:
        return None
    return finish(NAME, text, calls, spans, errors, repaired)
