"""Model aliases (the embedded default), loading (HF folder, GGUF, hub id) and prompt building."""

from punie.models.loading import load_model, load_tokenizer, resolve_model
from punie.models.prompt import IGNORE_INDEX, Encoded, PromptBuilder
from punie.models.registry import ALIASES, DEFAULT_MODEL

__all__ = [
    "ALIASES",
    "DEFAULT_MODEL",
    "IGNORE_INDEX",
    "Encoded",
    "PromptBuilder",
    "load_model",
    "load_tokenizer",
    "resolve_model",
]
