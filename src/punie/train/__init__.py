"""LoRA training: config, shared-prefix batches and loss, trainer, checkpoints, fuse, sweep.

Public API: ``TrainConfig``, ``load_config``, ``train`` → ``TrainResult``, ``fuse``, ``sweep``.
Heavy imports (torch, transformers, peft) happen when these are called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from punie.train.config import PRESETS, TrainConfig, default_config, load_config, preset_config

if TYPE_CHECKING:
    from punie.train.trainer import TrainResult

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "default_config", "fuse", "load_config", "preset_config", "sweep",
           "train"]


def train(config: TrainConfig, **kwargs: Any) -> TrainResult:
    from punie.train.trainer import train as _train

    return _train(config, **kwargs)


def fuse(model: str, adapter: str, output: str, **kwargs: Any) -> Any:
    from punie.train.fuse import fuse as _fuse

    return _fuse(model, adapter, output, **kwargs)


def sweep(data: str, grid: str, **kwargs: Any) -> Any:
    from punie.train.sweep import sweep as _sweep

    return _sweep(data, grid, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "TrainResult":
        from punie.train.trainer import TrainResult

        return TrainResult
    raise AttributeError(name)
