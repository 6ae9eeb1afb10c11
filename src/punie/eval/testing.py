"""A fake Backend returning canned replies, for tests of eval (and of anything that takes a Backend)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from punie.backends.base import Generation, GenerationRequest
from punie.toolcalls import render_calls


def conversation_key(messages: list[dict[str, Any]]) -> str:
    return json.dumps(messages, sort_keys=True, ensure_ascii=False)


class FakeBackend:
    """Replies from ``reply(request) -> str``, or from a dict keyed by the last user text or by
    ``conversation_key(messages)``; records every batch it was asked for in ``.calls``."""

    name = "fake"

    def __init__(self, reply: Callable[[GenerationRequest], str] | dict[str, str] | None = None,
                 finish_reason: str = "stop") -> None:
        self.reply = reply
        self.finish_reason = finish_reason
        self.calls: list[list[GenerationRequest]] = []

    def _text(self, request: GenerationRequest) -> str:
        if callable(self.reply):
            return self.reply(request)
        if isinstance(self.reply, dict):
            key = conversation_key(request.messages)
            if key in self.reply:
                return self.reply[key]
            user = next((m.get("content") for m in reversed(request.messages) if m["role"] == "user"), "")
            return self.reply.get(str(user), "")
        return ""

    def generate(self, requests: Sequence[GenerationRequest], *, progress: Any = None) -> list[Generation]:
        self.calls.append(list(requests))
        out = []
        for req in requests:
            text = self._text(req)
            out.append(Generation(text=text, finish_reason=self.finish_reason, completion_tokens=len(text) // 4))
            if progress:
                progress(1)
        return out

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        yield self._text(request)


def oracle(cases: list[dict[str, Any]], wrong: set[str] | frozenset[str] = frozenset()) -> FakeBackend:
    """A backend that answers every case with its expected calls (or prose when none are expected),
    except ids in ``wrong``, answered "I don't know."."""
    table = {}
    for case in cases:
        text = "I don't know." if case["id"] in wrong else render_calls(case.get("expected_calls") or []) or "Hello!"
        table[conversation_key(case["messages"])] = text
    return FakeBackend(table)
