"""Run-folder artefacts: adapters (best/, last/, top-level copy) and the exact-resume checkpoint.

Every write goes through a temp folder/file and a rename, so a killed run never leaves a
half-written adapter or checkpoint behind.

``state.pt`` holds tensors and plain Python values only (the numpy RNG state is stored as a list),
so ``--resume`` reads it with ``torch.load(weights_only=True)``: a run folder copied from elsewhere
cannot execute code by being resumed. A file that does not load, or loads into the wrong shape, is
one ConfigError located at ``--resume``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from punie.errors import AdapterError, ConfigError
from punie.paths import atomic_dir, atomic_write_text

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
STATE_FILE = "state.pt"


def has_adapter(out: Path) -> bool:
    return any((d / "adapter_config.json").is_file() for d in (out, out / "best", out / "last"))


def save_adapter(peft_model: Any, target: Path, info: dict[str, Any], *, run_dir: Path | None = None) -> None:
    """PEFT folder (adapter_config.json + adapter_model.safetensors) + punie_adapter.json + README.md, atomically.

    ``adapter_config.json`` names the portable base (the hub id, e.g. HuggingFaceTB/SmolLM2-135M-Instruct
    for the embedded default; never a machine-local path); README.md is a real model card built from
    ``info`` and the run folder's config.json / data_fingerprint.json (``run_dir``, default target's parent)."""
    from punie.train.card import base_provenance, model_card, portable_base

    model = str(info.get("base_model") or "")
    prov = base_provenance(model) if model else None
    configs = getattr(peft_model, "peft_config", {}) or {}
    saved = {name: getattr(c, "base_model_name_or_path", None) for name, c in configs.items()}
    with atomic_dir(target) as tmp:
        try:
            if prov is not None:
                for c in configs.values():
                    c.base_model_name_or_path = portable_base(model, prov)
            peft_model.save_pretrained(str(tmp))
        finally:
            for name, c in configs.items():
                c.base_model_name_or_path = saved[name]
        (tmp / "punie_adapter.json").write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
        card = model_card(info, target.parent if run_dir is None else run_dir, f"{target.parent.name}/{target.name}")
        (tmp / "README.md").write_text(str(card), encoding="utf-8")
        for f in tmp.iterdir():  # safetensors writes 0600; an adapter is meant to be shared
            if f.is_file():
                os.chmod(f, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_top_level(src: Path, out: Path) -> None:
    """Copy the best adapter's files to OUT itself, so ``--adapter OUT`` loads it (each file atomically,
    with the mode any new file gets: mkstemp's 0600 would keep others from reading a shared adapter)."""
    for name in (*ADAPTER_FILES, "punie_adapter.json", "README.md"):
        if not (src / name).is_file():
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.tmp-", dir=out)
        os.close(fd)
        shutil.copyfile(src / name, tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out / name)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
        # a list, not an ndarray: weights_only loading refuses numpy's reconstruct globals
        state["numpy"] = [name, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)]
    except ImportError:
        pass
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        import numpy as np

        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(target: Path, *, model: Any, optimizer: Any, scheduler: Any, progress: dict[str, Any]) -> None:
    """Everything --resume needs: trainable weights, optimizer, scheduler, RNG, data position, best state."""
    with atomic_dir(target) as tmp:
        torch.save(
            {
                "trainable": trainable_state(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                "progress": progress,
            },
            tmp / STATE_FILE,
        )
        atomic_write_text(tmp / "progress.json", json.dumps(progress, indent=2, sort_keys=True))


_STATE_KEYS = {"trainable": dict, "optimizer": dict, "scheduler": dict, "rng": dict, "progress": dict}


def read_state(path: Path) -> dict[str, Any]:
    """``state.pt`` loaded without running any of its code; any problem is one ConfigError."""
    if not path.is_file():
        raise ConfigError(f"{path}: no checkpoint to resume from", location="--resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises zip, pickle, EOF and runtime errors for damaged files
        raise _unusable(path, exc) from None
    if not isinstance(state, dict) or any(not isinstance(state.get(k), t) for k, t in _STATE_KEYS.items()):
        raise _unusable(path, "not the layout punie writes")
    if not all(isinstance(v, torch.Tensor) for v in state["trainable"].values()):
        raise _unusable(path, "trainable weights that are not tensors")
    return state


def _unusable(path: Path, why: object) -> ConfigError:
    reason = (str(why).strip().splitlines() or [type(why).__name__])[0].split(". ")[0][:160]
    return ConfigError(f"{path}: unusable checkpoint ({reason}); it is truncated, tampered with or "
                       "from another punie version", location="--resume",
                       hint="start a new run, or resume from an intact copy")


def load_checkpoint(target: Path, *, model: Any, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    state = read_state(target / STATE_FILE)
    params = dict(model.named_parameters())
    missing = [n for n in state["trainable"] if n not in params]
    if missing:
        raise AdapterError(f"{target}: checkpoint does not match the model ({missing[0]} unknown)",
                           location="--resume")
    try:
        with torch.no_grad():
            for name, value in state["trainable"].items():
                params[name].copy_(value.to(params[name].device))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # loadable, but not for this run
        raise _unusable(target / STATE_FILE, exc) from None
    return dict(state["progress"])
