"""Shared shape of the formats that put JSON calls after (and maybe before) a fixed marker."""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.result import ParseResult


def parse_after_marker(
    name: str, text: str, tools: list[Any] | None, start: str, end: str | None = None, seps: str = ",;", keep: int = 0
) -> ParseResult | None:
    """Calls written as JSON (objects or arrays) after each ``start`` marker, up to ``end`` if given.

    ``keep``: how many trailing characters of ``start`` belong to the JSON (``functools[`` keeps ``[``).
    """
    at = text.find(start)
    if at < 0:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    n = len(text)
    while at >= 0:
        body = skip_ws(text, at + len(start) - keep)
        values, after, errs, rep = read_json_values(text, body, seps)
        repaired |= rep
        errors.extend(errs)
        got, bad = calls_from_values(values, tools, tagged=True)
        calls.extend(got)
        errors.extend(bad)
        stop = after
        if not values and not errs:
            errors.append(f"{start} at offset {at} is not followed by JSON")
            close = text.find(end, after) if end else -1
            stop = n if close < 0 else close + len(end or "")  # the broken block is claimed whole
        if end:
            tail = skip_ws(text, after)
            if text.startswith(end, tail):
                stop = tail + len(end)
            elif tail >= n or end.startswith(text[tail:]):
                stop = n
        spans.append((at, stop))
        at = text.find(start, max(stop, at + 1))
    return finish(name, text, calls, spans, errors, repaired)
