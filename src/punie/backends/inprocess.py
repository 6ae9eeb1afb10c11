"""In-process generation with transformers: batched, with the shared prompt prefix computed once.

Why hand-written instead of ``model.generate``: every eval/serve prompt starts with the same
~400-token system turn (the tool schemas). We prefill it once per (tools, adapter) and run our own
decode loop that drops finished rows instead of decoding padding until the longest row ends.
On CPU the rows then attend that prefix through one shared KV copy (``_decode_cascade``: packed
prefills, slots refilled as rows finish; ``_decode_lookup`` for a lone greedy row); elsewhere the
plain path (``_decode_plain``) copies the prefix KV into each row and pads *between* prefix and
suffix (mask zeros). Greedy outputs are identical to decoding without the cache and to
``model.generate`` (tested). This class prepares rows and picks a strategy (``_decoding.Decoder``)
per batch; adapter switching and merging live in ``_adapters``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from punie.backends import _cascade, _constrain
from punie.backends._adapters import Adapters
from punie.backends._decode_cascade import CascadeDecoder
from punie.backends._decode_lookup import LookupDecoder
from punie.backends._decode_plain import PlainDecoder
from punie.backends._decoding import JUMP_MODES, DecodeContext, DecodeStats, Row, Step, is_greedy
from punie.backends.base import DEFAULT_BATCH_SIZE, Generation, GenerationRequest, InvalidRequest, ProgressFn
from punie.models.compat import output_cache
from punie.models.prompt import PromptBuilder


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
    - ``jump_forward``: in constrained decoding, where the grammar leaves one possible text (the
      rest of a tool name once its prefix is unique, ``", "arguments": {"``, a lone required key,
      ``"}}\n</tool_call>``), its tokens (the tokenizer's canonical split) ride along in the
      forward of the token before them instead of one forward each. "verify" (True, the default):
      greedy rows check the split with the logits of that same forward and keep the model's own
      token where it would have split the text differently, so greedy outputs stay those of
      decoding without it; "force": the split is taken as it is (sampled rows always do this);
      False: off. ``decode_stats`` counts the forwards saved.
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
        jump_forward: bool | str = True,
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
        jump = "verify" if jump_forward is True else "" if jump_forward in (False, None, "off") else jump_forward
        if jump not in JUMP_MODES:
            raise ValueError(f"jump_forward: {jump_forward!r} (True/'verify', 'force' or False)")
        self.jump_forward = jump
        self.decode_stats = DecodeStats()  # forwards and jump-forward counters over every call
        self._cascade_support: dict[Any, bool] = {}
        self._prefixes: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.lock = threading.RLock()  # one generation at a time per model (serve uses threads)
        self._adapters = Adapters(model, self.lock)
        self.stop_ids = self.builder.end_of_turn_ids
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @classmethod
    def from_pretrained(
        cls, name: str | None = None, *, adapter: str | dict[str, str | Path] | None = None, dtype: str = "auto",
        **kwargs: Any,
    ) -> InProcessBackend:
        from punie.models.loading import load_model

        model, tok = load_model(name, adapter=adapter, dtype=dtype)
        label = None if adapter is None else (str(adapter) if not isinstance(adapter, dict) else ",".join(adapter))
        return cls(model, tok, model_name=name, adapter=label, **kwargs)

    # ---- adapters (``_adapters``) -----------------------------------------------------------------
    @property
    def _active_adapter(self) -> str | None:
        return self._adapters.active

    @property
    def _merged(self) -> bool:
        return self._adapters.folded

    def use_adapter(self, name: str | None) -> AbstractContextManager[None]:
        """Generate with adapter ``name`` (a loaded PEFT adapter) or the bare base model (None)."""
        return self._adapters.use(name, keep=self.keep_merged)

    def merged(self) -> AbstractContextManager[None]:
        """Generate with the active LoRA adapter folded into the base weights inside this block.

        Unmerged LoRA adds two small matmuls per adapted linear per step; merged, the model costs
        what the base costs. Outputs equal the unmerged adapter's up to float rounding. The base
        weights are restored bit-exactly on exit (``punie.models.loading.merged_adapter``).
        A no-op without an active adapter or when already merged.
        """
        return self._adapters.merged()

    def _merged_if_asked(self) -> AbstractContextManager[None]:
        return self._adapters.for_call(merge=self.merge_adapter, keep=self.keep_merged)

    def unmerge(self) -> None:
        """Restore the base weights if ``keep_merged`` left an adapter folded in (bit-exactly)."""
        self._adapters.unmerge()

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
    def _rows(self, requests: Sequence[GenerationRequest]) -> list[Row]:
        rows = []
        for i, req in enumerate(requests):
            enc = self.builder.encode_prompt(req.messages, req.tools)
            p = enc.prefix_len if self.prefix_cache else 0
            # keep at least one suffix token so the first decode step has a query
            p = min(p, len(enc.input_ids) - 1)
            g = self.grammar(req)
            rows.append(Row(i, req, tuple(enc.input_ids[:p]), enc.input_ids[p:], len(enc.input_ids),
                             None if g is None else _constrain.RowConstraint(g)))
        return rows

    def generate(
        self, requests: Sequence[GenerationRequest], *, progress: ProgressFn | None = None
    ) -> list[Generation]:
        results: list[Generation | None] = [None] * len(requests)
        rows = self._rows(requests)
        groups: dict[tuple[Any, ...], list[Row]] = {}
        for row in rows:
            # rows in one batch share prefix and sampling settings
            key = (row.prefix, row.request.temperature, row.request.top_p)
            groups.setdefault(key, []).append(row)
        with self.lock, self._merged_if_asked():
            for group in groups.values():
                group.sort(key=lambda r: len(r.suffix))
                greedy = is_greedy(group[0].request)
                if self.refill and greedy and self._cascade_ok(group[0].prefix):
                    # one stream: finished rows' slots take the next rows (sampling keeps fixed batches
                    # so its seeded draws do not depend on how rows finish)
                    batches = [group]
                else:
                    budget = self._padded_budget(group[0].prefix)
                    plan = plan_batches([len(r.suffix) for r in group], self.batch_size, budget)
                    batches = [[group[i] for i in b] for b in plan]
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
    def _run_batch(self, batch: list[Row], progress: ProgressFn | None = None) -> Iterator[tuple[Row, Generation]]:
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

    def _generation(self, row: Row, tokens: list[int], finish_reason: str) -> Generation:
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

    def _finished(self, tokens: list[int], row: Row) -> str | None:
        """Why a row that has produced ``tokens`` stops now ("stop" / "length"), or None."""
        t = tokens[-1]
        if t in self.stop_ids or row.request.stop and self._hit_stop(tokens, row.request.stop):
            return "stop"
        if len(tokens) >= max(1, row.request.max_new_tokens):
            return "length"
        return None

    def _decode(self, batch: list[Row], finish: dict[int, str]) -> Iterator[Step]:
        """Yield, per decode step, [(row position in batch, token id)] (a row may get several
        tokens in one step, in order); fills ``finish`` as rows end."""
        if self.lookup and len(batch) == 1 and is_greedy(batch[0].request) and self._cascade_ok(batch[0].prefix):
            yield from self._decode_lookup(batch[0], finish)
        elif self._cascade_ok(batch[0].prefix):
            yield from self._decode_cascade(batch, finish)
        else:
            yield from self._decode_rows(batch, finish)

    def _context(self) -> DecodeContext:
        return DecodeContext(self.model, self.pad_id, self._prefix_kv, self._finished, batch_size=self.batch_size,
                             prefill_tokens=self.prefill_tokens, lm_head_chunk=self.lm_head_chunk, lookup=self.lookup,
                             jump=self.jump_forward, stats=self.decode_stats)

    def _decode_rows(self, batch: list[Row], finish: dict[int, str]) -> Iterator[Step]:
        """The plain path: prefix KV copied into every row, padded prefill, transformers attention."""
        return PlainDecoder(self._context()).decode(batch, finish)

    def _decode_cascade(self, rows: list[Row], finish: dict[int, str]) -> Iterator[Step]:
        """Decode ``rows`` in ``batch_size`` slots over one shared prefix KV (``_decode_cascade``)."""
        return CascadeDecoder(self._context()).decode(rows, finish)

    def _decode_lookup(self, row: Row, finish: dict[int, str]) -> Iterator[Step]:
        """One greedy row with prompt-lookup speculation over the cascade KV store (``_decode_lookup``)."""
        return LookupDecoder(self._context()).decode([row], finish)

    def _padded_budget(self, prefix: tuple[int, ...]) -> int | None:
        """Token budget for the plain path's padded batches: CPU only, where padding costs time
        in proportion (the cascade path packs its prefills itself; a GPU wants full batches)."""
        if self._cascade_ok(prefix) or getattr(self.model.device, "type", "cpu") != "cpu":
            return None
        return self.prefill_tokens

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

    def _hit_stop(self, tokens: list[int], stop: list[str] | None) -> bool:
        tail = self.tokenizer.decode(tokens[-32:], skip_special_tokens=True)
        return any(s and s in tail for s in (stop or []))
