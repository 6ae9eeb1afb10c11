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


def test_compare_check_exit_codes(tmp_path, capsys):
    a, b = _fake_report(tmp_path, "base", 10), _fake_report(tmp_path, "tuned", 30)
    worse = _fake_report(tmp_path, "worse", 5)
    assert main(["compare", str(a), str(b), "--check"]) == 0  # PASS
    assert main(["compare", str(a), str(worse), "--check"]) == 1  # FAIL
    assert main(["compare", str(a), str(worse)]) == 0  # without --check a FAIL only prints
    capsys.readouterr()
    assert main(["compare", str(a), str(worse), "--check", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["verdicts"][0]["passed"] is False  # JSON printed, then exit 1
    assert main(["compare", str(a), str(tmp_path / "missing.json"), "--check"]) == 2  # bad input
    capsys.readouterr()


def test_compare_json_extended_keys_and_html_links(tmp_path, capsys):
    a, b = _fake_report(tmp_path, "base", 10), _fake_report(tmp_path, "tuned", 30)
    a.with_suffix(".html").write_text("<html>base</html>")  # punie eval writes X.html next to X.json
    html = tmp_path / "out" / "cmp.html"
    assert main(["compare", str(a), str(b), "--json", "-o", str(html)]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert {"labels", "reports", "rows", "tool_metrics", "verdicts"} <= set(cmp)
    assert len(cmp["fixed"]) == 20 and cmp["broken"] == [] and {"id", "prompt"} <= set(cmp["fixed"][0])
    assert cmp["confusion"] == {"read_file": {"read_file": 30}}
    assert cmp["failure_reasons"]["base"]["missed_call"] == 20 and cmp["n_shared"] == 30
    page = html.read_text()
    assert 'href="../base.html"' in page and "tuned.html" not in page  # only reports that have a page


def _eval_with_fake_backend(monkeypatch, tmp_path, argv):
    import punie.backends
    from punie.eval.testing import oracle

    cases = [json.loads(line) for line in _suite(tmp_path).read_text().splitlines()]
    monkeypatch.setattr(punie.backends, "make_backend", lambda *a, **kw: oracle(cases))
    return main(["eval", "--base-url", "http://fake/v1", "--suite", str(_suite(tmp_path)), "--no-progress",
                 "-o", str(tmp_path / "r.html"), *argv])


def test_eval_baseline_check_exit_codes(monkeypatch, tmp_path, capsys):
    good = tmp_path / "good.json"
    assert _eval_with_fake_backend(monkeypatch, tmp_path, ["--json"]) == 0
    good.write_text(capsys.readouterr().out)
    assert _eval_with_fake_backend(monkeypatch, tmp_path, ["--baseline", str(good), "--check"]) == 0  # PASS
    assert "verdict: PASS" in capsys.readouterr().out
    # the same cases answered worse than the baseline: tool gate and overall gate fail → exit 1
    (tmp_path / "r.json").unlink()
    from punie.eval.testing import FakeBackend

    worse = FakeBackend({"Open src/app.py": "no idea", "Hello": "Hi!"})
    monkeypatch.setattr("punie.backends.make_backend", lambda *a, **kw: worse)
    rc = main(["eval", "--base-url", "http://fake/v1", "--suite", str(_suite(tmp_path)), "--no-progress",
               "-o", str(tmp_path / "r.html"), "--baseline", str(good), "--check"])
    assert rc == 1 and "verdict: FAIL" in capsys.readouterr().out
    assert (tmp_path / "r.json").is_file()  # the report is written before the gate exits
    rc = main(["eval", "--base-url", "http://fake/v1", "--suite", str(_suite(tmp_path)), "--no-progress",
               "-o", str(tmp_path / "r.html"), "--baseline", str(good)])
    assert rc == 0  # without --check a FAIL only prints
    assert main(["eval", "--suite", str(_suite(tmp_path)), "--baseline", str(tmp_path / "nope.json"),
                 "--check"]) == 2
    capsys.readouterr()


@pytest.mark.slow
def test_eval_embedded_model_punie_tools(tmp_path, capsys):
    rc = main(["eval", "--json", "-o", str(tmp_path / "r.html"), "--no-progress"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["overall"]["n"] >= 250
    assert len(list_runs(kind="eval")) >= 1
