"""punie eval / compare through the real CLI entry point (tiny random model; bad input → one line, exit 2)."""

from __future__ import annotations

import json

import pytest

from punie.cli import main
from punie.runs import get_run, list_runs

DESIGN_KEYS = {"model", "adapter", "suites", "overall", "categories", "format_histogram", "cases"}
CASE_KEYS = {"id", "category", "correct", "calls", "expected_calls", "raw", "format"}


def _suite(tmp_path):
    path = tmp_path / "suite.jsonl"
    lines = [
        {"id": "a", "category": "tool_call", "messages": [{"role": "user", "content": "Open src/app.py"}],
         "expected_calls": [{"name": "read_file", "arguments": {"path": "src/app.py"}}]},
        {"id": "b", "category": "no_call", "messages": [{"role": "user", "content": "Hello"}], "expected_calls": []},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_eval_json_with_tiny_model(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out" / "report.html"
    rc = main(["eval", "--model", tiny_model_dir, "--suite", str(_suite(tmp_path)), "--json", "-o", str(out),
               "--max-new-tokens", "6", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    report = json.loads(captured.out)  # stdout holds exactly one JSON object
    assert set(report) >= DESIGN_KEYS
    assert report["model"] == tiny_model_dir and report["suites"] == ["suite"]
    assert {"accuracy", "n"} <= set(report["overall"]) and report["overall"]["n"] == 2
    for block in report["categories"].values():
        assert {"accuracy", "n", "ci95"} <= set(block)
    assert all(set(c) >= CASE_KEYS for c in report["cases"])
    assert out.is_file() and json.loads(out.with_suffix(".json").read_text())["overall"] == report["overall"]
    run = get_run(report["run_id"])
    assert run["kind"] == "eval" and run["report_path"] == str(out.resolve())
    assert run["scores"]["overall"] == report["overall"]["accuracy"]


def test_eval_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "messages": [{"role": "user", "content": "hi"}]}) + "\n")
    no_adapter = tmp_path / "adapter"
    no_adapter.mkdir()
    cases = [
        (["eval", "--suite", "no-such-suite"], "unknown suite 'no-such-suite'"),
        (["eval", "--suite", str(bad)], f"{bad}:1: missing expected_calls"),
        (["eval", "--adapter", str(no_adapter), "--suite", str(_suite(tmp_path))], "adapter_config.json"),
        (["eval", "--base-url", "http://127.0.0.1:9/v1", "--suite", str(_suite(tmp_path)), "--no-progress"],
         "--base-url"),
        (["compare", str(tmp_path / "missing.json"), str(tmp_path / "missing2.json")], "report file not found"),
    ]
    for argv, needle in cases:
        rc = main(argv)
        err = capsys.readouterr().err.strip()
        assert rc == 2, (argv, err)
        assert needle in err and len(err.splitlines()) == 1, (argv, err)
        assert "Traceback" not in err


def _fake_report(tmp_path, name, correct):
    from punie.eval.runner import run_eval
    from punie.eval.suites import Suite
    from punie.eval.testing import oracle

    cases = [{"id": f"c{i}", "category": "tool_call", "messages": [{"role": "user", "content": f"open f{i}.py"}],
              "expected_calls": [{"name": "read_file", "arguments": {"path": f"f{i}.py"}}]} for i in range(30)]
    rep = run_eval(oracle(cases, wrong={f"c{i}" for i in range(correct, 30)}), [Suite("s", cases)],
                   model_name=name, progress=False)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(rep))
    return path


def test_compare_cli(tmp_path, capsys):
    a, b = _fake_report(tmp_path, "base", 10), _fake_report(tmp_path, "tuned", 30)
    html = tmp_path / "cmp.html"
    assert main(["compare", str(a), str(b), "-o", str(html)]) == 0
    out = capsys.readouterr().out
    assert "verdict: PASS" in out and "McNemar" in out and html.is_file()
    assert main(["compare", str(a), str(b), "--json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert cmp["labels"] == ["base", "tuned"] and cmp["verdicts"][0]["passed"]


@pytest.mark.slow
def test_eval_embedded_model_punie_tools(tmp_path, capsys):
    rc = main(["eval", "--json", "-o", str(tmp_path / "r.html"), "--no-progress"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["overall"]["n"] >= 250
    assert len(list_runs(kind="eval")) >= 1
