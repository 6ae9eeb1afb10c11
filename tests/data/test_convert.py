"""``punie dataset import`` / ``export``: each source format on small hand-written samples (with
malformed lines), round trips that keep every call, bad input, and `tools` on every written line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from punie.cli import main
from punie.data import TrainingDataset, calls_of, generate_dataset, read_dataset, read_jsonl, write_dataset
from punie.data.convert import convert_record, export_line, import_file
from punie.toolcalls import default_tools

STOCK = {"type": "function", "function": {"name": "get_stock_price", "description": "Price of a stock.",
                                          "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}},
                                                         "required": ["symbol"]}}}
HERMES_SYSTEM = ("You are a function calling AI model. You are provided with function signatures within "
                 "<tools></tools> XML tags. Here are the available tools: <tools> "
                 + repr([STOCK]) + " </tools> For each function call return a json object within "
                 "<tool_call></tool_call> XML tags.")


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _shape(conv: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """What a conversation says, ids aside: role, text, calls."""
    return [(m["role"], (m.get("content") or "").strip(), calls_of(m)) for m in conv["messages"]]


def _import(src: Path, tmp: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[dict], str, str]:
    out = tmp / "out.jsonl"
    capsys.readouterr()
    rc = run(["dataset", "import", str(src), "-o", str(out), *extra])
    cap = capsys.readouterr()
    convs = list(read_jsonl(out)) if out.exists() else []
    return rc, convs, cap.out, cap.err


# ---- each source format --------------------------------------------------------------------------


def test_hermes_sharegpt_with_python_literals_and_malformed_lines(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    good = {"conversations": [
        {"from": "system", "value": HERMES_SYSTEM},
        {"from": "human", "value": "What's TSLA at?"},
        {"from": "gpt",
         "value": "<tool_call>\n{'arguments': {'symbol': 'TSLA'}, 'name': 'get_stock_price'}\n</tool_call>"},
        {"from": "tool", "value": "<tool_response>\n{\"price\": 250}\n</tool_response>"},
        {"from": "gpt", "value": "TSLA is at 250."}]}
    src = _jsonl(tmp_path / "hermes.jsonl", [
        good,
        "{not json",
        {"conversations": [{"from": "robot", "value": "hi"}]},
        {"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "<tool_call>\n{\"name\": \"a\""}]},
        {"conversations": [{"from": "human", "value": "only a question"}]},
    ])
    rc, convs, out, err = _import(src, tmp_path, capsys)
    assert rc == 1  # lines were dropped
    assert "detected format: hermes (1 line)" in out
    assert "dropped 4 of 5 lines" in out
    assert f"{src}:2: invalid JSON" in err
    assert f"{src}:3: turn 0: unknown speaker 'robot'" in err
    assert f"{src}:4: turn 1: <tool_call> without </tool_call>" in err
    assert f"{src}:5: no assistant turn" in err
    assert "Traceback" not in out + err
    (conv,) = convs
    assert conv["tools"] == [STOCK]  # from the system prompt's <tools> block (Python literal)
    assert _shape(conv) == [
        ("user", "What's TSLA at?", []),
        ("assistant", "", [{"name": "get_stock_price", "arguments": {"symbol": "TSLA"}}]),
        ("tool", '{"price": 250}', []),
        ("assistant", "TSLA is at 250.", [])]
    assert conv["messages"][2]["tool_call_id"] == conv["messages"][1]["tool_calls"][0]["id"]


def test_hermes_json_array_file_names_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "hermes.json"
    src.write_text('[\n {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},\n'
                   ' {"conversations": [{"from": "alien", "value": "?"}]}\n]\n')
    rc, convs, out, err = _import(src, tmp_path, capsys, "--format", "hermes")
    assert rc == 1 and len(convs) == 1
    assert f"{src}:3: turn 0: unknown speaker 'alien'" in err
    assert convs[0]["tools"] == default_tools()  # no tool list and no calls: punie's 7 tools


def test_llama_factory_sharegpt_function_call_and_observation(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    row = {"system": "Be brief.", "tools": json.dumps([STOCK["function"]]), "conversations": [
        {"from": "human", "value": "AAPL and MSFT?"},
        {"from": "function_call", "value": json.dumps([{"name": "get_stock_price", "arguments": {"symbol": "AAPL"}},
                                                       {"name": "get_stock_price", "arguments": {"symbol": "MSFT"}}])},
        {"from": "observation", "value": "190"},
        {"from": "observation", "value": "410"},
        {"from": "gpt", "value": "190 and 410."}]}
    rc, (conv,), out, _ = _import(_jsonl(tmp_path / "lf.jsonl", [row]), tmp_path, capsys)
    assert rc == 0 and "detected format: sharegpt" in out
    assert conv["tools"] == [STOCK]
    assert conv["messages"][0] == {"role": "system", "content": "Be brief."}
    ids = [c["id"] for c in conv["messages"][2]["tool_calls"]]
    assert [m.get("tool_call_id") for m in conv["messages"][3:5]] == ids
    assert [c["arguments"]["symbol"] for c in calls_of(conv["messages"][2])] == ["AAPL", "MSFT"]


def test_xlam_json_strings_types_and_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tools = [{"name": "search", "description": "Search the web.",
              "parameters": {"q": {"type": "str", "description": "Query."},
                             "limit": {"type": "int, optional", "description": "Max hits.", "default": 10},
                             "tags": {"type": "List[str]", "description": "Tags."}}}]
    good = {"id": 1, "query": "Find punie docs", "tools": json.dumps(tools),
            "answers": json.dumps([{"name": "search", "arguments": {"q": "punie docs", "limit": 3}}])}
    src = _jsonl(tmp_path / "xlam.jsonl", [
        good,
        {"id": 2, "query": "x", "tools": json.dumps(tools), "answers": "[{oops"},
        {"id": 3, "query": "y", "tools": json.dumps(tools), "answers": "[]"},
    ])
    rc, convs, out, err = _import(src, tmp_path, capsys, "--format", "xlam")
    assert rc == 1 and len(convs) == 1
    assert f"{src}:2: answers: not valid JSON" in err and f"{src}:3: answers is empty" in err
    (spec,) = convs[0]["tools"]
    params = spec["function"]["parameters"]
    assert params["type"] == "object" and params["required"] == ["q", "tags"]
    assert params["properties"]["limit"] == {"type": "integer", "description": "Max hits.", "default": 10}
    assert params["properties"]["tags"]["type"] == "array"
    assert _shape(convs[0]) == [("user", "Find punie docs", []),
                                ("assistant", "", [{"name": "search", "arguments": {"q": "punie docs", "limit": 3}}])]


def test_trl_conversational_prompt_completion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row = {"prompt": [{"role": "user", "content": "Open a.py"}],
           "completion": [{"role": "assistant", "tool_calls": [
               {"type": "function", "function": {"name": "read_file", "arguments": {"path": "a.py"}}}]}],
           "tools": default_tools()[:1]}
    bad = {"prompt": [{"role": "user", "content": "x"}], "completion": "not a list"}
    src = _jsonl(tmp_path / "trl.jsonl", [row, bad])
    rc, convs, out, err = _import(src, tmp_path, capsys)
    assert rc == 1 and "detected format: trl (1 line)" in out
    assert f"{src}:2: prompt and completion must both be lists" in err
    assert convs[0]["tools"] == default_tools()[:1]
    assert calls_of(convs[0]["messages"][1]) == [{"name": "read_file", "arguments": {"path": "a.py"}}]


def test_openai_modern_and_legacy_functions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    modern = {"messages": [{"role": "user", "content": "Price of X?"},
                           {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                               "name": "get_stock_price", "arguments": "{\"symbol\": \"X\"}"}}]},
                           {"role": "tool", "tool_call_id": "c1", "content": "3"},
                           {"role": "assistant", "content": "3."}], "tools": [STOCK], "parallel_tool_calls": False}
    legacy = {"functions": [STOCK["function"]], "messages": [
        {"role": "user", "content": "Price of Y?"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_stock_price",
                                                                 "arguments": "{\"symbol\": \"Y\"}"}},
        {"role": "function", "name": "get_stock_price", "content": "4"},
        {"role": "assistant", "content": "4."}]}
    broken = {"messages": [{"role": "user", "content": "z"},
                           {"role": "assistant", "tool_calls": [{"function": {"name": "a", "arguments": "{bad"}}]}]}
    src = _jsonl(tmp_path / "oa.jsonl", [modern, legacy, broken])
    rc, convs, out, err = _import(src, tmp_path, capsys, "--format", "openai")
    assert rc == 1 and f"{src}:3: message 1: tool call 'a': arguments are not valid JSON" in err
    assert [c["tools"] for c in convs] == [[STOCK], [STOCK]]
    assert calls_of(convs[1]["messages"][1]) == [{"name": "get_stock_price", "arguments": {"symbol": "Y"}}]
    assert convs[1]["messages"][2]["tool_call_id"] == convs[1]["messages"][1]["tool_calls"][0]["id"]


def test_mlx_prompt_completion_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call = '<tool_call>\n{"name": "run_command", "arguments": {"command": "ls"}}\n</tool_call>'
    src = _jsonl(tmp_path / "mlx.jsonl", [{"prompt": "List files", "completion": call}, {"text": "free text"},
                                          {"prompt": 3, "completion": "x"}])
    rc, convs, out, err = _import(src, tmp_path, capsys, "--format", "mlx")
    assert rc == 1 and f"{src}:3: prompt must be a string" in err
    assert calls_of(convs[0]["messages"][1]) == [{"name": "run_command", "arguments": {"command": "ls"}}]
    assert all(c["tools"] == default_tools() for c in convs)


def test_explicit_format_refuses_other_shapes_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _jsonl(tmp_path / "mixed.jsonl", [{"messages": [{"role": "user", "content": "a"},
                                                          {"role": "assistant", "content": "b"}]},
                                            {"query": "q", "tools": "[]", "answers": "[]"}])
    rc, convs, _, err = _import(src, tmp_path, capsys, "--format", "openai")
    assert rc == 1 and len(convs) == 1 and f"{src}:2: not a openai line: it looks like xlam" in err


def test_calls_to_tools_outside_the_seven_get_inferred_specs() -> None:
    conv, fmt = convert_record({"conversations": [
        {"from": "human", "value": "weather?"},
        {"from": "gpt",
         "value": '<tool_call>\n{"name": "weather", "arguments": {"city": "Oslo", "days": 2}}\n</tool_call>'}]})
    assert fmt == "hermes"
    assert conv["tools"] == [{"type": "function", "function": {"name": "weather", "description": "", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}]


# ---- bad input: one line, exit 2, nothing written or overwritten ----------------------------------


def test_bad_input_exit_2_and_nothing_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n")
    allbad = _jsonl(tmp_path / "bad.jsonl", ["{oops", '{"x": 1}'])
    cases = [
        (["dataset", "import", str(allbad), "-o", str(out)], "no line of 2 could be converted"),
        (["dataset", "import", str(tmp_path / "missing.jsonl"), "-o", str(out)], "file not found"),
        (["dataset", "import", str(allbad), "-o", str(out), "--format", "bogus"], "--format: unknown format"),
        (["dataset", "import", str(allbad), "-o", str(tmp_path / "out.txt")], "-o: "),
    ]
    broken_array = tmp_path / "arr.json"
    broken_array.write_text('[\n{"text": "a"},\n{"text": \n')
    cases.append((["dataset", "import", str(broken_array), "-o", str(out)],
                  f"{broken_array}:4: invalid JSON in the array"))
    for argv, expected in cases:
        capsys.readouterr()
        assert run(argv) == 2, argv
        err = capsys.readouterr().err
        last = err.splitlines()[-1]  # the line problems come first when there were lines to read
        assert last.startswith("punie: error: ") and expected in last and "Traceback" not in err, (argv, err)
        assert err.count("punie: error") == 1 and out.read_text() == "keep me\n"
    assert not (tmp_path / "out.txt").exists()


def test_export_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = tmp_path / "ds"
    write_dataset(TrainingDataset(train=[_small_conv()], valid=[_small_conv()]), ds)
    holder = tmp_path / "holder"
    holder.mkdir()
    (holder / "notes.txt").write_text("mine")
    for argv, expected in [
        (["dataset", "export", str(ds), "-o", str(tmp_path / "x"), "--format", "alpaca"], "--format: unknown format"),
        (["dataset", "export", str(tmp_path / "nope"), "-o", str(tmp_path / "x"), "--format", "openai"],
         "no such file"),
        (["dataset", "export", str(ds), "-o", str(holder), "--format", "openai"], "holds other files"),
    ]:
        capsys.readouterr()
        assert run(argv) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists() and sorted(p.name for p in holder.iterdir()) == ["notes.txt"]


# ---- export → re-import keeps every call -----------------------------------------------------------


def _small_conv() -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "Open a.py"},
                         {"role": "assistant", "content": "", "tool_calls": [
                             {"id": "c1", "type": "function", "function": {"name": "read_file",
                                                                           "arguments": {"path": "a.py"}}}]},
                         {"role": "tool", "tool_call_id": "c1", "content": "x = 1"},
                         {"role": "assistant", "content": "It sets x."}]}


@pytest.fixture(scope="module")
def generated() -> TrainingDataset:
    ds = generate_dataset(seed=3, size=60, heldout_size=8)
    extra = _small_conv()
    extra["messages"].insert(0, {"role": "system", "content": "Answer in French."})
    extra["tools"] = [*default_tools(), STOCK]
    ds.train.append(extra)
    return ds


@pytest.mark.parametrize("fmt", ["sharegpt", "openai", "trl", "mlx"])
def test_export_then_import_keeps_every_call(fmt: str, generated: TrainingDataset, builder: Any,
                                             tmp_path: Path) -> None:
    src = list(generated)
    assert sum(len(calls_of(m)) for c in src for m in c["messages"]) > 60
    use = builder if fmt in ("trl", "mlx") else None
    path = _jsonl(tmp_path / f"{fmt}.jsonl", [export_line(c, fmt, use) for c in src])
    res = import_file(path, "auto")
    assert res.problems == []
    assert len(res.conversations) == len(src)
    for a, b in zip(src, res.conversations, strict=True):
        assert _shape(b) == _shape(a)
        assert b["tools"] == (a.get("tools") or default_tools())


def test_export_cli_writes_each_split(generated: TrainingDataset, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ds = tmp_path / "ds"
    write_dataset(generated, ds)
    assert run(["dataset", "export", str(ds), "-o", str(tmp_path / "sg"), "--format", "sharegpt"]) == 0
    assert sorted(p.name for p in (tmp_path / "sg").iterdir()) == ["test.jsonl", "train.jsonl", "valid.jsonl"]
    line = json.loads((tmp_path / "sg" / "train.jsonl").read_text().splitlines()[0])
    assert line["conversations"][0]["from"] == "system" and "<tools>" in line["conversations"][0]["value"]
    assert line["tools"] == default_tools()
    assert run(["dataset", "export", str(ds), "-o", str(tmp_path / "all.jsonl"), "--format", "openai"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert len(rows) == len(generated) and all(r["tools"] for r in rows)
    call_turn = next(m for r in rows for m in r["messages"] if m.get("tool_calls"))
    assert isinstance(call_turn["tool_calls"][0]["function"]["arguments"], str) and "content" not in call_turn
    capsys.readouterr()
    assert run(["dataset", "export", str(ds), "-o", str(tmp_path / "mlx"), "--format", "mlx"]) == 0
    assert "does not render tools" in capsys.readouterr().out
    first = json.loads((tmp_path / "mlx" / "train.jsonl").read_text().splitlines()[0])
    assert first["messages"][0]["role"] == "system" and "<tools>" in first["messages"][0]["content"]
    # and back: every call survives punie → sharegpt → punie through the CLI
    assert run(["dataset", "import", str(tmp_path / "sg" / "train.jsonl"), "-o", str(tmp_path / "back.jsonl")]) == 0
    back = list(read_jsonl(tmp_path / "back.jsonl"))
    assert [_shape(c) for c in back] == [_shape(c) for c in generated.train]


# ---- tools on every generated line ---------------------------------------------------------------------


def test_generate_writes_tools_on_every_line(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    assert run(["dataset", "generate", str(out), "--size", "12", "--heldout-size", "3"]) == 0
    for split in ("train", "valid", "test"):
        rows = [json.loads(x) for x in (out / f"{split}.jsonl").read_text().splitlines()]
        assert rows and all(r["tools"] == default_tools() for r in rows)
    assert len(read_dataset(out).train) == 12
