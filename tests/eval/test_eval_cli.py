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


# ---- --constrained: eval decodes as punie serve does, and the report says so ------------------------------
def _offered_and_valid(calls, tools=None) -> None:
    """Every parsed call names an offered tool and its arguments validate against that tool's schema."""
    from jsonschema import Draft202012Validator

    from punie.toolcalls import default_tools

    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools or default_tools()}
    for call in calls:
        assert call["name"] in schemas, call
        Draft202012Validator(schemas[call["name"]]).validate(call["arguments"])


def test_eval_constrained_with_tiny_model(tiny_model_dir, tmp_path, capsys, monkeypatch):
    from punie.backends.inprocess import InProcessBackend

    seen = []
    real = InProcessBackend.generate

    def spy(self, requests, **kw):
        seen.extend((r.tool_choice, r.tools) for r in requests)
        return real(self, requests, **kw)

    monkeypatch.setattr(InProcessBackend, "generate", spy)
    out = tmp_path / "c" / "report.html"
    rc = main(["eval", "--model", tiny_model_dir, "--suite", str(_suite(tmp_path)), "--json", "-o", str(out),
               "--max-new-tokens", "24", "--no-progress", "--constrained"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    report = json.loads(captured.out)
    assert report["settings"]["constrained"] is True and report["settings"]["tool_choice"] == "auto"
    assert report["settings"]["constrained_requests"] == 2  # both cases offer the 7 default tools
    assert seen and all(choice == "auto" for choice, _ in seen)
    for case in report["cases"]:
        _offered_and_valid(case["calls"])
    assert "constrained (tool_choice=auto)" in out.read_text()  # the HTML says how it decoded
    assert report["verdict"]["decoding"] == "constrained (tool_choice=auto)"
    assert get_run(report["run_id"])["config"]["constrained"] is True
    # without the flag: recorded as unconstrained, no tool_choice on the requests
    seen.clear()
    rc = main(["eval", "--model", tiny_model_dir, "--suite", str(_suite(tmp_path)), "--json", "-o",
               str(tmp_path / "u" / "report.html"), "--max-new-tokens", "6", "--no-progress"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["settings"]["constrained"] is False and report["settings"]["tool_choice"] is None
    assert seen and all(choice is None for choice, _ in seen)


# the tiny random model almost never starts a call by itself; this one is pushed (through its lm_head,
# from the previous input token) to write "<tool_call>" and then '"' and '}}' wherever it can
_NEXT = {44: 19324, 19324: 79, 79: 4350, 4350: 46, 46: 18, 18: 17859}  # < tool _ call > " }}
_START = 44  # '<'


def _call_eager_backend():  # type: ignore[no-untyped-def]
    import torch

    from punie.backends.inprocess import InProcessBackend
    from punie.models.testing import tiny_model

    model, tok = tiny_model(seed=0)
    last: dict[str, torch.Tensor] = {}

    def remember(_module, args, _out):  # type: ignore[no-untyped-def]
        last["ids"] = args[0]

    def push(_module, _args, logits):  # type: ignore[no-untyped-def]
        ids = last["ids"][:, -logits.shape[1]:]
        want = ids.clone().apply_(lambda t: _NEXT.get(t, _START))
        return logits.scatter_add(-1, want.unsqueeze(-1), torch.full(want.shape + (1,), 40.0, dtype=logits.dtype))

    model.model.embed_tokens.register_forward_hook(remember)
    model.lm_head.register_forward_hook(push)
    # one decode path (plain: every step goes through embed_tokens → lm_head of the same batch)
    return InProcessBackend(model, tok, cascade=False, lookup=0, prefix_cache=False)


def test_constrained_eval_holds_a_call_eager_model_to_offered_tools(tmp_path, capsys, monkeypatch):
    import punie.backends

    backend = _call_eager_backend()
    monkeypatch.setattr(punie.backends, "make_backend", lambda *a, **kw: backend)
    reports = {}
    for name, flag in (("free", []), ("constrained", ["--constrained"])):
        rc = main(["eval", "--suite", str(_suite(tmp_path)), "--json", "-o", str(tmp_path / f"{name}.html"),
                   "--max-new-tokens", "120", "--no-progress", *flag])
        reports[name] = json.loads(capsys.readouterr().out)
        assert rc == 0
    free, constrained = reports["free"]["cases"], reports["constrained"]["cases"]
    assert all(not c["calls"] for c in free), [c["raw"][:80] for c in free]  # '<tool_call>"}}…' is no call
    # constrained: the same pushes now make calls, and each is an offered tool with schema-valid arguments
    calls = [call for c in constrained for call in c["calls"]]
    assert calls, [c["raw"][:200] for c in constrained]
    _offered_and_valid(calls)
    assert all(c["raw"].startswith('<tool_call>"}}') for c in free)  # the pushes at work, unconstrained
    assert all(c["raw"].startswith('<tool_call>\n{"name": "') for c in constrained)
    # compare warns when the two runs decoded differently (a red flag, as for a changed suite)
    a, b = tmp_path / "free.json", tmp_path / "constrained.json"
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "decoding differs: baseline unconstrained, candidate constrained (tool_choice=auto)" in out
    assert main(["compare", str(a), str(b), "--json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert [r["constrained"] for r in cmp["reports"]] == [False, True]
    assert any("decoding differs" in f for f in cmp["verdicts"][0]["red_flags"])
    assert main(["compare", str(b), str(b), "--json"]) == 0  # same decoding: no such flag
    assert not any("decoding differs" in f for f in json.loads(capsys.readouterr().out)["verdicts"][0]["red_flags"])


def test_constrained_over_http_and_refusals(monkeypatch, tmp_path, capsys):
    from punie.backends.base import GenerationRequest
    from punie.backends.openai_http import OpenAIHTTPBackend
    from punie.eval.compare import decoding_mode
    from punie.eval.runner import ConstrainedBackend
    from punie.eval.testing import FakeBackend

    # the HTTP backend sends tool_choice on (only with tools, as OpenAI requires)
    http = OpenAIHTTPBackend("http://127.0.0.1:9/v1", model="m")
    msgs = [{"role": "user", "content": "hi"}]
    assert http._payload(GenerationRequest(msgs, tool_choice="auto"))["tool_choice"] == "auto"
    assert "tool_choice" not in http._payload(GenerationRequest(msgs))
    assert "tool_choice" not in http._payload(GenerationRequest(msgs, tools=[], tool_choice="auto"))
    # ConstrainedBackend: tools offered → auto; no tools or an explicit choice → unchanged
    fake = FakeBackend(lambda r: "")
    fake.accepts_tool_choice = True  # type: ignore[attr-defined]
    wrapped = ConstrainedBackend(fake)
    wrapped.generate([GenerationRequest(msgs), GenerationRequest(msgs, tools=[]),
                      GenerationRequest(msgs, tool_choice="none")])
    assert [r.tool_choice for r in fake.calls[0]] == ["auto", None, "none"] and wrapped.constrained_requests == 1
    assert wrapped.name == "fake"
    # eval --base-url: with --constrained the fake server sees auto; without, nothing is sent and the
    # report says the server's default decided (punie serve constrains by default, others don't)
    monkeypatch.setattr("punie.backends.make_backend", lambda *a, **kw: fake)
    argv = ["eval", "--base-url", "http://fake/v1", "--suite", str(_suite(tmp_path)), "--no-progress", "--json",
            "-o", str(tmp_path / "r.html")]
    assert main([*argv, "--constrained"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["settings"]["constrained"] is True and fake.calls[-1][0].tool_choice == "auto"
    assert main(argv) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["settings"]["constrained"] is None and decoding_mode(rep) is None
    assert fake.calls[-1][0].tool_choice is None
    # reports from before the setting: unconstrained in-process, the server's default over HTTP
    assert decoding_mode({"backend": "inprocess", "settings": {}}) is False
    assert decoding_mode({"backend": "openai-http", "settings": {}}) is None
    # a backend that cannot decode under tool_choice is refused in one line (exit 2), before generating
    plain = FakeBackend(lambda r: "")
    monkeypatch.setattr("punie.backends.make_backend", lambda *a, **kw: plain)
    assert main([*argv, "--constrained"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--constrained" in err and len(err.splitlines()) == 1 and not plain.calls
