from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_train_trainer import cfg
from train_helpers import write_dataset

from punie.train import train
from punie.train import trainer as trainer_mod
from punie.train.trainer import StepBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_budget(  # type: ignore[no-untyped-def]
    monkeypatch, seconds: float, cap: int, warmup: int, step_s: float, first_s: float
) -> tuple[list, int]:
    clock = FakeClock()
    monkeypatch.setattr(trainer_mod, "_now", clock)
    budget = StepBudget(seconds, cap, warmup)
    total, step, plans = cap, 0, []
    while step < total:
        step += 1
        clock.now += first_s if step == 1 else step_s
        planned = budget.after(step, total)
        if planned is not None:
            plans.append((step, planned))
            total = planned
    return plans, total


def test_budget_plans_the_steps_that_fit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # 600 s budget, 10 s per step after a 30 s first step: 1 + 57 steps fit
    plans, total = run_budget(monkeypatch, 600, 1000, 5, 10.0, 30.0)
    assert plans[0][0] == 5 and total == 58
    # checked again at a quarter, a half and three quarters of the plan; a steady speed keeps it
    assert [p[0] for p in plans] == [5, 58 // 4, 58 // 2, int(58 * 0.75)]
    assert {p[1] for p in plans} == {58}


def test_budget_follows_a_run_that_slows_down(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # 10 s steps for the first 20, then 20 s (longer batches, a busier machine): a plan made only from
    # the early steps would run 58 steps = 900 s; the later checks cut it so the run ends near 600 s
    clock = FakeClock()
    monkeypatch.setattr(trainer_mod, "_now", clock)
    budget = StepBudget(600, 1000, 5)
    total, step = 1000, 0
    while step < total:
        step += 1
        clock.now += 10.0 if step <= 20 else 20.0
        planned = budget.after(step, total)
        if planned is not None:
            total = planned
    assert clock.now <= 660 and total < 58


def test_budget_never_exceeds_iters_and_stops_at_once_when_spent(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plans, total = run_budget(monkeypatch, 600, 40, 5, 1.0, 1.0)
    assert total == 40 and plans[0] == (5, 40)
    _, total = run_budget(monkeypatch, 20, 100, 3, 10.0, 10.0)
    assert total == 3  # the budget was spent by the check point: stop there


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("ds") / "data", n_train=8, n_valid=2)


def test_time_budget_sizes_the_run_and_its_schedule(  # type: ignore[no-untyped-def]
    tiny_model_dir: str, data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    # a clock that moves 1 s per step: a 6 s budget holds 6 of the 50 allowed steps
    clock = FakeClock()
    real_step = trainer_mod._Run.step

    def step(self, n):  # type: ignore[no-untyped-def]
        clock.now += 1.0
        return real_step(self, n)

    monkeypatch.setattr(trainer_mod, "_now", clock)
    monkeypatch.setattr(trainer_mod._Run, "step", step)
    out = tmp_path / "run"
    res = train(cfg(tiny_model_dir, data_dir, out, iters=50, eval_every=0, warmup=3, time_budget=6.0), progress=False)
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in recs if r.get("event") == "train"]
    assert res.steps == 6 and len(lrs) == 6
    assert lrs[-1] < 0.5 * max(lrs)  # the cosine was sized to 6 steps, not 50
    assert [r["step"] for r in recs if r.get("event") == "eval"] == [6]
    state = json.loads((out / "checkpoint" / "progress.json").read_text())
    assert state["total"] == 6
