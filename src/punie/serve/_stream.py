"""Splitting a stream of model text into content deltas that are safe to send at once.

Text that could still turn out to be tool-call markup (``<tool_call>`` or another format's opening,
or a reply that starts like bare JSON) is held back; at the end the whole text goes through the
same parser as a non-streamed reply, and the calls are sent complete. Content sent early is always
a prefix of the final parsed content, so a client that concatenates the deltas gets exactly what a
non-streaming request returns.
"""

from __future__ import annotations

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
