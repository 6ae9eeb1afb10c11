"""Functionary v3.2: ``>>>NAME\\n{json}`` per call; ``>>>all\\n`` introduces plain text (content).

The ``>>>`` of the first message is often in the prompt, so a reply may begin with ``all\\n`` or
``NAME\\n{``; that first header counts when a later ``>>>`` shows the format, the output starts
with it and NAME is ``all`` or a tool.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws, tool_names
from punie.toolcalls.result import ParseResult

NAME = "functionary_v32"
START = ">>>"
TRIGGERS = (START,)
GENERIC = False

_HEAD = re.compile(r">>>[ \t]*([A-Za-z_][\w.\-]*)[ \t]*\r?\n?")
_FIRST = re.compile(r"[ \t]*([A-Za-z_][\w.\-]*)[ \t]*\r?\n")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if START not in text:
        return None
    heads = list(_HEAD.finditer(text))
    if not heads:
        return None
    first = _FIRST.match(text)
    if first and first.end() <= heads[0].start() and (
        first.group(1) == "all" or (first.group(1) in tool_names(tools) and text.startswith("{", first.end()))
    ):
        heads.insert(0, first)
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    for m in heads:
        name = m.group(1)
        if name == "all":
            spans.append(m.span())  # the header only: what follows is content
            continue
        body = skip_ws(text, m.end())
        if not text.startswith(("{", "["), body):
            continue  # ">>>" in prose, or python code for the code interpreter
        values, after, errs, rep = read_json_values(text, body, seps="", max_values=1)
        repaired |= rep
        errors.extend(errs)
        if values:
            got, bad = calls_from_values([{"name": name, "arguments": values[0]}], tools, tagged=True)
            calls.extend(got)
            errors.extend(bad)
        spans.append((m.start(), after))
    if not calls and not errors:
        return None
    return finish(NAME, text, calls, spans, errors, repaired)
