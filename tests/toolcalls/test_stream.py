"""The incremental parser: any chunking of a text gives exactly ``parse`` of the whole text."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from negatives import NEGATIVES
from toolcall_cases import CASES, SAME_CALL_TABLE, TOOLS

from punie.toolcalls import parse
from punie.toolcalls.stream import (
    ArgsWriter,
    ArgumentsDelta,
    CallDropped,
    CallEnd,
    CallStart,
    Content,
    StreamParser,
    replay,
)

MIXED = [
    'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>\n'
    '<tool_call>{"name": "get_time", "arguments": {"timezone": "Asia/Tokyo"}}</tool_call>',
    '{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n<tool_call>{"name": "get_time", "arguments": {}}</tool_call>',
    'First ```json\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n```\n<tool_call>{"name": "get_time", '
    '"arguments": {}}</tool_call>',
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Tokyo"}}</tool_call> Later: {"name": "echo", "arguments": {}}',
    '<think>hmm {"name": "echo", "arguments": {}}</think>Hello there, no call.',
    "I think so</think><tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>",
    "Tokyo is sunny. get_weather is the tool I would use.",
    "get_weather(city=\"Tokyo\")",
    "echo (a friendly word)",
]


def corpus() -> list[str]:
    out = [t for _, t in SAME_CALL_TABLE] + MIXED + NEGATIVES
    for c in CASES.values():
        out += [c.no_call, c.one, c.several, c.typed, c.empty, c.escaped, *c.malformed, *c.truncated]
    return out


TEXTS = corpus()


def _check(text: str, cuts: list[int]) -> None:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    chunks = [text[a:b] for a, b in zip(points, points[1:], strict=False)]
    # a "</think>" with no "<think>" before it closes a block the prompt opened: the caller says so
    reasoning = "</think>" in text and "<think>" not in text[: text.find("</think>")]
    content, calls, res = replay(chunks, TOOLS, reasoning=reasoning)
    whole = parse(text, TOOLS)
    assert (res.calls, res.content, res.format, res.errors) == (whole.calls, whole.content, whole.format, whole.errors)
    assert content == whole.content, (text, chunks)
    assert calls == whole.calls, (text, chunks)


def test_every_text_streamed_one_character_at_a_time() -> None:
    for text in TEXTS:
        _check(text, list(range(len(text))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEXTS), st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_rechunking_gives_the_parse_of_the_whole_text(text: str, cuts: list[int]) -> None:
    _check(text, cuts)


def test_content_streams_before_the_markup_and_calls_before_the_end() -> None:
    text = CASES["hermes"].one + "\n" + CASES["hermes"].several
    sp = StreamParser(TOOLS)
    seen: list[tuple[int, object]] = []
    for i, ch in enumerate(text):
        seen += [(i, e) for e in sp.feed(ch)]
    first_content = next(i for i, e in seen if isinstance(e, Content))
    assert first_content < text.index("<tool_call>")
    ends = [i for i, e in seen if isinstance(e, CallEnd)]
    # the first two while the text goes on; the last one ends the text, so it waits for finish()
    assert len(ends) == 2 and ends[0] <= text.index("<tool_call>", text.index("</tool_call>"))
    # each call: its name, its arguments in pieces as they are written, its end
    kinds = [type(e) for _, e in seen if not isinstance(e, Content)]
    assert kinds[0] is CallStart and kinds.count(CallStart) == 3 and kinds.count(CallEnd) == 2
    assert kinds.count(ArgumentsDelta) > 3
    assert [type(e) for e in sp.finish()] == [CallEnd]


def test_arguments_stream_while_the_call_is_written() -> None:
    args = {"path": "hello.py", "content": 'def main():\n    print("hi é")\n', "n": -2.5, "ok": True}
    text = 'Writing it.\n<tool_call>\n{"name": "write_file", "arguments": ' + json.dumps(args) + "}\n</tool_call>"
    sp = StreamParser()
    seen: list[tuple[int, object]] = []
    for i in range(len(text)):
        seen += [(i, e) for e in sp.feed(text[i])]
    start = next(i for i, e in seen if isinstance(e, CallStart))
    assert start <= text.index('{"path"')  # the name goes out as the arguments begin
    deltas = [(i, e.text) for i, e in seen if isinstance(e, ArgumentsDelta)]
    assert len(deltas) > 10 and deltas[0][0] < text.index('"content"')
    rest = sp.finish()
    got = "".join(t for _, t in deltas) + "".join(e.text for e in rest if isinstance(e, ArgumentsDelta))
    assert got == json.dumps(args, ensure_ascii=False)  # exactly what a whole reply's arguments read
    assert isinstance(rest[-1], CallEnd) and rest[-1].call == {"name": "write_file", "arguments": args}


def test_a_call_cut_off_is_dropped_not_committed() -> None:
    sp = StreamParser()
    events = sp.feed('<tool_call>{"name": "read_file", "arguments": {"path": "src/a')
    assert [type(e) for e in events] == [CallStart, ArgumentsDelta]
    assert [type(e) for e in sp.finish()] == [CallDropped]
    assert sp.result is not None and sp.result.calls == []
    # the next call gets a new index: a dropped index is never reused
    content, calls, res = replay(['<tool_call>{"name": "read_file", "arguments": {"path": "a"}, "name": "x"}</tool_call>'])
    assert calls == res.calls


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
            lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3),
            max_leaves=8,
        ),
        max_size=4,
    ),
    st.lists(st.integers(min_value=0, max_value=400), max_size=10),
    st.booleans(),
)
def test_the_arguments_writer_rewrites_any_object_as_json_dumps(value: dict, cuts: list[int], ascii_: bool) -> None:
    src = json.dumps(value, ensure_ascii=ascii_, indent=None if cuts[:1] != [0] else 1)
    w = ArgsWriter(0)
    out = ""
    points = sorted({len(src), *(c % (len(src) + 1) for c in cuts)})
    for p in points:
        out += w.feed(src[:p])
    assert w.done and not w.failed
    assert out == json.dumps(value, ensure_ascii=False)


def test_a_possible_marker_prefix_is_held_back() -> None:
    sp = StreamParser()
    assert sp.feed("Sure. <tool_") == [Content("Sure.")]
    assert sp.feed("call>") == []
    sp.finish()
    assert sp.result is not None and sp.result.content == "Sure.\n<tool_call>" or sp.result.errors


def test_no_call_is_committed_before_it_is_complete() -> None:
    text = '<tool_call>{"name": "get_weather", "arguments": {"city": "Tokyo"}}</tool_call>'
    cut = text.index("}}") + 1
    sp = StreamParser(TOOLS)
    assert not any(isinstance(e, CallEnd) for e in sp.feed(text[:cut]))
    assert not any(isinstance(e, CallEnd) for e in sp.feed(text[cut:]))  # the text may go on inside the tag
    assert any(isinstance(e, CallEnd) for e in sp.feed("\nDone."))


def test_random_chunkings_of_long_replies() -> None:
    rng = random.Random(7)
    for _ in range(50):
        text = "".join(rng.choice(TEXTS) + rng.choice(["\n", " ", ""]) for _ in range(3))
        _check(text, [rng.randrange(len(text) + 1) for _ in range(rng.randrange(1, 20))])


def test_serve_holds_back_every_formats_opening() -> None:
    from punie.serve._stream import StreamSplitter

    for text in (CASES["functionary_v32"].one, CASES["command_r_plus"].one, CASES["harmony"].one,
                 "Sure. " + CASES["deepseek_v3"].several):
        sp = StreamSplitter(watch_calls=True)
        sent = "".join(sp.feed(ch) for ch in text)
        assert sent == parse(text, TOOLS).content[: len(sent)], (text, sent)
