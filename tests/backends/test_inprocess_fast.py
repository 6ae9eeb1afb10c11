"""The in-process backend's speed options change nothing but speed: shared-prefix attention, packed
prefill, slot refill, token-budget batches, chunked lm_head argmax, merged LoRA adapters, prompt-lookup
speculative decoding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from punie.backends.base import GenerationRequest
from punie.backends.inprocess import InProcessBackend, plan_batches

PLAIN = {"cascade": False, "refill": False, "prefill_tokens": None, "lm_head_chunk": 0}
TEXTS = ["Show me README.md", "Hi", "Run the tests with pytest please", "What is a decorator?", "Open a.py",
         "x" * 40, "please " * 60, "y" * 300]


def _reqs(n: int, **kw) -> list[GenerationRequest]:  # type: ignore[no-untyped-def]
    """Mixed suffix lengths and budgets, so rows finish at different steps and slots get refilled."""
    return [GenerationRequest([{"role": "user", "content": TEXTS[(3 * i) % len(TEXTS)]}],
                              max_new_tokens=3 + (7 * i) % 17, **kw)
            for i in range(n)]


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    def key(gens):  # type: ignore[no-untyped-def]
        return [(g.text, g.finish_reason, g.completion_tokens) for g in gens]

    assert key(a) == key(b)
    texts = [g.text for g in a]
    assert len(set(texts)) > len(texts) // 2, "replies must differ per prompt for identity to mean something"


@pytest.mark.parametrize("opts", [
    {},  # defaults: cascade + refill
    {"refill": False},
    {"prefill_tokens": 40},  # several packed prefills per admission
    {"batch_size": 1},
    {"lm_head_chunk": 1000},
    {"cascade": False},  # plain path with token-budget batches
])
def test_fast_paths_give_the_plain_path_outputs(lively, opts) -> None:  # type: ignore[no-untyped-def]
    model, tok = lively
    reqs = _reqs(13)
    plain = InProcessBackend(model, tok, batch_size=4, **PLAIN).generate(reqs)
    assert {g.finish_reason for g in plain} == {"stop", "length"}  # rows end at different steps
    fast = InProcessBackend(model, tok, **{"batch_size": 4, **opts}).generate(reqs)
    _same(fast, plain)


def test_cascade_path_is_used_and_leaves_the_model_as_it_was(tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    backend = InProcessBackend(model, tok, batch_size=3)
    before = model.config._attn_implementation
    rows = backend._rows(_reqs(1))
    assert backend._cascade_ok(rows[0].prefix)
    seen = []
    original = backend._decode_cascade

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        seen.append(1)
        return original(*a, **k)

    backend._decode_cascade = spy  # type: ignore[method-assign]
    backend.generate(_reqs(4))
    assert seen and model.config._attn_implementation == before


def test_mixed_tools_and_sampling_groups_keep_order(lively) -> None:  # type: ignore[no-untyped-def]
    model, tok = lively
    reqs = _reqs(6)
    reqs[1] = GenerationRequest(reqs[1].messages, tools=[], max_new_tokens=5)  # another prefix
    reqs[4] = GenerationRequest(reqs[4].messages, max_new_tokens=6, temperature=0.8, seed=3)
    seen: list[int] = []
    fast = InProcessBackend(model, tok, batch_size=2).generate(reqs, progress=seen.append)
    assert sum(seen) == len(reqs)
    singles = [InProcessBackend(model, tok, **PLAIN).generate([r])[0] for r in reqs]
    _same([g for i, g in enumerate(fast) if i != 4], [g for i, g in enumerate(singles) if i != 4])


def test_sampling_matches_the_plain_path(lively) -> None:  # type: ignore[no-untyped-def]
    model, tok = lively
    reqs = _reqs(5, temperature=1.0, top_p=0.9, seed=7)
    fast = InProcessBackend(model, tok, batch_size=5).generate(reqs)
    _same(fast, InProcessBackend(model, tok, batch_size=5, **PLAIN).generate(reqs))


def test_cascade_logits_match_a_plain_forward(lively) -> None:  # type: ignore[no-untyped-def]
    """Float check under the greedy-identity tests: same last-position logits as one full forward."""
    import torch

    from punie.backends import _cascade

    model, tok = lively
    backend = InProcessBackend(model, tok)
    rows = backend._rows(_reqs(4))
    kv = _cascade.CascadeKV(backend._prefix_kv(rows[0].prefix), 4, 400)
    decoder = model.get_decoder()
    with torch.inference_mode(), _cascade.scoped(model):
        pos = kv.begin_prefill([2, 0, 3, 1], [len(r.suffix) for r in rows])
        ids = torch.tensor([[t for r in rows for t in r.suffix]])
        hidden = decoder(input_ids=ids, position_ids=pos, cache=kv, punie_kv=kv).last_hidden_state[0]
        last = torch.cumsum(torch.tensor([len(r.suffix) for r in rows]), 0) - 1
        got = model.lm_head(hidden[last])
        for i, r in enumerate(rows):
            full = model(input_ids=torch.tensor([list(r.prefix) + r.suffix])).logits[0, -1]
            torch.testing.assert_close(got[i], full, atol=1e-4, rtol=1e-4)


def test_chunked_argmax_is_exact() -> None:
    import torch

    from punie.backends._lmhead import chunked_argmax

    torch.manual_seed(0)
    weight = torch.randn(1000, 16)
    weight[700] = weight[300]  # a tie across chunks: the first (lower id) must win, as argmax does
    hidden = torch.randn(37, 16)
    hidden[0] = weight[300] * 10
    want = (hidden @ weight.T).argmax(-1)
    for chunk in (1, 7, 128, 300, 1000, 4096):
        assert torch.equal(chunked_argmax(hidden, weight, chunk), want)
    assert int(want[0]) == 300


@pytest.mark.parametrize("max_tokens", [None, 1, 30, 100])
def test_plan_batches_covers_rows_once_in_order(max_tokens) -> None:  # type: ignore[no-untyped-def]
    lengths = sorted([3, 5, 5, 8, 10, 12, 20, 25, 40, 41, 90])
    batches = plan_batches(lengths, 4, max_tokens)
    assert [i for b in batches for i in b] == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 4
        if max_tokens is not None and len(b) > 1:
            assert len(b) * max(lengths[i] for i in b) <= max_tokens
    if max_tokens is None:
        assert [len(b) for b in batches] == [4, 4, 3]


def test_plan_batches_by_tokens_gives_long_rows_fewer_rows() -> None:
    batches = plan_batches([10] * 8 + [100] * 4, 8, 400)
    assert [len(b) for b in batches] == [8, 4]
    assert [len(b) for b in plan_batches([10] * 8 + [100] * 4, 8, 300)] == [8, 3, 1]


@pytest.fixture
def tiny_lora(lively):  # type: ignore[no-untyped-def]
    """The lively model with a random (non-zero) LoRA adapter; unloaded again afterwards."""
    import torch
    from peft import LoraConfig, get_peft_model

    model, tok = lively
    torch.manual_seed(5)
    cfg = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "gate_proj", "down_proj"],
                     init_lora_weights=False)
    peft_model = get_peft_model(model, cfg)
    peft_model.eval()
    yield peft_model, tok
    peft_model.unload()


def test_merged_adapter_gives_the_same_greedy_outputs_and_restores_weights(tiny_lora) -> None:  # type: ignore[no-untyped-def]
    import torch

    model, tok = tiny_lora
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reqs = _reqs(6)
    unmerged = InProcessBackend(model, tok, batch_size=3).generate(reqs)
    merged_backend = InProcessBackend(model, tok, batch_size=3, merge_adapter=True)
    merged = merged_backend.generate(reqs)
    _same(merged, unmerged)
    with InProcessBackend(model, tok).use_adapter(None):  # the adapter changes outputs: a real test
        assert [g.text for g in InProcessBackend(model, tok, batch_size=3).generate(reqs)] != [g.text for g in unmerged]
    with merged_backend.merged():
        assert all(m.merged for m in model.modules() if hasattr(m, "merged_adapters"))
        _same(merged_backend.generate(reqs), unmerged)
        with pytest.raises(RuntimeError), merged_backend.use_adapter(None):
            pass
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(m.merged for m in model.modules() if hasattr(m, "merged_adapters"))


def test_merged_is_a_no_op_without_adapter(lively) -> None:  # type: ignore[no-untyped-def]
    model, tok = lively
    backend = InProcessBackend(model, tok, merge_adapter=True)
    with backend.merged():
        _same(backend.generate(_reqs(2)), InProcessBackend(model, tok).generate(_reqs(2)))


def test_eval_cli_merges_a_single_adapter_once(tiny_model_dir, tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """``punie eval --adapter A`` runs with A merged, once for the whole run, and reports as before."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model

    import punie.models.loading as loading
    from punie.cli import main
    from punie.models.testing import tiny_model

    model, _ = tiny_model(seed=0)
    torch.manual_seed(3)
    get_peft_model(model, LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
                   ).save_pretrained(str(tmp_path / "adapter"))
    calls: list[int] = []
    real = loading.merged_adapter

    def counting(m):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(m)

    monkeypatch.setattr(loading, "merged_adapter", counting)
    rc = main(["eval", "--model", tiny_model_dir, "--adapter", str(tmp_path / "adapter"), "--limit", "3", "--json",
               "--no-progress", "--max-new-tokens", "4", "-o", str(tmp_path / "r" / "report.html")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert json.loads(captured.out)["overall"]["n"] == 3
    assert calls == [1]


def test_cascade_without_the_cpu_flash_kernel(lively, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The plain-matmul attention used where torch has no fused CPU kernel gives the same outputs."""
    from punie.backends import _cascade

    model, tok = lively
    reqs = _reqs(9)
    plain = InProcessBackend(model, tok, batch_size=3, **PLAIN).generate(reqs)
    monkeypatch.setattr(_cascade, "_flash_op", lambda: None)
    _same(InProcessBackend(model, tok, batch_size=3).generate(reqs), plain)
    backend = InProcessBackend(model, tok)  # one row at a time: lookup's extend mode
    _oracle(monkeypatch, backend, reqs)
    _same(_alone(backend, reqs), plain)


# ---- prompt-lookup speculative decoding ---------------------------------------------------------
LOOKUP_OFF = {"lookup": 0, "batch_size": 1}


def _alone(backend, reqs):  # type: ignore[no-untyped-def]
    """Each request in its own generate call: one row, the case lookup serves."""
    return [backend.generate([r])[0] for r in reqs]


@contextmanager
def _count_forwards(model) -> Iterator[list[int]]:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    handle = model.get_decoder().register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


class _Oracle:
    """Drafts the true greedy continuation (taken from the plain path), with every third draft
    wrong from its second token on, so steps accept all, part and none of a draft."""

    replies: dict[tuple[int, ...], list[int]] = {}

    def __init__(self, tokens, max_draft, *a, **k) -> None:  # type: ignore[no-untyped-def]
        self.prompt = tuple(tokens)
        self.reply = self.replies[self.prompt]
        self.produced: list[int] = []
        self.max_draft = max_draft
        self.steps = 0

    def update(self, new) -> None:  # type: ignore[no-untyped-def]
        self.produced += new

    def draft(self, limit):  # type: ignore[no-untyped-def]
        self.steps += 1
        p = len(self.produced)
        d = self.reply[p : p + min(limit, 1 + self.steps % self.max_draft)]
        if self.steps % 3 == 0 and len(d) > 1:
            d = [d[0]] + [(t + 1) % 1000 for t in d[1:]]
        return d


def _oracle(monkeypatch, backend, reqs) -> None:  # type: ignore[no-untyped-def]
    """Install ``_Oracle`` with the plain greedy replies of ``reqs`` (computed without stops)."""
    from punie.backends import _lookup

    plain = InProcessBackend(backend.model, backend.tokenizer, **PLAIN)
    _Oracle.replies = {}
    for r in reqs:
        row = plain._rows([r])[0]
        free = GenerationRequest(r.messages, r.tools, max_new_tokens=r.max_new_tokens)
        toks = [t for step in plain._decode(plain._rows([free]), {}) for _, t in step]
        _Oracle.replies[(*row.prefix, *row.suffix)] = toks
    monkeypatch.setattr(_lookup, "Drafter", _Oracle)


def test_lookup_gives_the_plain_greedy_outputs(lively) -> None:  # type: ignore[no-untyped-def]
    model, tok = lively
    reqs = _reqs(13)
    backend = InProcessBackend(model, tok)
    used = []
    original = backend._decode_lookup
    backend._decode_lookup = lambda *a: used.append(1) or original(*a)  # type: ignore[method-assign]
    _same(_alone(backend, reqs), _alone(InProcessBackend(model, tok, **PLAIN), reqs))
    assert len(used) == len(reqs)


def test_lookup_with_accepted_partial_and_rejected_drafts(lively, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Oracle drafts make most steps accept several tokens; outputs (and stop/length cuts) stay the
    plain ones, so accepted tokens' KV and the rewinds past rejected ones are right."""
    model, tok = lively
    reqs = [GenerationRequest(r.messages, max_new_tokens=r.max_new_tokens + 20) for r in _reqs(8)]
    plain = _alone(InProcessBackend(model, tok, **PLAIN), reqs)
    # stop strings cut inside a multi-token step: a piece of the middle of each plain reply
    reqs += [GenerationRequest(r.messages, max_new_tokens=r.max_new_tokens, stop=[g.text[len(g.text) // 2 :][:3]])
             for r, g in zip(reqs, plain, strict=True) if len(g.text) > 8]
    plain = _alone(InProcessBackend(model, tok, **PLAIN), reqs)
    assert {g.finish_reason for g in plain} == {"stop", "length"}
    backend = InProcessBackend(model, tok)
    _oracle(monkeypatch, backend, reqs)
    with _count_forwards(model) as calls:
        fast = _alone(backend, reqs)
    _same(fast, plain)
    assert len(calls) < sum(g.completion_tokens for g in fast) / 2  # drafts were accepted


def test_lookup_stream_deltas_join_to_the_generated_text(lively, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model, tok = lively
    reqs = _reqs(6)
    reqs[2] = GenerationRequest(reqs[2].messages, max_new_tokens=30, stop=["e"])
    backend = InProcessBackend(model, tok)
    _oracle(monkeypatch, backend, reqs)
    want = _alone(InProcessBackend(model, tok, **PLAIN), reqs)
    with _count_forwards(model) as calls:
        got = ["".join(backend.stream(r)) for r in reqs]
    assert got == [g.text for g in want]
    assert len(calls) < sum(g.completion_tokens for g in want)


def test_lookup_copies_a_repetitive_prompt_in_few_forwards(tiny) -> None:  # type: ignore[no-untyped-def]
    """The real drafter: the tiny model answers with one token over and over; with that token all
    over the prompt, drafts copy it and are accepted."""
    model, tok = tiny
    first = InProcessBackend(model, tok, **LOOKUP_OFF).generate(_reqs(1))[0]
    req = GenerationRequest([{"role": "user", "content": first.text[:8] * 20}], max_new_tokens=40)
    want = InProcessBackend(model, tok, **LOOKUP_OFF).generate([req])[0]
    with _count_forwards(model) as calls:
        got = InProcessBackend(model, tok).generate([req])[0]
    assert (got.text, got.completion_tokens) == (want.text, want.completion_tokens) and got.completion_tokens == 40
    assert len(calls) < 15


def test_lookup_only_for_a_single_greedy_row(lively) -> None:  # type: ignore[no-untyped-def]
    model, tok = lively
    backend = InProcessBackend(model, tok)
    used = []
    original = backend._decode_lookup
    backend._decode_lookup = lambda *a: used.append(1) or original(*a)  # type: ignore[method-assign]
    sampled = GenerationRequest([{"role": "user", "content": "Hi"}], max_new_tokens=8, temperature=0.9, seed=1)
    assert backend.generate([sampled])[0].text == InProcessBackend(model, tok, **PLAIN).generate([sampled])[0].text
    "".join(backend.stream(sampled))
    backend.generate(_reqs(3))  # several rows: the batched cascade path
    assert used == []
    backend.generate(_reqs(1))
    assert used == [1]
    off = InProcessBackend(model, tok, lookup=0)
    off._decode_lookup = lambda *a: used.append(2) or original(*a)  # type: ignore[method-assign]
    off.generate(_reqs(1))
    assert used == [1]


def test_cascade_extend_logits_match_a_plain_forward_after_rewind(lively) -> None:  # type: ignore[no-untyped-def]
    """Float check of the extend mode: a draft's logits at every position, also after a rewind."""
    import torch

    from punie.backends import _cascade

    model, tok = lively
    backend = InProcessBackend(model, tok)
    row = backend._rows(_reqs(1))[0]
    kv = _cascade.CascadeKV(backend._prefix_kv(row.prefix), 1, len(row.suffix) + 20)
    decoder = model.get_decoder()

    def run(ids: list[int], pos) -> torch.Tensor:  # type: ignore[no-untyped-def]
        out = decoder(input_ids=torch.tensor([ids]), position_ids=pos, cache=kv, punie_kv=kv)
        return model.lm_head(out.last_hidden_state[0])

    with torch.inference_mode(), _cascade.scoped(model):
        run(row.suffix, kv.begin_prefill([0], [len(row.suffix)]))
        run([5, 6, 7, 8], kv.begin_extend(0, 4))
        kv.rewind(0, len(row.suffix) + 2)  # keep 5, 6; drop 7, 8
        got = run([9, 10, 11], kv.begin_extend(0, 3))
    seq = [*row.prefix, *row.suffix, 5, 6, 9, 10, 11]
    with torch.inference_mode():
        full = model(input_ids=torch.tensor([seq])).logits[0, -3:]
    torch.testing.assert_close(got, full, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("tokens", "k", "want"), [
    ([1, 2, 3, 9, 1, 2, 3], 4, [9, 1, 2, 3]),  # longest n-gram; the copy runs on into the tail
    ([1, 2, 9, 2, 1, 2], 2, [9, 2]),  # [1, 2] beats the later single 2
    ([4, 1, 5, 1, 6, 1], 1, [6]),  # the latest occurrence
    ([5, 5], 4, [5, 5, 5, 5]),  # a loop drafts past its own end
    ([1, 2, 3], 3, []),  # nothing to copy
    ([1, 1], 0, []),
])
def test_find_draft(tokens, k, want) -> None:  # type: ignore[no-untyped-def]
    from punie.backends._lookup import find_draft

    assert find_draft(tokens, k) == want


def test_drafter_needs_a_two_token_match_and_drafts_full_length() -> None:
    from punie.backends._lookup import Drafter

    d = Drafter([1, 2, 3, 4, 5, 6, 1, 2], max_draft=3)
    assert d.draft(100) == [3, 4, 5] and d.draft(2) == [3, 4]
    d.update([9, 6])  # ends in 9, 6: only "6" occurred before, a single-token match
    assert d.draft(100) == []
    d.update([1])  # "6, 1" occurred before
    assert d.draft(100) == [2, 9, 6]


def test_keep_merged_folds_once_switches_exactly_and_restores(tiny_lora) -> None:  # type: ignore[no-untyped-def]
    """keep_merged (punie serve): same outputs as the unmerged adapter and the bare base, whatever the
    order of requests; the merge is kept between calls for one adapter; unmerge() restores the weights."""
    import torch

    model, tok = tiny_lora
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reqs = _reqs(4)
    plain = InProcessBackend(model, tok, batch_size=2)
    with plain.use_adapter("default"):
        want_adapter = plain.generate(reqs)
    with plain.use_adapter(None):
        want_base = plain.generate(reqs)
    assert [g.text for g in want_adapter] != [g.text for g in want_base]

    kept = InProcessBackend(model, tok, batch_size=2, keep_merged=True)
    layers = [m for m in model.modules() if hasattr(m, "merged_adapters")]
    order = (("default", want_adapter), ("default", want_adapter), (None, want_base), ("default", want_adapter))
    for name, want in order:
        with kept.use_adapter(name):
            _same(kept.generate(reqs), want)
            _same([kept.generate([r])[0] for r in reqs[:2]], want[:2])  # lone requests (lookup path) too
        # between calls: folded in while the adapter was last used, plain base weights after a base call
        assert all(m.merged for m in layers) == (name is not None)
    kept.unmerge()
    assert not any(m.merged for m in layers)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
