"""The prompt-lookup decode strategy: one greedy row, speculating with drafts from ``_lookup``.

Each forward over the cascade KV store holds the last token plus a draft; the greedy argmax at
every position checks the draft: its longest matching prefix is kept plus the model's next token,
and the rejected tokens' KV is dropped by rewinding the slot's fill pointer. Tokens are emitted and
checked for stops one by one, so the output is the plain greedy output, cut where it stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from punie.backends import _cascade, _constrain, _lookup
from punie.backends._decoding import DecodeContext, Row, Step, advance, masks, next_tokens
from punie.models.compat import cache_kwargs


def verify_constrained(logits: Any, draft: list[int], c: _constrain.RowConstraint) -> list[int]:
    """Greedy picks along a draft under the row's grammar: position i is masked for the state after
    draft[:i]; stops after the first pick that differs from the draft (as the free check does)."""
    state, picks = c.state, []
    for i in range(logits.shape[0]):
        m = c.grammar.mask(state)
        row = logits[i] if m is None else _constrain.apply_masks(logits[i : i + 1], [m])[0]
        p = int(row.argmax())
        picks.append(p)
        if i >= len(draft) or draft[i] != p:
            break
        state = c.peek(state, p)
    return picks


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
            hidden = forward(row.suffix, kv.begin_prefill([0], [len(row.suffix)]))[-1:]
            new = next_tokens(ctx, head, hidden, req, None, masks([row])).tolist()
            while True:
                yield self._emit(row, new, produced, finish)
                if finish:
                    return
                drafter.update(new)
                # the last new token is not in the KV yet: it leads the next forward, then the draft
                draft = drafter.draft(budget - len(produced) - 1)
                start = int(kv.fill[0])
                hidden = forward([new[-1], *draft], kv.begin_extend(0, 1 + len(draft)))
                if row.constraint is None:
                    picks = next_tokens(ctx, head, hidden, req, None).tolist()
                else:
                    picks = verify_constrained(head(hidden), draft, row.constraint)
                drafted, accepted = len(draft), 0
                while accepted < drafted and draft[accepted] == picks[accepted]:
                    accepted += 1
                kv.rewind(0, start + 1 + accepted)
                new = picks[: accepted + 1]

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
