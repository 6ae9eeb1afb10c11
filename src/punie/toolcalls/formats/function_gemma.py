"""FunctionGemma: ``<start_function_call>call:NAME{key:<escape>text<escape>,n:3}<end_function_call>``."""

from __future__ import annotations

from typing import Any

from punie.toolcalls.formats._gemma import parse_calls
from punie.toolcalls.result import ParseResult

NAME = "function_gemma"
START = "<start_function_call>"
END = "<end_function_call>"
QUOTE = "<escape>"
TRIGGERS = (START,)
GENERIC = False


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    return parse_calls(NAME, text, START, END, QUOTE)
