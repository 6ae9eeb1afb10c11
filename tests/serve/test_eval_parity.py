"""``punie eval --base-url`` against ``punie serve`` scores exactly like the in-process eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from punie.cli import main
from punie.serve import ServerThread, create_app


def _eval(args: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    rc = main(
        [
            "eval",
            "--suite",
            "punie-tools",
            "--json",
            "--no-progress",
            "--max-new-tokens",
            "24",
            "-o",
            str(out),
            *args,
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(captured.out.strip().splitlines()[0])


def _scores(report: dict) -> tuple:
    cases = [(c["id"], c["correct"], json.dumps(c["calls"], sort_keys=True)) for c in report["cases"]]
    cats = {k: v["accuracy"] for k, v in report["categories"].items()}
    return report["overall"]["accuracy"], report["overall"]["n"], cats, cases


def test_eval_over_http_equals_in_process(
    tiny_model_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from punie.backends.inprocess import InProcessBackend
    from punie.models import load_model

    local = _eval(["--model", tiny_model_dir, "--limit", "6"], tmp_path / "local.html", capsys)
    model, tok = load_model(tiny_model_dir, device="cpu")
    app = create_app(InProcessBackend(model, tok, batch_size=16), model_name="tiny")
    with ServerThread(app) as srv:
        remote = _eval(
            ["--base-url", srv.base_url, "--model", "tiny", "--limit", "6"], tmp_path / "remote.html", capsys
        )
    assert _scores(remote) == _scores(local)
    assert local["overall"]["n"] > 0


def test_eval_over_http_scores_scripted_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A backend that answers some cases right: the HTTP path must score every case as in-process."""
    from fakes import FakeBackend

    from punie.eval.suites import load_suite
    from punie.toolcalls import render_calls

    cases = load_suite("punie-tools").cases
    answers = {}
    for i, case in enumerate(cases):
        user = next(m["content"] for m in reversed(case["messages"]) if m["role"] == "user")
        expected = case.get("expected_calls") or []
        answers[user] = "I can't help with that." if i % 3 == 0 else (render_calls(expected) or "Done.")

    def script(req, adapter):  # type: ignore[no-untyped-def]
        user = next(m["content"] for m in reversed(req.messages) if m["role"] == "user")
        return answers.get(user, "")

    from punie.eval.runner import run_eval

    # the same token budget on both sides (``_eval`` passes --max-new-tokens 24): a scripted write_file
    # call with a long body is cut at 24 tokens over HTTP, and must be cut the same way in process
    local = run_eval(FakeBackend(script), ["punie-tools"], model_name="base", progress=False, max_new_tokens=24)
    app = create_app(FakeBackend(script), model_name="base")
    with ServerThread(app) as srv:
        remote = _eval(["--base-url", srv.base_url, "--model", "base"], tmp_path / "remote.html", capsys)
    assert _scores(remote) == _scores(local)
    assert 0 < local["overall"]["accuracy"] < 1
