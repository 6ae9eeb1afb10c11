"""Request validation, reply parsing and the streaming splitter, without a server."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from punie.serve._stream import StreamSplitter
from punie.serve._wire import APIError, Plan, parse_chat_request, plan_request, read_reply
from punie.toolcalls import default_tools, parse, render_calls


def body(**kw) -> bytes:  # type: ignore[no-untyped-def]
    data = {"model": "base", "messages": [{"role": "user", "content": "hi"}]}
    data.update(kw)
    return json.dumps(data).encode()


def error_of(raw: bytes) -> APIError:
    with pytest.raises(APIError) as info:
        parse_chat_request(raw)
    return info.value


def test_valid_request_with_tool_round_trip_messages() -> None:
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "read "}, {"type": "text", "text": "a.py"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "a.py"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "print(1)"},
    ]
    req = parse_chat_request(body(messages=msgs, tools=default_tools(), unknown_field=1))
    plan = plan_request(req, max_tokens_limit=100, default_max_tokens=50)
    assert plan.request.messages[1]["content"] == "read a.py"
    assert plan.request.max_new_tokens == 50
    assert [t["function"]["name"] for t in plan.tools] == [t["function"]["name"] for t in default_tools()]
    assert plan.parse_calls


@pytest.mark.parametrize(
    ("raw", "param", "status"),
    [
        (b"{not json", None, 400),
        (b"[1, 2]", None, 400),
        (body(model=""), "model", 400),
        (body(messages=[]), "messages", 400),
        (body(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role", 400),
        (body(messages=[{"role": "tool", "tool_call_id": "x", "content": "r"}]), "messages[0].role", 400),
        (
            body(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]),
            "messages[1].role",
            400,
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
            "messages[0].content[0]",
            400,
        ),
        (body(temperature=5), "temperature", 400),
        (body(n=3), "n", 400),
        (body(stop=["a", "b", "c", "d", "e"]), "stop", 400),
        (
            body(tools=[{"type": "function", "function": {"name": "bad name!"}}]),
            "tools[0].function.name",
            400,
        ),
        (body(response_format={"type": "json_object"}), "response_format", 400),
        (body(logprobs=True), "logprobs", 400),
    ],
)
def test_invalid_requests_name_the_field(raw: bytes, param: str | None, status: int) -> None:
    err = error_of(raw)
    assert err.status == status
    assert err.param == param
    assert set(err.body()["error"]) == {"message", "type", "param", "code"}


def test_tool_result_must_answer_a_call_id() -> None:
    msgs = [
        {"role": "user", "content": "x"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "function": {"name": "read_file", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c9", "content": "r"},
    ]
    assert error_of(body(messages=msgs)).param == "messages[2].tool_call_id"


def test_max_tokens_over_the_limit_is_an_error_not_a_cap() -> None:
    req = parse_chat_request(body(max_tokens=1000))
    with pytest.raises(APIError) as info:
        plan_request(req, max_tokens_limit=100, default_max_tokens=50)
    assert info.value.status == 400 and info.value.param == "max_tokens"


def test_tool_choice_none_and_named() -> None:
    none = plan_request(
        parse_chat_request(body(tools=default_tools(), tool_choice="none")),
        max_tokens_limit=9,
        default_max_tokens=9,
    )
    assert none.tools == [] and not none.parse_calls and none.request.tools == []
    named = plan_request(
        parse_chat_request(
            body(tools=default_tools(), tool_choice={"type": "function", "function": {"name": "run_command"}})
        ),
        max_tokens_limit=9,
        default_max_tokens=9,
    )
    assert [t["function"]["name"] for t in named.tools] == ["run_command"]
    with pytest.raises(APIError):
        plan_request(
            parse_chat_request(
                body(tools=default_tools(), tool_choice={"type": "function", "function": {"name": "nope"}})
            ),
            max_tokens_limit=9,
            default_max_tokens=9,
        )


def _plan(stop: list[str] | None = None, tools: bool = True) -> Plan:
    req = parse_chat_request(body(tools=default_tools() if tools else None, stop=stop))
    return plan_request(req, max_tokens_limit=100, default_max_tokens=50)


def test_read_reply_structures_calls() -> None:
    text = "Checking.\n" + render_calls(
        [
            {"name": "read_file", "arguments": {"path": "a"}},
            {"name": "run_command", "arguments": {"command": "ls"}},
        ]
    )
    reply = read_reply(text, _plan(), "stop")
    assert reply.finish_reason == "tool_calls"
    assert reply.content == "Checking."
    assert [json.loads(c["function"]["arguments"]) for c in reply.tool_calls] == [
        {"path": "a"},
        {"command": "ls"},
    ]
    assert all(c["id"].startswith("call_") and c["type"] == "function" for c in reply.tool_calls)
    assert len({c["id"] for c in reply.tool_calls}) == 2
    only_calls = read_reply(
        render_calls([{"name": "read_file", "arguments": {"path": "a"}}]), _plan(), "stop"
    )
    assert only_calls.content is None
    no_tools = read_reply(text, _plan(tools=False), "length")
    assert no_tools.tool_calls == [] and no_tools.content == text and no_tools.finish_reason == "length"
    stopped = read_reply("one END two", _plan(stop=["END"]), "length")
    assert stopped.content == "one" and stopped.finish_reason == "stop"


# ---- streaming: what was sent early is always a prefix of the final parsed content -----------------
_pieces = st.sampled_from(
    ["Hello", " ", "\n", "world.", "<", "tool", "{", "}", "`", "x < y", "[", "a,b", "é", "<tool_call>", "END"]
)
_calls = st.lists(
    st.builds(
        lambda p: {"name": "read_file", "arguments": {"path": p}}, st.text("abc/._", min_size=1, max_size=6)
    ),
    max_size=2,
)


@settings(max_examples=150, deadline=None)
@given(
    before=st.lists(_pieces, max_size=6),
    calls=_calls,
    after=st.lists(_pieces, max_size=3),
    cuts=st.lists(st.integers(1, 7), min_size=1, max_size=40),
    use_stop=st.booleans(),
    tools=st.booleans(),
)
def test_streamed_content_equals_non_streamed(before, calls, after, cuts, use_stop, tools) -> None:  # type: ignore[no-untyped-def]
    text = "".join(before) + (("\n" + render_calls(calls) + "\n") if calls else "") + "".join(after)
    plan = _plan(stop=["END"] if use_stop else None, tools=tools)
    splitter = StreamSplitter(watch_calls=plan.parse_calls, stop=plan.request.stop)
    sent, pos, k = "", 0, 0
    while pos < len(text) and not splitter.stopped:
        step = cuts[k % len(cuts)]
        sent += splitter.feed(text[pos : pos + step])
        pos, k = pos + step, k + 1
    final = read_reply(splitter.text, plan, "stop")
    expected = read_reply(text, plan, "stop")
    assert sent + splitter.finish(final.content) == (expected.content or "")
    assert [c["function"] for c in final.tool_calls] == [c["function"] for c in expected.tool_calls]
    assert "<tool_call>" not in sent or not tools


def test_plain_text_streams_before_the_end() -> None:
    s = StreamSplitter(watch_calls=True)
    assert s.feed("  Hello wor") == "Hello wor"
    assert s.feed("ld and <tool") == "ld and"
    assert s.feed("_call>\n{") == ""
    assert parse(s.text + '"name": "read_file", "arguments": {"path": "a"}}\n</tool_call>').calls
