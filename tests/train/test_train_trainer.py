from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from train_helpers import write_dataset

from punie.errors import ConfigError, DatasetError
from punie.train import TrainConfig, train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("ds") / "data", n_train=8, n_valid=2)


def cfg(model: str, data: Path, out: Path, **kw) -> TrainConfig:  # type: ignore[no-untyped-def]
    base = dict(
        model=model, data=str(data), output=str(out), iters=4, batch_size=4, eval_every=2, eval_samples=1,
        eval_max_new_tokens=6, val_batches=1, num_layers=1, lora_rank=4, learning_rate=5e-3, warmup=1, patience=0,
        threads=2,
    )
    base.update(kw)
    return TrainConfig(**base)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_train_run_folder_best_last_and_only_lora_changes(tiny_model_dir: str, data_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    res = train(cfg(tiny_model_dir, data_dir, out), progress=False)
    # the run folder
    for name in ("config.json", "data_fingerprint.json", "metrics.jsonl", "summary.json", "checkpoint/state.pt",
                 "best/adapter_config.json", "last/adapter_model.safetensors", "adapter_config.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*tmp*"))  # atomic writes left no temp folders
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert [e["step"] for e in evals] == [2, 4]
    assert all(e["tool_call_accuracy"] is not None and e["val_loss"] > 0 for e in evals)
    assert res.best_dir == out / "best" and res.steps == 4 and 0 <= res.best_metric <= 1
    assert res.run_id is not None  # recorded in the runs registry
    assert json.loads((out / "config.json").read_text())["lora_rank"] == 4

    # TRL-style: trained LoRA weights moved away from init (B starts at 0), base weights untouched
    last = _weights(out / "last")
    assert any("lora_B" in k and float(v.abs().sum()) > 0 for k, v in last.items())
    assert all("lora_" in k for k in last)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    from punie.models.loading import load_model

    loaded, _ = load_model(tiny_model_dir, adapter=str(out), device="cpu")  # OUT itself loads as an adapter
    base_sd = base.state_dict()
    for name, p in loaded.named_parameters():
        if "lora_" not in name:
            key = name.replace("base_model.model.", "").replace(".base_layer", "")
            assert torch.equal(p.detach(), base_sd[key]), name


def test_existing_adapter_not_overwritten(tiny_model_dir: str, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "best").mkdir(parents=True)
    (out / "best" / "adapter_config.json").write_text("{}")
    with pytest.raises(ConfigError, match="already holds an adapter"):
        train(cfg(tiny_model_dir, data_dir, out), progress=False)
    assert (out / "best" / "adapter_config.json").read_text() == "{}"


def test_resume_is_exact(tiny_model_dir: str, data_dir: Path, tmp_path: Path) -> None:
    kw = dict(iters=5, eval_every=0, save_every=2, eval_samples=0, batch_size=3, lora_dropout=0.1)
    full = train(cfg(tiny_model_dir, data_dir, tmp_path / "a", **kw), progress=False)

    class Killed(Exception):
        pass

    def kill(event: str, rec: dict) -> None:
        if event == "step" and rec["step"] == 3:  # checkpoint was written at step 2
            raise Killed

    with pytest.raises(Killed):
        train(cfg(tiny_model_dir, data_dir, tmp_path / "b", **kw), callbacks=[kill], progress=False)
    resumed = train(cfg(tiny_model_dir, data_dir, tmp_path / "b", resume=True, **kw), progress=False)
    la = [m["loss"] for m in full.metrics if m["event"] == "train"]
    lb = [m["loss"] for m in resumed.metrics if m["event"] == "train"]
    assert len(la) == len(lb) == 5
    assert lb[-1] == pytest.approx(la[-1], rel=1e-2)
    assert lb == pytest.approx(la, rel=1e-4)
    wa, wb = _weights(tmp_path / "a" / "last"), _weights(tmp_path / "b" / "last")
    assert all(torch.allclose(wa[k], wb[k], rtol=1e-4, atol=1e-6) for k in wa)


def test_resume_refuses_changed_settings(tiny_model_dir: str, data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(cfg(tiny_model_dir, data_dir, tmp_path / "x", resume=True), progress=False)


def test_nan_loss_stops_with_clear_message(  # type: ignore[no-untyped-def]
    tiny_model_dir: str, data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    from punie.train import loss as loss_mod
    from punie.train.trainer import TrainingError

    real = loss_mod.shared_prefix_loss
    calls = {"n": 0}

    def flaky(*a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] >= 3 and torch.is_grad_enabled() else out

    monkeypatch.setattr(loss_mod, "shared_prefix_loss", flaky)
    out = tmp_path / "nan"
    with pytest.raises(TrainingError, match="step 3: loss is nan"):
        train(cfg(tiny_model_dir, data_dir, out, iters=4, eval_every=2, save_every=0, eval_samples=0), progress=False)
    state = json.loads((out / "checkpoint" / "progress.json").read_text())
    assert state["step"] == 2 and (out / "best" / "adapter_config.json").is_file()


def test_bad_datasets(tiny_model_dir: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        train(cfg(tiny_model_dir, tmp_path / "missing", tmp_path / "o"), progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    good = '{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}\n'
    (bad / "train.jsonl").write_text(good + "{oops\n")
    (bad / "valid.jsonl").write_text(good)
    with pytest.raises(DatasetError) as exc:
        train(cfg(tiny_model_dir, bad, tmp_path / "o"), progress=False)
    assert "train.jsonl:2" in str(exc.value)
    assert not (tmp_path / "o" / "best").exists()


def test_bf16_autocast_trains_fp32_lora_and_evals(  # type: ignore[no-untyped-def]
    tiny_model_dir: str, data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """--dtype bfloat16: forward/backward under bf16 autocast (the loss differs from fp32 by rounding),
    in-training generation evals run (merged adapter, bf16 KV), weights/LoRA/AdamW state stay fp32."""
    import peft
    from transformers import AutoModelForCausalLM

    wrapped: list[torch.nn.Module] = []
    real = peft.get_peft_model

    def spy(model, *a, **k):  # type: ignore[no-untyped-def]
        wrapped.append(real(model, *a, **k))
        return wrapped[-1]

    monkeypatch.setattr(peft, "get_peft_model", spy)
    kw = dict(iters=3, eval_every=2, eval_samples=2)
    fp32 = train(cfg(tiny_model_dir, data_dir, tmp_path / "fp32", dtype="float32", **kw), progress=False)
    out = tmp_path / "bf16"
    res = train(cfg(tiny_model_dir, data_dir, out, dtype="bfloat16", **kw), progress=False)

    evals = [m for m in res.metrics if m["event"] == "eval"]
    assert [e["step"] for e in evals] == [2, 3] and all(e["tool_call_accuracy"] is not None for e in evals)
    assert {e["resolved_dtype"] for e in evals} == {"bfloat16"}
    assert json.loads((out / "summary.json").read_text())["resolved_dtype"] == "bfloat16"
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert fp32.resolved_dtype == "float32"
    loss16, loss32 = (next(m["loss"] for m in r.metrics if m["event"] == "train") for r in (res, fp32))
    assert loss16 != loss32 and loss16 == pytest.approx(loss32, rel=2e-2)  # same step, bf16 rounding

    model = wrapped[-1]
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    for name, p in model.named_parameters():
        if "lora_" in name:
            assert p.requires_grad
        else:  # frozen, and bit-identical after merged evals
            base_name = name.replace("base_model.model.", "").replace(".base_layer", "")
            assert not p.requires_grad and torch.equal(p.detach(), base[base_name]), name
    assert any("lora_B" in k and float(v.abs().sum()) > 0 for k, v in _weights(out / "last").items())  # B starts at 0
    state = torch.load(out / "checkpoint" / "state.pt", weights_only=False)
    moments = [t for s in state["optimizer"]["state"].values() for k, t in s.items() if k in ("exp_avg", "exp_avg_sq")]
    assert moments and {t.dtype for t in moments} == {torch.float32}


def test_decision_weight_reaches_the_loss(tiny_model_dir: str, data_dir: Path, tmp_path: Path) -> None:
    def first_loss(out: Path) -> float:
        recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        return next(r["loss"] for r in recs if r.get("event") == "train")

    kw = dict(iters=1, eval_every=0, eval_samples=0)
    train(cfg(tiny_model_dir, data_dir, tmp_path / "plain", **kw), progress=False)
    train(cfg(tiny_model_dir, data_dir, tmp_path / "weighted", decision_weight=8.0, **kw), progress=False)
    # same data, same init: only the weighting of the decision tokens differs
    assert abs(first_loss(tmp_path / "plain") - first_loss(tmp_path / "weighted")) > 1e-4
    with pytest.raises(ConfigError, match="decision weight"):
        cfg(tiny_model_dir, data_dir, tmp_path / "bad", decision_weight=0.0).validate()
