"""The 7 agent tools as OpenAI-style function specs (names and parameters are a public contract)."""

from __future__ import annotations

import copy
from typing import Any


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_TERMINAL_ID = {"type": "string", "description": "Id returned by run_command with background=true."}

_TOOLS: list[dict[str, Any]] = [
    _fn(
        "read_file",
        "Read a text file in the workspace.",
        {"path": {"type": "string", "description": "Path relative to the workspace root."}},
        ["path"],
    ),
    _fn(
        "write_file",
        "Create or overwrite a text file in the workspace.",
        {
            "path": {"type": "string", "description": "Path relative to the workspace root."},
            "content": {"type": "string", "description": "Full new file content."},
        },
        ["path", "content"],
    ),
    _fn(
        "run_command",
        "Run a shell command in the workspace; returns exit code and output.",
        {
            "command": {"type": "string", "description": "Shell command line."},
            "cwd": {"type": "string", "description": "Working directory relative to the root."},
            "background": {"type": "boolean", "description": "Start it and return a terminal_id at once."},
        },
        ["command"],
    ),
    _fn(
        "get_terminal_output",
        "Get the output so far of a background command.",
        {"terminal_id": _TERMINAL_ID},
        ["terminal_id"],
    ),
    _fn(
        "wait_for_terminal_exit",
        "Wait for a background command to finish; returns exit code and output.",
        {"terminal_id": _TERMINAL_ID},
        ["terminal_id"],
    ),
    _fn("kill_terminal", "Kill a background command.", {"terminal_id": _TERMINAL_ID}, ["terminal_id"]),
    _fn(
        "release_terminal",
        "Forget a finished background command and free its id.",
        {"terminal_id": _TERMINAL_ID},
        ["terminal_id"],
    ),
]

TOOL_NAMES: tuple[str, ...] = tuple(t["function"]["name"] for t in _TOOLS)


def default_tools() -> list[dict[str, Any]]:
    """A fresh copy of the 7 tool specs (callers may mutate it)."""
    return copy.deepcopy(_TOOLS)


def tool_name(spec: dict[str, Any]) -> str:
    """Name of a tool spec given either OpenAI-wrapped ({"type","function"}) or bare ({"name",...})."""
    fn = spec.get("function", spec)
    return str(fn.get("name", ""))


def tool_parameters(spec: dict[str, Any]) -> dict[str, Any]:
    fn = spec.get("function", spec)
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    return params if isinstance(params, dict) else {"type": "object", "properties": {}}


def normalize_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Return OpenAI-wrapped specs; ``None`` means the 7 default tools."""
    if tools is None:
        return default_tools()
    out = []
    for spec in tools:
        if "function" in spec:
            out.append(spec)
        else:
            out.append({"type": "function", "function": spec})
    return out
