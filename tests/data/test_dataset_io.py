"""JSONL I/O: every accepted line format, canonical writing, round trips and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from punie.data import (
    TrainingDataset,
    create_multi_tool_example,
    create_read_file_example,
    create_run_command_example,
    create_write_file_example,
    read_dataset,
    read_jsonl,
    write_dataset,
)
from punie.data import dataset as dsmod
from punie.errors import DatasetError


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_openai_messages_arguments_string_and_object_are_normalised(tmp_path: Path) -> None:
    line_str = {"messages": [
        {"role": "user", "content": "Open a.py"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\": \"a.py\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "x = 1"},
        {"role": "assistant", "content": "It sets x."}]}
    line_obj = json.loads(json.dumps(line_str))
    line_obj["messages"][1]["tool_calls"][0]["function"]["arguments"] = {"path": "a.py"}
    f = _write_lines(tmp_path / "train.jsonl", [json.dumps(line_str), json.dumps(line_obj)])
    a, b = list(read_jsonl(f))
    assert a == b
    assert a["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"path": "a.py"}
    assert a["messages"][1]["content"] == ""


def test_mlx_prompt_completion_text_and_legacy_markup(tmp_path: Path) -> None:
    call = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'
    f = _write_lines(tmp_path / "x.jsonl", [
        json.dumps({"prompt": "Open a.py", "completion": call}),
        json.dumps({"text": "just some text"}),
        json.dumps({"text": "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"}),
        json.dumps({"messages": [{"role": "user", "content": "Open a.py"}, {"role": "assistant", "content": call},
                                 {"role": "tool", "content": "x"}, {"role": "assistant", "content": "ok"}]}),
    ])
    pc, text, chatml, legacy = list(read_jsonl(f))
    assert pc["messages"][0] == {"role": "user", "content": "Open a.py"}
    assert pc["messages"][1]["tool_calls"][0]["function"] == {"name": "read_file", "arguments": {"path": "a.py"}}
    assert text["messages"] == [{"role": "assistant", "content": "just some text"}]
    assert [m["role"] for m in chatml["messages"]] == ["user", "assistant"]
    assert chatml["messages"][1]["content"] == "hello"
    # a legacy tool result without tool_call_id is paired with the call it answers
    cid = legacy["messages"][1]["tool_calls"][0]["id"]
    assert legacy["messages"][2]["tool_call_id"] == cid


def test_write_is_canonical_openai_form(tmp_path: Path) -> None:
    conv = create_read_file_example("src/app.py", "print('hi')\n")
    write_dataset(TrainingDataset(train=[conv], valid=[conv]), tmp_path / "ds")
    line = json.loads((tmp_path / "ds" / "train.jsonl").read_text(encoding="utf-8"))
    call = line["messages"][1]["tool_calls"][0]
    assert call["type"] == "function" and isinstance(call["function"]["arguments"], str)
    assert json.loads(call["function"]["arguments"]) == {"path": "src/app.py"}
    assert line["messages"][2] == {"role": "tool", "content": "print('hi')\n", "tool_call_id": call["id"]}
    from punie.toolcalls import default_tools

    assert line["tools"] == default_tools()  # every written line names its tools (the 7 by default)
    assert (tmp_path / "ds" / "test.jsonl").read_text() == ""


def test_helpers_produce_answered_calls() -> None:
    w = create_write_file_example("a.txt", "x\ny")
    assert w["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"path": "a.txt", "content": "x\ny"}
    r = create_run_command_example("make", "ok", cwd="build", exit_code=2)
    assert r["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"command": "make", "cwd": "build"}
    assert "exit code 2" in r["messages"][-1]["content"]
    m = create_multi_tool_example(
        "Read a and b", [[("read_file", {"path": "a"}, "A"), ("read_file", {"path": "b"}, "B")]], "Both read.")
    assert [x["role"] for x in m["messages"]] == ["user", "assistant", "tool", "tool", "assistant"]
    ids = [c["id"] for c in m["messages"][1]["tool_calls"]]
    assert [m["messages"][2]["tool_call_id"], m["messages"][3]["tool_call_id"]] == ids


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=40, deadline=None)
@given(path=_text.filter(lambda s: s.strip()), content=_text, prompt=_text.filter(lambda s: s.strip()))
def test_round_trip_write_read(tmp_path_factory: pytest.TempPathFactory, path: str, content: str, prompt: str) -> None:
    conv = create_write_file_example(path, content, prompt=prompt)
    conv["tools"] = [{"type": "function", "function": {"name": "write_file", "parameters": {"type": "object"}}}]
    out = tmp_path_factory.mktemp("rt") / "ds"
    write_dataset(TrainingDataset(train=[conv], valid=[conv]), out)
    back = read_dataset(out)
    assert back.train == [conv] and back.valid == [conv] and back.test == []


# ---- bad input: one DatasetError with a location each --------------------------------------------


def test_non_utf8_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "train.jsonl"
    f.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DatasetError) as exc:
        list(read_jsonl(f, split="train"))
    assert exc.value.location == "train.jsonl:2" and "UTF-8" in str(exc.value)


def test_over_long_line_is_refused_without_reading_it_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dsmod, "MAX_LINE_BYTES", 1000)
    f = tmp_path / "train.jsonl"
    f.write_text('{"text": "ok"}\n{"text": "' + "x" * 5000 + '"}\n', encoding="utf-8")
    with pytest.raises(DatasetError) as exc:
        list(read_jsonl(f, split="train"))
    assert exc.value.location == "train.jsonl:2" and "longer than" in str(exc.value)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('[1, 2]', "a line must be a JSON object"),
        ('{"messages": "hi"}', "messages must be a list"),
        ('{"messages": [{"role": "user", "content": 5}]}', "message 0: content must be a string"),
        ('{"messages": [{"role": 1, "content": "x"}]}', "message 0: role must be a string"),
        ('{"messages": [{"role": "assistant", "content": "", "tool_calls": {}}]}', "tool_calls must be a list"),
        ('{"messages": [], "tools": "all"}', "tools must be a list"),
        ('{"prompt": 1, "completion": "x"}', "prompt must be a string"),
        ('{"foo": 1}', "unknown line format"),
        ('{"messages": [', "invalid JSON"),
        ('{"messages": [{"role": "assistant", "content": "x", "weight": 2}]}', "message 0: weight must be 0 or 1"),
        ('{"messages": [{"role": "assistant", "content": "x", "weight": true}]}', "weight must be 0 or 1, got True"),
    ],
)
def test_wrong_types_raise_with_location(tmp_path: Path, line: str, needle: str) -> None:
    f = _write_lines(tmp_path / "train.jsonl", ['{"text": "fine"}', line])
    with pytest.raises(DatasetError) as exc:
        list(read_jsonl(f, split="train"))
    assert exc.value.location == "train.jsonl:2"
    assert needle in str(exc.value)


def test_missing_split_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no train.jsonl"):
        read_dataset(tmp_path)
    _write_lines(tmp_path / "train.jsonl", ['{"text": "x"}'])
    with pytest.raises(DatasetError, match="missing split file valid.jsonl"):
        read_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        read_dataset(tmp_path / "nope")


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    bad = {"messages": [{"role": "user", "content": object()}]}  # not JSON-serialisable
    with pytest.raises(TypeError):
        write_dataset(TrainingDataset(train=[bad]), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_to_replace_a_folder_with_other_files(tmp_path: Path) -> None:
    conv = create_read_file_example("a.py", "x")
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(DatasetError, match="holds other files"):
        write_dataset(TrainingDataset(train=[conv]), tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "precious"
    out = tmp_path / "ds"
    write_dataset(TrainingDataset(train=[conv], valid=[conv]), out)
    write_dataset(TrainingDataset(train=[conv, conv], valid=[conv]), out)  # a dataset is replaced
    assert len(read_dataset(out).train) == 2


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["role", "content", "tool_calls", "function", "name", "arguments", "id", "tool_call_id",
                         "messages", "tools", "prompt", "completion", "text", "type"]), inner, max_size=4),
    max_leaves=12,
)
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "tool", "system", "bot"]) | _json},
    optional={"content": _json, "tool_calls": _json, "tool_call_id": _json},
)


@settings(max_examples=150, deadline=None)
@given(line=st.one_of(
    _json,
    st.fixed_dictionaries({"messages": st.lists(_message, max_size=4)}, optional={"tools": _json}),
    st.fixed_dictionaries({"prompt": _json, "completion": _json}),
    st.fixed_dictionaries({
        "tools": st.lists(st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
            {"name": st.just("t"), "parameters": _json})}), min_size=1, max_size=2),
        "messages": st.tuples(st.just({"role": "user", "content": "x"}), st.fixed_dictionaries(
            {"role": st.just("assistant"), "content": st.just(""), "tool_calls": st.lists(st.fixed_dictionaries(
                {"id": st.just("c1"), "function": st.fixed_dictionaries({"name": st.just("t"), "arguments": _json})}),
                min_size=1, max_size=2)})).map(list),
    }),
))
def test_any_json_line_is_read_or_refused_cleanly(tmp_path_factory: pytest.TempPathFactory, line: object) -> None:
    from punie.data import validate_dataset

    f = tmp_path_factory.mktemp("fuzz") / "x.jsonl"
    f.write_text(json.dumps(line) + "\n", encoding="utf-8")
    try:
        list(read_jsonl(f))
    except DatasetError as exc:
        assert exc.location and exc.location.endswith(":1")
    try:
        validate_dataset(f)
    except DatasetError as exc:
        assert exc.location


def test_assistant_weight_round_trips(tmp_path: Path) -> None:
    # OpenAI fine-tuning's per-message weight: kept on read and write, absent when not given
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a", "weight": 0},
                         {"role": "user", "content": "and?"}, {"role": "assistant", "content": "b"}]}
    f = _write_lines(tmp_path / "train.jsonl", [json.dumps(line)])
    conv = next(read_jsonl(f, split="train"))
    assert [m.get("weight") for m in conv["messages"]] == [None, 0, None, None]
    out = dsmod.to_canonical(conv)["messages"]
    assert out[1]["weight"] == 0 and "weight" not in out[3]
