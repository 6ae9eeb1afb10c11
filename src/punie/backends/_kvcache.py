"""A KV cache for batched decoding that grows in place.

transformers' DynamicLayer concatenates the whole cache with each new token (``torch.cat`` per layer
per step), which at eval batch sizes copies ~1 GB per decode step for a 500-token context on
SmolLM2. These layers preallocate room for the generated tokens and write into it; ``keys`` /
``values`` are views of the filled part, so attention sees exactly the same tensors.
"""

from __future__ import annotations

import copy
from typing import Any


def _grow_layer_class() -> type | None:
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:  # older transformers: no per-layer cache objects
        return None

    class GrowLayer(DynamicLayer):  # type: ignore[misc, valid-type]
        def __init__(self, keys: Any, values: Any, capacity: int) -> None:
            super().__init__()
            b, h, n, d = keys.shape
            # both in the values' dtype, the model's compute dtype (under bf16 autocast the rotary
            # embedding promotes keys to fp32; attention casts them to bf16 anyway)
            self._k = values.new_empty((b, h, max(capacity, n), d))
            self._v = values.new_empty((b, values.shape[1], max(capacity, n), values.shape[-1]))
            self._k[:, :, :n] = keys
            self._v[:, :, :n] = values
            self._n = n
            self.device = keys.device
            self.is_initialized = True
            self._views()

        def _views(self) -> None:
            self.keys = self._k[:, :, : self._n]
            self.values = self._v[:, :, : self._n]

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:  # already initialised
            pass

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            import torch

            end = self._n + key_states.shape[-2]
            if end > self._k.shape[2]:
                cap = max(end, 2 * self._k.shape[2])
                self._k = torch.cat([self._k[:, :, : self._n],
                                     self._k.new_empty((*self._k.shape[:2], cap - self._n, self._k.shape[3]))], dim=2)
                self._v = torch.cat([self._v[:, :, : self._n],
                                     self._v.new_empty((*self._v.shape[:2], cap - self._n, self._v.shape[3]))], dim=2)
            self._k[:, :, self._n : end] = key_states.to(self._k.dtype)
            self._v[:, :, self._n : end] = value_states.to(self._v.dtype)
            self._n = end
            self._views()
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self._n

        def batch_select_indices(self, indices: Any) -> None:
            self._k = self._k[indices]
            self._v = self._v[indices]
            self._views()

        def batch_repeat_interleave(self, repeats: int) -> None:
            self._k = self._k.repeat_interleave(repeats, dim=0)
            self._v = self._v.repeat_interleave(repeats, dim=0)
            self._views()

        def crop(self, tokens_to_remove: int) -> None:
            if tokens_to_remove < 0:
                self._n = max(0, self._n + tokens_to_remove)
                self._views()

    return GrowLayer


_GROW = _grow_layer_class()


def batch_cache(prefix_cache: Any, batch: int, room: int) -> Any:
    """A cache holding ``prefix_cache`` repeated ``batch`` times, with ``room`` free slots per row."""
    layers = getattr(prefix_cache, "layers", None) or []
    plain = _GROW is not None and layers and all(type(layer).__name__ == "DynamicLayer" for layer in layers)
    if not plain or _GROW is None:  # sliding-window/quantised/legacy caches: copy and let transformers grow them
        cache = copy.deepcopy(prefix_cache)
        if batch > 1:
            cache.batch_repeat_interleave(batch)
        return cache
    cache = copy.copy(prefix_cache)
    new_layers = []
    for layer in layers:
        k = layer.keys.expand(batch, *layer.keys.shape[1:])
        v = layer.values.expand(batch, *layer.values.shape[1:])
        new_layers.append(_GROW(k, v, k.shape[2] + room))
    cache.layers = new_layers
    return cache
