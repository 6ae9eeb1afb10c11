"""The interface every in-process decode strategy implements, and what the strategies share.

A strategy (``Decoder``) turns a batch of prepared rows (one shared prefix, one sampling setting)
into decode steps; the backend picks one per batch: ``_decode_plain`` (prefix KV copied into every
row, transformers attention), ``_decode_cascade`` (one shared prefix KV, packed prefills, refilled
slots) or ``_decode_lookup`` (one greedy row, prompt-lookup drafts). The backend keeps everything around
decoding: prompts, prefix cache, adapters, stop rules, results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from punie.backends import _constrain, _lmhead
from punie.backends.base import GenerationRequest

Step = list[tuple[int, int]]  # (row position in the batch, token id); a row may get several, in order


@dataclass
class Row:
    index: int
    request: GenerationRequest
    prefix: tuple[int, ...]
    suffix: list[int]
    prompt_tokens: int
    constraint: _constrain.RowConstraint | None = None  # tool_choice's token masks (None: free)


JUMP_MODES = ("verify", "force", "")


@dataclass
class DecodeStats:
    """Counters over a backend's decode calls (``InProcessBackend.decode_stats``).

    ``forwards``: model forwards of decode steps (prefills included); ``jump_tokens``: forced tokens
    that rode along in the forward of the token before them and were kept, i.e. forwards saved by
    jump-forward (without it each would have had its own step); ``jump_rejected``: forced tokens
    run through the model but replaced by the model's own split of the forced text (verify mode);
    ``jump_runs``: forwards that carried forced tokens.
    """

    forwards: int = 0
    jump_runs: int = 0
    jump_tokens: int = 0
    jump_rejected: int = 0

    def reset(self) -> None:
        self.forwards = self.jump_runs = self.jump_tokens = self.jump_rejected = 0

    def jumped(self, drafted: int, kept: int) -> None:
        if drafted:
            self.jump_runs += 1
            self.jump_tokens += kept
            self.jump_rejected += drafted - kept


@dataclass(frozen=True)
class DecodeContext:
    """What a strategy reads from the backend, taken when a batch starts."""

    model: Any
    pad_id: int
    prefix_kv: Callable[[tuple[int, ...]], Any]  # the (cached) KV of a prompt prefix
    finished: Callable[[list[int], Row], str | None]  # why a row stops after these tokens, or None
    batch_size: int = 1
    prefill_tokens: int | None = None
    lm_head_chunk: int = 0
    lookup: int = 0
    jump: str = ""  # jump-forward of grammar-forced tokens: "verify", "force" or "" (off)
    stats: DecodeStats = field(default_factory=DecodeStats)


class Decoder(Protocol):
    """Yield, per decode step, the tokens picked; fill ``finish`` (batch position → "stop" /
    "length") as rows end. Rows share their prefix and sampling settings."""

    def decode(self, rows: list[Row], finish: dict[int, str]) -> Iterator[Step]: ...


def is_greedy(req: GenerationRequest) -> bool:
    return not req.temperature or req.temperature <= 0


def sampler(req: GenerationRequest) -> Any:
    """The seeded generator of a sampled request (None when greedy)."""
    import torch

    if is_greedy(req):
        return None
    gen = torch.Generator(device="cpu")
    gen.manual_seed(req.seed if req.seed is not None else 0)
    return gen


def masks(rows: Sequence[Row]) -> list[Any] | None:
    """Each row's allowed-token mask (None for a free row), or None when no row is constrained."""
    if all(r.constraint is None for r in rows):
        return None
    return [None if r.constraint is None else r.constraint.mask() for r in rows]


def advance(row: Row, tok: int) -> None:
    if row.constraint is not None:
        row.constraint.advance(tok)


def pick(logits: Any, req: GenerationRequest, gen: Any, row_masks: list[Any] | None = None) -> Any:
    """Next token per row of ``logits`` [rows, vocab]: the argmax, or a (top-p) sample."""
    import torch

    if row_masks is not None:
        logits = _constrain.apply_masks(logits, row_masks)
    if is_greedy(req):
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / req.temperature, dim=-1)
    if req.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        cum = sorted_p.cumsum(dim=-1)
        sorted_p[(cum - sorted_p) > req.top_p] = 0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    probs = probs / probs.sum(dim=-1, keepdim=True)
    return torch.multinomial(probs.cpu(), 1, generator=gen).view(-1).to(logits.device)


def next_tokens(ctx: DecodeContext, head: Any, hidden: Any, req: GenerationRequest, gen: Any,
                row_masks: list[Any] | None = None) -> Any:
    """Next token per row from final hidden states [rows, hidden]: greedy argmax or a sample."""
    if is_greedy(req) and row_masks is None and ctx.lm_head_chunk and _lmhead.plain_linear(head):
        return _lmhead.chunked_argmax(hidden, head.weight, ctx.lm_head_chunk)
    return pick(head(hidden), req, gen, row_masks)


def forced_tokens(ctx: DecodeContext, row: Row, left: int) -> list[int]:
    """Jump-forward: the tokens the row's grammar forces next, at most ``left`` ([] when off or free).

    Greedy rows in "verify" mode get the whole canonical split (the model checks it, ``check_draft``);
    otherwise the tokens are taken as they are, so a last token that the model could merge with what
    follows is left out.
    """
    if not ctx.jump or row.constraint is None or left <= 0:
        return []
    verify = ctx.jump == "verify" and is_greedy(row.request)
    return list(row.constraint.forced(verify)[:left])


def check_draft(logits: Any, draft: Sequence[int], c: _constrain.RowConstraint | None, trusted: int = 0) -> list[int]:
    """Greedy picks along a draft (``logits`` [len(draft) + 1, vocab]: the position before each draft
    token, then after the last), masked by the row's grammar for the state after ``draft[:i]``; stops
    after the first pick that differs from the draft. The first ``trusted`` draft tokens are taken
    without a check (forced text in "force" mode). The kept draft is ``picks[:-1]``."""
    state = None if c is None else c.state
    picks: list[int] = []
    for i in range(logits.shape[0]):
        if i < trusted and i < len(draft):
            p = int(draft[i])
        else:
            m = None if c is None else c.grammar.mask(state)
            row = logits[i] if m is None else _constrain.apply_masks(logits[i : i + 1], [m])[0]
            p = int(row.argmax())
        picks.append(p)
        if i >= len(draft) or draft[i] != p:
            break
        if c is not None:
            state = c.peek(state, p)
    return picks


def state_after(row: Row, tokens: Sequence[int]) -> Any:
    """The mask for the row's next token after ``tokens`` (None: free)."""
    c = row.constraint
    if c is None:
        return None
    state = c.state
    for t in tokens:
        state = c.peek(state, t)
    return c.grammar.mask(state)
