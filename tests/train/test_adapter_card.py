"""Adapters that travel: the hub base in adapter_config.json, a real model card, normal file modes,
and ``peft.PeftModel.from_pretrained`` on a saved adapter with the base given explicitly."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from train_helpers import write_dataset

from punie.train import TrainConfig, train

HUB = "HuggingFaceTB/SmolLM2-135M-Instruct"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture(scope="module")
def run(tiny_model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = write_dataset(tmp_path_factory.mktemp("ds") / "data", n_train=8, n_valid=2)
    out = tmp_path_factory.mktemp("card") / "run"
    cfg = TrainConfig(model=tiny_model_dir, data=str(data), output=str(out), iters=2, batch_size=4, eval_every=2,
                      eval_samples=1, eval_max_new_tokens=6, val_batches=1, num_layers=1, lora_rank=4,
                      learning_rate=5e-3, warmup=1, patience=0, threads=2)
    train(cfg, progress=False)
    return out


def test_adapter_config_names_no_machine_local_path(run: Path, tiny_model_dir: str) -> None:
    for folder in (run, run / "best", run / "last"):
        base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
        assert base == Path(tiny_model_dir).name  # no hub id for a local folder: its name, not its path
        assert "/" not in base


def test_files_have_normal_modes(run: Path) -> None:
    want = 0o666 & ~_umask()
    for folder in (run, run / "best", run / "last"):
        for name in ("adapter_config.json", "adapter_model.safetensors", "punie_adapter.json", "README.md"):
            assert stat.S_IMODE((folder / name).stat().st_mode) == want, (folder, name)


def test_model_card_content(run: Path, tiny_model_dir: str) -> None:
    card = (run / "README.md").read_text()
    assert card == (run / "best" / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: peft" in card and "tool-calling" in card
    info = json.loads((run / "best" / "punie_adapter.json").read_text())
    fp = json.loads((run / "data_fingerprint.json").read_text())
    assert fp["train"]["sha256"] in card and fp["valid"]["sha256"] in card  # the data fingerprint
    assert "| lora_rank | `4` |" in card and "| iters | `2` |" in card  # the config
    assert f"tool-call accuracy | {100 * info['tool_call_accuracy']:.1f} %" in card  # the run's held-out score
    assert f"step {info['step']}" in card
    for how in ("punie serve --model", "vllm serve", "convert_lora_to_gguf.py", "llama-server",
                "PeftModel.from_pretrained"):
        assert how in card, how
    assert "Not recorded" not in card


def test_peft_loads_the_adapter_with_the_base_given_explicitly(run: Path, tiny_model_dir: str) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from punie.models import load_model

    ids = torch.tensor([[1, 2, 3, 4, 5]])
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, str(run))
    model.eval()
    ours, _ = load_model(tiny_model_dir, adapter=str(run), dtype="float32", device="cpu")
    with torch.no_grad():
        a, b = model(ids).logits, ours(ids).logits
    assert torch.equal(a, b)
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        assert not torch.equal(plain(ids).logits, a)  # the adapter changed something


def test_embedded_base_is_named_by_its_hub_id_and_quantization(  # type: ignore[no-untyped-def]
    tiny, tmp_path: Path
) -> None:
    from peft import LoraConfig, get_peft_model

    from punie.train.checkpoint import save_adapter

    model, _ = tiny
    model.config._name_or_path = str(Path.home() / ".cache" / "punie" / "models" / "smollm2-135m")
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))
    before = peft_model.peft_config["default"].base_model_name_or_path
    try:
        save_adapter(peft_model, tmp_path / "run" / "best", {"base_model": "smollm2-135m", "step": 1})
        folder = tmp_path / "run" / "best"
        cfg = json.loads((folder / "adapter_config.json").read_text())
        assert cfg["base_model_name_or_path"] == HUB
        # the in-memory config is left as it was
        assert peft_model.peft_config["default"].base_model_name_or_path == before
        card = (folder / "README.md").read_text()
        assert f"base_model: {HUB}" in card and "license: apache-2.0" in card
        assert "SmolLM2-135M-Instruct.Q4_1.gguf" in card and "Q4_1 quantization" in card
        assert "local folder at training time" in card
        assert f"vllm serve {HUB}" in card and f"--base-model-id {HUB}" in card
    finally:
        peft_model.unload()
