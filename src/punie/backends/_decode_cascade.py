"""The cascade decode strategy: rows in ``batch_size`` slots over one shared prefix KV (``_cascade``).

Rows enter in order; a finished row's slot is refilled with the next row (once at least
``refill_min`` slots are free, so prefills stay batched), and the new rows' suffixes go through the
model packed, at most ``prefill_tokens`` tokens per forward. Without rows left, the store is
compacted once enough slots are idle, so idle rows stop costing matmul rows. A step where rows bring
grammar-forced tokens (jump-forward) packs each live slot's last token and forced run in one forward
(``CascadeKV.begin_multi``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from punie.backends import _cascade
from punie.backends._decoding import (
    DecodeContext,
    Row,
    Step,
    advance,
    check_draft,
    forced_tokens,
    is_greedy,
    masks,
    next_tokens,
    sampler,
    state_after,
)
from punie.models.compat import cache_kwargs


class CascadeDecoder:
    def __init__(self, ctx: DecodeContext) -> None:
        self.ctx = ctx

    def decode(self, rows: list[Row], finish: dict[int, str]) -> Iterator[Step]:
        import torch

        run = _Run(self.ctx, rows, finish)
        with torch.inference_mode(), _cascade.scoped(self.ctx.model):
            while True:
                free = [s for s, k in enumerate(run.slot_row) if k is None]
                if run.pending and (len(free) >= run.refill_min or len(free) == len(run.slot_row)):
                    yield run.admit(free)
                    continue
                alive = [s for s, k in enumerate(run.slot_row) if k is not None]
                if not alive:
                    break
                yield run.step(alive)


class _Run:
    """One ``decode`` call's state: the KV store, which row each slot holds, what is still to come."""

    def __init__(self, ctx: DecodeContext, rows: list[Row], finish: dict[int, str]) -> None:
        import torch

        self.ctx, self.rows, self.finish = ctx, rows, finish
        base = _cascade.base_causal_lm(ctx.model)
        self.decoder, self.head = base.get_decoder(), base.get_output_embeddings()
        self.device = ctx.model.device
        self.kv = _cascade.CascadeKV(ctx.prefix_kv(rows[0].prefix), min(ctx.batch_size, len(rows)),
                                     max(len(r.suffix) + max(1, r.request.max_new_tokens) for r in rows))
        self.req = rows[0].request
        self.gen = sampler(self.req)
        self.slot_row: list[int | None] = [None] * len(self.kv.fill)
        self.produced: dict[int, list[int]] = {}
        self.pending = list(range(len(rows)))[::-1]  # pop() takes the next row
        self.next_tok = torch.full((len(self.slot_row),), ctx.pad_id, dtype=torch.long)
        self.refill_min = max(1, len(self.slot_row) // 8)
        self.budget = ctx.prefill_tokens or sum(len(r.suffix) for r in rows)

    def forward(self, ids: Any, positions: Any) -> Any:
        out = self.decoder(input_ids=ids.to(self.device), position_ids=positions, use_cache=True, punie_kv=self.kv,
                           **cache_kwargs(self.decoder, self.kv))
        return out.last_hidden_state

    def take(self, slots: list[int], hidden: Any) -> Step:
        """Pick tokens for ``slots`` from their last hidden states; record finishes, free slots."""
        live = [self.rows[self.slot_row[s]] for s in slots]  # type: ignore[index]
        toks = next_tokens(self.ctx, self.head, hidden, self.req, self.gen, masks(live))
        return self.record(slots, [[t] for t in toks.tolist()])

    def record(self, slots: list[int], new: list[list[int]]) -> Step:
        """Each slot's new tokens in order, up to one that ends its row (the slot is then freed)."""
        emitted: Step = []
        for slot, toks in zip(slots, new, strict=True):
            k = self.slot_row[slot]
            assert k is not None
            why = None
            for tok in toks:
                self.produced[k].append(tok)
                advance(self.rows[k], tok)
                emitted.append((k, tok))
                why = self.ctx.finished(self.produced[k], self.rows[k])
                if why:
                    break
            if why:
                self.finish[k] = why
                self.slot_row[slot] = None
            else:
                self.next_tok[slot] = toks[-1]
        return emitted

    def _chunk(self, free: list[int]) -> list[int]:
        """Move pending rows into ``free`` slots, at most ``budget`` suffix tokens (at least one row)."""
        chunk: list[int] = []
        tokens = 0
        while free and self.pending and (not chunk or tokens + len(self.rows[self.pending[-1]].suffix) <= self.budget):
            k = self.pending.pop()
            slot = free.pop(0)
            self.slot_row[slot], self.produced[k] = k, []
            chunk.append(slot)
            tokens += len(self.rows[k].suffix)
        return chunk

    def admit(self, free: list[int]) -> Step:
        """Fill the free slots with the next rows: packed prefills, then each new row's first token."""
        import torch

        hidden, admitted = [], []
        while free and self.pending:
            chunk = self._chunk(free)
            suffixes = [self.rows[self.slot_row[s]].suffix for s in chunk]  # type: ignore[index]
            positions = self.kv.begin_prefill(chunk, [len(x) for x in suffixes])
            ids = torch.tensor([[t for x in suffixes for t in x]])
            last = torch.cumsum(torch.tensor([len(x) for x in suffixes]), 0) - 1
            hidden.append(self.forward(ids, positions)[0, last.to(self.device)])
            self.ctx.stats.forwards += 1
            admitted += chunk
        return self.take(admitted, torch.cat(hidden))

    def step(self, alive: list[int]) -> Step:
        """One token for every live slot (compacting the store first when enough slots idle for good)."""
        import torch

        if not self.pending and len(alive) < len(self.slot_row) and len(self.slot_row) - len(alive) >= self.refill_min:
            self.kv.select(alive)
            self.slot_row = [self.slot_row[s] for s in alive]
            self.next_tok = self.next_tok[torch.tensor(alive)]
            alive = list(range(len(alive)))
        live = [self.rows[self.slot_row[s]] for s in alive]  # type: ignore[index]
        forced = [forced_tokens(self.ctx, r, max(1, r.request.max_new_tokens) - len(self.produced[r_k]) - 1)
                  for r, r_k in zip(live, [self.slot_row[s] for s in alive], strict=True)]
        self.ctx.stats.forwards += 1
        if any(forced):
            return self.jump(alive, live, forced)
        positions = self.kv.begin_step(alive)
        hidden = self.forward(self.next_tok.view(-1, 1), positions)[:, -1]
        if len(alive) < len(self.slot_row):
            hidden = hidden[torch.tensor(alive, device=self.device)]
        return self.take(alive, hidden)

    def jump(self, alive: list[int], live: list[Row], forced: list[list[int]]) -> Step:
        """A step where rows bring forced tokens (jump-forward): every live slot's last token and its
        forced run packed in one forward; greedy rows in verify mode keep the run up to where the
        model would have split the text otherwise (the slot's fill pointer drops the rest)."""
        import torch

        lens = [1 + len(f) for f in forced]
        before = [int(self.kv.fill[s]) for s in alive]
        positions = self.kv.begin_multi(alive, lens)
        ids = torch.tensor([[t for s, f in zip(alive, forced, strict=True) for t in (int(self.next_tok[s]), *f)]])
        hidden = self.forward(ids, positions)[0]
        ends = torch.cumsum(torch.tensor(lens), 0)
        stats = self.ctx.stats
        if is_greedy(self.req) and self.ctx.jump == "verify":
            new = []
            for i, (slot, r, f) in enumerate(zip(alive, live, forced, strict=True)):
                end = int(ends[i])
                picks = check_draft(self.head(hidden[end - lens[i] : end]), f, r.constraint)
                kept = len(picks) - 1
                stats.jumped(len(f), kept)
                self.kv.rewind(slot, before[i] + 1 + kept)
                new.append(picks)
            return self.record(alive, new)
        after = [state_after(r, f) for r, f in zip(live, forced, strict=True)]
        toks = next_tokens(self.ctx, self.head, hidden[(ends - 1).to(self.device)], self.req, self.gen,
                           after if any(a is not None for a in after) else None)
        for f in forced:
            stats.jumped(len(f), len(f))
        return self.record(alive, [[*f, t] for f, t in zip(forced, toks.tolist(), strict=True)])
