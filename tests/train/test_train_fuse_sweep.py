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
    reqs = [GenerationRequest(messages=[{"role": "user", "content": t}], max_new_tokens=12)
            for t in ("Open a.py", "hi")]
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


def test_sweep_scores_each_adapter_on_a_suite(tiny_model_dir: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import punie.train.sweep as sw
    from punie.errors import SuiteError

    data = write_dataset(tmp_path / "data", n_train=6, n_valid=2)
    suite = tmp_path / "mini.jsonl"
    cases = [
        {"id": "t1", "category": "tool_call", "messages": [{"role": "user", "content": "Show me setup.cfg"}],
         "expected_calls": [{"name": "read_file", "arguments": {"path": "setup.cfg"}}]},
        {"id": "t2", "category": "no_call", "messages": [{"role": "user", "content": "Hello there"}],
         "expected_calls": []},
        {"id": "t3", "category": "tool_call", "messages": [{"role": "user", "content": "Run `ls`"}],
         "expected_calls": [{"name": "run_command", "arguments": {"command": "ls"}}]},
    ]
    suite.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "lora_rank = [2, 4]\n"
        f'[base]\nmodel = "{tiny_model_dir}"\niters = 1\nbatch_size = 3\neval_every = 0\neval_samples = 0\n'
        "val_batches = 1\nnum_layers = 1\nwarmup = 0\n"
    )
    rows = sw.sweep(str(data), str(grid), output=str(tmp_path / "sw"), progress=False, suite=str(suite))
    for r in rows:
        assert r.suite_scores is not None and r.suite_scores["n"] == 3
        assert set(r.suite_scores["categories"]) == {"tool_call", "no_call"}
        assert (Path(r.output) / sw.SUITE_SCORES).is_file()
    ranks = [(r.suite_scores["overall"], r.suite_scores["tool_calling"] or -1.0) for r in rows]  # type: ignore[index]
    assert ranks == sorted(ranks, reverse=True)

    # a resumed sweep reuses the saved scores instead of evaluating again
    def boom(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("re-evaluated")

    monkeypatch.setattr(sw, "score_on_suite", boom)
    again = sw.sweep(str(data), str(grid), output=str(tmp_path / "sw"), progress=False, suite=str(suite))
    assert [r.suite_scores for r in again] == [r.suite_scores for r in rows]
    # an unknown suite fails before anything trains
    with pytest.raises(SuiteError):
        sw.sweep(str(data), str(grid), output=str(tmp_path / "sw3"), progress=False, suite="no-such-suite")
    assert not (tmp_path / "sw3").exists() or not any((tmp_path / "sw3").iterdir())
