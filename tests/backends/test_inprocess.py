from __future__ import annotations

import pytest

from punie.backends.base import Backend, GenerationRequest
from punie.backends.inprocess import InProcessBackend

PROMPTS = ["Show me README.md", "Hi", "Run the tests with pytest please", "What is a decorator?", "Open a.py", "x" * 40]


def _reqs(n: int = 6, max_new: int = 12, **kw) -> list[GenerationRequest]:  # type: ignore[no-untyped-def]
    return [GenerationRequest([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                              max_new_tokens=max_new + i, **kw)
            for i in range(n)]


def _naive(model, tok, builder, req: GenerationRequest) -> list[int]:  # type: ignore[no-untyped-def]
    """Reference: plain model.generate on one unpadded prompt, no prefix cache."""
    import torch

    ids = torch.tensor([builder.encode_prompt(req.messages, req.tools).input_ids])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=req.max_new_tokens, do_sample=False,
                         eos_token_id=sorted(builder.end_of_turn_ids), pad_token_id=tok.pad_token_id)
    return out[0, ids.shape[1]:].tolist()


def test_is_a_backend(tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    assert isinstance(InProcessBackend(model, tok), Backend)


def test_prefix_cache_gives_identical_greedy_outputs(tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    reqs = _reqs()
    cached = InProcessBackend(model, tok, batch_size=4).generate(reqs)
    plain = InProcessBackend(model, tok, batch_size=4, prefix_cache=False).generate(reqs)
    single = InProcessBackend(model, tok, batch_size=1, prefix_cache=False).generate(reqs)
    assert [g.text for g in cached] == [g.text for g in plain] == [g.text for g in single]
    assert [g.completion_tokens for g in cached] == [r.max_new_tokens for r in reqs]  # random model never stops


def test_matches_transformers_generate(tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    backend = InProcessBackend(model, tok, batch_size=3)
    reqs = _reqs(3)
    gens = backend.generate(reqs)
    for req, gen in zip(reqs, gens, strict=True):
        ref = _naive(model, tok, backend.builder, req)
        assert gen.text == tok.decode(ref, skip_special_tokens=True)


def test_order_kept_and_progress_reported(tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    seen: list[int] = []
    reqs = _reqs(5)
    gens = InProcessBackend(model, tok, batch_size=2).generate(reqs, progress=seen.append)
    assert sum(seen) == 5
    singles = [InProcessBackend(model, tok).generate([r])[0].text for r in reqs]
    assert [g.text for g in gens] == singles


def test_stops_at_end_of_turn(tiny) -> None:  # type: ignore[no-untyped-def]
    import torch

    model, tok = tiny
    backend = InProcessBackend(model, tok)
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    with torch.no_grad():
        model.lm_head.weight.data[eot] += 1000.0  # make end-of-turn the argmax everywhere
    try:
        gen = backend.generate(_reqs(1, max_new=20))[0]
    finally:
        with torch.no_grad():
            model.lm_head.weight.data[eot] -= 1000.0
    assert gen.finish_reason == "stop" and gen.completion_tokens == 1 and gen.text == ""


def test_stop_strings_and_stream_agree(tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    backend = InProcessBackend(model, tok)
    req = _reqs(1, max_new=16)[0]
    full = backend.generate([req])[0].text
    assert "".join(backend.stream(req)) == full
    if len(full) > 4:
        stop = full[2:4]
        req2 = GenerationRequest(req.messages, max_new_tokens=16, stop=[stop])
        cut = backend.generate([req2])[0]
        assert stop not in cut.text and full.startswith(cut.text)


def test_sampling_is_seeded(tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    backend = InProcessBackend(model, tok)
    r = _reqs(2, max_new=10, temperature=1.0, top_p=0.9, seed=7)
    assert [g.text for g in backend.generate(r)] == [g.text for g in backend.generate(r)]


@pytest.mark.slow
def test_real_model_prefix_cache_identical() -> None:
    backend = InProcessBackend.from_pretrained(None, batch_size=6)
    reqs = _reqs(6, max_new=24)
    plain = InProcessBackend(backend.model, backend.tokenizer, prefix_cache=False, batch_size=6)
    assert [g.text for g in backend.generate(reqs)] == [g.text for g in plain.generate(reqs)]


def test_matches_transformers_generate_with_varied_replies(lively) -> None:  # type: ignore[no-untyped-def]
    """As above on a model whose replies differ per prompt and stop at different steps."""
    model, tok = lively
    backend = InProcessBackend(model, tok, batch_size=4)
    reqs = _reqs(6, max_new=10)
    gens = backend.generate(reqs)
    refs = [_naive(model, tok, backend.builder, req) for req in reqs]
    assert [g.text for g in gens] == [tok.decode(ref, skip_special_tokens=True) for ref in refs]
    assert len({g.text for g in gens}) == len(reqs) and {g.finish_reason for g in gens} == {"stop", "length"}
