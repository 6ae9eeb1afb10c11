"""Gemma 4: ``<|tool_call>call:NAME{key:<|"|>text<|"|>,n:3}<tool_call|>``."""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._gemma import parse_calls
from punie.toolcalls.result import ParseResult

NAME = "gemma4"
START = "<|tool_call>"
END = "<tool_call|>"
QUOTE = '<|"|>'
TRIGGERS = (START,)
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    return parse_calls(NAME, text, START, END, QUOTE)
