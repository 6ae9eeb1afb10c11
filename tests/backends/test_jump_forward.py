"""Jump-forward decoding: grammar-forced tool-call text runs through the model in one forward."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from punie.backends import _constrain
from punie.backends.base import GenerationRequest
from punie.toolcalls import default_tools, render_calls

FLAG_TOOL = {
    "type": "function",
    "function": {
        "name": "set_flag",
        "parameters": {
            "type": "object",
            "properties": {"flag": {"type": "boolean"}, "mode": {"enum": ["fast", "slow"]}},
            "required": ["flag", "mode"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [FLAG_TOOL, *default_tools()]
NAMED = {"type": "function", "function": {"name": "set_flag"}}
PATHS = {"lookup": {}, "plain": {"cascade": False}, "cascade": {"lookup": 0}}


@pytest.fixture(scope="module")
def vocab(tiny):  # type: ignore[no-untyped-def]
    model, tok = tiny
    from punie.models import PromptBuilder

    stops = tuple(sorted(PromptBuilder(tok).end_of_turn_ids))
    return _constrain.vocab_for(tok, stops, model.get_output_embeddings().weight.shape[0])


def _calls(text: str) -> list[dict]:
    return [json.loads(b) for b in re.findall(r"<tool_call>\n(.*?)\n</tool_call>", text, flags=re.S)]


def _requests() -> list[GenerationRequest]:
    reqs = []
    for i in range(3):
        m = [{"role": "user", "content": f"set it {i} " * (i + 1)}]
        reqs.append(GenerationRequest(m, tools=TOOLS, max_new_tokens=80, tool_choice=NAMED))
        reqs.append(GenerationRequest(m, tools=TOOLS, max_new_tokens=40 + 5 * i, tool_choice="required"))
        reqs.append(GenerationRequest(m, tools=TOOLS, max_new_tokens=24, tool_choice="auto"))
    return reqs


# ---- the grammar: what is forced, and its tokens ---------------------------------------------------------
def test_forced_runs_are_the_canonical_tokens_of_the_forced_text(tiny, vocab) -> None:  # type: ignore[no-untyped-def]
    """Walking a canonical reply: wherever the grammar forces text, its run is the tokenizer's split of
    exactly that text, it is what the reply says next, and the masks allow every token of it."""
    _, tok = tiny
    g = _constrain.grammar_for(vocab, _constrain.Choice("required"), default_tools())
    text = render_calls([{"name": "read_file", "arguments": {"path": "src/app.py"}},
                         {"name": "run_command", "arguments": {"command": "ls", "background": True}}])
    ids = list(tok(text, add_special_tokens=False)["input_ids"])
    state, forced_total = g.start, 0
    for i, t in enumerate(ids):
        run = g.forced(state)
        if run.tokens:
            data = g.forced_bytes(state)
            assert b"".join(vocab.token_bytes[x] for x in run.tokens) == data
            assert tok.decode(list(run.tokens)) == data.decode()
            assert text[len(tok.decode(ids[:i])):].startswith(data.decode())
            s = state
            for x in run.tokens:
                assert bool(g.mask(s)[x])
                s = g.advance(s, x)
            forced_total += 1
        state = g.advance(state, t)
    assert forced_total > len(ids) // 2  # most of a call's text is forced
    start = g.forced(g.start)
    assert tok.decode(list(start.tokens)) == '<tool_call>\n{"name": "'
    after_name = g.start
    for t in tok('<tool_call>\n{"name": "read', add_special_tokens=False)["input_ids"]:
        after_name = g.advance(after_name, t)
    assert tok.decode(list(g.forced(after_name).tokens)) == '_file", "arguments": {"path": "'
    assert not g.forced(after_name).sure  # ' "' may merge with the value's first characters
    assert g.forced(after_name).take(False) == g.forced(after_name).tokens[:-1]


def test_layout_is_json_dumps(tiny, vocab) -> None:  # type: ignore[no-untyped-def]
    """One JSON layout (json.dumps'): the separators are forced text; other spacing is refused."""
    _, tok = tiny
    g = _constrain.grammar_for(vocab, _constrain.Choice("required"), TOOLS)

    def ok(s: str) -> bool:
        state = g.start
        for t in tok(s, add_special_tokens=False)["input_ids"]:
            if not bool(g.mask(state)[t]):
                return False
            state = g.advance(state, t)
        return True

    call = {"name": "set_flag", "arguments": {"flag": True, "mode": "slow"}}
    assert ok(render_calls([call]))
    body = json.dumps(call["arguments"])
    for other in (body.replace("{", "{ "), body.replace(":", " :"), body.replace("}", " }")):
        assert not ok(render_calls([call]).replace(body, other)), other


# ---- the backend -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(PATHS))
def test_jump_forward_keeps_greedy_text_and_saves_forwards(tiny, path) -> None:  # type: ignore[no-untyped-def]
    from punie.backends.inprocess import InProcessBackend

    model, tok = tiny
    off = InProcessBackend(model, tok, jump_forward=False, **PATHS[path])
    on = InProcessBackend(model, tok, **PATHS[path])
    reqs = _requests()
    for batched in (False, True):
        off.decode_stats.reset()
        on.decode_stats.reset()
        if batched:
            a, b = off.generate(reqs), on.generate(reqs)
        else:
            a = [off.generate([r])[0] for r in reqs]
            b = [on.generate([r])[0] for r in reqs]
        assert [g.text for g in a] == [g.text for g in b]
        assert [g.finish_reason for g in a] == [g.finish_reason for g in b]
        assert [g.completion_tokens for g in a] == [g.completion_tokens for g in b]
        assert off.decode_stats.jump_tokens == 0
        assert on.decode_stats.jump_tokens > 0
        assert on.decode_stats.forwards < off.decode_stats.forwards
        if not batched and path != "lookup":
            # one row: every kept forced token is exactly one forward fewer
            assert off.decode_stats.forwards == on.decode_stats.forwards + on.decode_stats.jump_tokens
    for g, r in zip(b, reqs, strict=True):
        if r.tool_choice == NAMED and g.finish_reason == "stop":
            (call,) = _calls(g.text)
            assert call["name"] == "set_flag"
            Draft202012Validator(FLAG_TOOL["function"]["parameters"]).validate(call["arguments"])


def test_forced_run_rides_in_the_forward_of_the_token_before(tiny) -> None:  # type: ignore[no-untyped-def]
    """A named call's opening is forced text from the first token on: it goes through the model in one
    forward (lookup path: with the prompt; plain and cascade: after the first token ``<``)."""
    from punie.backends.inprocess import InProcessBackend

    model, tok = tiny
    seen: list[list[int]] = []
    hook = model.get_input_embeddings().register_forward_hook(lambda m, a, o: seen.append(a[0][0].tolist()))
    # "force": the tokens are taken as they are (verify mode may cut a run where this random model
    # would split the text otherwise); the trailing ' ' is left out (' true' / ' false' may follow)
    opening = '<tool_call>\n{"name": "set_flag", "arguments": {"flag":'
    run = list(tok(opening, add_special_tokens=False)["input_ids"])
    try:
        for name, opts in PATHS.items():
            backend = InProcessBackend(model, tok, jump_forward="force", **opts)
            req = GenerationRequest([{"role": "user", "content": "go"}], tools=TOOLS, max_new_tokens=60,
                                    tool_choice=NAMED)
            seen.clear()
            assert backend.generate([req])[0].text.startswith(opening)
            if name == "lookup":  # the prompt's suffix, then the whole opening
                assert any(len(ids) > len(run) and ids[-len(run):] == run for ids in seen), name
            else:  # '<' picked from the prefill, then the rest in one forward
                assert run in seen, name
    finally:
        hook.remove()


def test_force_mode_and_sampled_rows_still_give_schema_valid_calls(tiny) -> None:  # type: ignore[no-untyped-def]
    from punie.backends.inprocess import InProcessBackend

    model, tok = tiny
    validator = Draft202012Validator(FLAG_TOOL["function"]["parameters"])
    for opts in PATHS.values():
        for jump, temp in (("force", 0.0), (True, 1.0)):
            backend = InProcessBackend(model, tok, jump_forward=jump, **opts)
            reqs = [GenerationRequest([{"role": "user", "content": f"flag {i}"}], tools=TOOLS, max_new_tokens=80,
                                      tool_choice=NAMED, temperature=temp, seed=i) for i in range(3)]
            for g in [*backend.generate(reqs), backend.generate(reqs[:1])[0]]:
                assert g.finish_reason == "stop", g.text
                (call,) = _calls(g.text)
                assert call["name"] == "set_flag"
                validator.validate(call["arguments"])
            assert backend.decode_stats.jump_tokens > 0 and backend.decode_stats.jump_rejected == 0


def test_stream_equals_generate_with_jump_forward(tiny) -> None:  # type: ignore[no-untyped-def]
    from punie.backends.inprocess import InProcessBackend

    model, tok = tiny
    for opts in PATHS.values():
        backend = InProcessBackend(model, tok, **opts)
        for req in _requests()[:3]:
            assert "".join(backend.stream(req)) == backend.generate([req])[0].text


def test_option_values(tiny) -> None:  # type: ignore[no-untyped-def]
    from punie.backends._decode_plain import PlainDecoder
    from punie.backends.inprocess import InProcessBackend

    model, tok = tiny
    assert InProcessBackend(model, tok).jump_forward == "verify"
    assert InProcessBackend(model, tok, jump_forward="force").jump_forward == "force"
    assert InProcessBackend(model, tok, jump_forward=False).jump_forward == ""
    with pytest.raises(ValueError):
        InProcessBackend(model, tok, jump_forward="sometimes")
    width = PlainDecoder._width
    cpu = model.device
    assert width(None, [1, 1, 11], cpu) < 11  # one long run does not pad every row of a CPU batch
    assert width(None, [9, 8, 11], cpu) == 11
    assert width(None, [11], cpu) == 11
