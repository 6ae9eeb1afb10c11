"""The server over the real in-process backend: tiny random model + two real PEFT LoRA adapters."""

from __future__ import annotations

import openai
import pytest

from punie.backends.base import GenerationRequest
from punie.serve import ServerThread, create_app
from punie.toolcalls import default_tools


@pytest.fixture(scope="module")
def tiny_stack(tiny_model_dir: str, tiny_adapters: dict[str, str]):  # type: ignore[no-untyped-def]
    from punie.backends.inprocess import InProcessBackend
    from punie.models import load_model

    model, tok = load_model(tiny_model_dir, adapter=tiny_adapters, device="cpu")
    backend = InProcessBackend(model, tok, batch_size=4)
    app = create_app(backend, model_name="tiny", adapters=tiny_adapters)
    with (
        ServerThread(app) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0, timeout=120) as c,
    ):
        yield backend, c


MSGS = [{"role": "user", "content": "Open src/app.py please"}]


def _direct(backend, adapter: str | None, tools, n: int = 12) -> str:  # type: ignore[no-untyped-def]
    with backend.use_adapter(adapter):
        return backend.generate([GenerationRequest(MSGS, tools=tools, max_new_tokens=n)])[0].text


def test_each_model_id_serves_its_own_weights(tiny_stack) -> None:  # type: ignore[no-untyped-def]
    backend, client = tiny_stack
    texts = {}
    for model, adapter in (("tiny", None), ("alpha", "alpha"), ("beta", "beta")):
        r = client.chat.completions.create(
            model=model, messages=MSGS, tool_choice="none", max_tokens=12, tools=default_tools()
        )
        texts[model] = r.choices[0].message.content
        assert texts[model] == _direct(backend, adapter, [])  # same prompt builder, same greedy output
    assert len(set(texts.values())) == 3  # the adapters really change the output


def test_stream_matches_non_stream(tiny_stack) -> None:  # type: ignore[no-untyped-def]
    _, client = tiny_stack
    full = (
        client.chat.completions.create(model="alpha", messages=MSGS, max_tokens=10).choices[0].message.content
    )
    stream = client.chat.completions.create(model="alpha", messages=MSGS, max_tokens=10, stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == full
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_tools_in_the_prompt_use_the_tool_prefix(tiny_stack) -> None:  # type: ignore[no-untyped-def]
    backend, client = tiny_stack
    r = client.chat.completions.create(model="tiny", messages=MSGS, tools=default_tools(), max_tokens=8)
    reply = r.choices[0].message
    raw = _direct(backend, None, default_tools(), 8)
    from punie.toolcalls import parse

    assert (reply.content or "") == parse(raw, default_tools()).content
    assert r.usage is not None and r.usage.prompt_tokens > 300  # the tool block is in the prompt
