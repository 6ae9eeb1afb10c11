"""AI21 Jamba: ``<tool_calls>[{"name": ..., "arguments": {...}}]</tool_calls>`` (an array; objects one
per line in the same tags are MiniMax-M1's)."""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._common import skip_ws
from punie.toolcalls.formats._jsontag import parse_after_marker
from punie.toolcalls.result import ParseResult

NAME = "jamba"
START = "<tool_calls>"
END = "</tool_calls>"
TRIGGERS = (START,)
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    at = text.find(START)
    if at < 0 or text.startswith("{", skip_ws(text, at + len(START))):
        return None  # JSON lines in <tool_calls> are MiniMax-M1's
    return parse_after_marker(NAME, text, tools, START, END)
