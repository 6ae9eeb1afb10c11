"""gpt-oss harmony: ``<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}<|call|>``.

Also read: the recipient in the role header (``<|start|>assistant to=functions.NAME<|channel|>commentary
json<|message|>{...}``), a missing ``<|call|>`` (it is a stop token servers strip), and the variant
with the special tokens stripped (``commentary to=functions.NAME json{...}``). Analysis-channel
messages are reasoning and are removed before parsing (registry). The framing of final/commentary
messages is cut from the content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
# "<|" written once in front, so the regex engine searches for it instead of trying every position
# (the same alternatives in the same order as "(?:<|start|>…)?<|channel|>…|<|(?:end|return|call)|>")
_FRAMING = re.compile(
    r"<\|(?:start\|>\s*assistant\s*<\|channel\|>\s*(?:final|commentary)\s*<\|message\|>"
    r"|channel\|>\s*(?:final|commentary)\s*<\|message\|>|(?:end|return|call)\|>)"
)
_RECIPIENT = "to=functions."
_PRE_TOKENS = ("commentary", "assistant", "<|channel|>", "<|start|>")  # what _CALL's "pre" is made of


def _calls(text: str) -> Iterator[re.Match[str]]:
    """``_CALL.finditer(text)``, each search started near the next ``to=functions.`` instead of at
    every position before it (the regex cannot skip ahead by itself: it opens with an optional group).

    A match holds the recipient, and what precedes it in the match ("pre") is whitespace and
    ``_PRE_TOKENS``; walking back from the recipient over those gives a position no later than the
    start of any match holding it, and no match can start earlier than that without holding an
    earlier recipient (there is none left: ``pos`` is past the last match)."""
    pos = 0
    while True:
        k = text.find(_RECIPIENT, pos)
        if k < 0:
            return
        lo = k
        while True:
            j = lo
            while j > pos and text[j - 1].isspace():
                j -= 1
            for tok in _PRE_TOKENS:
                if text.endswith(tok, pos, j):
                    lo = j - len(tok)
                    break
            else:
                break
        m = _CALL.search(text, lo)
        if m is None:
            return
        yield m
        pos = m.end()


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if "to=functions." not in text and "<|channel|>" not in text:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    repaired = False
    for m in _calls(text):
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
    if "<|" in text:
        spans += [f.span() for f in _FRAMING.finditer(text)]
    if not spans:
        return None
    return finish(NAME, text, calls, spans, errors, repaired)
