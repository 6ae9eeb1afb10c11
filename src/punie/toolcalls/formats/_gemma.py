"""The ``call:NAME{key:value,…}`` syntax shared by FunctionGemma and Gemma 4.

Keys are bare; strings sit between a delimiter token (``<escape>`` or ``<|"|>``); other values are
numbers, ``true``/``false``/``null``, nested ``{…}`` objects in the same syntax, or ``[…]`` lists. A
bare value is decoded as JSON where it is JSON, else kept as text. Never completes a truncated call.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from punie.toolcalls.formats._common import finish
from punie.toolcalls.result import ParseResult

_CALL = re.compile(r"call:([A-Za-z_][\w.\-]*)\{")
_KEY = re.compile(r"\s*([^\s:{},\[\]]+)\s*:")


class _Bad(ValueError):
    pass


class _Reader:
    def __init__(self, text: str, pos: int, quote: str) -> None:
        self.text, self.pos, self.quote = text, pos, quote

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def need(self) -> str:
        if self.pos >= len(self.text):
            raise EOFError
        return self.text[self.pos]

    def obj(self) -> dict[str, Any]:  # at "{"
        self.pos += 1
        out: dict[str, Any] = {}
        while True:
            self.ws()
            if self.need() == "}":
                self.pos += 1
                return out
            m = _KEY.match(self.text, self.pos)
            if m is None:
                if self.text.find(":", self.pos) < 0 and self.text.find("}", self.pos) < 0:
                    raise EOFError
                raise _Bad(f"expected key: at offset {self.pos}")
            self.pos = m.end()
            out[m.group(1)] = self.value()
            self.ws()
            ch = self.need()
            if ch == ",":
                self.pos += 1
            elif ch != "}":
                raise _Bad(f"expected ',' or '}}' at offset {self.pos}")

    def arr(self) -> list[Any]:  # at "["
        self.pos += 1
        out: list[Any] = []
        while True:
            self.ws()
            if self.need() == "]":
                self.pos += 1
                return out
            out.append(self.value())
            self.ws()
            ch = self.need()
            if ch == ",":
                self.pos += 1
            elif ch != "]":
                raise _Bad(f"expected ',' or ']' at offset {self.pos}")

    def value(self) -> Any:
        self.ws()
        ch = self.need()
        if self.text.startswith(self.quote, self.pos):
            end = self.text.find(self.quote, self.pos + len(self.quote))
            if end < 0:
                raise EOFError
            s = self.text[self.pos + len(self.quote) : end]
            self.pos = end + len(self.quote)
            return s
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.arr()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",}]":
            if self.text.startswith(self.quote, self.pos):
                raise _Bad(f"string delimiter inside a bare value at offset {self.pos}")
            self.pos += 1
        if self.pos >= len(self.text):
            raise EOFError
        raw = self.text[start : self.pos].strip()
        if not raw:
            raise _Bad(f"empty value at offset {start}")
        try:
            v = json.loads(raw)
        except ValueError:
            return raw
        if isinstance(v, float) and not math.isfinite(v):
            raise _Bad(f"non-finite number {raw}")
        return v


def parse_calls(name: str, text: str, start: str, end: str, quote: str) -> ParseResult | None:
    at = text.find(start)
    if at < 0:
        return None
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    n = len(text)
    while at >= 0:
        close = text.find(end, at)
        m = _CALL.match(text, at + len(start))
        if m is None:
            errors.append(f"{start} at offset {at} is not followed by call:NAME{{…}}")
            stop = n if close < 0 else close + len(end)
        else:
            r = _Reader(text, m.end() - 1, quote)
            try:
                args = r.obj()
                calls.append({"name": m.group(1), "arguments": args})
                stop = r.pos
                if text.startswith(end, stop):
                    stop += len(end)
            except EOFError:
                errors.append(f"call:{m.group(1)} at offset {m.start()} is truncated")
                stop = n
            except (_Bad, RecursionError) as exc:
                errors.append(f"call:{m.group(1)} at offset {m.start()}: {exc}")
                stop = n if close < 0 else close + len(end)
        spans.append((at, stop))
        at = text.find(start, max(stop, at + 1))
    return finish(name, text, calls, spans, errors)
