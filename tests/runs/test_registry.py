"""The SQLite runs registry and `punie runs list|show`."""

from __future__ import annotations

import json

import pytest

from punie.cli import main
from punie.errors import ConfigError
from punie.runs import db_path, get_run, list_runs, record_run, update_run


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PUNIE_HOME", str(tmp_path))
    return tmp_path


def test_record_list_get_roundtrip(home):
    a = record_run("train", "smollm2-135m", adapter="out/a", data_fingerprint="abc123",
                   config={"iters": 10, "lr": 1e-4}, duration_s=12.5)
    b = record_run("eval", "smollm2-135m", adapter="out/a", scores={"overall": 0.9, "tool_calling": 0.96},
                   report_path=home / "r.html")
    assert db_path() == home / "runs.db" and b > a
    runs = list_runs()
    assert [r["id"] for r in runs] == [a, b]
    got = get_run(a)
    assert got["config"] == {"iters": 10, "lr": 1e-4} and got["data_fingerprint"] == "abc123"
    assert got["duration_s"] == 12.5 and got["scores"] is None and got["created_at"].endswith("+00:00")
    assert get_run(b)["report_path"] == str(home / "r.html")
    assert [r["id"] for r in list_runs(kind="eval")] == [b]
    update_run(a, scores={"best_val_loss": 0.4})
    assert get_run(a)["scores"] == {"best_val_loss": 0.4}
    with pytest.raises(ConfigError):
        update_run(a, nope=1)
    with pytest.raises(ConfigError, match="no run with id 999"):
        get_run(999)


def test_runs_cli_list_and_show(home, capsys):
    assert main(["runs", "list"]) == 0
    assert "no runs recorded" in capsys.readouterr().out
    rid = record_run("eval", "smollm2-135m", adapter="adapters/v1",
                     scores={"overall": 0.875, "tool_calling": 0.9612}, report_path="/tmp/x/report.html")
    record_run("train", "smollm2-135m", adapter="adapters/v1", config={"iters": 5})
    assert main(["runs"]) == 0  # bare `punie runs` lists
    out = capsys.readouterr().out
    assert "adapters/v1" in out and "96.1%" in out and "87.5%" in out and "/tmp/x/report.html" in out
    assert main(["runs", "list", "--json"]) == 0
    assert [r["kind"] for r in json.loads(capsys.readouterr().out)] == ["eval", "train"]
    assert main(["runs", "show", str(rid)]) == 0
    assert json.loads(capsys.readouterr().out)["scores"]["tool_calling"] == 0.9612
    assert main(["runs", "show", "42"]) == 2
    assert capsys.readouterr().err.strip() == "punie: error: ID: no run with id 42 (see `punie runs list`)"
