"""MiniMax-M1: JSON lines in ``<tool_calls>``: ``<tool_calls>\\n{"name": ..., "arguments": {...}}\\n...\\n</tool_calls>``.

Each line is read on its own: a complete object is kept, an invalid one is an error, a truncated
last line is dropped.
"""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._common import skip_ws
from punie.toolcalls.formats._jsontag import parse_after_marker
from punie.toolcalls.result import ParseResult

NAME = "minimax_m1"
START = "<tool_calls>"
END = "</tool_calls>"
TRIGGERS = (START,)
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    at = text.find(START)
    if at < 0 or not text.startswith("{", skip_ws(text, at + len(START))):
        return None  # an array in <tool_calls> is Jamba's
    return parse_after_marker(NAME, text, tools, START, END)
