"""One small interface over every way punie generates text (in-process or an HTTP server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# Rows per in-process generate step (eval, demo, sweep, in-training evals): decode steps at a few rows
# leave the CPU idle, and 48 rows of the tool prompt still fit in memory on a laptop.
DEFAULT_BATCH_SIZE = 48


class InvalidRequest(ValueError):
    """A request a backend refuses before generating (an HTTP 400 in ``punie serve``)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass
class GenerationRequest:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None  # None → the 7 default tools; [] → no tools
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 → greedy
    top_p: float = 1.0
    stop: list[str] | None = None  # extra stop strings (end-of-turn always stops)
    seed: int | None = None
    # Constrained tool-call decoding (in-process backend): None → unconstrained; "auto" (a started
    # call must be an offered tool with schema-valid arguments), "none" (no call), "required" (a call
    # from the first token), or {"type": "function", "function": {"name": ...}} (exactly that call).
    # HTTP backends pass it on to the server as OpenAI's tool_choice.
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool = True  # False: at most one call block


@dataclass
class Generation:
    text: str  # raw assistant text; for HTTP servers: content + structured calls rendered canonically
    finish_reason: str = "stop"  # "stop" | "length"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: list[dict[str, Any]] | None = None  # structured calls returned by an HTTP server
    extra: dict[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[int], None]  # called with the number of requests just finished


@runtime_checkable
class Backend(Protocol):
    """``generate`` keeps the order of ``requests``; ``stream`` yields text deltas of one request."""

    name: str

    def generate(
        self, requests: Sequence[GenerationRequest], *, progress: ProgressFn | None = None
    ) -> list[Generation]: ...

    def stream(self, request: GenerationRequest) -> Iterator[str]: ...
