"""Bare JSON calls in the text: ``{"name": ..., "arguments": {...}}`` or an array of them.

Only outermost JSON values are read, so a call-shaped object nested in a truncated one never counts.
Objects with a ``name`` but no ``arguments``/``parameters`` count only when ``name`` is a tool.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import (
    balanced_end,
    calls_from_values,
    cut,
    looks_like_call,
    read_json_values,
    result,
)
from punie.toolcalls.result import ParseResult

NAME = "bare_json"
TRIGGERS = ('"name"', "'name'")
GENERIC = True

# where a JSON object/array may start: "{" or "[" followed by a key, an object or a string
_OPENER = re.compile(r"[\[{](?=\s*[\"'{\[])")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if '"name"' not in text and "'name'" not in text:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    pos = 0
    n = len(text)
    while pos < n:
        m = _OPENER.search(text, pos)
        if m is None:
            break
        start = m.start()
        values, stop, errs, rep = read_json_values(text, start, seps="")
        if not values and not errs:
            pos = start + 1
            continue
        if errs:
            # truncated or invalid: skip the whole fragment so nothing nested in it is read as a call
            end = balanced_end(text, start)
            fragment = text[start : n if end is None else end]
            if looks_like_call(fragment, tools):
                errors.extend(errs)
                spans.append((start, n if end is None else end))
            if end is None:
                break
            pos = end
            continue
        got, bad = calls_from_values(values, tools, tagged=False)
        if got or bad:
            calls.extend(got)
            errors.extend(bad)
            repaired |= rep
            spans.append((start, stop))
        pos = stop
    if not spans:
        return None
    return result(NAME, calls, cut(text, spans), errors, repaired)
