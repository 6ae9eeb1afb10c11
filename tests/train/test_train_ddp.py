from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import write_dataset

SCRIPT = Path(__file__).with_name("train_ddp_script.py")


def _losses(out: Path) -> list[float]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x)["loss"] for x in lines if '"train"' in x]


@pytest.mark.slow  # two processes loading torch + a model each: over 30 s on a busy 2-core machine
def test_two_gloo_processes_match_one(tiny_model_dir: str, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", n_train=10, n_valid=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(SCRIPT), tiny_model_dir, str(data), str(tmp_path / "one")], check=True, env=env)
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    subprocess.run(
        [accelerate, "launch", "--num_processes", "2", "--cpu", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--main_process_port", "29533", str(SCRIPT), tiny_model_dir, str(data),
         str(tmp_path / "two")],
        check=True, env=env, timeout=600,
    )
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 3
    assert two == pytest.approx(one, rel=1e-3)
