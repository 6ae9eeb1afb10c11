"""Permission policies, call shapes, and the promise that no tool input ever raises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from punie.agent import ToolResult, Workspace
from punie.errors import ConfigError
from punie.toolcalls.specs import TOOL_NAMES


def test_deny_returns_permission_denied_and_does_nothing(tmp_path: Path) -> None:
    with Workspace(tmp_path, permissions={"write_file": "deny", "run_command": "deny"}) as ws:
        result = ws.execute("write_file", {"path": "a.txt", "content": "x"})
        assert (result.ok, result.error_kind) == (False, "permission_denied")
        assert result.content.startswith("permission denied: write_file")
        assert ws.execute("run_command", {"command": "touch b.txt"}).error_kind == "permission_denied"
        assert not (tmp_path / "a.txt").exists() and not (tmp_path / "b.txt").exists()
        assert ws.execute("read_file", {"path": "a.txt"}).error_kind == "not_found"  # still allowed


def test_ask_callback_decides(tmp_path: Path) -> None:
    asked: list[tuple[str, dict[str, Any]]] = []

    def ask(name: str, arguments: dict[str, Any]) -> bool:
        asked.append((name, arguments))
        return arguments.get("path") == "ok.txt"

    with Workspace(
        tmp_path, permissions={"*": "deny", "write_file": "ask", "read_file": "allow"}, ask=ask
    ) as ws:
        assert ws.execute("write_file", {"path": "ok.txt", "content": "1"}).ok
        denied = ws.execute("write_file", {"path": "no.txt", "content": "2"})
        assert denied.content == "permission denied: write_file was not approved"
        assert ws.execute("read_file", {"path": "ok.txt"}).content == "1"
        assert ws.execute("run_command", {"command": "true"}).error_kind == "permission_denied"
        # invalid calls are rejected before anyone is asked
        assert ws.execute("write_file", {"path": "x"}).error_kind == "invalid_arguments"
    assert asked == [
        ("write_file", {"path": "ok.txt", "content": "1"}),
        ("write_file", {"path": "no.txt", "content": "2"}),
    ]
    assert not (tmp_path / "no.txt").exists()


def test_a_raising_ask_callback_denies(tmp_path: Path) -> None:
    def ask(name: str, arguments: dict[str, Any]) -> bool:
        raise RuntimeError("boom")

    with Workspace(tmp_path, permissions={"run_command": "ask"}, ask=ask) as ws:
        assert ws.execute("run_command", {"command": "touch x"}).error_kind == "permission_denied"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "permissions, ask",
    [({"rm": "deny"}, None), ({"read_file": "maybe"}, None), ({"run_command": "ask"}, None)],
)
def test_bad_permission_config(tmp_path: Path, permissions: dict[str, str], ask: Any) -> None:
    with pytest.raises(ConfigError):
        Workspace(tmp_path, permissions=permissions, ask=ask)


def test_argument_validation(tmp_path: Path) -> None:
    with Workspace(tmp_path) as ws:
        assert (
            ws.execute("read_file", {}).content
            == "error: invalid arguments for read_file: 'path' is a required property"
        )
        assert ws.execute("read_file", {"path": 3}).error_kind == "invalid_arguments"
        assert ws.execute("read_file", {"path": "a", "extra": 1}).error_kind == "invalid_arguments"
        assert ws.execute("read_file", ["a"]).error_kind == "invalid_arguments"
        assert (
            ws.execute("run_command", {"command": "true", "background": "yes"}).error_kind
            == "invalid_arguments"
        )
        assert ws.execute("run_command", {"command": "  "}).error_kind == "invalid_arguments"
        assert ws.execute("run_command", {"command": "echo \x00"}).error_kind == "invalid_arguments"
        # an optional parameter spelled null counts as omitted
        assert ws.execute("run_command", {"command": "true", "cwd": None, "background": None}).ok
        assert ws.execute("delete_everything", {}).error_kind == "unknown_tool"
        assert ws.execute(None, None).error_kind == "unknown_tool"


def test_execute_call_shapes(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A")
    with Workspace(tmp_path) as ws:
        assert ws.execute_call({"name": "read_file", "arguments": {"path": "a.txt"}}).content == "A"
        assert (
            ws.execute_call({"name": "read_file", "arguments": json.dumps({"path": "a.txt"})}).content == "A"
        )
        wrapped = {"type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'}}
        assert ws.execute_call(wrapped).content == "A"
        assert ws.execute_call({"name": "read_file", "arguments": "{bad"}).error_kind == "invalid_arguments"
        assert ws.execute_call("read_file").error_kind == "invalid_arguments"
        assert ws.execute_call({"arguments": {}}).error_kind == "invalid_arguments"
        assert [e.name for e in ws.history][:3] == ["read_file"] * 3
        assert all(isinstance(e.result, ToolResult) for e in ws.history)


# -- fuzz ----------------------------------------------------------------------------------------
# Commands the fuzzer may really run; every other command is refused by the ask callback, so random
# text never reaches a shell.
SAFE_COMMANDS = ["true", "false", "echo hi", "ls", "pwd", "exit 4", "echo x > f.txt", "cat f.txt"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
path_like = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["..", "../x", "/etc/passwd", "a/../../b", "~", ".", "", "/", "f.txt", "d/e/f.txt", "a\x00b"]
    ),
    st.lists(st.sampled_from(["..", ".", "a", "b", "f.txt", "", "/"]), max_size=5).map("/".join),
)
param_values = {
    "path": path_like,
    "cwd": path_like,
    "content": st.text(max_size=50),
    "command": st.sampled_from(SAFE_COMMANDS) | st.text(max_size=30),
    "background": st.booleans(),
    "terminal_id": st.sampled_from(["term-1", "term-2", "term-3", ""]) | st.text(max_size=10),
}
arguments = st.one_of(
    st.dictionaries(
        st.sampled_from(sorted(param_values)),
        st.one_of(json_values, st.just(None)),
        max_size=4,
    ),
    st.fixed_dictionaries({}, optional={k: v for k, v in param_values.items()}),
    json_values,
)
names = st.sampled_from(TOOL_NAMES) | st.text(max_size=20) | st.none() | st.integers()


def test_no_tool_input_raises(tmp_path_factory: pytest.TempPathFactory) -> None:
    parent = tmp_path_factory.mktemp("fuzz")
    root = parent / "root"
    root.mkdir()
    (parent / "sentinel.txt").write_text("keep")

    def ask(name: str, args: dict[str, Any]) -> bool:
        return args.get("command") in SAFE_COMMANDS

    with Workspace(
        root, permissions={"run_command": "ask"}, ask=ask, command_timeout=2.0, kill_grace=0.1
    ) as ws:

        @settings(max_examples=300, deadline=None)
        @given(name=names, args=arguments)
        def check(name: Any, args: Any) -> None:
            result = ws.execute(name, args)
            assert isinstance(result, ToolResult) and isinstance(result.content, str)
            assert result.error_kind != "internal", result.content
            assert result.ok == (result.error_kind is None)
            call = ws.execute_call({"name": name, "arguments": args})
            assert isinstance(call, ToolResult) and call.error_kind != "internal", call.content

        check()
    assert sorted(p.name for p in parent.iterdir()) == ["root", "sentinel.txt"]
    assert (parent / "sentinel.txt").read_text() == "keep"
