"""Mistral: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}]`` and ``[TOOL_CALLS]name[ARGS]{...}``.

The second form (tokenizer v11+) may repeat ``[TOOL_CALLS]`` per call or chain ``name[ARGS]{...}``,
and may leave ``[ARGS]`` out (``[TOOL_CALLS]name{...}``);
``[CALL_ID]id`` between name and ``[ARGS]`` is skipped.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "mistral"
START = "[TOOL_CALLS]"
ARGS = "[ARGS]"
TRIGGERS = (START,)
GENERIC = False

# [ARGS] is optional: some v11 outputs write the JSON right after the name
_NAMED = re.compile(r"([A-Za-z_][\w.\-]*)\s*(?:\[CALL_ID\]\s*[\w\-]*\s*)?(?:\[ARGS\]|(?=\{))")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    at = text.find(START)
    if at < 0:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    while at >= 0:
        pos = skip_ws(text, at + len(START))
        stop = pos
        if text.startswith(("[", "{"), pos) and not text.startswith(START, pos):
            values, stop, errs, repaired_now = read_json_values(text, pos)
            got, bad = calls_from_values(values, tools, tagged=True)
            calls.extend(got)
            errors.extend(errs + bad)
            repaired |= repaired_now
        else:
            m = _NAMED.match(text, pos)
            if m is None:
                errors.append(f"{START} at offset {at} is followed by neither JSON nor name[ARGS]{{...}}")
            while m is not None:
                values, stop, errs, repaired_now = read_json_values(text, m.end(), seps="", max_values=1)
                repaired |= repaired_now
                errors.extend(errs)
                if values:
                    got, bad = calls_from_values(
                        [{"name": m.group(1), "arguments": values[0]}], tools, tagged=True
                    )
                    calls.extend(got)
                    errors.extend(bad)
                elif not errs:
                    errors.append(f"{m.group(1)}[ARGS] at offset {m.start()} has no JSON arguments")
                if errs or not values:
                    break
                m = _NAMED.match(text, skip_ws(text, stop))
        spans.append((at, stop))
        at = text.find(START, max(stop, at + 1))
    return finish(NAME, text, calls, spans, errors, repaired)
