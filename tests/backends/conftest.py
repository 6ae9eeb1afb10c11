"""A tiny model whose greedy replies differ per prompt and sometimes end early.

The shared ``tiny`` model (initializer std 0.02) answers every prompt with the same token until its
budget runs out, which would let a broken decode path pass identity tests. Weights drawn with
std 0.1 make replies depend on the prompt; a larger end-of-turn embedding makes some rows stop.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def lively(punie_home):  # type: ignore[no-untyped-def]
    import torch

    from punie.models.testing import tiny_model

    model, tok = tiny_model(seed=1)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.1)
        model.get_input_embeddings().weight[tok.convert_tokens_to_ids("<|im_end|>")] *= 4.0
    return model, tok
