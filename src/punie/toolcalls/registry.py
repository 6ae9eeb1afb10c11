"""Format registry. PLACEHOLDER: only the canonical Hermes format so far (issue 3 fills the family)."""

from __future__ import annotations

import json
import re
from typing import Any

from punie.toolcalls.result import ParseResult

FORMATS: tuple[str, ...] = ("hermes",)

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


def parse(text: str, tools: list[dict[str, Any]] | None = None, format: str | None = None) -> ParseResult:
    text = text or ""
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    for m in _BLOCK.finditer(text):
        try:
            obj = json.loads(m.group(1))
        except json.JSONDecodeError as exc:
            errors.append(f"invalid JSON in <tool_call>: {exc}")
            continue
        if isinstance(obj, dict) and "name" in obj:
            calls.append({"name": obj["name"], "arguments": obj.get("arguments") or {}})
    content = _BLOCK.sub("", text).strip()
    return ParseResult(calls=calls, content=content, format="hermes" if calls else "none", errors=errors)
