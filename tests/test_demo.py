"""The main job end to end: on the tiny random model (fast) and on the real 135M model (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from punie.cli import main


def _run_demo(tmp_path: Path, model: str | None, *, iters: int, limit: int, size: int, extra: str = "",
              more: tuple[str, ...] = ()) -> dict:
    cfg = tmp_path / "demo.toml"
    cfg.write_text(f"iters = {iters}\nbatch_size = 4\neval_every = {iters}\neval_samples = 4\nwarmup = 1\n{extra}")
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--size", str(size), "--limit", str(limit), "--config", str(cfg), *more]
    if model:
        args += ["--model", model]
    assert main(args) == 0
    return json.loads((out / "summary.json").read_text())


def test_demo_end_to_end_on_tiny_model(tmp_path: Path, tiny_model_dir: str) -> None:
    from punie.runs import list_runs

    before = len(list_runs())
    summary = _run_demo(tmp_path, tiny_model_dir, iters=2, limit=4, size=40)
    out = tmp_path / "demo"
    for rel in ("comparison.html", "baseline/report.html", "baseline/report.json", "adapter_eval/report.json",
                "data/train.jsonl", "adapter/best/adapter_config.json", "adapter/metrics.jsonl"):
        assert (out / rel).is_file(), rel
    assert summary["train"]["steps"] == 2 and summary["train"]["examples_seen"] == 8
    assert summary["verdict"]["gates"] and "passed" in summary["verdict"]
    html = (out / "comparison.html").read_text()
    assert "punie-tools" in html or "tool_call" in html
    _assert_pages_link_to_each_other(out)
    # one verdict: saved in summary.json, on the adapter's report and in comparison.json (compare --json's shape)
    cand = json.loads((out / "adapter_eval/report.json").read_text())
    comparison = json.loads((out / "comparison.json").read_text())
    assert cand["verdict"] == comparison["verdicts"][0] == summary["verdict"]
    assert {"fixed", "broken", "confusion", "failure_reasons", "n_shared"} <= set(comparison)
    # the baseline ran on the stratified share of punie-tools, the adapter on the suite's head (--limit)
    from punie.demo import BASELINE_SAMPLE
    from punie.eval.suites import load_suite

    share = {c["id"] for c in load_suite("punie-tools").sample(BASELINE_SAMPLE).cases}
    base_cases = json.loads((out / "baseline/report.json").read_text())["cases"]
    tool_ids = [c["id"] for c in base_cases if c.get("suite") == "punie-tools"]
    assert tool_ids and set(tool_ids) <= share
    runs = list_runs()
    assert len(runs) >= before + 3  # baseline eval, train, adapter eval
    assert {r["kind"] for r in runs} >= {"train", "eval"}


def _assert_pages_link_to_each_other(out: Path) -> None:
    import re

    pages = {"comparison.html": {"baseline/report.html", "adapter_eval/report.html"},
             "baseline/report.html": {"comparison.html", "adapter_eval/report.html"},
             "adapter_eval/report.html": {"comparison.html", "baseline/report.html"}}
    for page, targets in pages.items():
        hrefs = re.findall(r'<div class="meta links">(.*?)</div>', (out / page).read_text(), re.S)
        assert hrefs, page
        found = {(out / page).parent.joinpath(h).resolve() for h in re.findall(r'href="([^"#]+)"', hrefs[0])}
        assert found == {(out / t).resolve() for t in targets}, (page, found)
        assert all(p.is_file() for p in found), page


def test_demo_refuses_a_foreign_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["demo", "--out", str(out)]) == 2
    assert "not a punie demo folder" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me"


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["auto", "bfloat16"])
def test_real_demo_raises_tool_calling(tmp_path: Path, dtype: str) -> None:
    # the whole baseline, so both evals see the same first 60 cases; compared on the call cases (the
    # mixed tool-calling score depends on how many no-call cases a subset holds). bfloat16: training
    # under bf16 autocast and bf16 inference weights must learn as well (slow on CPUs without bf16 units)
    summary = _run_demo(tmp_path, None, iters=40, limit=60, size=600,
                        more=("--baseline-sample", "1", "--dtype", dtype))
    resolved = summary["train"]["resolved_dtype"]
    assert resolved == ("bfloat16" if dtype == "bfloat16" else resolved)
    base = json.loads(Path(summary["baseline_report"]).with_suffix(".json").read_text())["categories"]["tool_call"]
    tuned = json.loads(Path(summary["adapter_report"]).with_suffix(".json").read_text())["categories"]["tool_call"]
    assert base["n"] == tuned["n"] > 20
    assert tuned["accuracy"] >= base["accuracy"] + 0.25, (base, tuned)
    assert summary["runs"]["adapter"] is not None


def test_presets_load_and_the_demo_generates_enough_data() -> None:
    from punie.demo import data_size
    from punie.train import PRESETS, default_config, preset_config

    assert set(PRESETS) >= {"default", "thorough"}
    assert preset_config("default") == default_config()
    thorough = preset_config("thorough")
    assert thorough.iters > default_config().iters
    # every key of a preset file is a real config key (load_config would raise otherwise) and differs
    assert thorough.iters * thorough.batch_size <= data_size(thorough) < 1.2 * thorough.iters * thorough.batch_size
    assert data_size(default_config()) == 3000


def test_demo_rejects_an_unknown_preset_and_preset_with_config(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "d"), "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'nope'" in err and "thorough" in err and len(err.strip().splitlines()) <= 2
    cfg = tmp_path / "c.toml"
    cfg.write_text("iters = 3\n")
    assert main(["demo", "--out", str(tmp_path / "d"), "--preset", "thorough", "--config", str(cfg)]) == 2
    assert "not both" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_demo_summary_deltas_are_paired_on_shared_cases() -> None:
    """The baseline runs on a sample: the terminal Δ must be the verdict's paired one, not all-cases − sample."""
    import io
    import sys

    from rich.console import Console

    sys.path.insert(0, str(Path(__file__).parent / "eval"))
    from test_compare import report  # type: ignore[import-not-found]

    from punie.demo import _summary
    from punie.eval.compare import compare_reports

    cand = report(90, n_calls=100, adapter="a")  # 90 % on all 100 call cases
    base = report(40, n_calls=100)
    base["cases"] = [c for c in base["cases"] if c["id"] in {f"c{i}" for i in range(50)}]  # the first 50 only
    from punie.eval.runner import summarize

    base.update(summarize(base["cases"]))  # 40/50 = 80 % on its cases; paired: 80 % → 100 % on those 50
    comparison = compare_reports([base, cand])
    buf = io.StringIO()
    _summary(Console(file=buf, width=300), base, cand, comparison)
    text = buf.getvalue()
    assert "paired on the 50 cases both ran" in " ".join(text.split()), text
    overall = next(line for line in text.splitlines() if line.strip("│┃ ").startswith("overall"))
    # paired: 80 % → 100 % on the 50 shared cases; unpaired (80 % vs 110/120) would read +11.7
    assert "+20.0 pt*" in overall and "(50)" in overall and "+11.7" not in overall, overall
    assert "10 fixed" in text and "0 broken" in text, text


def test_demo_minutes_budget_plans_the_training_steps(tmp_path: Path, tiny_model_dir: str) -> None:
    from punie.demo import BUDGET_MAX_ITERS

    # a budget already spent by the baseline: training gets the 5 s floor and plans its steps from its speed
    summary = _run_demo(tmp_path, tiny_model_dir, iters=2, limit=2, size=40, more=("--minutes", "0.01"))
    train = summary["train"]
    assert train["time_budget_s"] == 5.0
    assert 3 <= train["steps"] < BUDGET_MAX_ITERS  # more than the config's 2 steps, fewer than the cap
    assert train["examples_seen"] == 4 * train["steps"]
