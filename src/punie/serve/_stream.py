"""Splitting a stream of model text into content deltas that are safe to send at once.

Text that could still turn out to be tool-call markup (``<tool_call>`` or another format's opening,
or a reply that starts like bare JSON) is held back; at the end the whole text goes through the
same parser as a non-streamed reply, and the calls are sent complete. Content sent early is always
a prefix of the final parsed content, so a client that concatenates the deltas gets exactly what a
non-streaming request returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=1)
def call_markers() -> tuple[str, ...]:
    """Openings of call markup in every registered format, plus "{" (a JSON call can start mid-text).

    Generic triggers ('(' for pythonic, '"name"' inside JSON) are left out: '(' is everywhere in prose
    and code, and '"name"' only occurs after a '{' that is already held.
    """
    from punie.toolcalls.registry import FORMATS, get_format
    from punie.toolcalls.stream import markers

    found = {"<tool_call>", "{"}
    for name in FORMATS:
        for t in getattr(get_format(name), "TRIGGERS", ()):
            if t.startswith(("<", "[", "`", "functools")):
                found.add(t)
    # the incremental parser's list adds the openings that are not triggers (section starts,
    # harmony headers, ">>>", "Action:"), so no format's markup leaks out as content
    found.update(markers())
    return tuple(sorted(found))


# A reply whose first character is one of these may be a bare JSON or pythonic call list: hold it all.
JSON_OPENERS = ("{", "[")


class StreamSplitter:
    def __init__(self, *, watch_calls: bool, stop: list[str] | None = None) -> None:
        self.watch_calls = watch_calls
        self.stop = [s for s in stop or [] if s]
        self.markers = call_markers() if watch_calls else ()
        self.text = ""  # everything received (cut at a stop string)
        self.sent = 0  # text[start:sent] has been sent as content
        self.start: int | None = None  # index of the first non-space character
        self.held = False  # markup (or possible JSON) seen: send nothing more until the end
        self.stopped = False

    @property
    def sent_text(self) -> str:
        return "" if self.start is None else self.text[self.start : self.sent]

    def feed(self, delta: str) -> str:
        """Add a delta; return the content that is safe to send now ('' if none)."""
        if self.stopped:
            return ""
        self.text += delta
        for s in self.stop:
            i = self.text.find(s)
            if i >= 0:
                self.text = self.text[:i]
                self.stopped = True
        if self.start is None:
            # with calls watched, the parser strips the content, so leading space is never sent
            stripped = self.text.lstrip() if self.watch_calls else self.text
            if not stripped:
                return ""
            self.start = self.sent = len(self.text) - len(stripped)
            if self.watch_calls and stripped[0] in JSON_OPENERS:
                self.held = True
        if self.held:
            return ""
        limit = len(self.text)
        for m in self.markers:
            i = self.text.find(m, self.sent)
            if i >= 0:
                self.held = True
                limit = min(limit, i)
        if not self.held:
            limit = len(self.text) - self._partial_tail(self.text)
        safe = self.text[self.sent : limit]
        if self.watch_calls:
            safe = safe.rstrip()  # trailing space waits: it may precede markup (and is stripped then)
        self.sent += len(safe)
        return safe

    def _partial_tail(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that could begin a marker or a stop string."""
        best = 0
        for w in (*self.markers, *self.stop):
            for k in range(min(len(w) - 1, len(text)), best, -1):
                if text.endswith(w[:k]):
                    best = k
                    break
        return best

    def finish(self, final_content: str | None) -> str:
        """The rest of the parsed content that was not sent yet ('' if it diverges from what was sent)."""
        final = final_content or ""
        sent = self.sent_text
        return final[len(sent) :] if final.startswith(sent) else ""


class StopCutter:
    """Cuts a stream of text at the first stop string; a suffix that may begin one is held back."""

    def __init__(self, stop: list[str] | None) -> None:
        self.stop = [s for s in stop or [] if s]
        self.text = ""  # everything passed on (cut at a stop string)
        self.buf = ""  # received, not passed on yet
        self.stopped = False

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        self.buf += delta
        cuts = [i for s in self.stop if (i := self.buf.find(s)) >= 0]
        if cuts:
            out, self.buf, self.stopped = self.buf[: min(cuts)], "", True
        else:
            keep = max((k for s in self.stop for k in range(1, len(s)) if self.buf.endswith(s[:k])), default=0)
            out, self.buf = self.buf[: len(self.buf) - keep], self.buf[len(self.buf) - keep :]
        self.text += out
        return out

    def flush(self) -> str:
        """The held-back tail, at the end of the stream (it began no stop string after all)."""
        out, self.buf = self.buf, ""
        self.text += out
        return out


class ToolCallChunks:
    """The incremental parser's events → OpenAI ``delta`` objects: ``content`` pieces, and per call a
    first ``tool_calls`` entry with ``index``, ``id``, ``type`` and ``function.name`` (arguments ""),
    then ``function.arguments`` fragments as the model writes them. Calls to tools that were not
    offered, and calls after the first when ``parallel_tool_calls`` is false, are not sent (the final
    reply drops them too)."""

    def __init__(self, offered: set[str], parallel: bool) -> None:
        self.offered = offered
        self.parallel = parallel
        self.index: dict[int, int] = {}  # parser's call index → OpenAI index, for calls sent
        self.open: set[int] = set()  # OpenAI indices started and not ended
        self.ended: list[dict[str, object]] = []  # calls sent and ended
        self.dropped: list[int] = []  # OpenAI indices started, then not calls after all

    def deltas(self, events: Sequence[object]) -> list[dict[str, object]]:
        from punie.serve._wire import new_id
        from punie.toolcalls.stream import ArgumentsDelta, CallDropped, CallEnd, CallStart, Content

        out: list[dict[str, object]] = []
        for e in events:
            if isinstance(e, Content):
                if e.text:
                    out.append({"content": e.text})
            elif isinstance(e, CallStart):
                if e.name in self.offered and (self.parallel or not (self.ended or self.open)):
                    i = self.index[e.index] = len(self.index)
                    self.open.add(i)
                    fn = {"name": e.name, "arguments": ""}
                    out.append({"tool_calls": [{"index": i, "id": new_id("call_"), "type": "function", "function": fn}]})
            elif isinstance(e, ArgumentsDelta):
                if e.index in self.index and e.text:
                    out.append({"tool_calls": [{"index": self.index[e.index], "function": {"arguments": e.text}}]})
            elif isinstance(e, CallEnd):
                if e.index in self.index:
                    self.open.discard(self.index[e.index])
                    self.ended.append(e.call)
            elif isinstance(e, CallDropped) and e.index in self.index:
                self.open.discard(self.index[e.index])
                self.dropped.append(self.index[e.index])
        return out
