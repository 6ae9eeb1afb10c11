"""The resume checkpoint: exact round trip of weights, optimizer and RNG; a crafted pickle never
runs; a truncated, tampered or foreign state.pt is one ConfigError at --resume."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from punie.errors import ConfigError
from punie.train import checkpoint as ckpt


def _run() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (step + 1))
    for _ in range(3):
        model(torch.randn(8, 4)).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return model, optimizer, scheduler


def _save(target: Path) -> None:
    model, optimizer, scheduler = _run()
    ckpt.save_checkpoint(target, model=model, optimizer=optimizer, scheduler=scheduler, progress={"step": 3})


def test_round_trip_restores_weights_optimizer_scheduler_and_rng(tmp_path: Path) -> None:
    model, optimizer, scheduler = _run()
    ckpt.save_checkpoint(tmp_path / "c", model=model, optimizer=optimizer, scheduler=scheduler,
                         progress={"step": 3})
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    fresh = torch.nn.Linear(4, 2)
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-2)
    fresh_sched = torch.optim.lr_scheduler.LambdaLR(fresh_opt, lambda step: 1.0 / (step + 1))
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    progress = ckpt.load_checkpoint(tmp_path / "c", model=fresh, optimizer=fresh_opt, scheduler=fresh_sched)
    assert progress == {"step": 3}
    assert torch.equal(fresh.weight, model.weight) and fresh_sched.last_epoch == scheduler.last_epoch
    assert torch.equal(fresh_opt.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


class _Payload:
    """Unpickling this runs a command: what a booby-trapped run folder would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_a_crafted_pickle_is_refused_without_running(tmp_path: Path, writer: str) -> None:
    _save(tmp_path / "c")
    marker = tmp_path / "pwned"
    state = {"trainable": {}, "optimizer": {}, "scheduler": {}, "rng": {}, "progress": {"x": _Payload(marker)}}
    path = tmp_path / "c" / ckpt.STATE_FILE
    if writer == "torch":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state))
    model, optimizer, scheduler = _run()
    with pytest.raises(ConfigError, match="unusable checkpoint") as err:
        ckpt.load_checkpoint(tmp_path / "c", model=model, optimizer=optimizer, scheduler=scheduler)
    assert err.value.location == "--resume" and "\n" not in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty", "wrong_layout", "not_tensors", "foreign"])
def test_damaged_checkpoints_are_one_config_error(tmp_path: Path, damage: str) -> None:
    _save(tmp_path / "c")
    path = tmp_path / "c" / ckpt.STATE_FILE
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        path.write_bytes(data[:100] + bytes(b ^ 0xFF for b in data[100:400]) + data[400:])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "wrong_layout":
        torch.save([1, 2, 3], path)
    elif damage == "not_tensors":
        torch.save({"trainable": {"weight": [1.0]}, "optimizer": {}, "scheduler": {}, "rng": {}, "progress": {}}, path)
    else:  # a well-formed checkpoint of another model's optimizer
        other = torch.nn.Linear(4, 2)
        state = torch.load(path, weights_only=True)
        state["optimizer"] = torch.optim.SGD([*other.parameters(), torch.nn.Parameter(torch.ones(1))]).state_dict()
        torch.save(state, path)
    model, optimizer, scheduler = _run()
    with pytest.raises(ConfigError) as err:
        ckpt.load_checkpoint(tmp_path / "c", model=model, optimizer=optimizer, scheduler=scheduler)
    assert err.value.location == "--resume" and "\n" not in str(err.value)
