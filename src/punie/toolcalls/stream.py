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
tags); the rest waits for the end. A call in a JSON-argument marker format (Hermes ``<tool_call>``,
Functionary v3.1, Kimi-K2, Mistral ``[ARGS]``) is streamed while it is written, once everything before
it is settled: ``CallStart`` as soon as its name is complete, then ``ArgumentsDelta`` pieces of its
arguments re-serialised as ``json.dumps`` writes them (only what no continuation can change), then
``CallEnd`` once the call is certain (complete, and text came after it or the text ended). Other calls
are sent whole when they are certain; calls in generic shapes (bare JSON, fences, pythonic lists),
whose meaning depends on what follows, at the end. At ``finish`` the whole text is parsed once more and
whatever was not sent yet is sent, so the concatenated content equals ``result.content`` and the calls
ended equal ``result.calls``, each with ``json.loads`` of its concatenated deltas equal to its
arguments. A call that was started but is not in the result (the text was cut inside it, or it turned
out not to be a call) gets ``CallDropped``; its index is never reused.
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


@dataclass(frozen=True)
class CallDropped:
    index: int  # a call started (name, maybe some arguments) that is not a call after all


Event = Content | CallStart | ArgumentsDelta | CallEnd | CallDropped

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
        self.slots = 0  # event indices handed out (a dropped call's index is never reused)
        self.open: _OpenCall | None = None  # the call being streamed, not ended yet
        self.scan_from = 0  # where in self.text the next call head may be

    # --- feeding ---

    def feed(self, delta: str) -> list[Event]:
        if self.result is not None:
            raise RuntimeError("StreamParser.feed after finish")
        self.text += delta
        events: list[Event] = []
        if not self.held:
            events += self._content()
        if self.held and delta:
            events += self._stream_open_call()
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
        if self.open is not None:  # started, but the text ended before it became a call
            events.append(CallDropped(self.open.slot))
            self.open = None
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
            o = self.open
            if o is not None and o.ordinal == len(self.calls):
                self.open = None
                rest = o.rest_of(call)
                if rest is not None:  # the call streamed is this call: send what is missing, end it
                    if rest:
                        events.append(ArgumentsDelta(o.slot, rest))
                    events.append(CallEnd(o.slot, call))
                    self.calls.append(call)
                    continue
                events.append(CallDropped(o.slot))
            i = self._slot()
            events.append(CallStart(i, call["name"]))
            events.append(ArgumentsDelta(i, json.dumps(call["arguments"], ensure_ascii=False)))
            events.append(CallEnd(i, call))
            self.calls.append(call)
        return events

    def _slot(self) -> int:
        self.slots += 1
        return self.slots - 1

    # --- the call being written ---

    def _stream_open_call(self) -> list[Event]:
        """Start the next call once its name is complete and everything before it is settled; send
        the part of its arguments that is certain."""
        from punie.toolcalls.registry import strip_think

        events: list[Event] = []
        text = self.text
        off = len(text) - len(strip_think(text))  # reasoning cut off the front (blanked parts keep offsets)
        o = self.open
        if o is not None:
            if o.off != off:
                o.frozen = True  # reasoning now ends later: what was read may not be a call
            if o.frozen or o.writer.failed:
                return events
            if not o.writer.done:
                piece = o.writer.feed(text)
                if piece:
                    events.append(ArgumentsDelta(o.slot, piece))
            if o.writer.done and o.end is None:
                o.end, possible = _tail_end(o.tail, text, o.writer.pos)
                if o.end is not None:
                    self.scan_from = o.end
                elif not possible:
                    o.frozen = True  # not this format's close: leave the call to the parser's verdict
            if o.end is None:
                return events
        while True:
            tail, m = _next_head(text, max(self.scan_from, off))
            if m is None:
                return events
            settled = self._settled(text[off : m.start()], text[off : m.end()])
            if settled is None:
                return events  # wait: something before the head may still change
            if len(settled) < len(self.calls):  # this head belongs to a call already sent
                self.scan_from = m.start() + 1
                continue
            events += self._commit(settled)
            if len(self.calls) != len(settled) or self.open is not None:
                return events
            writer = ArgsWriter(m.end())
            self.open = _OpenCall(self._slot(), len(self.calls), m.group(1), writer, tail, off)
            self.scan_from = m.end()
            events.append(CallStart(self.open.slot, m.group(1)))
            events += self._stream_open_call()
            return events

    def _settled(self, prefix: str, with_head: str) -> list[dict[str, Any]] | None:
        """The calls of ``prefix`` (the reply up to a call head) if no continuation can change them:
        complete marker-format calls, no errors, nothing outside them that may still become a call,
        and the same calls when the head follows (a format may read a call at the very end of a text
        that it does not read once text follows)."""
        from punie.toolcalls.registry import _parse, _validate, blank

        if self._may_lead_a_call(prefix.lstrip()) or self.text.count("</think>") > self.reasoning:
            return None
        res = _parse(prefix, self.tools, None, generic=False)
        if res.errors:
            return None
        outside = blank(prefix, res.spans)
        if any(o in outside for o in markers()) or any(o in outside for o in _GENERIC_OPENINGS):
            return None
        if _parse(with_head, self.tools, None, generic=False).calls != res.calls:
            return None
        if self.validate and self.tools is not None:
            _validate(res, self.tools)
        return res.calls


# --- streaming the arguments of a call while it is written ---

_NAME = r"([A-Za-z_][\w.\-]*)"
# (head, tail) per JSON-argument marker format: the head ends where the arguments object starts (its
# name complete); the tail's pieces (whitespace allowed between) close the call after the object
_HEADS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (
        re.compile(r'<tool_call>\s*\{\s*"name"\s*:\s*"' + _NAME + r'"\s*,\s*"(?:arguments|parameters)"\s*:\s*(?=\{)'),
        ("}", "</tool_call>"),
    ),
    (re.compile(r"<function=" + _NAME + r">\s*(?=\{)"), ("</function>",)),
    (
        re.compile(
            r"<\|tool_call_begin\|>\s*(?:functions\.)?" + _NAME + r"(?::\d+)?\s*<\|tool_call_argument_begin\|>\s*(?=\{)"
        ),
        ("<|tool_call_end|>",),
    ),
    (re.compile(r"\[TOOL_CALLS\]\s*" + _NAME + r"\s*\[ARGS\]\s*(?=\{)"), ()),
)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NUMBER_CHARS = re.compile(r"[-+0-9.eE]*")
_WORD = re.compile(r"[A-Za-z]*")
# JSON words, and the Python spellings the parser's repair accepts
_WORDS = {"true": "true", "false": "false", "null": "null", "True": "true", "False": "false", "None": "null"}
_STRING_STOP = {'"': re.compile(r'["\\]'), "'": re.compile(r"['\\]")}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_WS = re.compile(r"[ \t\r\n]*")


@dataclass
class _OpenCall:
    slot: int
    ordinal: int  # its place among the calls
    name: str
    writer: ArgsWriter
    tail: tuple[str, ...]
    off: int  # how much reasoning the text had in front when it started
    end: int | None = None  # where its markup ends, once seen
    frozen: bool = False  # stop sending: it may not be what the parser reads

    def rest_of(self, call: dict[str, Any]) -> str | None:
        """What completes the arguments sent so far into ``call``'s, or None if they cannot be."""
        if call["name"] != self.name:
            return None
        sent = self.writer.written
        if self.writer.done:
            try:
                same = json.loads(sent) == call["arguments"]
            except ValueError:
                same = False
            if same:
                return ""
        whole = json.dumps(call["arguments"], ensure_ascii=False)
        return whole[len(sent) :] if whole.startswith(sent) and not self.writer.done else None


def _next_head(text: str, pos: int) -> tuple[tuple[str, ...], re.Match[str] | None]:
    """The first call head at or after ``pos``, with its tail."""
    best: tuple[tuple[str, ...], re.Match[str] | None] = ((), None)
    for head, tail in _HEADS:
        m = head.search(text, pos)
        if m is not None and (best[1] is None or m.start() < best[1].start()):
            best = (tail, m)
    return best


def _tail_end(tail: tuple[str, ...], text: str, pos: int) -> tuple[int | None, bool]:
    """(end of ``tail`` read at ``pos``, or None; whether the text may still grow into it)."""
    i = pos
    for piece in tail:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]  # always matches
        if text.startswith(piece, i):
            i += len(piece)
        else:
            return None, piece.startswith(text[i:])
    return i, True


def _may_start_escape(s: str) -> bool:
    """Whether ``s`` (under 6 characters) can still grow into a ``\\uXXXX`` escape."""
    return "\\u".startswith(s[:2]) and all(c in "0123456789abcdefABCDEF" for c in s[2:])


def _esc(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)[1:-1]


class ArgsWriter:
    """Re-serialises the JSON object that starts at ``text[pos]`` as it arrives, the way ``json.dumps``
    writes it (``", "``, ``": "``, non-ASCII kept), holding back only what is not certain yet: a
    number or word until it ends, an escape until it is complete, a comma until the next item (a
    trailing comma is dropped, as the parser's repair does). Single-quoted strings and Python's
    True/False/None are read as the repair reads them, so ``json.loads`` of the output equals what the
    parser decodes. Anything else stops the writer (``failed``)."""

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.stack: list[str] = []  # "{" or "[" per open container
        self.expect = "value"  # value | key | colon | after (a ',' or the container's close)
        self.first = True  # no item yet in the innermost container
        self.comma = False  # a ',' was read: ", " goes out when the next item starts
        self.quote = ""  # inside a string opened by this quote
        self.is_key = False
        self.done = False
        self.failed = False
        self.written = ""

    def feed(self, text: str) -> str:
        """Read on in ``text`` (the whole text so far); return what can be written now."""
        out: list[str] = []
        try:
            self._read(text, out)
        except ValueError:
            self.failed = True
        piece = "".join(out)
        self.written += piece
        return piece

    def _item(self, out: list[str]) -> None:
        if self.comma:
            out.append(", ")
            self.comma = False

    def _read(self, text: str, out: list[str]) -> None:
        n = len(text)
        while not self.done and not self.failed and self.pos < n:
            if self.quote:
                if not self._string(text, out):
                    return
                continue
            c = text[self.pos]
            if c in " \t\r\n":
                self.pos += 1
            elif self.expect == "colon":
                if c != ":":
                    raise ValueError("expected ':'")
                out.append(": ")
                self.expect = "value"
                self.pos += 1
            elif self.expect == "after":
                if c == ",":
                    self.comma = True
                    self.expect = "key" if self.stack[-1] == "{" else "value"
                    self.pos += 1
                elif c in "}]":
                    self._close(c, out)
                else:
                    raise ValueError("expected ',' or a close")
            elif c in "}]" and (self.first or self.comma):  # empty container, or a trailing comma
                if not self.stack:
                    raise ValueError("close outside the object")
                self.comma = False
                self._close(c, out)
            elif self.expect == "key":
                if c not in "\"'":
                    raise ValueError("expected a key")
                self._item(out)
                out.append('"')
                self.quote, self.is_key = c, True
                self.pos += 1
            elif c in "\"'":
                self._item(out)
                out.append('"')
                self.quote, self.is_key = c, False
                self.pos += 1
            elif c in "{[":
                if not self.stack and c != "{":
                    raise ValueError("arguments are not an object")
                self._item(out)
                out.append(c)
                self.stack.append(c)
                self.first = True
                self.expect = "key" if c == "{" else "value"
                self.pos += 1
            elif not self.stack:
                raise ValueError("arguments are not an object")
            elif c in "-0123456789":
                m = _NUMBER_CHARS.match(text, self.pos)
                assert m is not None
                if m.end() >= n:
                    return  # the number may go on
                from punie.toolcalls.formats._common import _DECODER

                if not _NUMBER.fullmatch(m.group()):
                    raise ValueError("not a JSON number")
                value = _DECODER.decode(m.group())  # NonFinite (a ValueError) for 1e999
                self._item(out)
                out.append(json.dumps(value))
                self._value_done(m.end())
            elif c.isalpha():
                m = _WORD.match(text, self.pos)
                assert m is not None
                if m.end() >= n:
                    return
                if m.group() not in _WORDS:
                    raise ValueError(f"unknown word {m.group()!r}")
                self._item(out)
                out.append(_WORDS[m.group()])
                self._value_done(m.end())
            else:
                raise ValueError(f"unexpected {c!r}")

    def _value_done(self, pos: int) -> None:
        self.pos = pos
        self.first = False
        self.expect = "after"

    def _close(self, c: str, out: list[str]) -> None:
        if self.stack.pop() != ("{" if c == "}" else "["):
            raise ValueError("mismatched close")
        out.append(c)
        self.pos += 1
        self.first = False
        self.expect = "after"
        if not self.stack:
            self.done = True

    def _string(self, text: str, out: list[str]) -> bool:
        """Read on inside a string; False when it must wait for more text."""
        from punie.toolcalls.formats._common import _DECODER

        n = len(text)
        m = _STRING_STOP[self.quote].search(text, self.pos)
        j = n if m is None else m.start()
        if j > self.pos:
            out.append(_esc(text[self.pos : j]))
            self.pos = j
        if j >= n:
            return False
        if text[j] == self.quote:
            out.append('"')
            self.quote = ""
            self.pos = j + 1
            if self.is_key:
                self.expect = "colon"
            else:
                self.first = False
                self.expect = "after"
            return True
        # a backslash escape
        if j + 1 >= n:
            return False
        e = text[j + 1]
        if e == "u":
            if j + 6 > n:
                return False
            if not _HEX4.fullmatch(text, j + 2, j + 6):
                raise ValueError("bad \\u escape")
            end = j + 6
            if 0xD800 <= int(text[j + 2 : j + 6], 16) < 0xDC00:  # a high surrogate: its pair may follow
                pair = text[end : end + 6]
                if len(pair) < 6 and _may_start_escape(pair):
                    return False
                if text.startswith("\\u", end) and _HEX4.fullmatch(text, end + 2, end + 6):
                    end += 6
            out.append(_esc(_DECODER.decode('"' + text[j:end] + '"')))
            self.pos = end
        elif self.quote == "'" and e == "'":
            out.append("'")
            self.pos = j + 2
        else:
            if e not in '"\\/bfnrt':
                raise ValueError("bad escape")
            out.append(_esc(_DECODER.decode('"' + text[j : j + 2] + '"')))
            self.pos = j + 2
        return True


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
