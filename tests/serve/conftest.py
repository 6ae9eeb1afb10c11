"""Fixtures: servers on 127.0.0.1 (fake scripted backend, or the tiny model with two real LoRA adapters)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeBackend  # noqa: E402

from punie.serve import ServeLimits, ServerThread, create_app  # noqa: E402

LIMITS = ServeLimits(max_body_bytes=200_000, max_tokens_limit=256, default_max_tokens=64)


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend(adapters=["alpha", "beta"])


@pytest.fixture
def fake_server(fake_backend: FakeBackend):  # type: ignore[no-untyped-def]
    app = create_app(fake_backend, model_name="base", adapters={"alpha": "/a", "beta": "/b"}, limits=LIMITS)
    with ServerThread(app) as srv:
        yield srv


@pytest.fixture
def client(fake_server):  # type: ignore[no-untyped-def]
    import openai

    with openai.OpenAI(base_url=fake_server.base_url, api_key="unused", max_retries=0, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two real PEFT LoRA adapters for the tiny model, randomly initialised so they change outputs."""
    import torch
    from peft import LoraConfig, get_peft_model

    from punie.models.testing import tiny_model

    out = {}
    model, _ = tiny_model(seed=0)
    for i, name in enumerate(("alpha", "beta")):
        torch.manual_seed(100 + i)
        cfg = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        peft_model = get_peft_model(model, cfg)
        folder = tmp_path_factory.mktemp(f"adapter_{name}")
        peft_model.save_pretrained(str(folder))
        model = peft_model.unload()  # the bare base again, for the next adapter
        out[name] = str(folder)
    return out
