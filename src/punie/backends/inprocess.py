"""In-process generation with transformers: batched, with the shared prompt prefix computed once.

Why hand-written instead of ``model.generate``: every eval/serve prompt starts with the same
~400-token system turn (the tool schemas). We prefill it once per (tools, adapter) and run our own
decode loop that drops finished rows instead of decoding padding until the longest row ends.
On CPU the rows then attend that prefix through one shared KV copy (``_cascade``: packed
prefills, slots refilled as rows finish); elsewhere the plain path copies the prefix KV into each
row and pads *between* prefix and suffix (mask zeros). Greedy outputs are identical to decoding
without the cache and to ``model.generate`` (tested).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from punie.backends import _cascade, _constrain, _lmhead, _lookup
from punie.backends._kvcache import batch_cache
from punie.backends.base import DEFAULT_BATCH_SIZE, Generation, GenerationRequest, InvalidRequest, ProgressFn
from punie.models.compat import cache_kwargs, output_cache
from punie.models.prompt import PromptBuilder


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


def plan_batches(lengths: Sequence[int], max_rows: int, max_tokens: int | None = None) -> list[list[int]]:
    """Consecutive index batches of at most ``max_rows`` rows and ``max_tokens`` padded tokens.

    Padded prefill costs rows × longest suffix; with rows sorted by length, a token budget gives
    long suffixes fewer rows per batch and short ones more, instead of one fixed row count.
    A row longer than the budget gets a batch of its own.
    """
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i, n in enumerate(lengths):
        wider = max(longest, n)
        if cur and (len(cur) >= max_rows or max_tokens is not None and wider * (len(cur) + 1) > max_tokens):
            batches.append(cur)
            cur, wider = [], n
        cur.append(i)
        longest = wider
    if cur:
        batches.append(cur)
    return batches


@dataclass
class _Row:
    index: int
    request: GenerationRequest
    prefix: tuple[int, ...]
    suffix: list[int]
    prompt_tokens: int
    constraint: _constrain.RowConstraint | None = None  # tool_choice's token masks (None: free)


class InProcessBackend:
    """Batched greedy/sampled generation with a transformers model in this process.

    Speed options (outputs stay the same; each is tested against the plain path):

    - ``cascade``: shared-prefix attention, packed prefills and slots (``_cascade``). None: on
      where it is measured and tested (CPU), True: also on other devices, False: off.
    - ``refill``: greedy rows stream through ``batch_size`` slots; a finished row's slot takes
      the next row, so batches do not shrink to a tail of a few rows (cascade path only).
    - ``prefill_tokens``: most suffix tokens in one prefill forward (cascade: packed tokens; plain
      path on CPU: padded rows × longest suffix, so long suffixes get fewer rows); None: no limit.
    - ``lm_head_chunk``: greedy argmax over vocab slices of this many rows (0: one product).
    - ``lookup``: prompt-lookup speculative decoding for a request that runs alone (one row,
      greedy, cascade path): drafts of up to this many tokens copied from where the last few
      tokens occurred earlier in prompt + reply, checked in one forward (``_lookup``); 0: off.
    - ``merge_adapter``: fold the active LoRA adapter into the weights for each call, or use
      ``with backend.merged():`` around many calls (``run_eval`` does).
    - ``keep_merged``: fold the active adapter in at the first call that uses it and keep it folded
      while calls use the same adapter; switching adapter (or to the base) restores the base weights
      first (``punie serve`` does: its requests mostly ask for one adapter). ``unmerge()`` restores.

    A request with ``tool_choice`` set is decoded under ``_constrain``'s token masks (every path:
    plain, cascade, lookup; greedy and sampled), so its calls are offered tools with schema-valid
    arguments in the canonical ``<tool_call>`` format.
    """

    name = "inprocess"
    accepts_tool_choice = True  # GenerationRequest.tool_choice is enforced by constrained decoding

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        builder: PromptBuilder | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        prefix_cache: bool = True,
        max_cached_prefixes: int = 8,
        model_name: str | None = None,
        adapter: str | None = None,
        cascade: bool | None = None,
        refill: bool = True,
        prefill_tokens: int | None = 2048,
        lm_head_chunk: int = 0,
        merge_adapter: bool = False,
        lookup: int = 8,
        keep_merged: bool = False,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.builder = builder or PromptBuilder(tokenizer)
        self.batch_size = max(1, batch_size)
        self.prefix_cache = prefix_cache
        self.max_cached_prefixes = max_cached_prefixes
        self.model_name = model_name
        self.adapter = adapter
        self.cascade = cascade
        self.refill = refill
        self.prefill_tokens = prefill_tokens
        self.lm_head_chunk = lm_head_chunk
        self.merge_adapter = merge_adapter
        self.lookup = max(0, lookup)
        self.keep_merged = keep_merged
        self._kept: tuple[str, ExitStack] | None = None  # (adapter, its open merged_adapter context)
        self._cascade_support: dict[Any, bool] = {}
        self._merged = False
        self._prefixes: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._active_adapter: str | None = self._current_adapter()
        self.lock = threading.RLock()  # one generation at a time per model (serve uses threads)
        self.stop_ids = self.builder.end_of_turn_ids
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @classmethod
    def from_pretrained(
        cls, name: str | None = None, *, adapter: str | dict[str, str | Path] | None = None, dtype: str = "auto",
        **kwargs: Any,
    ) -> InProcessBackend:
        from punie.models.loading import load_model

        model, tok = load_model(name, adapter=adapter, dtype=dtype)
        adapter_label = None if adapter is None else (str(adapter) if not isinstance(adapter, dict) else ",".join(adapter))
        return cls(model, tok, model_name=name, adapter=adapter_label, **kwargs)

    # ---- adapters -------------------------------------------------------------------------------
    def _current_adapter(self) -> str | None:
        return getattr(self.model, "active_adapter", None) if hasattr(self.model, "peft_config") else None

    @contextmanager
    def use_adapter(self, name: str | None) -> Iterator[None]:
        """Generate with adapter ``name`` (a loaded PEFT adapter) or the bare base model (None)."""
        with self.lock:
            if not hasattr(self.model, "peft_config"):
                if name is not None:
                    raise KeyError(name)
                yield
                return
            if self._kept is not None and self._kept[0] != name:
                self.unmerge()  # another adapter (or the base) needs the base weights back
            if name is not None and name == self._active_adapter and name in self.model.peft_config:
                # already active: no set_adapter (PEFT would unmerge a kept merge inexactly)
                yield
                return
            if self._merged:
                raise RuntimeError("can't switch adapters while one is merged (inside backend.merged())")
            previous = self._active_adapter
            if name is None:
                with self.model.disable_adapter():
                    self._active_adapter = None
                    try:
                        yield
                    finally:
                        self._active_adapter = previous
                return
            if name not in self.model.peft_config:
                raise KeyError(name)
            self.model.set_adapter(name)
            self._active_adapter = name
            try:
                yield
            finally:
                if not self.keep_merged:  # keep_merged: the adapter stays active (and folded in) for the next call
                    if previous is not None:
                        self.model.set_adapter(previous)
                    self._active_adapter = previous

    @contextmanager
    def merged(self) -> Iterator[None]:
        """Generate with the active LoRA adapter folded into the base weights inside this block.

        Unmerged LoRA adds two small matmuls per adapted linear per step; merged, the model costs
        what the base costs. Outputs equal the unmerged adapter's up to float rounding. The base
        weights are restored bit-exactly on exit (``punie.models.loading.merged_adapter``).
        A no-op without an active adapter or when already merged.
        """
        with self.lock:
            if self._merged or self._active_adapter is None:
                yield
                return
            from punie.models.loading import merged_adapter

            with merged_adapter(self.model):
                self._merged = True
                try:
                    yield
                finally:
                    self._merged = False

    def _merged_if_asked(self) -> Any:
        if self.keep_merged:
            self._keep_merged_now()
            return nullcontext()
        return self.merged() if self.merge_adapter else nullcontext()

    def _keep_merged_now(self) -> None:
        """Fold the active adapter in and leave it folded (``keep_merged``)."""
        name = self._active_adapter
        if name is None or self._kept is not None and self._kept[0] == name:
            return
        if self._merged:  # inside an explicit ``merged()`` block: nothing to keep
            return
        from punie.models.loading import merged_adapter

        stack = ExitStack()
        stack.enter_context(merged_adapter(self.model))
        self._kept = (name, stack)
        self._merged = True

    def unmerge(self) -> None:
        """Restore the base weights if ``keep_merged`` left an adapter folded in (bit-exactly)."""
        with self.lock:
            if self._kept is None:
                return
            _, stack = self._kept
            self._kept = None
            self._merged = False
            stack.close()

    # ---- prefix cache -------------------------------------------------------------------------
    def _prefix_kv(self, prefix: tuple[int, ...]) -> Any:
        import torch

        key = (self._active_adapter, self._merged, prefix)
        cached = self._prefixes.get(key)
        if cached is not None:
            self._prefixes.move_to_end(key)
            return cached
        ids = torch.tensor([list(prefix)], device=self.model.device)
        with torch.inference_mode():
            out = self.model(input_ids=ids, use_cache=True)
        kv = output_cache(out)
        self._prefixes[key] = kv
        while len(self._prefixes) > self.max_cached_prefixes:
            self._prefixes.popitem(last=False)
        return kv

    # ---- constraints and request checks ---------------------------------------------------------
    @property
    def context_length(self) -> int | None:
        """Most tokens (prompt + reply) the model's positions cover, when its config says."""
        cfg = getattr(self.model, "config", None)
        n = getattr(cfg, "max_position_embeddings", None)
        return int(n) if isinstance(n, int) and n > 0 else None

    def _logits_width(self) -> int:
        head = _cascade.base_causal_lm(self.model).get_output_embeddings()
        w = getattr(head, "weight", None)
        return int(w.shape[0]) if w is not None else len(self.tokenizer)

    def grammar(self, request: GenerationRequest) -> _constrain.Grammar | None:
        """The (cached) constraint for ``request.tool_choice``; raises ``InvalidRequest`` for bad tools."""
        if request.tool_choice is None:
            return None
        from punie.toolcalls import normalize_tools

        try:
            choice = _constrain.parse_choice(request.tool_choice, request.parallel_tool_calls)
            assert choice is not None
            tools = normalize_tools(request.tools)
            if not tools and choice.mode in ("required", "function"):
                raise InvalidRequest(f"tool_choice {choice.mode!r} needs tools", param="tool_choice")
            stops = tuple(sorted(self.stop_ids))
            vocab = _constrain.vocab_for(self.tokenizer, stops, self._logits_width())
            return _constrain.grammar_for(vocab, choice, tools)
        except _constrain.ToolSchemaError as exc:
            raise InvalidRequest(str(exc), param=exc.param, code="invalid_tool_schema") from exc
        except ValueError as exc:
            if isinstance(exc, InvalidRequest):
                raise
            raise InvalidRequest(str(exc), param="tool_choice") from exc

    def check_request(self, request: GenerationRequest, *, explicit_max_tokens: bool = True) -> int:
        """Refuse, before any decoding, what this model can't serve; return the prompt's token count.

        Prompt + ``max_new_tokens`` over the context → ``InvalidRequest(code="context_length_exceeded")``
        (with ``explicit_max_tokens=False`` a default budget is shortened to fit instead);
        unusable tools or tool_choice → ``InvalidRequest``. Builds (and caches) the constraint.
        """
        n = len(self.builder.encode_prompt(request.messages, request.tools).input_ids)
        ctx = self.context_length
        if ctx is not None:
            if n >= ctx or explicit_max_tokens and n + request.max_new_tokens > ctx:
                raise InvalidRequest(
                    f"This model's maximum context length is {ctx} tokens. However, you requested "
                    f"{n + request.max_new_tokens} tokens ({n} in the messages, {request.max_new_tokens} in "
                    "the completion). Please reduce the length of the messages or completion.",
                    param="messages",
                    code="context_length_exceeded",
                )
            request.max_new_tokens = min(request.max_new_tokens, ctx - n)
        self.grammar(request)
        return n

    # ---- public API ---------------------------------------------------------------------------
    def _rows(self, requests: Sequence[GenerationRequest]) -> list[_Row]:
        rows = []
        for i, req in enumerate(requests):
            enc = self.builder.encode_prompt(req.messages, req.tools)
            p = enc.prefix_len if self.prefix_cache else 0
            # keep at least one suffix token so the first decode step has a query
            p = min(p, len(enc.input_ids) - 1)
            g = self.grammar(req)
            rows.append(_Row(i, req, tuple(enc.input_ids[:p]), enc.input_ids[p:], len(enc.input_ids),
                             None if g is None else _constrain.RowConstraint(g)))
        return rows

    @staticmethod
    def _masks(rows: Sequence[_Row]) -> list[Any] | None:
        """Each row's allowed-token mask (None for a free row), or None when no row is constrained."""
        if all(r.constraint is None for r in rows):
            return None
        return [None if r.constraint is None else r.constraint.mask() for r in rows]

    @staticmethod
    def _advance(row: _Row, tok: int) -> None:
        if row.constraint is not None:
            row.constraint.advance(tok)

    def generate(self, requests: Sequence[GenerationRequest], *, progress: ProgressFn | None = None) -> list[Generation]:
        results: list[Generation | None] = [None] * len(requests)
        rows = self._rows(requests)
        groups: dict[tuple[Any, ...], list[_Row]] = {}
        for row in rows:
            # rows in one batch share prefix and sampling settings
            key = (row.prefix, row.request.temperature, row.request.top_p)
            groups.setdefault(key, []).append(row)
        with self.lock, self._merged_if_asked():
            for group in groups.values():
                group.sort(key=lambda r: len(r.suffix))
                greedy = not group[0].request.temperature or group[0].request.temperature <= 0
                if self.refill and greedy and self._cascade_ok(group[0].prefix):
                    # one stream: finished rows' slots take the next rows (sampling keeps fixed batches
                    # so its seeded draws do not depend on how rows finish)
                    batches = [group]
                else:
                    budget = self._padded_budget(group[0].prefix)
                    batches = [[group[i] for i in b] for b in plan_batches([len(r.suffix) for r in group], self.batch_size, budget)]
                for batch in batches:
                    for row, gen in self._run_batch(batch, progress):
                        results[row.index] = gen
        return [r for r in results if r is not None]

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Text deltas of one request as they are decoded."""
        row = self._rows([request])[0]
        with self.lock, self._merged_if_asked():
            emitted = ""
            tokens: list[int] = []
            for step in self._decode([row], {}):
                tokens += [tok for _, tok in step]  # one or more tokens (speculative steps)
                text = self._clean(self.tokenizer.decode(tokens, skip_special_tokens=True), request.stop)
                if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                    continue
                if len(text) > len(emitted) and text.startswith(emitted):
                    yield text[len(emitted) :]
                    emitted = text

    # ---- decoding -------------------------------------------------------------------------------
    def _run_batch(self, batch: list[_Row], progress: ProgressFn | None = None) -> Iterator[tuple[_Row, Generation]]:
        """(row, generation) for every row of ``batch``, each as soon as it has finished."""
        out_tokens: dict[int, list[int]] = {k: [] for k in range(len(batch))}
        finish: dict[int, str] = {}
        done = 0
        for step in self._decode(batch, finish):
            for k, tok in step:
                out_tokens[k].append(tok)
            if len(finish) > done:
                ks = list(finish)[done:]
                done = len(finish)
                for k in ks:
                    yield batch[k], self._generation(batch[k], out_tokens[k], finish[k])
                if progress:
                    progress(len(ks))

    def _generation(self, row: _Row, tokens: list[int], finish_reason: str) -> Generation:
        toks = [t for t in tokens if t not in self.stop_ids]
        text = self._clean(self.tokenizer.decode(toks, skip_special_tokens=True), row.request.stop)
        return Generation(text=text, finish_reason=finish_reason, prompt_tokens=row.prompt_tokens,
                          completion_tokens=len(tokens))

    @staticmethod
    def _clean(text: str, stop: list[str] | None) -> str:
        if stop:
            cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
            if cut >= 0:
                text = text[:cut]
        return text

    def _finished(self, tokens: list[int], row: _Row) -> str | None:
        """Why a row that has produced ``tokens`` stops now ("stop" / "length"), or None."""
        t = tokens[-1]
        if t in self.stop_ids or row.request.stop and self._hit_stop(tokens, row.request.stop):
            return "stop"
        if len(tokens) >= max(1, row.request.max_new_tokens):
            return "length"
        return None

    def _sampler(self, req: GenerationRequest) -> Any:
        import torch

        if not req.temperature or req.temperature <= 0:
            return None
        gen = torch.Generator(device="cpu")
        gen.manual_seed(req.seed if req.seed is not None else 0)
        return gen

    def _decode(self, batch: list[_Row], finish: dict[int, str]) -> Iterator[list[tuple[int, int]]]:
        """Yield, per decode step, [(row position in batch, token id)] (a row may get several
        tokens in one step, in order); fills ``finish`` as rows end."""
        greedy = not batch[0].request.temperature or batch[0].request.temperature <= 0
        if self.lookup and len(batch) == 1 and greedy and self._cascade_ok(batch[0].prefix):
            yield from self._decode_lookup(batch[0], finish)
            return
        if self._cascade_ok(batch[0].prefix):
            yield from self._decode_cascade(batch, finish)
            return
        with _sdpa_gqa():
            yield from self._decode_rows(batch, finish)

    def _decode_rows(self, batch: list[_Row], finish: dict[int, str]) -> Iterator[list[tuple[int, int]]]:
        """The plain path: prefix KV copied into every row, padded prefill, transformers attention."""
        import torch

        device = self.model.device
        prefix = batch[0].prefix
        plen = len(prefix)
        n = len(batch)
        smax = max(len(r.suffix) for r in batch)
        ids = torch.full((n, smax), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, plen + smax), dtype=torch.long)
        mask[:, :plen] = 1
        pos = torch.zeros((n, smax), dtype=torch.long)
        for k, r in enumerate(batch):
            s = len(r.suffix)
            ids[k, smax - s :] = torch.tensor(r.suffix)
            mask[k, plen + smax - s :] = 1
            pos[k, smax - s :] = torch.arange(plen, plen + s)
        cache = None
        if plen:
            room = smax + max(max(1, r.request.max_new_tokens) for r in batch)
            cache = batch_cache(self._prefix_kv(prefix), n, room)
        req = batch[0].request
        gen = self._sampler(req)
        alive = list(range(n))  # batch positions still decoding
        next_pos = pos[:, -1] + 1
        produced: dict[int, list[int]] = {k: [] for k in range(n)}
        ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
        with torch.inference_mode():
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                use_cache=True,
                logits_to_keep=1,  # only the last position's logits are needed to start decoding
                **cache_kwargs(self.model, cache),
            )
            cache = output_cache(out)
            logits = out.logits[:, -1, :]
            while alive:
                toks = self._pick(logits, req, gen, self._masks([batch[k] for k in alive]))
                emitted = []
                keep = []
                for j, k in enumerate(alive):
                    t = int(toks[j])
                    produced[k].append(t)
                    self._advance(batch[k], t)
                    emitted.append((k, t))
                    why = self._finished(produced[k], batch[k])
                    if why:
                        finish[k] = why
                    else:
                        keep.append(j)
                yield emitted
                if not keep:
                    break
                if len(keep) < len(alive):
                    idx = torch.tensor(keep, device=device)
                    cache.batch_select_indices(idx)
                    mask = mask[idx]
                    toks = toks[idx]
                    next_pos = next_pos[idx.cpu()]
                    alive = [alive[j] for j in keep]
                mask = torch.cat([mask, torch.ones((len(alive), 1), dtype=mask.dtype, device=device)], dim=1)
                step_pos = next_pos.view(-1, 1).to(device)
                out = self.model(
                    input_ids=toks.view(-1, 1),
                    attention_mask=mask,
                    position_ids=step_pos,
                    use_cache=True,
                    **cache_kwargs(self.model, cache),
                )
                cache = output_cache(out)
                logits = out.logits[:, -1, :]
                next_pos = next_pos + 1

    def _padded_budget(self, prefix: tuple[int, ...]) -> int | None:
        """Token budget for the plain path's padded batches: CPU only, where padding costs time
        in proportion (the cascade path packs its prefills itself; a GPU wants full batches)."""
        if self._cascade_ok(prefix) or getattr(self.model.device, "type", "cpu") != "cpu":
            return None
        return self.prefill_tokens

    # ---- cascade path -----------------------------------------------------------------------------
    def _cascade_ok(self, prefix: tuple[int, ...]) -> bool:
        if not prefix or self.cascade is False:
            return False
        if self.cascade is None and getattr(self.model.device, "type", "cpu") != "cpu":
            return False  # not measured or tested on accelerators yet: the plain path there
        ok = self._cascade_support.get(self._active_adapter)
        if ok is None:
            ok = _cascade.supports(self.model, self._prefix_kv(prefix))
            self._cascade_support[self._active_adapter] = ok
        return ok

    def _decode_cascade(self, rows: list[_Row], finish: dict[int, str]) -> Iterator[list[tuple[int, int]]]:
        """Decode ``rows`` in ``batch_size`` slots over one shared prefix KV (see ``_cascade``).

        Rows enter in order; a finished row's slot is refilled with the next row (once at least
        ``refill_min`` slots are free, so prefills stay batched). Without rows left, the store is
        compacted once enough slots are idle, so idle rows stop costing matmul rows.
        """
        import torch

        base = _cascade.base_causal_lm(self.model)
        decoder, head = base.get_decoder(), base.get_output_embeddings()
        device = self.model.device
        kv = _cascade.CascadeKV(self._prefix_kv(rows[0].prefix), min(self.batch_size, len(rows)),
                                max(len(r.suffix) + max(1, r.request.max_new_tokens) for r in rows))
        req = rows[0].request
        gen = self._sampler(req)
        slot_row: list[int | None] = [None] * len(kv.fill)
        produced: dict[int, list[int]] = {}
        pending = list(range(len(rows)))[::-1]  # pop() takes the next row
        next_tok = torch.full((len(slot_row),), self.pad_id, dtype=torch.long)
        refill_min = max(1, len(slot_row) // 8)
        budget = self.prefill_tokens or sum(len(r.suffix) for r in rows)

        def forward(ids: Any, positions: Any) -> Any:
            out = decoder(input_ids=ids.to(device), position_ids=positions, use_cache=True, punie_kv=kv,
                          **cache_kwargs(decoder, kv))
            return out.last_hidden_state

        def take(slots: list[int], hidden: Any) -> list[tuple[int, int]]:
            """Pick tokens for ``slots`` from their last hidden states; record finishes, free slots."""
            toks = self._next_tokens(head, hidden, req, gen, self._masks([rows[slot_row[s]] for s in slots]))  # type: ignore[index]
            emitted = []
            for slot, tok in zip(slots, toks.tolist(), strict=True):
                k = slot_row[slot]
                assert k is not None
                produced[k].append(tok)
                self._advance(rows[k], tok)
                emitted.append((k, tok))
                why = self._finished(produced[k], rows[k])
                if why:
                    finish[k] = why
                    slot_row[slot] = None
                else:
                    next_tok[slot] = tok
            return emitted

        with torch.inference_mode(), _cascade.scoped(self.model):
            while True:
                free = [s for s, k in enumerate(slot_row) if k is None]
                if pending and (len(free) >= refill_min or len(free) == len(slot_row)):
                    hidden, admitted = [], []
                    while free and pending:  # packed prefills of at most prefill_tokens tokens each
                        chunk: list[int] = []
                        tokens = 0
                        while free and pending and (not chunk or tokens + len(rows[pending[-1]].suffix) <= budget):
                            k = pending.pop()
                            slot = free.pop(0)
                            slot_row[slot], produced[k] = k, []
                            chunk.append(slot)
                            tokens += len(rows[k].suffix)
                        suffixes = [rows[slot_row[s]].suffix for s in chunk]  # type: ignore[index]
                        positions = kv.begin_prefill(chunk, [len(x) for x in suffixes])
                        ids = torch.tensor([[t for x in suffixes for t in x]])
                        last = torch.cumsum(torch.tensor([len(x) for x in suffixes]), 0) - 1
                        hidden.append(forward(ids, positions)[0, last.to(device)])
                        admitted += chunk
                    yield take(admitted, torch.cat(hidden))
                    continue
                alive = [s for s, k in enumerate(slot_row) if k is not None]
                if not alive:
                    break
                if not pending and len(alive) < len(slot_row) and len(slot_row) - len(alive) >= refill_min:
                    kv.select(alive)
                    slot_row = [slot_row[s] for s in alive]
                    next_tok = next_tok[torch.tensor(alive)]
                    alive = list(range(len(alive)))
                positions = kv.begin_step(alive)
                hidden = forward(next_tok.view(-1, 1), positions)[:, -1]
                if len(alive) < len(slot_row):
                    hidden = hidden[torch.tensor(alive, device=device)]
                yield take(alive, hidden)

    def _decode_lookup(self, row: _Row, finish: dict[int, str]) -> Iterator[list[tuple[int, int]]]:
        """One greedy row with prompt-lookup speculation (``_lookup``) over the cascade KV store.

        Each forward holds the last token plus a draft; the greedy argmax at every position checks
        the draft: its longest matching prefix is kept plus the model's next token, and the
        rejected tokens' KV is dropped by rewinding the slot's fill pointer. Tokens are emitted and
        checked for stops one by one, so the output is the plain greedy output, cut where it stops.
        """
        import torch

        base = _cascade.base_causal_lm(self.model)
        decoder, head = base.get_decoder(), base.get_output_embeddings()
        device = self.model.device
        req = row.request
        budget = max(1, req.max_new_tokens)
        kv = _cascade.CascadeKV(self._prefix_kv(row.prefix), 1, len(row.suffix) + budget)
        drafter = _lookup.Drafter([*row.prefix, *row.suffix], self.lookup)
        produced: list[int] = []

        def forward(ids: list[int], positions: Any) -> Any:
            out = decoder(input_ids=torch.tensor([ids], device=device), position_ids=positions, use_cache=True,
                          punie_kv=kv, **cache_kwargs(decoder, kv))
            return out.last_hidden_state[0]

        with torch.inference_mode(), _cascade.scoped(self.model):
            hidden = forward(row.suffix, kv.begin_prefill([0], [len(row.suffix)]))[-1:]
            new = self._next_tokens(head, hidden, req, None, self._masks([row])).tolist()
            while True:
                emitted = []
                for tok in new:
                    produced.append(tok)
                    self._advance(row, tok)
                    emitted.append((0, tok))
                    why = self._finished(produced, row)
                    if why:
                        finish[0] = why
                        break
                yield emitted
                if finish:
                    return
                drafter.update(new)
                # the last new token is not in the KV yet: it leads the next forward, then the draft
                draft = drafter.draft(budget - len(produced) - 1)
                start = int(kv.fill[0])
                hidden = forward([new[-1], *draft], kv.begin_extend(0, 1 + len(draft)))
                if row.constraint is None:
                    picks = self._next_tokens(head, hidden, req, None).tolist()
                else:
                    picks = self._verify_constrained(head(hidden), draft, row.constraint)
                drafted, accepted = len(draft), 0
                while accepted < drafted and draft[accepted] == picks[accepted]:
                    accepted += 1
                kv.rewind(0, start + 1 + accepted)
                new = picks[: accepted + 1]

    def _next_tokens(self, head: Any, hidden: Any, req: GenerationRequest, gen: Any,
                     masks: list[Any] | None = None) -> Any:
        """Next token per row from final hidden states [rows, hidden]: greedy argmax or a sample."""
        greedy = not req.temperature or req.temperature <= 0
        if greedy and masks is None and self.lm_head_chunk and _lmhead.plain_linear(head):
            return _lmhead.chunked_argmax(hidden, head.weight, self.lm_head_chunk)
        return self._pick(head(hidden), req, gen, masks)

    @staticmethod
    def _verify_constrained(logits: Any, draft: list[int], c: _constrain.RowConstraint) -> list[int]:
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

    def _hit_stop(self, tokens: list[int], stop: list[str] | None) -> bool:
        tail = self.tokenizer.decode(tokens[-32:], skip_special_tokens=True)
        return any(s and s in tail for s in (stop or []))

    @staticmethod
    def _pick(logits: Any, req: GenerationRequest, gen: Any, masks: list[Any] | None = None) -> Any:
        import torch

        if masks is not None:
            logits = _constrain.apply_masks(logits, masks)
        if not req.temperature or req.temperature <= 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.float() / req.temperature, dim=-1)
        if req.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            cum = sorted_p.cumsum(dim=-1)
            sorted_p[(cum - sorted_p) > req.top_p] = 0
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        probs = probs / probs.sum(dim=-1, keepdim=True)
        return torch.multinomial(probs.cpu(), 1, generator=gen).view(-1).to(logits.device)

