"""Phi-4-mini: ``functools[{"name": ..., "arguments": {...}}]``."""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._jsontag import parse_after_marker
from punie.toolcalls.result import ParseResult

NAME = "phi4_mini"
START = "functools["
TRIGGERS = (START,)
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    return parse_after_marker(NAME, text, tools, START, keep=1)
