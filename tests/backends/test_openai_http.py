from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from punie.backends.base import GenerationRequest
from punie.backends.openai_http import OpenAIHTTPBackend
from punie.errors import BackendError
from punie.toolcalls import parse


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def log_message(self, *args):  # type: ignore[no-untyped-def]
        pass

    def _send(self, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self._send({"data": [{"id": "fake-model"}]})

    def do_POST(self) -> None:  # noqa: N802
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.seen.append(payload)
        user = payload["messages"][-1]["content"]
        if "file" in user:
            msg = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "x", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}]}
            finish = "tool_calls"
        else:
            msg, finish = {"role": "assistant", "content": f"echo: {user}"}, "stop"
        self._send({"choices": [{"message": msg, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2}})


@pytest.fixture()
def server():  # type: ignore[no-untyped-def]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_structured_calls_and_text_both_accepted(server: str) -> None:
    backend = OpenAIHTTPBackend(server)
    gens = backend.generate([GenerationRequest([{"role": "user", "content": "read the file"}]),
                             GenerationRequest([{"role": "user", "content": "hello"}])])
    assert parse(gens[0].text).calls == [{"name": "read_file", "arguments": {"path": "a.py"}}]
    assert gens[0].tool_calls == [{"name": "read_file", "arguments": {"path": "a.py"}}]
    assert gens[1].text == "echo: hello" and gens[1].tool_calls is None
    sent = _Handler.seen[-1]
    assert sent["model"] == "fake-model" and len(sent["tools"]) == 7


def test_history_tool_calls_sent_with_string_arguments(server: str) -> None:
    msgs = [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": {"path": "a"}}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"}, {"role": "user", "content": "thanks"}]
    OpenAIHTTPBackend(server, model="m").generate([GenerationRequest(msgs)])
    sent = _Handler.seen[-1]["messages"][1]["tool_calls"][0]
    assert sent["function"]["arguments"] == '{"path": "a"}' and sent["id"] == "c1"


def test_refused_connection_is_a_clear_error() -> None:
    with pytest.raises(BackendError, match="connection refused"):
        OpenAIHTTPBackend("http://127.0.0.1:9/v1").generate([GenerationRequest([{"role": "user", "content": "x"}])])
