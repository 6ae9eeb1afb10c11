"""A tiny randomly initialised model of SmolLM2's architecture with the real tokenizer (for tests)."""

from __future__ import annotations

from typing import Any


def tiny_model(seed: int = 0, *, layers: int = 2, hidden: int = 64) -> tuple[Any, Any]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from punie.models.loading import load_tokenizer

    tok = load_tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.eval()
    return model, tok


def save_tiny_model(folder: str, seed: int = 0) -> str:
    """Write a tiny model + tokenizer as an HF folder usable as ``--model FOLDER``."""
    model, tok = tiny_model(seed)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
