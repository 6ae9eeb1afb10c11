from __future__ import annotations

from pathlib import Path

import pytest

from punie.errors import ConfigError
from punie.train.config import DEFAULT_CONFIG_PATH, TrainConfig, load_config


def test_defaults_are_valid_and_match_the_shipped_file() -> None:
    # one source of defaults: the shipped default_config.toml must equal the dataclass defaults
    assert load_config(DEFAULT_CONFIG_PATH) == TrainConfig().validate()


def test_file_then_flags_override(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('iters = 7\nlearning-rate = 0.01\nlora_rank = 4\nmodel = "x"\n')
    cfg = load_config(f, {"iters": 9})
    assert (cfg.iters, cfg.learning_rate, cfg.lora_rank, cfg.model) == (9, 0.01, 4, "x")
    assert cfg.batch_size == TrainConfig().batch_size


def test_yaml_and_train_table(tmp_path: Path) -> None:
    y = tmp_path / "c.yaml"
    y.write_text("iters: 5\nlora_dropout: 0.1\n")
    assert load_config(y).iters == 5
    t = tmp_path / "t.toml"
    t.write_text("[train]\nbatch_size = 2\n")
    assert load_config(t).batch_size == 2


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("iters = 3\nlearnig_rate = 0.1\n")
    with pytest.raises(ConfigError, match="learnig_rate") as exc:
        load_config(f)
    assert str(f) in str(exc.value)


@pytest.mark.parametrize(
    ("override", "flag"),
    [({"lora_rank": 0}, "--lora-rank"), ({"learning_rate": -1e-4}, "--learning-rate"), ({"iters": 0}, "--iters"),
     ({"batch_size": 0}, "--batch-size"), ({"lora_dropout": 1.5}, "--lora-dropout"),
     ({"num_layers": 0}, "--num-layers")],
)
def test_bad_values(override: dict, flag: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(None, override)
    assert exc.value.location == flag


def test_wrong_type_in_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('iters = "many"\n')
    with pytest.raises(ConfigError, match="iters"):
        load_config(f)


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from punie.cli import main

    assert main(["train", str(tmp_path / "nope"), "--lora-rank", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lora-rank" in err[0]
    assert main(["train", str(tmp_path / "nope")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    f = tmp_path / "c.toml"
    f.write_text("bogus = 1\n")
    assert main(["train", str(tmp_path), "--config", str(f)]) == 2
    assert "bogus" in capsys.readouterr().err


def test_the_shipped_file_keys_are_rendered_from_the_dataclass() -> None:
    from punie.train.config import config_toml, split_default_config

    header, keys = split_default_config(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    assert header.startswith("#") and keys == config_toml()
