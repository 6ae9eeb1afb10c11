"""Greedy next tokens from final hidden states without materialising one [rows, vocab] product.

Why: on CPU one big ``F.linear`` over a 49k-row vocab is slower than the same product in slices
of a few thousand vocab rows (cache-sized weight blocks); greedy decoding only needs each row's
argmax, which is combined across slices keeping the first maximum, as ``argmax`` does.
"""

from __future__ import annotations

from typing import Any


def plain_linear(head: Any) -> bool:
    """True when ``head`` is a bias-free ``nn.Linear`` (not a LoRA-wrapped or scaled head)."""
    import torch

    return type(head) is torch.nn.Linear and head.bias is None


def chunked_argmax(hidden: Any, weight: Any, chunk: int) -> Any:
    """``(hidden @ weight.T).argmax(-1)``, computed over ``chunk`` vocab rows at a time."""
    import torch
    import torch.nn.functional as F

    best_val: Any = None
    best_idx: Any = None
    for start in range(0, weight.shape[0], chunk):
        logits = F.linear(hidden, weight[start : start + chunk])
        idx = logits.argmax(dim=-1)
        val = logits.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        if best_val is None:
            best_val, best_idx = val, idx + start
            continue
        better = val > best_val  # strict: on ties the earlier vocab id wins, as in argmax
        best_val = torch.where(better, val, best_val)
        best_idx = torch.where(better, idx + start, best_idx)
    return best_idx
