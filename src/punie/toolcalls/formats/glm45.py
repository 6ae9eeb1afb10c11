"""GLM-4.5/4.6: ``<tool_call>NAME<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>``.

Values are text (non-strings JSON-encoded by the template); with tools given they are coerced to the
schema's types. A block without ``</tool_call>`` is truncated and never a call.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import coerce, finish, param_schemas
from punie.toolcalls.result import ParseResult

NAME = "glm45"
START = "<tool_call>"
END = "</tool_call>"
TRIGGERS = (START,)
GENERIC = False

_BLOCK = re.compile(r"<tool_call>\s*([A-Za-z_][\w.\-]*)\s*(?=<arg_key>|</tool_call>|\Z)")
_ARG = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.S)


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if START not in text:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = _BLOCK.search(text, pos)
        if m is None:
            break
        name = m.group(1)
        close = text.find(END, m.end())
        if close < 0:
            errors.append(f"<tool_call>{name} at offset {m.start()} has no </tool_call> (truncated)")
            spans.append((m.start(), len(text)))
            break
        schemas = param_schemas(tools, name)
        pairs = _ARG.findall(text, m.end(), close)
        if len(pairs) != text.count("<arg_key>", m.end(), close):
            errors.append(f"<tool_call>{name} at offset {m.start()} has an <arg_key> without its <arg_value>")
        else:
            args = {k.strip(): coerce(v, schemas.get(k.strip())) for k, v in pairs}
            calls.append({"name": name, "arguments": args})
        spans.append((m.start(), close + len(END)))
        pos = close + len(END)
    if not spans:
        return None
    return finish(NAME, text, calls, spans, errors)
