"""Builders for single conversations with proper ``tool_calls`` and ``tool`` turns.

Generated conversations carry no system message and no ``tools`` key (= the 7 default tools), so
punie's prompt builder gives all of them the same system+tools prefix (shared-prefix training).
"""

from __future__ import annotations

from typing import Any

from punie.data.dataset import Conversation


class ConversationBuilder:
    """Appends turns and numbers call ids ``call_1``, ``call_2`` … within one conversation."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._next_id = 0

    def user(self, text: str) -> ConversationBuilder:
        self.messages.append({"role": "user", "content": text})
        return self

    def answer(self, text: str) -> ConversationBuilder:
        self.messages.append({"role": "assistant", "content": text})
        return self

    def calls(self, *calls: tuple[str, dict[str, Any]]) -> list[str]:
        """One assistant turn with these calls; returns their ids."""
        tool_calls: list[dict[str, Any]] = []
        for name, args in calls:
            self._next_id += 1
            tool_calls.append(
                {"id": f"call_{self._next_id}", "type": "function", "function": {"name": name, "arguments": dict(args)}}
            )
        self.messages.append({"role": "assistant", "content": "", "tool_calls": tool_calls})
        return [c["id"] for c in tool_calls]

    def result(self, call_id: str, text: str) -> ConversationBuilder:
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        return self

    def call(self, name: str, args: dict[str, Any], result: str | None = None) -> str:
        (cid,) = self.calls((name, args))
        if result is not None:
            self.result(cid, result)
        return cid

    def build(self) -> Conversation:
        return {"messages": self.messages}


def _lines(text: str) -> int:
    return len(text.splitlines()) or 1


def create_read_file_example(
    path: str, content: str, *, prompt: str | None = None, answer: str | None = None
) -> Conversation:
    b = ConversationBuilder().user(prompt or f"Show me {path}")
    b.call("read_file", {"path": path}, content)
    first = content.splitlines()[0] if content.strip() else ""
    b.answer(answer or f"`{path}` has {_lines(content)} line(s); it starts with `{first}`.")
    return b.build()


def create_write_file_example(
    path: str, content: str, *, prompt: str | None = None, result: str | None = None, answer: str | None = None
) -> Conversation:
    b = ConversationBuilder().user(prompt or f"Write this to {path}:\n```\n{content}\n```")
    b.call("write_file", {"path": path, "content": content}, result or f"Wrote {len(content.encode())} bytes to {path}")
    b.answer(answer or f"Done: `{path}` now holds {_lines(content)} line(s).")
    return b.build()


def create_run_command_example(
    command: str,
    output: str,
    *,
    exit_code: int = 0,
    cwd: str | None = None,
    prompt: str | None = None,
    answer: str | None = None,
) -> Conversation:
    args: dict[str, Any] = {"command": command}
    if cwd:
        args["cwd"] = cwd
    where = f" in {cwd}" if cwd else ""
    b = ConversationBuilder().user(prompt or f"Run `{command}`{where}")
    b.call("run_command", args, f"exit code: {exit_code}\n{output}".rstrip("\n"))
    status = "succeeded" if exit_code == 0 else f"failed with exit code {exit_code}"
    b.answer(answer or f"`{command}` {status}.")
    return b.build()


def create_multi_tool_example(
    prompt: str,
    steps: list[list[tuple[str, dict[str, Any], str]]],
    answer: str,
) -> Conversation:
    """A user request answered by several assistant turns; each step is [(tool, arguments, result), ...]
    (several entries = parallel calls in one turn), then a final answer."""
    b = ConversationBuilder().user(prompt)
    for step in steps:
        ids = b.calls(*[(name, args) for name, args, _ in step])
        for cid, (_, _, res) in zip(ids, step, strict=True):
            b.result(cid, res)
    b.answer(answer)
    return b.build()
