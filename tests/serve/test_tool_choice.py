"""tool_choice enforced by constrained decoding, offered tools only, and every bad request a 4xx.

A real server on 127.0.0.1 over the tiny model (in-process backend), used with the openai client.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from fakes import FakeBackend

from punie.serve import ServeLimits, ServerThread, create_app
from punie.toolcalls import default_tools, render_calls

FLAG = {
    "type": "function",
    "function": {
        "name": "set_flag",
        "description": "Set a flag.",
        "parameters": {
            "type": "object",
            "properties": {"flag": {"type": "boolean"}, "mode": {"enum": ["fast", "slow"]}},
            "required": ["flag", "mode"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [FLAG, *default_tools()[:1]]
MSG = [{"role": "user", "content": "set the flag"}]


@pytest.fixture(scope="module")
def tiny_server(tiny):  # type: ignore[no-untyped-def]
    from punie.backends.inprocess import InProcessBackend

    model, tok = tiny
    app = create_app(InProcessBackend(model, tok), model_name="tiny",
                     limits=ServeLimits(max_tokens_limit=256, default_max_tokens=96),
                     allowed_hosts=["127.0.0.1", "localhost", "::1"])
    with ServerThread(app) as srv:
        yield srv


@pytest.fixture(scope="module")
def oa(tiny_server):  # type: ignore[no-untyped-def]
    with openai.OpenAI(base_url=tiny_server.base_url, api_key="x", max_retries=0, timeout=120) as c:
        yield c


def _streamed(oa: openai.OpenAI, model: str = "tiny", **kw) -> tuple[str, list[dict], str | None]:  # type: ignore[no-untyped-def]
    content, calls, finish = "", {}, None
    dropped: set[int] = set()
    for chunk in oa.chat.completions.create(model=model, messages=MSG, stream=True, **kw):
        if not chunk.choices:
            continue
        ch = chunk.choices[0]
        content += ch.delta.content or ""
        for tc in ch.delta.tool_calls or []:  # the name first, then argument fragments to concatenate
            got = calls.setdefault(tc.index, {"name": "", "arguments": ""})
            got["name"] = got["name"] or tc.function.name or ""
            got["arguments"] += tc.function.arguments or ""
        finish = ch.finish_reason or finish
        # a call cut off by max_tokens was streamed in part: the last chunk names it as dropped
        dropped = set((getattr(chunk, "punie", None) or {}).get("dropped_tool_calls", [])) | dropped
    out = [
        {"name": c["name"], "arguments": json.loads(c["arguments"])}
        for i, c in sorted(calls.items()) if i not in dropped
    ]
    return content, out, finish


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_each_tool_choice_mode(oa, stream) -> None:  # type: ignore[no-untyped-def]
    def ask(**kw):  # type: ignore[no-untyped-def]
        if stream:
            return _streamed(oa, tools=TOOLS, max_tokens=120, **kw)
        r = oa.chat.completions.create(model="tiny", messages=MSG, tools=TOOLS, max_tokens=120, **kw)
        m = r.choices[0]
        calls = [{"name": c.function.name, "arguments": json.loads(c.function.arguments)} for c in m.message.tool_calls or []]
        return m.message.content or "", calls, m.finish_reason

    _, calls, finish = ask(tool_choice={"type": "function", "function": {"name": "set_flag"}})
    assert finish == "tool_calls" and len(calls) == 1 and calls[0]["name"] == "set_flag"
    assert calls[0]["arguments"]["mode"] in ("fast", "slow") and isinstance(calls[0]["arguments"]["flag"], bool)
    _, calls, finish = ask(tool_choice="required", parallel_tool_calls=False)
    # the tiny model may run out of tokens inside read_file's path; a call it finished is an offered one
    # (a stream's finish_reason is estimated from a re-tokenized count, so a cut stream may say "stop")
    assert finish == "tool_calls" if calls else finish in ("length", "stop")
    assert len(calls) <= 1
    assert all(c["name"] in ("set_flag", "read_file") for c in calls)
    content, calls, finish = ask(tool_choice="none")
    assert calls == [] and "<tool_call>" not in content
    _, calls, _ = ask(tool_choice="auto")
    assert all(c["name"] in ("set_flag", "read_file") for c in calls)


def test_invalid_requests_are_4xx_and_the_server_keeps_answering(tiny_server) -> None:  # type: ignore[no-untyped-def]
    url = f"{tiny_server.base_url}/chat/completions"
    ok = {"model": "tiny", "messages": MSG, "max_tokens": 4}
    deep = "[" * 5000 + "]" * 5000
    bad_schema = {"type": "function", "function": {"name": "t", "parameters": {"type": "object", "properties": [1]}}}
    cases = {
        "too long": (json.dumps({**ok, "messages": [{"role": "user", "content": "word " * 150_000}]}), 400, "context_length_exceeded"),
        "over the context with max_tokens": (json.dumps({**ok, "max_tokens": 256, "messages": [{"role": "user", "content": "hi " * 3900}]}), 400, "context_length_exceeded"),
        "deep json": ('{"model": "tiny", "messages": ' + deep + "}", 400, "json_too_deep"),
        "deep but parseable": (json.dumps({**ok, "x": json.loads("[" * 100 + "]" * 100)}), 400, "json_too_deep"),
        "bad schema": (json.dumps({**ok, "tools": [bad_schema]}), 400, "invalid_tool_schema"),
        "too many tools": (json.dumps({**ok, "tools": [FLAG] * 129}), 400, "too_many_tools"),
        "required without tools": (json.dumps({**ok, "tool_choice": "required"}), 400, None),
        "named tool not offered": (json.dumps({**ok, "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}), 400, None),
    }
    with httpx.Client(timeout=120) as http:  # one keep-alive connection for all of them
        for name, (body, status, code) in cases.items():
            r = http.post(url, content=body.encode(), headers={"content-type": "application/json"})
            assert r.status_code == status, (name, r.status_code, r.text[:300])
            err = r.json()["error"]
            assert set(err) == {"message", "type", "param", "code"}, name
            if code:
                assert err["code"] == code, (name, err)
            assert http.post(url, json=ok).status_code == 200, f"after {name}"
        r = http.post(url, content=json.dumps(ok).encode(), headers={"content-type": "text/plain"})
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
        r = http.post(url, json=ok, headers={"host": "evil.example:8766"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_host"
        assert http.post(url, json=ok, headers={"host": "localhost"}).status_code == 200
        assert http.post(url, json=ok).status_code == 200


def test_unknown_tool_is_never_returned() -> None:
    calls = [{"name": "rm_rf", "arguments": {"path": "/"}}, {"name": "read_file", "arguments": {"path": "a"}},
             {"name": "read_file", "arguments": {"path": 3}}]
    backend = FakeBackend(lambda req, adapter: render_calls(calls))
    with ServerThread(create_app(backend, model_name="base")) as srv, \
            openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0) as oa:
        r = oa.chat.completions.create(model="base", messages=MSG, tools=default_tools())
        got = [(c.function.name, json.loads(c.function.arguments)) for c in r.choices[0].message.tool_calls or []]
        assert got == [("read_file", {"path": "a"}), ("read_file", {"path": 3})]  # schema errors: reported
        assert any("not an offered tool" in e for e in r.model_extra["punie"]["parse_errors"])
        assert backend.requests[-1].tool_choice == "auto"  # the backend was asked to constrain
        r = oa.chat.completions.create(model="base", messages=MSG, tools=default_tools(), parallel_tool_calls=False,
                                       tool_choice="required")
        assert len(r.choices[0].message.tool_calls or []) == 1
        assert backend.requests[-1].parallel_tool_calls is False
        _, streamed, _ = _streamed(oa, "base", tools=default_tools())
        assert [c["name"] for c in streamed] == ["read_file", "read_file"]
