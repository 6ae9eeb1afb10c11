"""`punie parse` and `punie probe` (probe against a fake backend, and once against the tiny model)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from punie.backends.base import Generation, GenerationRequest
from punie.cli import main
from punie.toolcalls import render_calls
from punie.eval.probe import NO_TOOL_PROMPTS, TOOL_PROMPTS, probe_prompts, run_probe, summarize

HERMES = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'


def run(capsys: pytest.CaptureFixture[str], args: list[str], stdin: str | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_parse_reads_stdin_and_prints_a_json_list(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, ["parse"], "Sure.\n" + HERMES, monkeypatch)
    assert code == 0
    assert json.loads(out) == [{"name": "read_file", "arguments": {"path": "a.py"}}]


def test_parse_no_call_prints_empty_list(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, ["parse", "-"], "Hello there!", monkeypatch)
    assert code == 0 and json.loads(out) == []


def test_parse_file_verbose(capsys, tmp_path: Path) -> None:
    f = tmp_path / "out.txt"
    f.write_text("Reading.\n```json\n{'name': 'read_file', 'arguments': {'path': 'a.py',}}\n```", encoding="utf-8")
    code, out, _ = run(capsys, ["parse", str(f), "--verbose"])
    assert code == 0
    got = json.loads(out)
    assert got == {
        "calls": [{"name": "read_file", "arguments": {"path": "a.py"}}],
        "content": "Reading.",
        "format": "json_fence",
        "errors": [],
        "repaired": True,
    }


def test_parse_verbose_reports_errors(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, ["parse", "--verbose"], '<tool_call>{"name": "read_file", "argu', monkeypatch)
    got = json.loads(out)
    assert code == 0 and got["calls"] == [] and got["format"] == "hermes" and got["errors"]


def test_parse_with_tools_and_format(capsys, monkeypatch, tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps({"tools": [{"name": "count", "parameters": {"properties": {"n": {"type": "integer"}}}}]}))
    text = "<function=count>\n<parameter=n>\n3\n</parameter>\n</function>"
    code, out, _ = run(capsys, ["parse", "--tools", str(tools)], text, monkeypatch)
    assert code == 0 and json.loads(out) == [{"name": "count", "arguments": {"n": 3}}]
    code, out, _ = run(capsys, ["parse", "--format", "hermes"], text, monkeypatch)
    assert code == 0 and json.loads(out) == []


def test_parse_with_tools_reports_unknown_tools_and_coerces(capsys, monkeypatch, tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([{"name": "count", "parameters": {"properties": {"n": {"type": "integer"}}}}]))
    text = ('<tool_call>{"name": "count", "arguments": {"n": "3"}}</tool_call>'
            '<tool_call>{"name": "delete_all", "arguments": {}}</tool_call>')
    code, out, _ = run(capsys, ["parse", "--tools", str(tools), "--verbose"], text, monkeypatch)
    got = json.loads(out)
    assert code == 0 and got["calls"] == [{"name": "count", "arguments": {"n": 3}}]
    assert got["errors"] == ["unknown tool 'delete_all' (not in the tools offered)"]
    code, out, _ = run(capsys, ["parse"], text, monkeypatch)  # without --tools: both, as written
    assert [c["name"] for c in json.loads(out)] == ["count", "delete_all"]


def test_parse_detects_new_formats_without_a_flag(capsys, monkeypatch) -> None:
    text = "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{\"path\": \"a.py\"}<|call|>"
    code, out, _ = run(capsys, ["parse", "--verbose"], text, monkeypatch)
    got = json.loads(out)
    assert code == 0 and got["format"] == "harmony" and got["calls"] == [{"name": "read_file", "arguments": {"path": "a.py"}}]


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["parse", "{tmp}/missing.txt"], "missing.txt: file not found"),
        ("{bad json", ["parse", "--tools", "{tmp}/tools.json"], "tools.json:1: invalid JSON"),
        ('{"a": 1}', ["parse", "--tools", "{tmp}/tools.json"], "expected a JSON list"),
        ('[{"description": "no name"}]', ["parse", "--tools", "{tmp}/tools.json"], "tools[0]: tool 0 has no name"),
        (None, ["parse", "--format", "yaml"], "--format: unknown format 'yaml'"),
    ],
)
def test_parse_errors_exit_2_with_one_line(capsys, monkeypatch, tmp_path: Path, setup, args, message) -> None:
    if setup is not None:
        (tmp_path / "tools.json").write_text(setup)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = run(capsys, args, "hi", monkeypatch)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


class FakeBackend:
    """Answers each prompt from a table; unknown prompts get plain prose."""

    name = "fake"

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies
        self.requests: list[GenerationRequest] = []

    def generate(self, requests: Sequence[GenerationRequest], *, progress=None) -> list[Generation]:  # type: ignore[no-untyped-def]
        self.requests.extend(requests)
        return [Generation(text=self.replies.get(r.messages[-1]["content"], "Hello!")) for r in requests]

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        yield from self.generate([request])[0].text


def _fake() -> FakeBackend:
    (p0, c0), (p1, _), (p2, c2) = TOOL_PROMPTS[:3]
    return FakeBackend({
        p0: render_calls(c0),  # right, canonical
        p1: '```json\n{"name": "run_command", "arguments": {"command": "pytest"}}\n```',  # parsed, wrong args
        p2: "[" + c2[0]["name"] + "(path=" + json.dumps(c2[0]["arguments"]["path"]) + ")]",  # right, pythonic
        NO_TOOL_PROMPTS[0]: '<tool_call>{"name": "read_file", "arguments": {"path": "x"}}</tool_call>',  # false call
        NO_TOOL_PROMPTS[1]: '<tool_call>{"name": "read_fi',  # broken markup
    })


def test_probe_prompts_cycle() -> None:
    rows = probe_prompts(len(TOOL_PROMPTS) + 1)
    assert [k for k, _, _ in rows].count("tool") == len(TOOL_PROMPTS) + 1
    assert rows[len(TOOL_PROMPTS)][1] == TOOL_PROMPTS[0][0]
    assert all(exp == [] for k, _, exp in rows if k == "no_tool")


def test_run_probe_scores_each_reply() -> None:
    backend = _fake()
    rows = run_probe(backend, 4)
    assert len(rows) == 8 and len(backend.requests) == 8
    assert all(r.tools is None and r.messages[0]["role"] == "user" for r in backend.requests)
    got = [(r.kind, r.format, r.parsed, r.correct) for r in rows]
    assert got == [
        ("tool", "hermes", True, True),
        ("tool", "json_fence", True, False),
        ("tool", "pythonic", True, True),
        ("tool", "none", False, False),
        ("no_tool", "hermes", True, False),
        ("no_tool", "hermes", False, False),  # broken markup is an attempted call: eval's rule
        ("no_tool", "none", True, True),
        ("no_tool", "none", True, True),
    ]
    s = summarize(rows)
    assert [r.failure for r in rows] == [None, "wrong_arguments", None, "missed_call", "false_call", "false_call",
                                         None, None]
    assert (s["tool_correct"], s["tool_parsed"], s["no_tool_correct"]) == (2, 3, 2)
    assert s["format_histogram"] == {"none": 3, "hermes": 3, "json_fence": 1, "pythonic": 1}
    assert s["formats"]["hermes"] == {"replies": 3, "parsed": 2, "correct": 1}


def test_probe_command_table_and_json(capsys, monkeypatch) -> None:
    import punie.backends

    seen = {}

    def fake_make_backend(model=None, *, adapter=None, base_url=None, **kw):  # type: ignore[no-untyped-def]
        seen.update(model=model, adapter=adapter, base_url=base_url)
        return _fake()

    monkeypatch.setattr(punie.backends, "make_backend", fake_make_backend)
    code, out, _ = run(capsys, ["probe", "--model", "m", "--adapter", "a", "-n", "3", "--json"])
    assert code == 0 and seen == {"model": "m", "adapter": "a", "base_url": None}
    report = json.loads(out)
    assert report["summary"]["tool_prompts"] == 3 and len(report["rows"]) == 6
    assert report["rows"][0]["format"] == "hermes" and report["rows"][0]["correct"] is True
    code, out, _ = run(capsys, ["probe", "--base-url", "http://127.0.0.1:1", "-n", "2"])
    assert code == 0 and seen["base_url"] == "http://127.0.0.1:1"
    assert "punie probe" in out and "json_fence" in out and "per format" in out


def test_probe_with_the_tiny_model(tiny_model_dir: str) -> None:
    from punie.backends import make_backend

    backend = make_backend(tiny_model_dir)
    rows = run_probe(backend, 1, max_new_tokens=4)
    assert [r.kind for r in rows] == ["tool", "no_tool"]
    assert all(isinstance(r.raw, str) and isinstance(r.format, str) for r in rows)
