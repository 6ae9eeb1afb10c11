"""The prompt-lookup decode strategy: one greedy row, speculating with drafts from ``_lookup``.

Each forward over the cascade KV store holds the last token plus a draft: the tokens the row's
grammar forces next (jump-forward, ``_decoding.forced_tokens``), then a guess copied from the prompt;
the greedy argmax at every position checks the draft: its longest matching prefix is kept plus the
model's next token, and the rejected tokens' KV is dropped by rewinding the slot's fill pointer. Tokens are emitted and
checked for stops one by one, so the output is the plain greedy output, cut where it stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from punie.backends import _cascade, _constrain, _lookup
from punie.backends._decoding import DecodeContext, Row, Step, advance, check_draft, forced_tokens, next_tokens
from punie.models.compat import cache_kwargs


def verify_constrained(logits: Any, draft: list[int], c: _constrain.RowConstraint) -> list[int]:
    """Greedy picks along a draft under the row's grammar: position i is masked for the state after
    draft[:i]; stops after the first pick that differs from the draft (as the free check does)."""
    return check_draft(logits, draft, c)


class LookupDecoder:
    """``decode`` takes exactly one greedy row."""

    def __init__(self, ctx: DecodeContext) -> None:
        self.ctx = ctx

    def decode(self, rows: list[Row], finish: dict[int, str]) -> Iterator[Step]:
        import torch

        (row,) = rows
        ctx = self.ctx
        base = _cascade.base_causal_lm(ctx.model)
        decoder, head = base.get_decoder(), base.get_output_embeddings()
        device = ctx.model.device
        req = row.request
        budget = max(1, req.max_new_tokens)
        kv = _cascade.CascadeKV(ctx.prefix_kv(row.prefix), 1, len(row.suffix) + budget)
        drafter = _lookup.Drafter([*row.prefix, *row.suffix], ctx.lookup)
        produced: list[int] = []

        def forward(ids: list[int], positions: Any) -> Any:
            out = decoder(input_ids=torch.tensor([ids], device=device), position_ids=positions, use_cache=True,
                          punie_kv=kv, **cache_kwargs(decoder, kv))
            return out.last_hidden_state[0]

        with torch.inference_mode(), _cascade.scoped(ctx.model):
            feed = list(row.suffix)  # settled tokens not in the KV yet: the prompt's suffix, then the last pick
            first = True
            while True:
                left = budget - len(produced) - 1
                # jump-forward: grammar-forced tokens lead the draft; prompt-lookup guesses what follows them
                forced = forced_tokens(ctx, row, left)
                guess = [] if first else drafter.draft(left - len(forced), forced) if forced else drafter.draft(left)
                draft = forced + guess
                start = int(kv.fill[0])
                if first:
                    positions = kv.begin_prefill([0], [len(feed) + len(draft)])
                else:
                    positions = kv.begin_extend(0, len(feed) + len(draft))
                hidden = forward([*feed, *draft], positions)[len(feed) - 1 :]
                ctx.stats.forwards += 1
                trusted = len(forced) if ctx.jump == "force" else 0
                if row.constraint is None:
                    picks = next_tokens(ctx, head, hidden, req, None).tolist()
                else:
                    picks = check_draft(head(hidden), draft, row.constraint, trusted)
                accepted = 0
                while accepted < len(draft) and accepted < len(picks) and draft[accepted] == picks[accepted]:
                    accepted += 1
                ctx.stats.jumped(len(forced), min(accepted, len(forced)))
                kv.rewind(0, start + len(feed) + accepted)
                new = picks[: accepted + 1]
                yield self._emit(row, new, produced, finish)
                if finish:
                    return
                drafter.update(new)
                feed, first = [new[-1]], False

    def _emit(self, row: Row, new: list[int], produced: list[int], finish: dict[int, str]) -> Step:
        """The accepted tokens one by one, up to the first that ends the row."""
        emitted: Step = []
        for tok in new:
            produced.append(tok)
            advance(row, tok)
            emitted.append((0, tok))
            why = self.ctx.finished(produced, row)
            if why:
                finish[0] = why
                break
        return emitted
