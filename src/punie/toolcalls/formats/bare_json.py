"""Bare JSON calls in the text: ``{"name": ..., "arguments": {...}}``, an array of them, or an envelope
(``{"tool_calls": [...]}``, ``{"tool_call": {...}}``).

Untagged JSON is a call only where a reply puts its calls: at the start of the reply (after
whitespace or reasoning; consecutive values there are JSON lines), or as the one JSON value of the
reply, written with ``name`` and ``arguments``/``parameters``. JSON quoted in prose (a config, two
example objects, a tool definition) is not a call. Only outermost values are read, so a call-shaped
object nested in a truncated one never counts.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import (
    balanced_end,
    calls_from_values,
    finish,
    looks_like_call,
    read_json_values,
    skip_ws,
)
from punie.toolcalls.result import ParseResult

NAME = "bare_json"
TRIGGERS = ('"name"', "'name'", '"tool_call', '"tool_name"')
GENERIC = True

# where a JSON object/array may start: "{" or "[" followed by a key, an object or a string
_OPENER = re.compile(r"[\[{](?=\s*[\"'{\[])")
_LINE_SEPS = ",;"


def _fragments(text: str) -> list[tuple[int, int, list[Any], list[str], bool]]:
    """Outermost JSON fragments: (start, stop, values, errors, repaired); a broken one has errors."""
    out = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _OPENER.search(text, pos)
        if m is None:
            break
        start = m.start()
        values, stop, errs, rep = read_json_values(text, start, seps="", max_values=1)
        if not values and not errs:
            pos = start + 1
            continue
        if errs and not values:
            end = balanced_end(text, start)
            stop = n if end is None else end
        out.append((start, stop, values, errs, rep))
        pos = max(stop, start + 1)
    return out


def _leading(text: str, frags: list[tuple[int, int, list[Any], list[str], bool]]) -> int:
    """How many fragments form the run at the start of the text (separated by whitespace or , ;)."""
    k = 0
    pos = skip_ws(text, 0)
    for start, stop, *_ in frags:
        if start != pos:
            break
        k += 1
        pos = skip_ws(text, stop)
        while pos < len(text) and text[pos] in _LINE_SEPS:
            pos = skip_ws(text, pos + 1)
    return k


def _call_keys(value: Any) -> bool:
    return isinstance(value, dict) and "name" in value and ("arguments" in value or "parameters" in value)


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if '"name"' not in text and "'name'" not in text and '"tool_' not in text:
        return None
    frags = _fragments(text)
    if not frags:
        return None
    lead = _leading(text, frags)
    if lead == 0:
        # inline: only a lone value written as a call counts
        if len(frags) != 1:
            return None
        start, stop, values, errs, rep = frags[0]
        if values and not _call_keys(values[0]):
            return None
        if text.count("```", 0, start) % 2:
            return None  # inside a code block (a fence that held a call was read by json_fence)
        chosen = frags
    else:
        chosen = frags[:lead]
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    for start, stop, values, errs, rep in chosen:
        if errs and not values:
            if looks_like_call(text[start:stop], tools):
                errors.extend(errs)
                spans.append((start, stop))
            continue
        got, bad = calls_from_values(values, tools, tagged=False)
        if got or bad or (errs and looks_like_call(text[start:stop], tools)):
            calls.extend(got)
            errors.extend(errs + bad)
            repaired |= rep
            spans.append((start, stop))
    if not spans:
        return None
    return finish(NAME, text, calls, spans, errors, repaired)
