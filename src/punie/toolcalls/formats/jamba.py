"""AI21 Jamba: ``<tool_calls>[{"name": ..., "arguments": {...}}]</tool_calls>``."""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._jsontag import parse_after_marker
from punie.toolcalls.result import ParseResult

NAME = "jamba"
START = "<tool_calls>"
END = "</tool_calls>"
TRIGGERS = (START,)
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    return parse_after_marker(NAME, text, tools, START, END)
