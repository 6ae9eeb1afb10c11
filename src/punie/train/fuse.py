"""``punie fuse``: merge a LoRA adapter into its base model and save a plain HF folder, atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from punie.errors import AdapterError, ConfigError
from punie.paths import atomic_dir, check_output_folder


def check_adapter_base(adapter_dir: Path, model: str | None) -> None:
    """An adapter trained by punie records its base; refuse a different one by name."""
    info_path = adapter_dir / "punie_adapter.json"
    if not info_path.is_file() or model is None:
        return
    try:
        base = json.loads(info_path.read_text(encoding="utf-8")).get("base_model")
    except json.JSONDecodeError:
        return
    if base and base != model:
        from punie.models import resolve_model

        try:
            same = (Path(resolve_model(base, convert=False)).resolve()
                    == Path(resolve_model(model, convert=False)).resolve())
        except Exception:
            same = False
        if not same:
            raise AdapterError(f"{adapter_dir}: adapter was trained on {base!r}, not {model!r}", location="--adapter")


def fuse(model: str | None, adapter: str, output: str, *, overwrite: bool = False, dtype: str = "float32") -> Path:
    """Merged model + tokenizer in ``output`` (a plain HF folder usable as ``--model``)."""
    from punie.models.loading import check_adapter_dir

    out = Path(output)
    check_output_folder(out, kind="model folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: already exists and is not empty", location="-o", hint="pass --overwrite")
    folder = check_adapter_dir(adapter)
    check_adapter_base(folder, model)
    merged, tok = fuse_in_memory(model, folder, dtype=dtype)
    with atomic_dir(out) as tmp:
        merged.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        (tmp / "punie_fused.json").write_text(
            json.dumps({"base_model": model, "adapter": str(folder.resolve())}, indent=2), encoding="utf-8"
        )
    return out


def fuse_in_memory(model: str | None, adapter: str | Path, *, dtype: str = "float32") -> tuple[Any, Any]:
    from punie.models.loading import load_model

    peft_model, tok = load_model(model, adapter=str(adapter), dtype=dtype, device="cpu")
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged, tok
