"""run_eval with a FakeBackend: report keys (DESIGN.md), batching, filters, suite files."""

from __future__ import annotations

import json

import pytest

from punie.errors import SuiteError
from punie.eval.runner import run_eval
from punie.eval.suites import Suite, load_suite, read_suite_file
from punie.eval.testing import FakeBackend, oracle
from punie.toolcalls import TOOL_NAMES, render_calls

READ = {"name": "read_file", "arguments": {"path": "src/app.py"}}


def _cases():
    return [
        {"id": "r1", "category": "tool_call", "messages": [{"role": "user", "content": "Open src/app.py"}],
         "expected_calls": [READ]},
        {"id": "r2", "category": "tool_call", "messages": [{"role": "user", "content": "Run the tests"}],
         "expected_calls": [{"name": "run_command", "arguments": {"command": "pytest"}}]},
        {"id": "n1", "category": "no_call", "messages": [{"role": "user", "content": "Hi"}], "expected_calls": []},
    ]


def test_report_has_design_keys_and_batches_once():
    suite = Suite("mini", _cases())
    backend = oracle(suite.cases, wrong={"r2"})
    report = run_eval(backend, [suite], model_name="fake", progress=False)
    assert len(backend.calls) == 1 and len(backend.calls[0]) == 3  # one batched generate call
    for key in ("model", "adapter", "suites", "overall", "categories", "format_histogram", "cases"):
        assert key in report
    assert report["model"] == "fake" and report["adapter"] is None and report["suites"] == ["mini"]
    assert set(report["overall"]) >= {"accuracy", "n"}
    assert report["overall"]["n"] == 3 and report["overall"]["accuracy"] == pytest.approx(2 / 3)
    for block in report["categories"].values():
        assert set(block) >= {"accuracy", "n", "ci95"} and len(block["ci95"]) == 2
    assert report["categories"]["tool_call"]["accuracy"] == 0.5
    assert report["categories"]["no_call"]["accuracy"] == 1.0
    for rec in report["cases"]:
        assert set(rec) >= {"id", "category", "correct", "calls", "expected_calls", "raw", "format"}
    assert report["format_histogram"] == {"hermes": 1, "none": 2}
    assert report["tool_calling"]["false_call_rate"] == 0.0
    assert report["per_tool"]["run_command"]["accuracy"] == 0.0
    json.dumps(report)  # serialisable as is


def test_requests_carry_messages_tools_and_token_budget():
    cases = _cases()
    cases[0]["tools"] = [{"type": "function", "function": {"name": "read_file", "parameters": {}}}]
    backend = oracle(cases)
    run_eval(backend, [Suite("mini", cases)], model_name="fake", progress=False, max_new_tokens=40)
    reqs = backend.calls[0]
    assert reqs[0].messages == cases[0]["messages"] and reqs[0].tools == cases[0]["tools"]
    assert reqs[1].tools is None and all(r.max_new_tokens == 40 and r.temperature == 0.0 for r in reqs)


def test_default_budget_fits_long_expected_answer():
    long_call = {"name": "write_file", "arguments": {"path": "a.txt", "content": "x " * 300}}
    cases = [{"id": "w", "category": "tool_call", "messages": [{"role": "user", "content": "w"}],
              "expected_calls": [long_call]}]
    backend = oracle(cases)
    run_eval(backend, [Suite("w", cases)], model_name="fake", progress=False)
    assert backend.calls[0][0].max_new_tokens > len(render_calls([long_call])) / 4


def test_limit_and_category_filters():
    backend = FakeBackend(lambda req: "")
    report = run_eval(backend, [Suite("mini", _cases())], model_name="f", progress=False, categories=["tool_call"],
                      limit=1)
    assert [c["id"] for c in report["cases"]] == ["r1"]
    with pytest.raises(SuiteError):
        run_eval(backend, [Suite("mini", _cases())], model_name="f", progress=False, categories=["nope"])


def test_garbage_replies_are_failures_not_crashes():
    backend = FakeBackend(lambda req: "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"pa")
    report = run_eval(backend, [Suite("mini", _cases())], model_name="f", progress=False)
    assert report["overall"]["accuracy"] == 0.0
    assert report["tool_calling"]["false_call_rate"] == 1.0


def test_suite_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "suite.jsonl"
    good = json.dumps(_cases()[0])
    path.write_text(good + "\n\n" + json.dumps({"id": "b", "messages": [{"role": "user", "content": "x"}]}) + "\n")
    with pytest.raises(SuiteError) as info:
        read_suite_file(path)
    assert str(info.value) == f"{path}:3: missing expected_calls"
    path.write_text(good + "\n{not json\n")
    with pytest.raises(SuiteError, match=r"suite.jsonl:2: invalid JSON"):
        load_suite(str(path))
    path.write_text(good + "\n" + good + "\n")
    with pytest.raises(SuiteError, match="duplicate id"):
        load_suite(str(path))


def test_suite_file_normalises_openai_style_expected_calls(tmp_path):
    path = tmp_path / "s.jsonl"
    case = {"id": "a", "messages": [{"role": "user", "content": "x"}],
            "expected_calls": [{"type": "function",
                                "function": {"name": "read_file", "arguments": "{\"path\": \"a\"}"}}]}
    other = {"id": "b", "messages": case["messages"], "expected_calls": []}
    path.write_text(json.dumps(case) + "\n" + json.dumps(other))
    suite = load_suite(str(path))
    assert suite.name == "s"
    assert suite.cases[0]["expected_calls"] == [{"name": "read_file", "arguments": {"path": "a"}}]
    assert [c["category"] for c in suite.cases] == ["tool_call", "no_call"]


def test_unknown_suite_name():
    with pytest.raises(SuiteError, match="unknown suite 'nope'"):
        load_suite("nope")


def test_builtin_punie_tools_suite():
    suite = load_suite("punie-tools")
    assert len(suite.cases) >= 250 and all("expected_calls" in c for c in suite.cases)
    calls = [c for c in suite.cases if c["expected_calls"]]
    assert {c["category"] for c in suite.cases} == {"tool_call", "no_call"}
    assert len(calls) >= 150 and len(suite.cases) - len(calls) >= 80
    names = {call["name"] for c in calls for call in c["expected_calls"]}
    assert names == set(TOOL_NAMES)  # every tool is covered
    assert any(len(c["expected_calls"]) > 1 for c in calls)  # parallel calls
    assert any(m["role"] == "tool" for c in suite.cases if not c["expected_calls"] for m in c["messages"])
    report = run_eval(oracle(suite.cases), ["punie-tools"], model_name="oracle", progress=False)
    assert report["overall"]["accuracy"] == 1.0  # every expected answer, rendered, scores as correct


def test_punie_tools_is_held_out_from_training_data():
    from punie.data.generator import generate_split
    from punie.data.leakage import check_leakage

    train = generate_split("train", 1500, seed=0)
    leak = check_leakage(train, load_suite("punie-tools").cases)
    assert leak.n_cases >= 250 and leak.leaks == [], leak.summary()
