"""The incremental parser: model text arrives in deltas, content and calls go out as soon as they are
certain, and the end result is exactly ``parse`` of the whole text, however the text was chunked.

    sp = StreamParser(tools)
    for delta in model_deltas:
        for event in sp.feed(delta):
            ...  # Content(text) | CallStart(index, name) | ArgumentsDelta(index, text) | CallEnd(index, call)
    for event in sp.finish():
        ...
    sp.result  # the ParseResult of the whole text

Rules. Content is sent up to the first place where call markup may begin (any format's opening,
a prefix of one at the end of the text, ``{``/``[`` or a name at the start of the reply, reasoning
tags); the rest waits for the end. A call is sent only once it is complete in a special-marker format
and text has come after its markup: its name first, then its arguments as JSON, then its end. Calls in generic shapes (bare JSON, fences, pythonic lists), whose meaning depends on what follows,
are sent at the end. At ``finish`` the whole text is parsed once more and whatever was not sent yet is
sent, so the concatenated content equals ``result.content`` and the calls equal ``result.calls``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from punie.toolcalls.result import ParseResult


@dataclass(frozen=True)
class Content:
    text: str


@dataclass(frozen=True)
class CallStart:
    index: int
    name: str


@dataclass(frozen=True)
class ArgumentsDelta:
    index: int
    text: str  # a piece of the arguments' JSON text; the pieces of one call concatenate to it


@dataclass(frozen=True)
class CallEnd:
    index: int
    call: dict[str, Any]  # {"name", "arguments"}: committed, never taken back


Event = Content | CallStart | ArgumentsDelta | CallEnd

# besides the formats' triggers: reasoning tags and the generic shapes' openings
_EXTRA_MARKERS = (
    "<think>", "</think>", "<|START_THINKING|>", "<|START_RESPONSE|>", "<|start|>", "<|python_start|>", "{", "```",
    "Action:",
    "commentary to=", ">>>",
)
_LEAD_NAME = re.compile(r"[A-Za-z_][\w.\-]*")
_GENERIC_OPENINGS = ("{", "[", "```", "Action:")


@lru_cache(maxsize=1)
def markers() -> tuple[str, ...]:
    from punie.toolcalls.registry import FORMATS, get_format

    found = set(_EXTRA_MARKERS)
    for name in FORMATS:
        mod = get_format(name)
        if not mod.GENERIC:
            found.update(mod.TRIGGERS)
            found.update(getattr(mod, a) for a in ("START", "SECTION_START") if isinstance(getattr(mod, a, None), str))
    found.discard('"parameters"')  # llama3_json's untagged form starts with "{", already held
    return tuple(sorted(found))


class StreamParser:
    def __init__(
        self, tools: list[dict[str, Any]] | None = None, *, validate: bool = False, reasoning: bool = False
    ) -> None:
        """``reasoning``: the prompt opened a think block, so the reply starts with reasoning that ends at
        ``</think>`` (nothing before it is content)."""
        self.tools = tools
        self.validate = validate
        self.reasoning = reasoning
        self.text = ""
        self.sent = ""  # content sent so far
        self.calls: list[dict[str, Any]] = []  # calls sent so far
        self.held = False  # markup may have begun: no more content until the end
        self.result: ParseResult | None = None

    # --- feeding ---

    def feed(self, delta: str) -> list[Event]:
        if self.result is not None:
            raise RuntimeError("StreamParser.feed after finish")
        self.text += delta
        events: list[Event] = []
        if not self.held:
            events += self._content()
        if self.held and delta:
            events += self._commit(self._stable_calls())
        return events

    def finish(self) -> list[Event]:
        """Parse the whole text; send what is left. ``self.result`` is ``parse(text)``."""
        from punie.toolcalls.registry import parse

        if self.result is not None:
            return []
        res = parse(self.text, self.tools, validate=self.validate)
        self.result = res
        events: list[Event] = []
        if res.content.startswith(self.sent) and res.content != self.sent:
            events.append(Content(res.content[len(self.sent) :]))
        if res.calls[: len(self.calls)] != self.calls:  # cannot happen by the rules above; be loud if it does
            raise AssertionError(f"streamed calls {self.calls} are not a prefix of the parsed calls {res.calls}")
        events += self._commit(res.calls)
        return events

    # --- content ---

    def _content(self) -> list[Event]:
        text = self.text
        if self.reasoning:
            end = text.find("</think>")
            if end < 0:
                return []
            text = text[end + len("</think>") :]
        text = text.lstrip()
        if not text:
            return []
        if self._may_lead_a_call(text):
            return []
        limit = len(text)
        for m in markers():
            i = text.find(m, len(self.sent))
            if 0 <= i < limit:
                limit = i
                self.held = True
        if not self.held:
            limit -= _partial_tail(text, markers())
        safe = text[:limit].rstrip()  # trailing space may precede markup (and is stripped then)
        if len(safe) <= len(self.sent):
            return []
        piece = safe[len(self.sent) :]
        self.sent = safe
        return [Content(piece)]

    def _may_lead_a_call(self, text: str) -> bool:
        """Whether the reply's start may still be a bare JSON or pythonic call, or a Functionary v3.2
        first header (``NAME\\n{`` / ``all\\n``) without its ``>>>``."""
        from punie.toolcalls.formats._common import tool_names

        if text[:1] in ("{", "["):
            return True
        m = _LEAD_NAME.match(text)
        if m is None:
            return False
        names = tool_names(self.tools) | {"all"}
        word, rest = m.group(), text[m.end() :]
        if not rest:
            return any(n.startswith(word) for n in names)
        return word in names and rest.lstrip(" \t")[:1] in ("(", "\n", "\r")

    # --- calls ---

    def _stable_calls(self) -> list[dict[str, Any]]:
        """Calls that no continuation of the text can change: complete ones in marker formats, when
        nothing outside their spans could still become a generic call before them."""
        from punie.toolcalls.registry import _parse, _validate, blank, strip_think

        text = strip_think(self.text)
        if self._may_lead_a_call(text.lstrip()):
            return []  # a leading bare/pythonic call would come first
        res = _parse(text, self.tools, None, generic=False)
        if not res.calls:
            return []
        if max(b for _, b in res.spans) >= len(text.rstrip()):
            return []  # the last span is still open: what follows may change what it holds
        outside = blank(text, res.spans)
        if any(o in outside for o in _GENERIC_OPENINGS) or self.text.count("</think>") > self.reasoning:
            return []  # a fence or bare JSON outside the markup may order before these calls
        if self.validate and self.tools is not None:
            _validate(res, self.tools)
        return res.calls

    def _commit(self, calls: list[dict[str, Any]]) -> list[Event]:
        events: list[Event] = []
        if calls[: len(self.calls)] != self.calls:
            return events
        for call in calls[len(self.calls) :]:
            i = len(self.calls)
            events.append(CallStart(i, call["name"]))
            events.append(ArgumentsDelta(i, json.dumps(call["arguments"], ensure_ascii=False)))
            events.append(CallEnd(i, call))
            self.calls.append(call)
        return events


def _partial_tail(text: str, words: tuple[str, ...]) -> int:
    """Length of the longest suffix of ``text`` that could begin one of ``words``."""
    best = 0
    for w in words:
        for k in range(min(len(w) - 1, len(text)), best, -1):
            if text.endswith(w[:k]):
                best = k
                break
    return best


def replay(
    chunks: list[str], tools: list[dict[str, Any]] | None = None, *, reasoning: bool = False
) -> tuple[str, list[dict[str, Any]], ParseResult]:
    """Feed ``chunks`` and collect the content and the calls the events carry (for tests and bench)."""
    sp = StreamParser(tools, reasoning=reasoning)
    events: list[Event] = []
    for c in chunks:
        events += sp.feed(c)
    events += sp.finish()
    content = "".join(e.text for e in events if isinstance(e, Content))
    calls: list[dict[str, Any]] = []
    args: dict[int, str] = {}
    names: dict[int, str] = {}
    for e in events:
        if isinstance(e, CallStart):
            names[e.index] = e.name
            args[e.index] = ""
        elif isinstance(e, ArgumentsDelta):
            args[e.index] += e.text
        elif isinstance(e, CallEnd):
            calls.append({"name": names[e.index], "arguments": json.loads(args[e.index])})
    assert sp.result is not None
    return content, calls, sp.result
