"""What an adapter folder says about itself, portably: its hub base and a real model card.

PEFT records ``model.config._name_or_path`` as the adapter's base, which for punie's embedded model is
a machine-local cache folder (``~/.cache/punie/models/smollm2-135m``) that nobody else can resolve.
``portable_base`` names the hub id instead (``HuggingFaceTB/SmolLM2-135M-Instruct`` for the embedded
default); where the weights really came from (the local folder, the GGUF file and its quantization)
goes into the model card, which is written with huggingface_hub's ``ModelCard``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def gguf_quantization(path: str | Path) -> str | None:
    """The GGUF file's quantization (``Q4_1``), from its metadata, else from its file name."""
    path = Path(path)
    try:
        import gguf

        reader = gguf.GGUFReader(str(path))
        field = reader.fields.get("general.file_type")
        if field is not None:
            name = gguf.LlamaFileType(int(field.parts[field.data[0]][0])).name
            return name.removeprefix("MOSTLY_")
    except Exception:  # an unreadable or unknown file type: fall back to the name
        pass
    m = re.search(r"[.-](I?Q\d\w*|F16|F32|BF16)\.gguf$", path.name, re.I)
    return m.group(1).upper() if m else None


def base_provenance(model: str) -> dict[str, Any]:
    """Where a ``--model`` value's weights come from: hub id (an alias's, or the value itself), local
    folder, GGUF source. A local folder gets no hub id even if its config names one: it may hold
    different (fused, fine-tuned) weights."""
    from punie.models.loading import CONVERTED_MARKER
    from punie.models.registry import ALIASES

    out: dict[str, Any] = {"model": model, "hub_id": None, "local_folder": None, "gguf": None, "quantization": None}
    alias = ALIASES.get(model)
    if alias is not None:
        out["hub_id"] = alias.hub_id
    elif _HUB_ID.match(model) and not Path(model).expanduser().exists():
        out["hub_id"] = model
    try:
        from punie.models import resolve_model

        folder = Path(resolve_model(model, convert=False))
    except Exception:  # unresolvable here (hub unreachable): the name is all there is
        folder = None
    if folder is not None:
        out["local_folder"] = str(folder)
        marker = _read_json(folder / CONVERTED_MARKER)
        src = marker.get("source")
        if isinstance(src, str):
            out["gguf"] = Path(src).name
            out["quantization"] = gguf_quantization(src) if Path(src).is_file() else gguf_quantization(Path(src).name)
    if alias is not None and alias.gguf_file and out["gguf"] is None:
        out["gguf"] = alias.gguf_file
        out["quantization"] = gguf_quantization(alias.gguf_file)
    return out


def portable_base(model: str, prov: dict[str, Any] | None = None) -> str:
    """The name to record as ``base_model_name_or_path``: the hub id when known, else the folder's name
    (never an absolute, machine-local path)."""
    prov = prov or base_provenance(model)
    if prov.get("hub_id"):
        return str(prov["hub_id"])
    p = Path(model)
    return p.stem if p.suffix == ".gguf" else (p.name or model)


def _pct(x: Any) -> str:
    return f"{100 * x:.1f} %" if isinstance(x, (int, float)) else "-"


_CONFIG_KEYS = ("iters", "learning_rate", "lora_rank", "lora_alpha", "lora_dropout", "num_layers", "target_modules",
                "batch_size", "grad_accum", "max_seq_length", "warmup", "eval_samples", "seed", "dtype")


def model_card(info: dict[str, Any], run_dir: Path | None, folder_name: str) -> Any:
    """A huggingface_hub ModelCard for an adapter folder (base, data, config, held-out scores, serving)."""
    from huggingface_hub import ModelCard, ModelCardData

    from punie.models.registry import DEFAULT_MODEL

    model = str(info.get("base_model") or DEFAULT_MODEL)
    prov = base_provenance(model)
    base = portable_base(model, prov)
    cfg = _read_json(run_dir / "config.json") if run_dir else {}
    fp = _read_json(run_dir / "data_fingerprint.json") if run_dir else {}
    data = ModelCardData(
        base_model=base if prov.get("hub_id") else None,
        library_name="peft",
        pipeline_tag="text-generation",
        tags=["lora", "peft", "punie", "tool-calling"],
        license="apache-2.0" if base == "HuggingFaceTB/SmolLM2-135M-Instruct" else None,
    )
    lines = [f"# punie tool-calling adapter: {folder_name}", "",
             f"A LoRA adapter trained with punie so that `{base}` calls a coding agent's "
             "tools (`read_file`, `write_file`, `run_command`, `get_terminal_output`, `wait_for_terminal_exit`, "
             "`kill_terminal`, `release_terminal`) in punie's canonical format: one block per call,",
             "", "```", "<tool_call>", '{"name": "read_file", "arguments": {"path": "src/app.py"}}', "</tool_call>",
             "```",
             "", "## Base model", ""]
    lines.append(f"- hub id: `{prov['hub_id']}`" if prov.get("hub_id") else
                 f"- no hub id known; recorded as `{base}` in `adapter_config.json` "
                 "(give the base explicitly when loading)")
    lines.append(f"- punie `--model`: `{model}`")
    if prov.get("gguf"):
        lines.append(f"- trained on weights dequantised from `{prov['gguf']}` "
                     f"(GGUF, {prov.get('quantization') or 'unknown'} "
                     "quantization), not on the hub's full-precision weights; the adapter applies to either, "
                     "but scores were measured on these")
    if prov.get("local_folder"):
        lines.append(f"- local folder at training time: `{prov['local_folder']}` (machine-local, for the record)")
    lines += ["", "## Training data", ""]
    if fp:
        data_name = Path(str(fp.get("path", ""))).name or "-"
        lines.append(f"Dataset folder `{data_name}` (fingerprint; `punie train --resume` checks the same):")
        lines += ["", "| split | lines | sha256 |", "|---|---|---|"]
        for split in ("train", "valid", "test"):
            if isinstance(fp.get(split), dict):
                lines.append(f"| {split} | {fp[split].get('lines', '-')} | `{fp[split].get('sha256', '-')}` |")
    else:
        lines.append("Not recorded (the adapter was saved outside a punie run folder).")
    lines += ["", "## Training configuration", ""]
    if cfg:
        lines += ["| setting | value |", "|---|---|"]
        lines += [f"| {k} | `{cfg[k]}` |" for k in _CONFIG_KEYS if k in cfg]
    else:
        lines.append("Not recorded.")
    lines += ["", "## Held-out scores from the run", ""]
    if any(k in info for k in ("tool_call_accuracy", "val_loss")):
        n = cfg.get("eval_samples")
        lines += [f"Measured by the run at step {info.get('step', '-')} on the valid split"
                  + (f" ({'all' if n == -1 else n} generated conversations)" if n is not None else "")
                  + ", scored as `punie eval` scores a case:", "",
                  "| metric | value |", "|---|---|",
                  f"| tool-call accuracy | {_pct(info.get('tool_call_accuracy'))} |"]
        if "call_turn_accuracy" in info:
            lines.append(f"| call-turn accuracy | {_pct(info.get('call_turn_accuracy'))} |")
        if "false_call_rate" in info:
            lines.append(f"| false-call rate | {_pct(info.get('false_call_rate'))} |")
        vl = info.get("val_loss")
        lines.append(f"| validation loss | {vl:.4f} |" if isinstance(vl, (int, float)) else "| validation loss | - |")
        lines += ["", "These come from a few valid conversations; for suite scores with confidence intervals run "
                  "`punie eval --adapter ADAPTER_DIR --suite punie-tools --json`."]
    else:
        lines.append("No evaluation had run when this copy was saved.")
    hub = prov.get("hub_id") or "BASE_MODEL"
    lines += [
        "", "## Serving it", "",
        "`ADAPTER_DIR` is this folder. Where the base's own chat template has no tool support (SmolLM2's has "
        "none), punie writes the tool list into the system turn; other servers then need punie's chat template "
        "to build the same prompt "
        "(`punie serve --print-launch` writes it and prints the exact lines).", "",
        "punie (OpenAI-compatible, replies carry parsed `tool_calls`):", "",
        "```sh", f"punie serve --model {model} --adapter tools=ADAPTER_DIR", "```", "",
        "vLLM:", "", "```sh",
        f"punie serve --model {model} --adapter tools=ADAPTER_DIR --print-launch vllm   # writes the chat template",
        f"vllm serve {hub} --enable-lora --lora-modules tools=ADAPTER_DIR \\",
        "  --enable-auto-tool-choice --tool-call-parser hermes --chat-template ./<model>-punie-chat-template.jinja",
        "```", "", "llama.cpp:", "", "```sh",
        f"python convert_lora_to_gguf.py ADAPTER_DIR --base-model-id {hub} --outtype f16 --outfile tools.gguf",
        "llama-server -m BASE.gguf --lora tools.gguf --jinja --chat-template-file ./<model>-punie-chat-template.jinja",
        "```", "", "PEFT (base given explicitly):", "", "```python",
        "from peft import PeftModel", "from transformers import AutoModelForCausalLM",
        f'base = AutoModelForCausalLM.from_pretrained("{hub}")',
        'model = PeftModel.from_pretrained(base, "ADAPTER_DIR")', "```", "",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))
