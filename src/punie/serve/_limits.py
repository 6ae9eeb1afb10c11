"""``ServeLimits``: the one place the server's request limits and their defaults live."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServeLimits:
    """Request limits; a request over one gets a 4xx error, never a silently shortened answer."""

    max_body_bytes: int = 1_000_000
    max_tokens_limit: int = 2048
    default_max_tokens: int = 512
    max_queue: int = 1024  # waiting requests before 503
    max_batch: int = 8  # requests per backend.generate call (--batch-size)
    max_json_depth: int = 64  # nesting of the request body (400 deeper)
    max_tools: int = 128  # tools per request (400 above; OpenAI's own limit)


DEFAULT_LIMITS = ServeLimits()
