from __future__ import annotations

from pathlib import Path

import pytest

from punie.cli import main
from punie.errors import ModelError
from punie.models import resolve_model
from punie.models.loading import convert_gguf, is_cached


def test_default_alias_is_converted_and_cached() -> None:
    folder = resolve_model()
    assert is_cached(folder)
    assert (folder / "model.safetensors").stat().st_size > 100_000_000


def test_unknown_alias_names_the_alternatives() -> None:
    with pytest.raises(ModelError, match="smollm2-135m"):
        resolve_model("no-such-model")


def test_folder_without_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="config.json"):
        resolve_model(str(tmp_path))


def test_corrupt_gguf_leaves_nothing_behind(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)  # right magic, truncated body
    target = tmp_path / "out"
    with pytest.raises(ModelError, match="broken.gguf"):
        convert_gguf(bad, target)
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")]


def test_not_a_gguf_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"hello")
    with pytest.raises(ModelError, match="not a GGUF"):
        resolve_model(str(bad))


def test_cli_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "hi", "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("punie: error:") and "no-such-model" in err[0]


def test_models_command_lists_default(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    default = next(r for r in rows if r["default"])
    assert default["name"] == "smollm2-135m" and default["cached"] is True


def test_tiny_model_folder_loads(tiny_model_dir: str) -> None:
    from punie.models import load_model

    model, tok = load_model(tiny_model_dir)
    assert model.config.num_hidden_layers == 2 and tok.eos_token == "<|im_end|>"
