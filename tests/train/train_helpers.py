"""A small synthetic tool-calling dataset for training tests (no dependency on the data stage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILES = ["src/app.py", "README.md", "setup.cfg", "lib/util.py", "tests/test_app.py", "docs/index.md"]


def conversation(i: int) -> dict[str, Any]:
    path = FILES[i % len(FILES)]
    kind = i % 3
    if kind == 0:
        return {
            "messages": [
                {"role": "user", "content": f"Show me {path}"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "read_file",
                                                                  "arguments": json.dumps({"path": path})}}]},
                {"role": "tool", "tool_call_id": "c1", "content": f"contents of {path}"},
                {"role": "assistant", "content": f"{path} holds a short note."},
            ]
        }
    if kind == 1:
        return {
            "messages": [
                {"role": "user", "content": f"Run the tests for {path}"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "run_command",
                                                                  "arguments": {"command": f"pytest {path}"}}}]},
            ]
        }
    return {"messages": [{"role": "user", "content": f"Hi number {i}"},
                         {"role": "assistant", "content": "Hello! How can I help?"}]}


def write_dataset(folder: Path, n_train: int = 12, n_valid: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rng in (("train", range(n_train)), ("valid", range(100, 100 + n_valid)), ("test", range(200, 202))):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(conversation(i)) + "\n" for i in rng),
                                               encoding="utf-8")
    return folder
