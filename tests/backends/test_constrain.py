"""Constrained tool-call decoding: grammar masks, every tool_choice mode, every decode path."""

from __future__ import annotations

import json
import random
import re
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from punie.backends import _constrain
from punie.backends.base import GenerationRequest, InvalidRequest
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


@pytest.fixture(scope="module")
def vocab(tiny):  # type: ignore[no-untyped-def]
    model, tok = tiny
    from punie.models import PromptBuilder

    stops = tuple(sorted(PromptBuilder(tok).end_of_turn_ids))
    return _constrain.vocab_for(tok, stops, model.get_output_embeddings().weight.shape[0])


def parse(text: str, tools: object = None) -> SimpleNamespace:
    """Canonical blocks read strictly by hand (JSON between the markers), independent of the parsers."""
    calls, errors = [], []
    for body in re.findall(r"<tool_call>\n(.*?)\n</tool_call>", text, flags=re.S):
        try:
            obj = json.loads(body)
            calls.append({"name": obj["name"], "arguments": obj["arguments"]})
        except (ValueError, KeyError) as exc:
            errors.append(repr(exc))
    return SimpleNamespace(calls=calls, errors=errors)


def _walk(g: _constrain.Grammar, ids: list[int]) -> tuple[_constrain.State, int | None]:
    """Advance through ``ids``; the index of the first token the mask refuses, else None."""
    state = g.start
    for i, t in enumerate(ids):
        m = g.mask(state)
        if m is not None and not bool(m[t]):
            return state, i
        state = g.advance(state, t)
    return state, None


def _ids(tok, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return list(tok(text, add_special_tokens=False)["input_ids"])


def test_canonical_calls_pass_and_others_are_refused(tiny, vocab) -> None:  # type: ignore[no-untyped-def]
    _, tok = tiny
    tools = default_tools()
    g = _constrain.grammar_for(vocab, _constrain.Choice("auto"), tools)
    good = "Let me look.\n" + render_calls(
        [{"name": "read_file", "arguments": {"path": "src/app.py"}},
         {"name": "run_command", "arguments": {"command": "ls -la", "background": True}}]
    )
    state, bad = _walk(g, _ids(tok, good))
    assert bad is None
    assert bool(g.mask(state)[sorted(vocab.stop_ids)[0]])  # the reply may end after the calls
    for wrong in (
        '<tool_call>\n{"name": "delete_everything", "arguments": {}}\n</tool_call>',  # not offered
        '<tool_call>\n{"name": "read_file", "arguments": {"paht": "a"}}\n</tool_call>',  # unknown key
        '<tool_call>\n{"name": "read_file", "arguments": {}}\n</tool_call>',  # required key missing
        '<tool_call>\n{"name": "run_command", "arguments": {"command": "ls", "background": "yes"}}',  # type
    ):
        assert _walk(g, _ids(tok, wrong))[1] is not None, wrong


def test_modes(tiny, vocab) -> None:  # type: ignore[no-untyped-def]
    _, tok = tiny
    call = render_calls([{"name": "read_file", "arguments": {"path": "a"}}])
    two = render_calls([{"name": "read_file", "arguments": {"path": "a"}}] * 2)
    none = _constrain.grammar_for(vocab, _constrain.Choice("none"), default_tools())
    assert _walk(none, _ids(tok, "Plain <b>text</b> is fine"))[1] is None
    assert _walk(none, _ids(tok, "x " + call))[1] is not None  # the marker can't be completed
    req = _constrain.grammar_for(vocab, _constrain.Choice("required"), default_tools())
    assert _walk(req, _ids(tok, "Sure. " + call))[1] == 0  # a call from the first token
    assert _walk(req, _ids(tok, two))[1] is None
    single = _constrain.grammar_for(vocab, _constrain.Choice("required", parallel=False), default_tools())
    assert _walk(single, _ids(tok, two))[1] is not None
    state, bad = _walk(single, _ids(tok, call))
    assert bad is None
    assert int(single.mask(state).sum()) == len(vocab.stop_ids)  # only end-of-turn after one call
    named = _constrain.grammar_for(vocab, _constrain.parse_choice({"function": {"name": "write_file"}}),
                                   default_tools())
    assert _walk(named, _ids(tok, call))[1] is not None
    write = render_calls([{"name": "write_file", "arguments": {"path": "a", "content": "b"}}])
    assert _walk(named, _ids(tok, write))[1] is None


def test_marker_split_across_tokens_still_constrains(tiny, vocab) -> None:  # type: ignore[no-untyped-def]
    _, tok = tiny
    g = _constrain.grammar_for(vocab, _constrain.Choice("auto"), default_tools())
    # "<tool" then "_call>" style splits (whatever the tokenizer makes of it): the call part is held
    for text in ("<tool_call>", "a<tool_call>", "<<tool_call>"):
        state, bad = _walk(g, _ids(tok, text))
        assert bad is None and state[0] == "call", text


def test_bad_schemas_name_the_field() -> None:
    bad = [
        ({"type": "object", "properties": [1]}, "parameters.properties"),
        ({"type": "array"}, "parameters.type"),
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "parameters.properties.a.type"),
        ({"type": "object", "properties": {"a": "x"}}, "parameters.properties.a"),
    ]
    for params, where in bad:
        tools = [{"type": "function", "function": {"name": "t", "parameters": params}}]
        with pytest.raises(_constrain.ToolSchemaError) as err:
            _constrain.check_tools(tools)
        assert err.value.param.startswith("tools[0].function." + where.split(".")[0]), err.value.param
        assert where.split(".")[-1] in err.value.param or where.endswith("type"), (where, err.value.param)
    deep: dict = {"type": "object"}
    for _ in range(40):
        deep = {"type": "object", "properties": {"x": deep}}
    with pytest.raises(_constrain.ToolSchemaError, match="deeper"):
        _constrain.check_tools([{"type": "function", "function": {"name": "t", "parameters": deep}}])


# ---- the backend, every decode path ---------------------------------------------------------------------
PATHS = [dict(), dict(cascade=False), dict(lookup=0)]


@pytest.mark.parametrize("opts", PATHS, ids=["lookup", "plain", "cascade"])
def test_backend_modes_on_every_path(tiny, opts) -> None:  # type: ignore[no-untyped-def]
    from punie.backends.inprocess import InProcessBackend

    model, tok = tiny
    backend = InProcessBackend(model, tok, **opts)
    tools = [FLAG_TOOL, *default_tools()[:2]]
    msgs = [[{"role": "user", "content": f"set it {i}"}] for i in range(2)]
    named = {"type": "function", "function": {"name": "set_flag"}}
    gens = backend.generate([GenerationRequest(m, tools=tools, max_new_tokens=90, tool_choice=named) for m in msgs])
    for g in gens:
        r = parse(g.text, tools)
        assert r.calls and r.calls[0]["name"] == "set_flag", g.text
        Draft202012Validator(FLAG_TOOL["function"]["parameters"]).validate(r.calls[0]["arguments"])
        assert g.finish_reason == "stop"
    required = [GenerationRequest(m, tools=tools, max_new_tokens=30, tool_choice="required") for m in msgs]
    for g in backend.generate(required):
        assert g.text.startswith("<tool_call>\n{\"name\": \"")
    for g in backend.generate([GenerationRequest(m, tools=tools, max_new_tokens=30, tool_choice="none") for m in msgs]):
        assert "<tool_call>" not in g.text
    # sampled rows too
    req = GenerationRequest(msgs[0], tools=tools, max_new_tokens=90, tool_choice=named, temperature=1.0, seed=3)
    assert parse(backend.generate([req])[0].text, tools).calls[0]["name"] == "set_flag"
    streamed = "".join(backend.stream(GenerationRequest(msgs[0], tools=tools, max_new_tokens=90, tool_choice=named)))
    whole = backend.generate([GenerationRequest(msgs[0], tools=tools, max_new_tokens=90, tool_choice=named)])[0]
    assert streamed == whole.text


def test_unconstrained_output_is_unchanged(tiny) -> None:  # type: ignore[no-untyped-def]
    """auto on a model that never starts a call = the free output (masks only bite inside calls)."""
    from punie.backends.inprocess import InProcessBackend

    model, tok = tiny
    backend = InProcessBackend(model, tok)
    m = [{"role": "user", "content": "hello"}]
    free = backend.generate([GenerationRequest(m, max_new_tokens=12)])[0].text
    auto = backend.generate([GenerationRequest(m, max_new_tokens=12, tool_choice="auto")])[0].text
    if "<tool_call>" not in free:
        assert auto == free


def test_check_request(tiny) -> None:  # type: ignore[no-untyped-def]
    from punie.backends.inprocess import InProcessBackend

    model, tok = tiny
    backend = InProcessBackend(model, tok)
    ctx = backend.context_length
    assert ctx
    long = GenerationRequest([{"role": "user", "content": "word " * ctx}], max_new_tokens=8)
    with pytest.raises(InvalidRequest) as err:
        backend.check_request(long)
    assert err.value.code == "context_length_exceeded"
    ok = GenerationRequest([{"role": "user", "content": "hi"}], max_new_tokens=ctx)
    with pytest.raises(InvalidRequest):
        backend.check_request(ok)
    n = backend.check_request(ok, explicit_max_tokens=False)  # a default budget shrinks to fit
    assert n + ok.max_new_tokens == ctx
    bad = GenerationRequest([{"role": "user", "content": "hi"}], tools=[], tool_choice="required")
    with pytest.raises(InvalidRequest):
        backend.check_request(bad)


# ---- property: constrained output is always a schema-valid call -------------------------------------------
_scalar = st.sampled_from([{"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"},
                           {"enum": ["a", "b c", "d\"e"]}, {"type": "null"}])
_names = st.sampled_from(["path", "n", "flag", "mode", "x_y", "deep"])


def _obj(children: st.SearchStrategy) -> st.SearchStrategy:
    @st.composite
    def build(draw):  # type: ignore[no-untyped-def]
        props = draw(st.dictionaries(_names, children, min_size=1, max_size=3))
        req = draw(st.lists(st.sampled_from(sorted(props)), unique=True))
        return {"type": "object", "properties": props, "required": req, "additionalProperties": False}

    return build()


_value = st.recursive(_scalar, lambda inner: _obj(inner) | st.builds(lambda i: {"type": "array", "items": i}, inner),
                      max_leaves=4)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(params=_obj(_value), seed=st.integers(0, 10_000))
def test_property_constrained_output_is_a_schema_valid_call(vocab, params, seed) -> None:  # type: ignore[no-untyped-def]
    tools = [{"type": "function", "function": {"name": "tool_a", "parameters": params}}]
    g = _constrain.grammar_for(vocab, _constrain.Choice("required", parallel=False), tools)
    rng = random.Random(seed)
    # a random "model" that likes closing tokens, so strings and arrays end within the budget
    closing = {i for i, b in enumerate(vocab.token_bytes) if b and any(c in b for c in b'"}],')}
    state, out = g.start, []
    for _ in range(400):
        m = g.mask(state)
        allowed = m.nonzero().view(-1).tolist()
        assert allowed, "a state with no allowed token"
        pref = [t for t in allowed if t in closing] if rng.random() < 0.6 else []
        t = rng.choice(pref or allowed)
        if t in vocab.stop_ids:
            break
        out.append(t)
        state = g.advance(state, t)
    else:
        pytest.skip("budget ran out inside a value")
    text = b"".join(vocab.token_bytes[t] or b"" for t in out).decode("utf-8", "replace")
    r = parse(text, tools)
    assert r.calls, (text, r.errors)
    assert r.calls[0]["name"] == "tool_a"
    Draft202012Validator(params).validate(r.calls[0]["arguments"])
    json.dumps(r.calls[0]["arguments"])
