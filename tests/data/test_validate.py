"""The validator: each rule reported with file:line and message index; warnings apart; token checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from punie.data import create_read_file_example, validate_dataset
from punie.models.prompt import Encoded

GOOD = create_read_file_example("a.py", "x = 1")
NOCALL = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}


def _call(name: str, args: Any, cid: str = "c1") -> dict[str, Any]:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


def _ds(tmp_path: Path, bad_line: str | dict) -> Path:
    """A dataset whose train.jsonl line 3 is ``bad_line`` (lines 1-2 are fine)."""
    text = bad_line if isinstance(bad_line, str) else json.dumps(bad_line)
    (tmp_path / "train.jsonl").write_text("\n".join([json.dumps(GOOD), json.dumps(NOCALL), text]) + "\n")
    (tmp_path / "valid.jsonl").write_text(json.dumps(NOCALL) + "\n")
    return tmp_path


U = {"role": "user", "content": "Open a.py"}
A_END = {"role": "assistant", "content": "done"}

CASES = [
    ("not json at all", None, "invalid JSON"),
    ({"messages": [U, {"role": "robot", "content": "x"}, A_END]}, 1, "unknown role 'robot'"),
    ({"messages": [{"role": "user", "content": "  "}, A_END]}, 0, "empty content in a user message"),
    ({"messages": [U, {"role": "assistant", "content": ""}]}, 1, "empty content in an assistant message"),
    ({"messages": [U, A_END, {"role": "user", "content": "more?"}]}, 2, "ends with a user turn"),
    ({"messages": [U, A_END, {"role": "system", "content": "late"}, A_END]}, 2, "system message is only allowed"),
    ({"messages": [U, {"role": "assistant", "content": "", "tool_calls": [_call("delete_file", {"path": "a"})]},
                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}, A_END]}, 1, "not in the tools offered"),
    ({"messages": [U, {"role": "assistant", "content": "", "tool_calls": [_call("read_file", {"path": 3})]},
                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}, A_END]}, 1, "3 is not of type 'string'"),
    ({"messages": [U, {"role": "assistant", "content": "", "tool_calls": [_call("read_file", {})]},
                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}, A_END]}, 1,
     "'path' is a required property"),
    ({"messages": [U, {"role": "assistant", "content": "", "tool_calls": [_call("read_file", {"path": "a", "x": 1})]},
                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}, A_END]}, 1, "Additional properties"),
    ({"messages": [U, {"role": "assistant", "content": "", "tool_calls": [_call("read_file", "{oops")]},
                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}, A_END]}, 1, "arguments are not valid JSON"),
    ({"messages": [U, {"role": "assistant", "content": "", "tool_calls": [_call("read_file", {"path": "a"})]},
                   {"role": "tool", "tool_call_id": "zzz", "content": "ok"}, A_END]}, 2, "answers no earlier call"),
    ({"messages": [U, {"role": "assistant", "content": "", "tool_calls": [_call("read_file", {"path": "a"})]},
                   A_END]}, 1, "never answered"),
    ({"messages": [U, {"role": "assistant", "content": "", "tool_calls": [
        _call("read_file", {"path": "a"}), _call("read_file", {"path": "b"}, "c2")]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}, A_END]}, 1,
     "never answered by a tool message: read_file (c2)"),
    ({"tools": [{"type": "function", "function": {"name": "only_this", "parameters": {"type": "object"}}}],
      "messages": [U, {"role": "assistant", "content": "", "tool_calls": [_call("read_file", {"path": "a"})]},
                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}, A_END]}, 1, "not in the tools offered"),
]


@pytest.mark.parametrize(("line", "index", "needle"), CASES, ids=[c[2] for c in CASES])
def test_each_error_kind_has_file_line_and_message_index(tmp_path: Path, line: Any, index: int | None,
                                                         needle: str) -> None:
    report = validate_dataset(_ds(tmp_path, line))
    assert not report.ok
    hits = [e for e in report.errors if needle in e.text]
    assert hits, [str(e) for e in report.errors]
    issue = hits[0]
    assert (issue.file, issue.line, issue.message_index) == ("train.jsonl", 3, index)
    prefix = "train.jsonl:3: " + (f"message {index}: " if index is not None else "")
    assert str(issue).startswith(prefix)
    # errors stay on the bad line
    assert {e.line for e in report.errors} == {3}


def test_valid_dataset_with_final_call_turn(tmp_path: Path) -> None:
    # a conversation may end on a call: the example teaches the call itself
    final_call = {"messages": [U, {"role": "assistant", "content": "",
                                   "tool_calls": [_call("read_file", {"path": "a"})]}]}
    report = validate_dataset(_ds(tmp_path, final_call))
    assert report.ok, [str(e) for e in report.errors]
    assert report.counts["splits"] == {"train": 3, "valid": 1}
    assert "valid: 4 examples" in report.summary()


def test_warnings_duplicates_no_nocall_unused_tools(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n")
    (tmp_path / "valid.jsonl").write_text(json.dumps(GOOD) + "\n")
    report = validate_dataset(tmp_path)
    assert report.ok
    texts = [str(w) for w in report.warnings]
    assert "train.jsonl:2: duplicate of train.jsonl:1" in texts
    assert any("no no-call examples" in t for t in texts)
    assert any("'write_file' is never called" in t for t in texts)


class _FakeBuilder:
    """Encodes to a fixed length with a chosen number of trainable tokens."""

    def __init__(self, length: int, trainable: int) -> None:
        self.length, self.trainable = length, trainable

    def encode(self, messages: Any, tools: Any = None) -> Encoded:
        return Encoded(list(range(self.length)), [-100] * self.length, 10, self.trainable, [])


def test_token_checks_too_long_and_zero_trainable(tmp_path: Path) -> None:
    ds = _ds(tmp_path, NOCALL)
    long = validate_dataset(ds, builder=_FakeBuilder(3000, 5), max_seq_length=2048)
    assert any("longer than the max sequence length 2048" in e.text for e in long.errors)
    zero = validate_dataset(ds, builder=_FakeBuilder(100, 0))
    assert any("no trainable" in e.text for e in zero.errors)
    assert validate_dataset(ds, builder=_FakeBuilder(100, 5)).ok


def test_token_checks_with_the_real_prompt_builder(tmp_path: Path, builder: Any) -> None:
    ds = _ds(tmp_path, NOCALL)
    assert validate_dataset(ds, builder=builder).ok
    short = validate_dataset(ds, builder=builder, max_seq_length=50)
    assert any("longer than the max sequence length 50" in e.text for e in short.errors)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from punie.data.validate import _Checker  # noqa: E402
from punie.toolcalls import default_tools, tool_parameters  # noqa: E402

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=2)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=2),
                     max_leaves=4)
_keys = st.sampled_from(["path", "content", "command", "cwd", "background", "terminal_id", "other"])


@settings(max_examples=300, deadline=None)
@given(args=st.dictionaries(_keys, _json, max_size=4), tool=st.sampled_from(default_tools()))
def test_fast_schema_check_agrees_with_jsonschema(args: dict, tool: dict) -> None:
    checker = _Checker(tool_parameters(tool))
    assert checker.fast is not None
    assert checker.fast(args) == checker.validator.is_valid(args)


def test_pasted_tool_result_is_a_warning(tmp_path: Path) -> None:
    line = {"messages": [U, {"role": "assistant", "content": "reading"},
                         {"role": "user", "content": "Tool result: x = 1"}, A_END]}
    report = validate_dataset(_ds(tmp_path, line))
    assert report.ok
    assert any(w.line == 3 and w.message_index == 2 and "pasted" in w.text for w in report.warnings)


def test_max_issues_keeps_the_first_and_says_the_list_was_truncated(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("\n".join(["not json"] * 5 + [json.dumps(GOOD), json.dumps(NOCALL)]) + "\n")
    (tmp_path / "valid.jsonl").write_text(json.dumps(NOCALL) + "\n")
    report = validate_dataset(tmp_path, max_issues=2)
    assert [e.line for e in report.errors] == [1, 2]
    assert report.counts["truncated"] is True and report.counts["errors"] == 5
    assert "truncated" not in validate_dataset(tmp_path).counts
