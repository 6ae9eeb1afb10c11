from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from train_helpers import write_dataset

from punie.errors import AdapterError, ConfigError


def _make_adapter(model_dir: str, out: Path, seed: int = 0) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(seed)
    pm = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    for name, p in pm.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    pm.save_pretrained(str(out))
    (out / "punie_adapter.json").write_text(json.dumps({"base_model": model_dir}))
    return out


def test_fused_and_adapter_give_identical_greedy_outputs(tiny_model_dir: str, tmp_path: Path) -> None:
    from punie.backends.base import GenerationRequest
    from punie.backends.inprocess import InProcessBackend
    from punie.models.loading import load_model
    from punie.train.fuse import fuse

    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    fused_dir = fuse(tiny_model_dir, str(adapter), str(tmp_path / "fused"))
    assert (fused_dir / "config.json").is_file() and (fused_dir / "tokenizer_config.json").is_file()
    reqs = [GenerationRequest(messages=[{"role": "user", "content": t}], max_new_tokens=12) for t in ("Open a.py", "hi")]
    with_adapter = InProcessBackend(*load_model(tiny_model_dir, adapter=str(adapter), device="cpu")).generate(reqs)
    fused = InProcessBackend(*load_model(str(fused_dir), device="cpu")).generate(reqs)
    base = InProcessBackend(*load_model(tiny_model_dir, device="cpu")).generate(reqs)
    assert [g.text for g in with_adapter] == [g.text for g in fused]
    assert [g.text for g in base] != [g.text for g in fused]  # the adapter really changed something

    with pytest.raises(ConfigError, match="not empty"):
        fuse(tiny_model_dir, str(adapter), str(tmp_path / "fused"))


def test_fuse_refuses_adapter_of_another_base(tiny_model_dir: str, tmp_path: Path) -> None:
    from punie.models.testing import save_tiny_model
    from punie.train.fuse import fuse

    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    wide = tmp_path / "wide"
    wide.mkdir()
    from punie.models.testing import tiny_model

    model, tok = tiny_model(1, hidden=96)
    model.save_pretrained(str(wide))
    tok.save_pretrained(str(wide))
    with pytest.raises(AdapterError):
        fuse(str(wide), str(adapter), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    other = save_tiny_model(str(tmp_path / "other"), seed=3)
    with pytest.raises(AdapterError, match="trained on"):
        fuse(other, str(adapter), str(tmp_path / "out2"))


def test_sweep_ranks_and_resumes(tiny_model_dir: str, tmp_path: Path) -> None:
    from punie.train.sweep import sweep

    data = write_dataset(tmp_path / "data", n_train=6, n_valid=2)
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "lora_rank = [2, 4]\n"
        f'[base]\nmodel = "{tiny_model_dir}"\niters = 2\nbatch_size = 3\neval_every = 0\neval_samples = 1\n'
        "eval_max_new_tokens = 4\nval_batches = 1\nnum_layers = 1\nwarmup = 0\n"
    )
    rows = sweep(str(data), str(grid), output=str(tmp_path / "sw"), progress=False)
    assert sorted(r.params["lora_rank"] for r in rows) == [2, 4]
    assert all((Path(r.output) / "best" / "adapter_config.json").is_file() for r in rows)
    keys = [(r.tool_call_accuracy, -r.val_loss) for r in rows]
    assert keys == sorted(keys, reverse=True)
    again = sweep(str(data), str(grid), output=str(tmp_path / "sw"), progress=False)
    assert all(r.skipped for r in again) and {r.name for r in again} == {r.name for r in rows}

    grid.write_text("lora_rnk = [2]\n")
    with pytest.raises(ConfigError, match="lora_rnk"):
        sweep(str(data), str(grid), output=str(tmp_path / "sw2"), progress=False)
