"""The plain decode strategy: the prefix KV copied into every row, transformers' own attention.

Rows are left-padded *between* prefix and suffix (mask zeros), so every row's suffix ends at the
same column and the first decode step reads one position per row; finished rows are dropped from
the batch (cache, mask, positions) instead of being decoded as padding. A step where rows bring
grammar-forced tokens (jump-forward) is several columns wide, each row's tokens right-aligned after
mask zeros; forced tokens the model would have split otherwise (verify mode) are masked out after.
Used where the cascade path is off or not supported (accelerators by default, other architectures,
no prefix).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from punie.backends._decoding import (
    DecodeContext,
    Row,
    Step,
    advance,
    check_draft,
    forced_tokens,
    is_greedy,
    masks,
    pick,
    sampler,
    state_after,
)
from punie.backends._kvcache import batch_cache
from punie.models.compat import cache_kwargs, output_cache


@contextmanager
def _sdpa_gqa() -> Iterator[None]:
    """Let SDPA attend grouped KV heads directly (``enable_gqa``) instead of copying K/V per head.

    transformers only does this by itself on CUDA without a mask; on CPU the repeat_kv copies were
    ~40 % of a batched prefill here (measured: 48-row prefill 4.6 s → 2.6 s, decode step 0.53 → 0.40 s).
    """
    key = "TRANSFORMERS_SDPA_FORCE_GQA"
    old = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


class PlainDecoder:
    """Padded prefill of the suffixes over a per-row copy of the prefix KV, then one token per step."""

    def __init__(self, ctx: DecodeContext) -> None:
        self.ctx = ctx

    def decode(self, rows: list[Row], finish: dict[int, str]) -> Iterator[Step]:
        with _sdpa_gqa():
            yield from self._decode(rows, finish)

    def _inputs(self, rows: list[Row]) -> tuple[Any, Any, Any]:
        """Suffix ids, attention mask (prefix + suffix) and positions, padded between the two."""
        import torch

        plen = len(rows[0].prefix)
        n = len(rows)
        smax = max(len(r.suffix) for r in rows)
        ids = torch.full((n, smax), self.ctx.pad_id, dtype=torch.long)
        mask = torch.zeros((n, plen + smax), dtype=torch.long)
        mask[:, :plen] = 1
        pos = torch.zeros((n, smax), dtype=torch.long)
        for k, r in enumerate(rows):
            s = len(r.suffix)
            ids[k, smax - s :] = torch.tensor(r.suffix)
            mask[k, plen + smax - s :] = 1
            pos[k, smax - s :] = torch.arange(plen, plen + s)
        return ids, mask, pos

    def _cache(self, rows: list[Row]) -> Any:
        """The prefix KV repeated per row, with room for the suffix and the longest reply (None: no prefix)."""
        prefix = rows[0].prefix
        if not prefix:
            return None
        room = max(len(r.suffix) for r in rows) + max(max(1, r.request.max_new_tokens) for r in rows)
        return batch_cache(self.ctx.prefix_kv(prefix), len(rows), room)

    def _take(self, rows: list[Row], alive: list[int], new: list[list[int]], produced: dict[int, list[int]],
              finish: dict[int, str]) -> tuple[Step, list[int]]:
        """Record each live row's new tokens (in order, up to one that ends it); return the step and
        the positions in ``alive`` that go on."""
        emitted: Step = []
        keep = []
        for j, k in enumerate(alive):
            why = None
            for t in new[j]:
                produced[k].append(t)
                advance(rows[k], t)
                emitted.append((k, t))
                why = self.ctx.finished(produced[k], rows[k])
                if why:
                    break
            if why:
                finish[k] = why
            else:
                keep.append(j)
        return emitted, keep

    def _width(self, lengths: list[int], device: Any) -> int:
        """Tokens per row of a step whose rows bring ``lengths`` tokens (last pick + forced run).

        Rows are padded to one width. On CPU padding costs time in proportion, so with several rows
        the width is the largest one at which at least half the step's tokens are real (forced
        tokens past it wait for the next step); elsewhere padding is nearly free: the longest."""
        width = max(lengths)
        if getattr(device, "type", "cpu") == "cpu" and len(lengths) > 1:
            while width > 1 and len(lengths) * width > 2 * sum(min(n, width) for n in lengths):
                width -= 1
        return width

    def _decode(self, rows: list[Row], finish: dict[int, str]) -> Iterator[Step]:
        import torch

        model = self.ctx.model
        device = model.device
        ids, mask, pos = self._inputs(rows)
        cache = self._cache(rows)
        req = rows[0].request
        gen = sampler(req)
        greedy = is_greedy(req)
        alive = list(range(len(rows)))  # batch positions still decoding
        next_pos = pos[:, -1] + 1
        produced: dict[int, list[int]] = {k: [] for k in range(len(rows))}
        ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
        stats = self.ctx.stats
        with torch.inference_mode():
            out = model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                use_cache=True,
                logits_to_keep=1,  # only the last position's logits are needed to start decoding
                **cache_kwargs(model, cache),
            )
            stats.forwards += 1
            cache = output_cache(out)
            logits = out.logits[:, -1, :]
            new = [[int(t)] for t in pick(logits, req, gen, masks([rows[k] for k in alive]))]
            while alive:
                emitted, keep = self._take(rows, alive, new, produced, finish)
                yield emitted
                if not keep:
                    break
                last = torch.tensor([new[j][-1] for j in range(len(alive))], dtype=torch.long)
                if len(keep) < len(alive):
                    idx = torch.tensor(keep, device=device)
                    cache.batch_select_indices(idx)
                    mask = mask[idx]
                    last = last[idx.cpu()]
                    next_pos = next_pos[idx.cpu()]
                    alive = [alive[j] for j in keep]
                live = [rows[k] for k in alive]
                # jump-forward: each row's forced tokens ride along after its last pick
                left = [max(1, r.request.max_new_tokens) - len(produced[k]) - 1
                        for r, k in zip(live, alive, strict=True)]
                forced = [forced_tokens(self.ctx, r, n) for r, n in zip(live, left, strict=True)]
                if not any(forced):
                    mask = torch.cat([mask, torch.ones((len(alive), 1), dtype=mask.dtype, device=device)], dim=1)
                    out = model(
                        input_ids=last.view(-1, 1).to(device),
                        attention_mask=mask,
                        position_ids=next_pos.view(-1, 1).to(device),
                        use_cache=True,
                        **cache_kwargs(model, cache),
                    )
                    stats.forwards += 1
                    cache = output_cache(out)
                    new = [[int(t)] for t in pick(out.logits[:, -1, :], req, gen, masks(live))]
                    next_pos = next_pos + 1
                    continue
                width = self._width([1 + len(f) for f in forced], device)
                forced = [f[: width - 1] for f in forced]
                n = len(alive)
                step_ids = torch.full((n, width), self.ctx.pad_id, dtype=torch.long)
                step_mask = torch.zeros((n, width), dtype=mask.dtype)
                step_pos = next_pos.view(-1, 1).repeat(1, width).clone()
                for j, f in enumerate(forced):  # right-aligned: every row's last column is real
                    m = 1 + len(f)
                    step_ids[j, width - m :] = torch.tensor([int(last[j]), *f])
                    step_mask[j, width - m :] = 1
                    step_pos[j, width - m :] = next_pos[j] + torch.arange(m)
                mask = torch.cat([mask, step_mask.to(device)], dim=1)
                out = model(
                    input_ids=step_ids.to(device),
                    attention_mask=mask,
                    position_ids=step_pos.to(device),
                    use_cache=True,
                    **cache_kwargs(model, cache),
                )
                stats.forwards += 1
                cache = output_cache(out)
                if greedy and self.ctx.jump == "verify":
                    new = []
                    for j, (r, f) in enumerate(zip(live, forced, strict=True)):
                        m = 1 + len(f)
                        picks = check_draft(out.logits[j, width - m :], f, r.constraint)
                        kept = len(picks) - 1
                        stats.jumped(len(f), kept)
                        if kept < len(f):  # the model split the forced text otherwise: hide the rest
                            mask[j, mask.shape[1] - len(f) + kept :] = 0
                        new.append(picks)
                        next_pos[j] += 1 + kept
                else:  # forced tokens taken as they are; the next one picked after them
                    after = [state_after(r, f) for r, f in zip(live, forced, strict=True)]
                    toks = pick(out.logits[:, -1, :], req, gen, after if any(a is not None for a in after) else None)
                    new = [[*f, int(t)] for f, t in zip(forced, toks, strict=True)]
                    for f in forced:
                        stats.jumped(len(f), len(f))
                    next_pos = next_pos + 1 + torch.tensor([len(f) for f in forced])
