"""gpt-oss harmony: ``<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}<|call|>``.

Also read: the recipient in the role header (``<|start|>assistant to=functions.NAME<|channel|>commentary
json<|message|>{...}``), a missing ``<|call|>`` (it is a stop token servers strip), and the variant
with the special tokens stripped (``commentary to=functions.NAME json{...}``). Analysis-channel
messages are reasoning and are removed before parsing (registry). The framing of final/commentary
messages is cut from the content.
"""

from __future__ import annotations

import re
from typing import Any

from punie.toolcalls.formats._common import calls_from_values, finish, read_json_values, skip_ws
from punie.toolcalls.result import ParseResult

NAME = "harmony"
TRIGGERS = ("to=functions.", "<|channel|>")
GENERIC = False
CALL_END = "<|call|>"

_CALL = re.compile(
    r"(?P<pre>(?:<\|start\|>\s*)?(?:assistant\s*)?(?:<\|channel\|>\s*)?commentary\s+|<\|start\|>\s*assistant\s+)?"
    r"to=functions\.(?P<name>[A-Za-z_][\w.\-]*)"
    r"(?P<post>(?:\s*<\|channel\|>\s*commentary)?\s*(?:<\|constrain\|>\s*)?(?:json)?\s*(?:<\|message\|>)?)"
)
_FRAMING = re.compile(
    r"(?:<\|start\|>\s*assistant\s*)?<\|channel\|>\s*(?:final|commentary)\s*<\|message\|>|<\|(?:end|return|call)\|>"
)


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if "to=functions." not in text and "<|channel|>" not in text:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    for m in _CALL.finditer(text):
        if not m.group("pre") and "<|" not in m.group("post"):
            continue  # "to=functions.x" in prose: no harmony header around it
        body = skip_ws(text, m.end())
        if not text.startswith(("{", "["), body):
            if body >= len(text):
                errors.append(f"call to {m.group('name')!r} at offset {m.start()} has no arguments (truncated)")
                spans.append((m.start(), len(text)))
            continue
        values, after, errs, rep = read_json_values(text, body, seps="", max_values=1)
        repaired |= rep
        errors.extend(errs)
        if values:
            got, bad = calls_from_values([{"name": m.group("name"), "arguments": values[0]}], tools, tagged=True)
            calls.extend(got)
            errors.extend(bad)
        stop = skip_ws(text, after)
        stop = stop + len(CALL_END) if text.startswith(CALL_END, stop) else after
        spans.append((m.start(), stop))
    spans += [f.span() for f in _FRAMING.finditer(text)]
    if not spans:
        return None
    return finish(NAME, text, calls, spans, errors, repaired)
