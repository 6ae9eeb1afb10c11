"""A real uvicorn server on 127.0.0.1 with a scripted backend, driven by the official openai client."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time

import httpx
import openai
import pytest
from fakes import EndlessBackend, FakeBackend

from punie.serve import ServeLimits, ServerThread, create_app
from punie.toolcalls import default_tools

TOOLS = default_tools()


def test_models_lists_base_and_adapters(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list().data]
    assert ids == ["base", "alpha", "beta"]
    assert client.models.retrieve("alpha").id == "alpha"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("/etc/passwd")


def test_plain_chat(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="base", messages=[{"role": "user", "content": "hello"}])
    msg = r.choices[0].message
    assert msg.content == "[base] you said: hello"
    assert msg.tool_calls is None
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_tool_call_round_trip(client: openai.OpenAI, fake_backend: FakeBackend) -> None:
    messages: list = [{"role": "user", "content": "read src/app.py"}]
    r = client.chat.completions.create(model="base", messages=messages, tools=TOOLS)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me look."
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "read_file"
    assert json.loads(call.function.arguments) == {"path": "src/app.py"}
    # the agent runs the tool and sends the result back, referencing the call id
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "def main(): ..."},
    ]
    r2 = client.chat.completions.create(model="base", messages=messages, tools=TOOLS)
    assert r2.choices[0].finish_reason == "stop"
    assert r2.choices[0].message.content == "The file says: def main(): ..."
    # the backend saw the assistant's call (arguments parsed) and the tool result
    seen = fake_backend.requests[-1].messages
    assert seen[1]["tool_calls"][0]["function"]["name"] == "read_file"
    assert seen[2] == {"role": "tool", "content": "def main(): ...", "tool_call_id": call.id}


def test_tool_choice_none_and_named_reach_the_backend(
    client: openai.OpenAI, fake_backend: FakeBackend
) -> None:
    r = client.chat.completions.create(
        model="base", messages=[{"role": "user", "content": "read a"}], tools=TOOLS, tool_choice="none"
    )
    assert r.choices[0].message.tool_calls is None  # the prompt offered no tools
    assert fake_backend.requests[-1].tools == []
    client.chat.completions.create(
        model="base",
        messages=[{"role": "user", "content": "x"}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "write_file"}},
    )
    assert [t["function"]["name"] for t in fake_backend.requests[-1].tools or []] == ["write_file"]


def assemble_calls(deltas: list) -> list[tuple[str, dict]]:
    """What an OpenAI client builds from ``delta.tool_calls``: per index, the name and the
    concatenated argument fragments."""
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    for d in deltas:
        for tc in d.tool_calls or []:
            if tc.function and tc.function.name:
                names[tc.index] = tc.function.name
            args[tc.index] = args.get(tc.index, "") + ((tc.function and tc.function.arguments) or "")
    return [(names[i], json.loads(args[i])) for i in sorted(names)]


def test_streaming_content_and_tool_calls(client: openai.OpenAI) -> None:
    kwargs = {"model": "alpha", "messages": [{"role": "user", "content": "read docs/x.md"}], "tools": TOOLS}
    chunks = list(
        client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs)
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    content = "".join(d.content or "" for d in deltas)
    calls = assemble_calls(deltas)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert sum(1 for d in deltas if d.content) >= 3  # content came in pieces, not at the end
    assert content == "Let me look."
    assert calls == [("read_file", {"path": "docs/x.md"})]
    assert finish == ["tool_calls"]
    assert chunks[-1].usage is not None
    # same answer as without streaming
    full = client.chat.completions.create(**kwargs).choices[0].message
    assert full.content == content


def test_streaming_plain_text_and_stop(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="base", messages=[{"role": "user", "content": "one two STOP three"}], stream=True, stop=["STOP"]
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "[base] you said: one two "


def test_adapter_selection(client: openai.OpenAI, fake_backend: FakeBackend) -> None:
    for model in ("alpha", "beta", "base"):
        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content == f"[{model}] you said: hi"
        assert r.model == model
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="./adapters/alpha", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_limits_are_errors(client: openai.OpenAI, fake_server: ServerThread) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="base", messages=[{"role": "user", "content": "hi"}], max_tokens=10_000
        )
    assert info.value.body["param"] == "max_tokens"  # type: ignore[index]
    big = {"model": "base", "messages": [{"role": "user", "content": "x" * 300_000}]}
    r = httpx.post(f"{fake_server.base_url}/chat/completions", json=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    r = httpx.get(f"{fake_server.url}/nowhere")
    assert r.status_code == 404 and "error" in r.json()


def test_concurrent_requests_are_batched(fake_backend: FakeBackend) -> None:
    fake_backend.delay = 0.2  # while one batch runs, the others queue and go together
    app = create_app(fake_backend, model_name="base", adapters={"alpha": "/a"})
    with ServerThread(app) as srv:

        def one(i: int) -> str:
            r = httpx.post(
                f"{srv.base_url}/chat/completions",
                timeout=30,
                json={"model": "base", "messages": [{"role": "user", "content": f"n{i}"}]},
            )
            return r.json()["choices"][0]["message"]["content"]

        threads = []
        results: dict[int, str] = {}
        for i in range(12):
            t = threading.Thread(target=lambda i=i: results.__setitem__(i, one(i)))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
    assert results == {i: f"[base] you said: n{i}" for i in range(12)}
    assert max(fake_backend.calls) > 1 and len(fake_backend.calls) < 12


def test_disconnect_mid_stream_frees_the_model() -> None:
    backend = EndlessBackend()
    app = create_app(backend, model_name="base")
    with ServerThread(app) as srv:
        payload = {"model": "base", "messages": [{"role": "user", "content": "go"}], "stream": True}
        with httpx.stream("POST", f"{srv.base_url}/chat/completions", json=payload, timeout=30) as r:
            lines = r.iter_lines()
            got = [next(lines) for _ in range(6)]
        assert any("word" in x for x in got)
        deadline = time.monotonic() + 10
        while backend.streams_closed == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend.streams_closed == 1
        # the model is free again: a normal request is answered
        r2 = httpx.post(
            f"{srv.base_url}/chat/completions",
            timeout=10,
            json={"model": "base", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r2.status_code == 200


def test_backend_failure_is_a_500_and_the_server_survives() -> None:
    def script(req, adapter):  # type: ignore[no-untyped-def]
        if "boom" in req.messages[-1]["content"]:
            raise RuntimeError("model exploded")
        return "fine"

    app = create_app(FakeBackend(script), model_name="base")
    with ServerThread(app) as srv, openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0) as c:
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="base", messages=[{"role": "user", "content": "boom"}])
        assert (
            c.chat.completions.create(model="base", messages=[{"role": "user", "content": "ok"}])
            .choices[0]
            .message.content
            == "fine"
        )


# ---- reliability: 200 concurrent requests, a quarter malformed ---------------------------------------------
def _malformed(i: int) -> tuple[str, bytes, dict[str, str]]:
    kind = i % 5
    ok_msgs = [{"role": "user", "content": "hi"}]
    if kind == 0:
        return "bad-json", b'{"model": "base", "messages": [', {"content-type": "application/json"}
    if kind == 1:
        return "unknown-model", json.dumps({"model": "gpt-9", "messages": ok_msgs}).encode(), {}
    if kind == 2:
        msgs = [{"role": "assistant", "content": "I start"}, {"role": "tool", "content": "x"}]
        return "wrong-roles", json.dumps({"model": "base", "messages": msgs}).encode(), {}
    if kind == 3:
        return (
            "huge-max-tokens",
            json.dumps({"model": "base", "messages": ok_msgs, "max_tokens": 10**9}).encode(),
            {},
        )
    return (
        "oversized",
        json.dumps({"model": "base", "messages": [{"role": "user", "content": "y" * 250_000}]}).encode(),
        {},
    )


def test_200_concurrent_requests_a_quarter_malformed() -> None:
    backend = FakeBackend(adapters=["alpha"])
    app = create_app(
        backend,
        model_name="base",
        adapters={"alpha": "/a"},
        limits=ServeLimits(max_body_bytes=200_000, max_tokens_limit=256),
    )
    rng = random.Random(7)
    plan = ["good"] * 150 + ["bad"] * 50
    rng.shuffle(plan)

    async def run(base: str) -> list[tuple[str, int, dict]]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:

            async def one(i: int, what: str) -> tuple[str, int, dict]:
                if what == "good":
                    model = "alpha" if i % 2 else "base"
                    payload = {
                        "model": model,
                        "messages": [{"role": "user", "content": f"read f{i}.py"}],
                        "tools": TOOLS,
                        "stream": i % 7 == 0,
                    }
                    if payload["stream"]:
                        async with http.stream("POST", "/chat/completions", json=payload) as r:
                            text = "".join([line async for line in r.aiter_lines()])
                        return f"good-stream-{i}", r.status_code, {"raw": text}
                    r = await http.post("/chat/completions", json=payload)
                    return f"good-{i}", r.status_code, r.json()
                kind, raw, headers = _malformed(i)
                r = await http.post(
                    "/chat/completions", content=raw, headers={"content-type": "application/json", **headers}
                )
                return kind, r.status_code, r.json()

            return await asyncio.gather(*(one(i, w) for i, w in enumerate(plan)))

    with ServerThread(app) as srv:
        results = asyncio.run(run(srv.base_url))
        health = httpx.get(f"{srv.url}/health").json()
    assert health["status"] == "ok"
    expected_status = {
        "bad-json": 400,
        "unknown-model": 404,
        "wrong-roles": 400,
        "huge-max-tokens": 400,
        "oversized": 413,
    }
    n_bad = 0
    for (name, status, payload), what in zip(results, plan, strict=True):
        if what == "bad":
            n_bad += 1
            assert status == expected_status[name], (name, status, payload)
            assert set(payload["error"]) == {"message", "type", "param", "code"}
        elif name.startswith("good-stream"):
            assert status == 200
            assert '"name": "read_file"' in payload["raw"] or '"name":"read_file"' in payload["raw"]
            assert payload["raw"].endswith("data: [DONE]")
        else:
            i = int(name.split("-")[1])
            assert status == 200, payload
            call = payload["choices"][0]["message"]["tool_calls"][0]
            assert json.loads(call["function"]["arguments"]) == {"path": f"f{i}.py"}
    assert n_bad == 50


def test_backend_factory_is_loaded_at_startup() -> None:
    made: list[FakeBackend] = []

    def factory() -> FakeBackend:
        made.append(FakeBackend())
        return made[-1]

    app = create_app(factory, model_name="base")
    assert not made  # nothing loads until the server starts
    with ServerThread(app) as srv, openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0) as c:
        assert (
            c.chat.completions.create(model="base", messages=[{"role": "user", "content": "hi"}])
            .choices[0]
            .message.content
        )
    assert len(made) == 1


def test_adapters_need_a_backend_that_can_switch() -> None:
    from punie.errors import ServeError

    class NoAdapters:  # a Backend with generate/stream only
        name = "plain"
        generate = FakeBackend.generate
        stream = FakeBackend.stream

    backend = NoAdapters()
    app = create_app(lambda: backend, model_name="base", adapters={"alpha": "/a"})
    with pytest.raises(ServeError):
        ServerThread(app).start(timeout=30)


def test_handlers_work_without_a_socket(fake_backend: FakeBackend) -> None:
    from fastapi.testclient import TestClient

    app = create_app(fake_backend, model_name="base", adapters={"alpha": "/a"})
    with TestClient(app) as http:
        assert http.get("/v1/models").json()["data"][1]["id"] == "alpha"
        r = http.post(
            "/v1/chat/completions", json={"model": "alpha", "messages": [{"role": "user", "content": "yo"}]}
        )
        assert r.json()["choices"][0]["message"]["content"] == "[alpha] you said: yo"
        r = http.post("/v1/chat/completions", content=b"nope", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_streamed_tool_call_arguments_arrive_as_they_are_written() -> None:
    import openai

    from punie.toolcalls import render_calls

    wanted = [
        {"name": "read_file", "arguments": {"path": "src/app.py"}},
        {"name": "read_file", "arguments": {"path": 'docs/a "quoted" é.md' + "/x" * 40}},
    ]

    def script(req: object, adapter: str | None) -> str:
        return "Reading both.\n" + render_calls(wanted) + "\nunknown <tool_call>{\"name\": \"nope\", \"arguments\": {}}</tool_call>"

    backend = FakeBackend(script, chunk=2)
    app = create_app(backend, model_name="base")
    kwargs = {"model": "base", "messages": [{"role": "user", "content": "go"}], "tools": TOOLS, "max_tokens": 200}
    with ServerThread(app) as srv, openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0) as client:
        chunks = list(client.chat.completions.create(stream=True, **kwargs))
        full = client.chat.completions.create(**kwargs).choices[0].message
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    pieces = [tc for d in deltas for tc in d.tool_calls or []]
    # each call: first its index, id and name (no arguments yet), then argument fragments
    firsts = [tc for tc in pieces if tc.id]
    assert [(tc.index, tc.function.name, tc.function.arguments) for tc in firsts] == [
        (0, "read_file", ""), (1, "read_file", "")
    ]
    fragments = [tc for tc in pieces if not tc.id]
    assert len([f for f in fragments if f.index == 1]) > 10  # streamed while written, not in one piece
    # the fragments of each call concatenate to exactly the final (non-streamed) arguments
    assert assemble_calls(deltas) == [(c["name"], c["arguments"]) for c in wanted]
    assert [json.loads(tc.function.arguments) for tc in full.tool_calls] == [c["arguments"] for c in wanted]
    assert "".join(d.content or "" for d in deltas) == full.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
