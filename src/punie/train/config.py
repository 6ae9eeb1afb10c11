"""``TrainConfig``: the single source of defaults, help text, CLI flags and the config-file keys.

A config file (TOML or YAML) holds the same field names (``learning_rate`` or ``learning-rate``);
flags given on the command line override it; an unknown key is a ConfigError naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from punie.errors import ConfigError
from punie.models.precision import HELP as DTYPE_HELP
from punie.models.precision import check_dtype
from punie.models.registry import DEFAULT_MODEL

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.toml")
# Named configs shipped with punie (``punie demo --preset NAME``); each file holds only the keys it
# changes on top of the dataclass defaults.
PRESETS: dict[str, Path] = {
    "default": DEFAULT_CONFIG_PATH,
    "thorough": Path(__file__).with_name("thorough_config.toml"),
}


def _f(default: Any, help: str, *, short: str | None = None, flag: bool = True) -> Any:
    return field(default=default, metadata={"help": help, "short": short, "flag": flag})


@dataclass
class TrainConfig:
    model: str = _f(DEFAULT_MODEL, "Base model: alias, HF folder, .gguf file or hub id.", short="-m")
    data: str = _f("", "Dataset folder (train.jsonl, valid.jsonl[, test.jsonl]).", flag=False)
    output: str = _f("adapters/punie", "Run folder; the adapter goes to OUT/best (and OUT/last).", short="-o")
    iters: int = _f(70, "Optimizer steps (the most, when time_budget is set).")
    time_budget: float = _f(
        0.0, "Seconds of training: after warmup the run measures its speed and plans as many steps as fit "
        "(at most iters; the cosine schedule ends there). 0 = exactly iters steps."
    )
    learning_rate: float = _f(2e-3, "Peak learning rate (AdamW; linear warmup, then cosine decay).")
    lora_rank: int = _f(16, "LoRA rank r.")
    lora_alpha: float = _f(32.0, "LoRA alpha (scale = alpha / rank).")
    lora_dropout: float = _f(0.0, "Dropout on the LoRA input.")
    num_layers: int = _f(16, "LoRA on the top N transformer blocks (-1 = all).")
    target_modules: str = _f(
        "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", "Comma-separated module names that get LoRA."
    )
    batch_size: int = _f(16, "Conversations per micro-batch (global: split across processes).")
    grad_accum: int = _f(1, "Micro-batches per optimizer step.")
    max_seq_length: int = _f(2048, "Longest conversation in tokens; longer ones are an error (or dropped).")
    drop_long: bool = _f(False, "Drop over-length / untrainable examples (and say how many) instead of failing.")
    warmup: int = _f(5, "Linear warmup steps.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm (0 = off).")
    decision_weight: float = _f(
        1.0, "Loss weight of the decision tokens (call or answer, which tool, another call or stop); 1 = plain mean."
    )
    eval_every: int = _f(0, "Evaluate (val loss + tool-call accuracy) every N steps; 0 = only at the end.")
    eval_samples: int = _f(8, "Valid conversations generated on at each eval (0 = none, -1 = all).")
    val_batches: int = _f(2, "Validation-loss micro-batches per eval (-1 = whole valid split).")
    eval_max_new_tokens: int = _f(96, "Token budget per generated reply during eval.")
    patience: int = _f(3, "Stop after N evals without improvement (0 = never stop early).")
    save_every: int = _f(0, "Checkpoint (for --resume) every N steps; 0 = at every eval.")
    seed: int = _f(0, "Random seed (data order, LoRA init, dropout).")
    overwrite: bool = _f(False, "Replace an adapter already in OUT.")
    resume: bool = _f(False, "Continue the run in OUT from its checkpoint, exactly.")
    log_every: int = _f(1, "Log train loss to metrics.jsonl every N steps.")
    threads: int = _f(0, "CPU threads for torch (0 = torch's default).")
    dtype: str = _f("auto",
                    f"Compute precision: {DTYPE_HELP} bfloat16 autocasts; weights, LoRA and AdamW state stay fp32.")

    # ---- construction / validation --------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> TrainConfig:
        names = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = str(key).replace("-", "_")
            if name not in names:
                raise ConfigError(
                    f"unknown config key {key!r}", location=source, hint=f"known keys: {', '.join(names)}"
                )
            kwargs[name] = _coerce(names[name], value, source)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def validate(self) -> TrainConfig:
        def bad(flag: str, msg: str) -> ConfigError:
            return ConfigError(msg, location=f"--{flag.replace('_', '-')}")

        if self.lora_rank < 1:
            raise bad("lora_rank", f"LoRA rank must be at least 1 (got {self.lora_rank})")
        if self.time_budget < 0:
            raise bad("time_budget", f"time budget must not be negative (got {self.time_budget})")
        if not self.decision_weight > 0:
            raise bad("decision_weight", f"decision weight must be positive (got {self.decision_weight})")
        if not self.learning_rate > 0:
            raise bad("learning_rate", f"learning rate must be positive (got {self.learning_rate})")
        if self.iters < 1:
            raise bad("iters", f"iterations must be at least 1 (got {self.iters})")
        if self.batch_size < 1:
            raise bad("batch_size", f"batch size must be at least 1 (got {self.batch_size})")
        if self.grad_accum < 1:
            raise bad("grad_accum", f"gradient accumulation must be at least 1 (got {self.grad_accum})")
        if self.num_layers == 0 or self.num_layers < -1:
            raise bad("num_layers", f"number of LoRA layers must be positive or -1 for all (got {self.num_layers})")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise bad("lora_dropout", f"dropout must be in [0, 1) (got {self.lora_dropout})")
        if self.lora_alpha <= 0:
            raise bad("lora_alpha", f"LoRA alpha must be positive (got {self.lora_alpha})")
        if self.max_seq_length < 16:
            raise bad("max_seq_length", f"max sequence length is too small (got {self.max_seq_length})")
        for name in ("eval_every", "patience", "save_every", "warmup", "log_every", "threads"):
            if getattr(self, name) < 0:
                raise bad(name, f"must not be negative (got {getattr(self, name)})")
        if not self.target_modules.strip():
            raise bad("target_modules", "no target modules")
        check_dtype(self.dtype)
        return self


def _coerce(f: dataclasses.Field[Any], value: Any, source: str) -> Any:
    kind = type(f.default)
    try:
        if kind is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return low in ("true", "1", "yes")
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float:
            return float(value)
        if kind is str and isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{f.name}: expected {kind.__name__}, got {value!r}", location=source) from exc


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Keys of a TOML or YAML config file (a ``[train]`` table is accepted too)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:  # a binary file given by mistake (a model, an image)
        raise ConfigError(f"{p}: not a text config file (byte {exc.start} is not UTF-8)") from None
    try:
        if p.suffix.lower() == ".json":  # a run's saved config.json (used by --resume)
            data = json.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # tomllib/yaml errors carry line numbers in their text
        raise ConfigError(f"{p}: unreadable config ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config file must be a table of keys")
    if set(data) == {"train"} and isinstance(data["train"], dict):
        data = data["train"]
    return data


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults < config file < overrides (flags actually given). Validated."""
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        data = read_config_file(path)
        source = str(path)
    cfg = TrainConfig.from_dict(data, source=source)
    if overrides:
        cfg = cfg.replace(**{k: _coerce(_field(k), v, f"--{k.replace('_', '-')}") for k, v in overrides.items()})
    return cfg.validate()


def _field(name: str) -> dataclasses.Field[Any]:
    for f in fields(TrainConfig):
        if f.name == name:
            return f
    raise ConfigError(f"unknown config key {name!r}")


def default_config() -> TrainConfig:
    """The shipped demo default (default_config.toml) on top of the dataclass defaults."""
    return load_config(DEFAULT_CONFIG_PATH)


def preset_config(name: str) -> TrainConfig:
    """A shipped named config (``PRESETS``); an unknown name is a ConfigError naming the choices."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}", location="--preset", hint=f"one of: {', '.join(PRESETS)}")
    return load_config(PRESETS[name])


# ---- the shipped default_config.toml: its keys are rendered from the dataclass --------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def config_toml(cfg: TrainConfig | None = None) -> str:
    """Every config-file key of ``cfg`` (default: the dataclass defaults) under its help text, as TOML."""
    cfg = cfg or TrainConfig()
    lines: list[str] = []
    for f in fields(TrainConfig):
        if not f.metadata.get("flag", True):  # DATA_DIR is an argument, not a file key
            continue
        lines += textwrap.wrap(f.metadata["help"], 100, initial_indent="# ", subsequent_indent="# ")
        lines.append(f"{f.name} = {_toml_value(getattr(cfg, f.name))}")
    return "\n".join(lines) + "\n"


def split_default_config(text: str) -> tuple[str, str]:
    """(the hand-written comment header, the rendered keys) of default_config.toml's text."""
    first_key = config_toml().splitlines()[0]  # the first key's help line starts the rendered part
    at = text.index(first_key) if first_key in text else len(text)
    return text[:at], text[at:]


def write_default_config(path: Path = DEFAULT_CONFIG_PATH) -> Path:
    """Re-render the keys of default_config.toml from TrainConfig, keeping its comment header (run it
    after changing a default: ``python -c "from punie.train.config import write_default_config as w; w()"``)."""
    header, _ = split_default_config(path.read_text(encoding="utf-8"))
    path.write_text(header + config_toml(), encoding="utf-8")
    return path
