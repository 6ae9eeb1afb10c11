"""The canonical renderer: what punie trains on, and what ``parse`` reads back exactly."""

from __future__ import annotations

import json
from typing import Any

TOOL_CALL_START = "<tool_call>"
TOOL_CALL_END = "</tool_call>"


def render_call(call: dict[str, Any]) -> str:
    # "</tool_call>" inside a string value can't end the block: the hermes parser reads the JSON value
    # first and only then looks for the closing tag (property-tested in tests/toolcalls).
    payload = json.dumps({"name": call["name"], "arguments": call.get("arguments") or {}}, ensure_ascii=False)
    return f"{TOOL_CALL_START}\n{payload}\n{TOOL_CALL_END}"


def render_calls(calls: list[dict[str, Any]]) -> str:
    """Render calls as consecutive ``<tool_call>`` blocks, one per call."""
    return "\n".join(render_call(c) for c in calls)


def render_assistant(content: str | None, calls: list[dict[str, Any]] | None) -> str:
    """Assistant turn text as the model should write it: optional prose, then the call blocks."""
    parts = []
    if content and content.strip():
        parts.append(content.strip())
    if calls:
        parts.append(render_calls(calls))
    return "\n".join(parts)
