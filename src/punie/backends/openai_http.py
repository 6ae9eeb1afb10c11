"""Any OpenAI-compatible ``/v1/chat/completions`` server (punie serve, vLLM, llama.cpp, Ollama, mlx_lm.server)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from punie.backends.base import Generation, GenerationRequest, ProgressFn
from punie.errors import BackendError
from punie.models.prompt import message_calls
from punie.toolcalls.render import render_assistant
from punie.toolcalls.specs import normalize_tools


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in wire form: assistant tool_calls with JSON-string arguments and ids."""
    out = []
    for i, m in enumerate(messages):
        if m.get("role") == "assistant" and m.get("tool_calls"):
            calls = []
            for j, (tc, c) in enumerate(zip(m["tool_calls"], message_calls(m), strict=False)):
                calls.append(
                    {
                        "id": tc.get("id") or f"call_{i}_{j}",
                        "type": "function",
                        "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)},
                    }
                )
            out.append({"role": "assistant", "content": m.get("content") or "", "tool_calls": calls})
        else:
            out.append(dict(m))
    return out


class OpenAIHTTPBackend:
    name = "openai-http"
    accepts_tool_choice = True  # tool_choice / parallel_tool_calls go to the server (it enforces them or not)

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        concurrency: int = 4,
        timeout: float = 300.0,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = max(1, concurrency)
        headers = {"Authorization": f"Bearer {api_key or 'punie'}"}
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._resolved_model: str | None = None

    def _model_name(self) -> str:
        if self.model:
            return self.model
        if self._resolved_model is None:
            data = self._request("GET", "/models")
            models = data.get("data") or []
            self._resolved_model = models[0]["id"] if models else "default"
        return self._resolved_model

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        import httpx

        try:
            resp = self.client.request(method, path, json=payload)
        except httpx.ConnectError as exc:
            raise BackendError(
                f"{self.base_url}: connection refused or host unreachable",
                location="--base-url",
                hint="is the server running? e.g. start one with `punie serve`",
            ) from exc
        except httpx.TimeoutException as exc:
            raise BackendError(f"{self.base_url}{path}: request timed out", location="--base-url") from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.base_url}{path}: {type(exc).__name__}: {exc}", location="--base-url") from exc
        if resp.status_code >= 400:
            raise BackendError(
                f"{self.base_url}{path}: HTTP {resp.status_code}: {resp.text[:200]}", location="--base-url"
            )
        try:
            return dict(resp.json())
        except ValueError as exc:
            raise BackendError(f"{self.base_url}{path}: response is not JSON", location="--base-url") from exc

    def _payload(self, req: GenerationRequest, stream: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self._model_name(),
            "messages": to_openai_messages(req.messages),
            "max_tokens": req.max_new_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "stream": stream,
        }
        tools = normalize_tools(req.tools)
        if tools:
            payload["tools"] = tools
            if req.tool_choice is not None:
                payload["tool_choice"] = req.tool_choice
            if not req.parallel_tool_calls:
                payload["parallel_tool_calls"] = False
        if req.stop:
            payload["stop"] = req.stop
        if req.seed is not None:
            payload["seed"] = req.seed
        return payload

    def _one(self, req: GenerationRequest) -> Generation:
        data = self._request("POST", "/chat/completions", self._payload(req))
        try:
            choice = data["choices"][0]
            msg = choice.get("message") or {}
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.base_url}: unexpected response shape", location="--base-url") from exc
        calls = message_calls(msg) if msg.get("tool_calls") else None
        # structured calls are rendered canonically so eval parses HTTP and in-process replies alike
        text = render_assistant(msg.get("content") or "", calls) if calls else (msg.get("content") or "")
        usage = data.get("usage") or {}
        return Generation(
            text=text,
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            tool_calls=calls,
        )

    def generate(
        self, requests: Sequence[GenerationRequest], *, progress: ProgressFn | None = None
    ) -> list[Generation]:
        if not requests:
            return []
        self._model_name()  # fail fast (and once) on an unreachable server
        results: list[Generation] = []
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for gen in pool.map(self._one, requests):
                results.append(gen)
                if progress:
                    progress(1)
        return results

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        gen = self._one(request)
        yield gen.text
