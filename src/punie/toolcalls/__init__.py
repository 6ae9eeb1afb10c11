"""Tool specs, the parser family (one module per format) and the canonical renderer.

Public API (stable): ``parse``, ``ParseResult``, ``render_calls``, ``render_assistant``,
``default_tools``, ``TOOL_NAMES``, ``FORMATS``.
"""

from punie.toolcalls.registry import FORMATS, parse
from punie.toolcalls.render import TOOL_CALL_END, TOOL_CALL_START, render_assistant, render_calls
from punie.toolcalls.result import CANONICAL_FORMAT, NO_CALL_FORMAT, ParseResult
from punie.toolcalls.specs import TOOL_NAMES, default_tools, normalize_tools, tool_name, tool_parameters

__all__ = [
    "CANONICAL_FORMAT",
    "FORMATS",
    "NO_CALL_FORMAT",
    "TOOL_CALL_END",
    "TOOL_CALL_START",
    "TOOL_NAMES",
    "ParseResult",
    "default_tools",
    "normalize_tools",
    "parse",
    "render_assistant",
    "render_calls",
    "tool_name",
    "tool_parameters",
]
