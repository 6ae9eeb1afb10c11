"""Small shims over transformers versions (4.5x names the KV cache ``past_key_values``, 5.2x ``cache``)."""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=32)
def _cache_kw(cls: Any) -> str:  # a model class (Any: mypy wants it Hashable and with .forward)
    params = inspect.signature(cls.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """``{"cache": cache}`` or ``{"past_key_values": cache}``, whichever this model's forward takes."""
    base = model
    # PEFT wrappers forward **kwargs; ask the underlying transformers model
    while hasattr(base, "get_base_model") and base is not base.get_base_model():
        base = base.get_base_model()
    return {_cache_kw(type(base)): cache}  # type: ignore[arg-type]  # classes are hashable; the stub disagrees


def output_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)
