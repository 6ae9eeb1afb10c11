"""Suites that run model-written code refuse, before any model loads or any generation, where
nothing can confine that code, unless the user opts in (--allow-unconfined)."""

from __future__ import annotations

import os

import pytest

from punie.agent import sandbox
from punie.cli import main
from punie.errors import ConfigError
from punie.eval.runner import run_eval
from punie.eval.testing import FakeBackend


@pytest.fixture
def unconfinable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "probe_bwrap", lambda: sandbox.Probe("bubblewrap (bwrap) is not installed"))
    monkeypatch.delenv(sandbox.ALLOW_UNCONFINED_ENV, raising=False)
    monkeypatch.delenv(sandbox.ALLOW_NETWORK_ENV, raising=False)


@pytest.mark.parametrize("suite", ["code", "agentic"])
def test_eval_refuses_in_one_line_before_the_model_loads(suite: str, unconfinable: None, capsys) -> None:  # type: ignore[no-untyped-def]
    # an unknown model would fail to load: the refusal must come first
    assert main(["eval", "--model", "no-such-model-xyz", "--suite", suite, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"--suite {suite}" in err and "--allow-unconfined" in err and "bubblewrap" in err


def test_the_opt_in_flag_gets_past_the_refusal(unconfinable: None, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(sandbox.ALLOW_UNCONFINED_ENV, "")  # restored afterwards: --allow-unconfined sets it
    rc = main(["eval", "--model", "no-such-model-xyz", "--suite", "code", "--allow-unconfined", "--allow-network"])
    err = capsys.readouterr().err
    assert rc == 2 and "no-such-model-xyz" in err and "--allow-unconfined" not in err  # now the model is the problem
    assert os.environ[sandbox.ALLOW_UNCONFINED_ENV] == "1" and os.environ[sandbox.ALLOW_NETWORK_ENV] == "1"


def test_run_eval_refuses_before_generating(unconfinable: None) -> None:
    backend = FakeBackend(lambda r: "")
    with pytest.raises(ConfigError, match="allow-unconfined"):
        run_eval(backend, ["agentic"], model_name="fake", progress=False, limit=1)
    assert backend.calls == []
