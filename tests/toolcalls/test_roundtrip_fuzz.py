"""Properties: render → parse is the identity; parse never raises on any input or mutation."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolcall_cases import CASES, SAME_CALL_TABLE, TOOLS

from punie.toolcalls import parse, render_assistant, render_calls
from punie.toolcalls.registry import INTERNAL_ERROR

# strings that stress the canonical format: its own tags, quotes, backslashes, newlines, other markers
TRICKY = ["</tool_call>", "<tool_call>", '"', "'", "\\", "\n", "\\n", "</think>", "<think>", "```", "{", "}",
          "[TOOL_CALLS]", "<function=x>", "\u2028", "é", "😀", "\x00"]
tricky_text = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=4)), max_size=6).map("".join),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=8,
)
calls_strategy = st.lists(
    st.fixed_dictionaries(
        {"name": tricky_text.filter(bool), "arguments": st.dictionaries(tricky_text, json_values, max_size=4)}
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls_strategy)
def test_parse_of_render_is_identity(calls: list[dict]) -> None:
    res = parse(render_calls(calls))
    assert res.calls == calls
    assert res.errors == []
    assert res.format == ("hermes" if calls else "none")


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abc .,!?\n", max_size=40), calls_strategy)
def test_render_assistant_round_trips_content_and_calls(content: str, calls: list[dict]) -> None:
    res = parse(render_assistant(content, calls))
    assert res.calls == calls
    assert res.content == content.strip()


def _check_never_raises(text: str) -> None:
    res = parse(text, TOOLS)
    assert not any(INTERNAL_ERROR in e for e in res.errors), (text, res.errors)
    for call in res.calls:
        assert isinstance(call["name"], str) and call["name"]
        assert isinstance(call["arguments"], dict)
    assert isinstance(res.content, str) and isinstance(res.format, str)


MARKERS = ["<tool_call>", "</tool_call>", "<function=", "</function>", "<parameter=", "</parameter>",
           "[TOOL_CALLS]", "[ARGS]", "<|python_tag|>", "```json\n", "```", "<think>", "</think>", "<arg_key>",
           "<arg_value>", "functools[", "<|tool_call|>", "<tool_calls>", "<|tool_call_begin|>",
           "<|tool_call_argument_begin|>", "<|tool_call_end|>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>",
           "<｜tool▁call▁end｜>", "function", '{"name": ', '"arguments": ', '"parameters": ',
           "{", "}", "[", "]", "(", ")", '"', "'", ",", ";", "\\", "\n", "read_file", "get_weather", "=", ":",
           "true", "null", "1e999", "[f(", "\x00", "\ud800"]


# sampled pieces (markers and single characters) keep generation cheap enough for thousands of examples
PIECES = MARKERS + list("abcxyz _-./:0123456789\t\r\u00e9\u4e2d")


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_never_raises_on_marker_soup(text: str) -> None:
    _check_never_raises(text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_never_raises_on_arbitrary_text(text: str) -> None:
    _check_never_raises(text)


def _real_outputs() -> list[str]:
    out = [text for _, text in SAME_CALL_TABLE]
    for c in CASES.values():
        out += [c.no_call, c.one, c.several, c.typed, c.empty, c.escaped, *c.malformed, *c.truncated]
    return out


def test_never_raises_on_truncation_at_every_position() -> None:
    for text in _real_outputs():
        for cut in range(len(text)):
            _check_never_raises(text[:cut])
            _check_never_raises(text[cut:])


def test_never_raises_on_random_byte_flips() -> None:
    rng = random.Random(1234)
    for text in _real_outputs():
        data = text.encode("utf-8")
        for _ in range(40):
            buf = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(buf))
                op = rng.random()
                if op < 0.6:
                    buf[i] ^= 1 << rng.randrange(8)
                elif op < 0.8:
                    del buf[i]
                else:
                    buf.insert(i, rng.randrange(256))
            _check_never_raises(bytes(buf).decode("utf-8", "replace"))


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for text in ("<tool_call>" + "[" * 100_000, '{"name": "f", "arguments": ' + "[" * 5000 + "]" * 5000 + "}",
                 "[f(x=" + "[" * 3000 + "]" * 3000 + ")]"):
        res = parse(text)
        assert res.calls == [] or isinstance(res.calls[0]["arguments"], dict)


def test_deeply_nested_json_is_reported_as_an_error() -> None:
    res = parse("<tool_call>" + "[" * 100_000 + "]" * 100_000 + "</tool_call>")
    assert res.calls == [] and res.errors and not any(INTERNAL_ERROR in e for e in res.errors)
