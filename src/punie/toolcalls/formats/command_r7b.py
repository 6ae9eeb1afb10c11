"""Command R7B: ``<|START_ACTION|>[{"tool_call_id": "0", "tool_name": NAME, "parameters": {...}}]<|END_ACTION|>``.

Text in ``<|START_RESPONSE|>…<|END_RESPONSE|>`` is the content (the markers are dropped); the
``<|START_THINKING|>`` block is reasoning and is removed before parsing.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._jsontag import parse_after_marker
from punie.toolcalls.result import ParseResult

NAME = "command_r7b"
START = "<|START_ACTION|>"
END = "<|END_ACTION|>"
TRIGGERS = (START,)
GENERIC = False

_RESPONSE_MARKERS = re.compile(r"<\|(?:START|END)_RESPONSE\|>")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    got = parse_after_marker(NAME, text, tools, START, END)
    if got is None:
        return None
    extra = [m.span() for m in _RESPONSE_MARKERS.finditer(text)]
    if extra:
        from punie.toolcalls.formats._common import finish

        got = finish(NAME, text, got.calls, got.spans + extra, got.errors, got.repaired)
    return got
