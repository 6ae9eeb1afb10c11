"""A second real client: a pydantic-ai agent loop (tool call → tool result → answer) through punie serve."""

from __future__ import annotations

import pytest
from fakes import FakeBackend

from punie.serve import ServerThread, create_app

pydantic_ai = pytest.importorskip("pydantic_ai")


def test_pydantic_ai_agent_loop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    (tmp_path / "notes.txt").write_text("launch at noon")
    backend = FakeBackend(adapters=["alpha"])
    app = create_app(backend, model_name="base", adapters={"alpha": "/a"})
    with ServerThread(app) as srv:
        model = OpenAIChatModel("alpha", provider=OpenAIProvider(base_url=srv.base_url, api_key="unused"))
        agent = Agent(model)
        opened: list[str] = []

        @agent.tool_plain
        def read_file(path: str) -> str:
            """Read a text file in the workspace."""
            opened.append(path)
            return (tmp_path / path).read_text()

        result = agent.run_sync("read notes.txt")
    assert opened == ["notes.txt"]
    assert result.output == "The file says: launch at noon"
    # pydantic-ai's own tool spec reached the prompt, and the second turn carried the tool result
    assert [t["function"]["name"] for t in backend.requests[0].tools or []] == ["read_file"]
    assert backend.requests[-1].messages[-1]["role"] == "tool"
