"""Shared-prefix loss: exact, and several times faster than the naive full-sequence loop.

Every conversation starts with the same ~480-token system turn (the tool block). Per micro-batch we
run that prefix once (batch 1, ``use_cache=True``; LoRA layers sit inside it, so gradients flow
through it), expand each layer's cached keys/values to the batch, run the right-padded suffixes with
positions continuing after the prefix and a mask covering prefix + suffix, and apply ``lm_head``
only at positions whose next token is supervised. Same loss and gradients as the naive loop
(tested to 1e-4 relative), since attention of suffix tokens to the prefix is unchanged and the
expanded cache sums the per-row gradients back into the one prefix computation.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from punie.models.prompt import IGNORE_INDEX
from punie.train.data import Batch


def causal_lm(model: Any) -> Any:
    """The ``*ForCausalLM`` module inside a PEFT / DDP wrapper."""
    while hasattr(model, "module") and not hasattr(model, "get_output_embeddings"):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


@lru_cache(maxsize=16)
def _cache_kwarg(cls: type) -> str:
    # transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name is deprecated)
    params = inspect.signature(cls.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _out_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _layer_kv(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if hasattr(cache, "layers"):  # transformers >= 4.56 Cache with layer objects
        return [(layer.keys, layer.values) for layer in cache.layers]
    return [(cache.key_cache[i], cache.value_cache[i]) for i in range(len(cache.key_cache))]


def expand_cache(cache: Any, batch: int, config: Any) -> Any:
    """A new DynamicCache holding the batch-1 prefix cache expanded to ``batch`` rows (autograd-safe)."""
    from transformers import DynamicCache

    data = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in _layer_kv(cache)]
    try:
        return DynamicCache(data, config=config)
    except TypeError:  # older signature without config
        return DynamicCache(data)


def batch_tensors(batch: Batch, device: Any) -> dict[str, torch.Tensor]:
    b = len(batch.suffix_ids)
    s = max(len(x) for x in batch.suffix_ids)
    ids = torch.zeros((b, s), dtype=torch.long)
    labels = torch.full((b, s), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((b, s), dtype=torch.long)
    for i, (x, y) in enumerate(zip(batch.suffix_ids, batch.suffix_labels, strict=True)):
        ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y)] = torch.tensor(y)
        mask[i, : len(x)] = 1
    out = {
        "prefix_ids": torch.tensor([batch.prefix_ids], dtype=torch.long, device=device),
        "suffix_ids": ids.to(device),
        "suffix_labels": labels.to(device),
        "suffix_mask": mask.to(device),
    }
    if batch.suffix_weights is not None:
        out["suffix_weights"] = _pad_weights(batch.suffix_weights, s).to(device)
    return out


def _pad_weights(rows: list[list[float]], width: int) -> torch.Tensor:
    w = torch.ones((len(rows), width), dtype=torch.float32)
    for i, row in enumerate(rows):
        w[i, : len(row)] = torch.tensor(row, dtype=torch.float32)
    return w


def _token_ce(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return nn.functional.cross_entropy(logits, labels, reduction="sum")
    return (nn.functional.cross_entropy(logits, labels, reduction="none") * weights).sum()


def shared_prefix_loss(
    model: Any, prefix_ids: torch.Tensor, suffix_ids: torch.Tensor, suffix_labels: torch.Tensor,
    suffix_mask: torch.Tensor, suffix_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum of token cross-entropies over the supervised suffix tokens (divide by the token count),
    each weighted by ``suffix_weights`` when given (divide by the weights' sum, ``Batch.n_tokens``)."""
    lm = causal_lm(model)
    decoder = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.model
    head = lm.get_output_embeddings()
    kw = _cache_kwarg(type(decoder))
    b, s = suffix_ids.shape
    p = prefix_ids.shape[1]

    pre = decoder(input_ids=prefix_ids, use_cache=True)
    cache = expand_cache(_out_cache(pre), b, lm.config)
    positions = torch.arange(p, p + s, device=suffix_ids.device).unsqueeze(0).expand(b, -1)
    mask = torch.cat([torch.ones((b, p), dtype=suffix_mask.dtype, device=suffix_mask.device), suffix_mask], dim=1)
    suf = decoder(input_ids=suffix_ids, attention_mask=mask, position_ids=positions, use_cache=True, **{kw: cache})

    # hidden state that predicts suffix token j: the prefix's last one for j = 0, else suffix j-1
    hidden = torch.cat([pre.last_hidden_state[:, -1:].expand(b, 1, -1), suf.last_hidden_state[:, :-1]], dim=1)
    sel = suffix_labels != IGNORE_INDEX
    logits = head(hidden[sel]).float()
    return _token_ce(logits, suffix_labels[sel], None if suffix_weights is None else suffix_weights[sel])


def naive_loss(model: Any, batch: Batch) -> torch.Tensor:
    """Reference: full sequences (prefix repeated per row), right-padded, logits everywhere. Sum of CE."""
    lm = causal_lm(model)
    device = next(lm.parameters()).device
    seqs = [batch.prefix_ids + s for s in batch.suffix_ids]
    labs = [[IGNORE_INDEX] * len(batch.prefix_ids) + y for y in batch.suffix_labels]
    n = max(len(x) for x in seqs)
    weights = None
    if batch.suffix_weights is not None:
        weights = _pad_weights([[1.0] * len(batch.prefix_ids) + w for w in batch.suffix_weights], n)[:, 1:].reshape(-1)
    ids = torch.zeros((len(seqs), n), dtype=torch.long)
    labels = torch.full((len(seqs), n), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, (x, y) in enumerate(zip(seqs, labs, strict=True)):
        ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y)] = torch.tensor(y)
        mask[i, : len(x)] = 1
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1).to(device)
    sel = shift_labels != IGNORE_INDEX
    return _token_ce(shift_logits[sel], shift_labels[sel], None if weights is None else weights.to(device)[sel])


class PrefixLoss(nn.Module):
    """Wraps the model so DDP sees one forward per micro-batch (gradient sync hooks fire)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(  # type: ignore[no-untyped-def]
        self, prefix_ids, suffix_ids, suffix_labels, suffix_mask, suffix_weights=None
    ):
        return shared_prefix_loss(self.model, prefix_ids, suffix_ids, suffix_labels, suffix_mask, suffix_weights)
