"""Functionary v3.1 (Llama-3.1 based): ``<function=NAME>{"arg": ...}</function>``.

The body is JSON (Qwen3-Coder's ``<function=NAME><parameter=…>`` XML is the qwen3_xml module's). A
missing ``</function>`` at the very end of the output is accepted when the JSON is complete.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "functionary_v31"
START = "<function="
END = "</function>"
TRIGGERS = (START,)
GENERIC = False

_HEAD = re.compile(r"<function=([A-Za-z_][\w.\-]*)>")


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if START not in text:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    pos = 0
    n = len(text)
    while True:
        m = _HEAD.search(text, pos)
        if m is None:
            break
        body = skip_ws(text, m.end())
        if not text.startswith(("{", "["), body):
            pos = m.end()
            continue
        values, after, errs, rep = read_json_values(text, body, seps="", max_values=1)
        repaired |= rep
        errors.extend(errs)
        got: list[dict[str, Any]] = []
        if values:
            got, bad = calls_from_values([{"name": m.group(1), "arguments": values[0]}], tools, tagged=True)
            errors.extend(bad)
        tail = skip_ws(text, after)
        if text.startswith(END, tail):
            stop = tail + len(END)
        elif tail >= n or END.startswith(text[tail:]):
            stop = n
        else:  # text after the JSON but no </function>: the call is complete, the tag was forgotten
            close = text.find(END, tail)
            stop = after if close < 0 else close + len(END)
        calls.extend(got)
        spans.append((m.start(), stop))
        pos = max(stop, m.end())
    if not spans:
        return None
    return finish(NAME, text, calls, spans, errors, repaired)
