"""``--dtype auto|float32|bfloat16``: one resolver, used by train, eval, serve, demo, generate and probe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from punie.errors import ConfigError
from punie.models import precision
from punie.models.precision import cpu_has_bf16, resolve_dtype

ICE_LAKE = "flags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_vbmi2\n"


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    f = tmp_path / "cpuinfo"
    f.write_text(f"processor\t: 0\nmodel name\t: test\n{flags}\nprocessor\t: 1\n{flags}\n")
    return f


@pytest.mark.parametrize(("flags", "want"), [
    (ICE_LAKE, torch.float32),  # AVX-512 without BF16: emulated bf16 is slower, so fp32
    (ICE_LAKE.rstrip() + " avx512_bf16\n", torch.bfloat16),
    (ICE_LAKE.rstrip() + " amx_bf16 amx_tile\n", torch.bfloat16),
])
def test_auto_on_cpu_follows_the_bf16_flags(tmp_path: Path, monkeypatch, flags: str, want: torch.dtype) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(precision, "CPUINFO", _cpuinfo(tmp_path, flags))
    assert resolve_dtype("auto", "cpu") == want
    assert resolve_dtype("auto", torch.device("cpu")) == want


def test_flag_names_must_match_whole_words(tmp_path: Path) -> None:
    assert not cpu_has_bf16(_cpuinfo(tmp_path, "flags\t: avx512_bf16x not_amx_bf16"))
    assert not cpu_has_bf16(_cpuinfo(tmp_path, "bugs\t: avx512_bf16"))  # only the flags line counts


def test_explicit_names_ignore_the_hardware(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(precision, "CPUINFO", _cpuinfo(tmp_path, ICE_LAKE))
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    monkeypatch.setattr(precision, "CPUINFO", _cpuinfo(tmp_path, ICE_LAKE.rstrip() + " avx512_bf16"))
    assert resolve_dtype("float32", "cpu") == torch.float32


def test_auto_elsewhere(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert resolve_dtype("auto", "mps") == torch.float32  # not measured there: fp32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_dtype("auto", "cuda:1") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)  # e.g. a V100
    assert resolve_dtype("auto", "cuda") == torch.float32


def test_without_proc_cpuinfo_torch_is_asked(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "missing")
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True}, raising=False)
    assert cpu_has_bf16()
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False, "amx_bf16": False}, raising=False)
    assert not cpu_has_bf16()


@pytest.mark.parametrize("bad", ["nonsense", "fp16", "float16", "BF16", ""])
def test_bad_names_are_a_config_error_naming_the_flag(bad: str) -> None:
    with pytest.raises(ConfigError, match="unknown dtype") as exc:
        resolve_dtype(bad, "cpu")
    assert exc.value.location == "--dtype"


@pytest.mark.parametrize("argv", [
    ["train", "DATA", "--dtype", "nonsense"],
    ["eval", "--dtype", "nonsense"],
    ["serve", "--dtype", "nonsense"],
    ["demo", "--dtype", "nonsense"],
    ["generate", "hi", "--dtype", "nonsense"],
    ["probe", "--dtype", "nonsense"],
])
def test_cli_bad_dtype_is_one_line_exit_2(argv: list[str], tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import punie.models.loading as loading
    from punie.cli import main

    def no_load(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("the model must not load before the flags are checked")

    monkeypatch.setattr(loading, "load_model", no_load)
    monkeypatch.chdir(tmp_path)  # demo's default --out must not be created here
    assert main([a.replace("DATA", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("punie: error: --dtype:") and "nonsense" in err[0], err
    assert not (tmp_path / "punie-demo").exists()


def test_eval_cli_runs_bf16_weights_with_a_merged_adapter(tiny_model_dir: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from peft import LoraConfig, get_peft_model

    from punie.cli import main
    from punie.models.testing import tiny_model

    model, _ = tiny_model(seed=0)
    torch.manual_seed(3)
    get_peft_model(model, LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
                   ).save_pretrained(str(tmp_path / "adapter"))
    for dtype, want in (("bfloat16", "bfloat16"), ("auto", "float32")):  # conftest: auto as on a CPU without bf16
        rc = main(["eval", "--model", tiny_model_dir, "--adapter", str(tmp_path / "adapter"), "--dtype", dtype,
                   "--limit", "3", "--json", "--no-progress", "--max-new-tokens", "4",
                   "-o", str(tmp_path / dtype / "report.html")])
        captured = capsys.readouterr()
        assert rc == 0, captured.err
        report = json.loads(captured.out)
        assert report["overall"]["n"] == 3 and report["settings"]["dtype"] == want


def test_describe_dtype_says_why_auto_chose() -> None:
    from punie.models.precision import describe_dtype

    assert describe_dtype("float32", torch.float32) == "float32"
    assert describe_dtype("bfloat16", torch.bfloat16) == "bfloat16"
    slow = describe_dtype("auto", torch.float32, "cpu")
    assert slow.startswith("float32 (auto:") and "no AVX-512 BF16" in slow
    assert "has AVX-512 BF16" in describe_dtype("auto", torch.bfloat16, "cpu")
    assert "CUDA" in describe_dtype("auto", torch.bfloat16, "cuda:0")
