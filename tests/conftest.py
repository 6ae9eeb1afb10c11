"""Shared fixtures: a tiny random model with the real SmolLM2 tokenizer, and an isolated PUNIE_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REAL_HOME = Path(os.environ.get("PUNIE_HOME", Path.home() / ".cache" / "punie")).expanduser()


@pytest.fixture(scope="session", autouse=True)
def punie_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each test session gets its own PUNIE_HOME (registry, outputs); converted models are shared."""
    _REAL_HOME.mkdir(parents=True, exist_ok=True)
    os.environ["PUNIE_HOME"] = str(_REAL_HOME)
    from punie.models import resolve_model

    resolve_model()  # convert the embedded model once (about 30 s the first time on a new machine)
    home = tmp_path_factory.mktemp("punie_home")
    (home / "models").symlink_to(_REAL_HOME / "models", target_is_directory=True)
    os.environ["PUNIE_HOME"] = str(home)
    return home


@pytest.fixture(scope="session", autouse=True)
def auto_dtype_is_fp32(tmp_path_factory: pytest.TempPathFactory) -> None:
    """``--dtype auto`` resolves as on a CPU without bf16 whatever this machine has: tests that compare
    outputs bit for bit (fuse, merge, resume) stay fp32; bf16 tests ask for bfloat16 themselves."""
    from punie.models import precision

    fake = tmp_path_factory.mktemp("cpu") / "cpuinfo"
    fake.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    precision.CPUINFO = fake


@pytest.fixture(scope="session")
def tokenizer(punie_home: Path):  # type: ignore[no-untyped-def]
    from punie.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def tiny(punie_home: Path):  # type: ignore[no-untyped-def]
    """(model, tokenizer): 2-layer, 64-wide random Llama with SmolLM2's real tokenizer."""
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    from punie.models.testing import tiny_model

    return tiny_model(seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, punie_home: Path) -> str:
    """The tiny model saved as an HF folder, usable wherever ``--model`` is accepted."""
    from punie.models.testing import save_tiny_model

    return save_tiny_model(str(tmp_path_factory.mktemp("tiny_model")), seed=0)


@pytest.fixture(scope="session")
def builder(tokenizer):  # type: ignore[no-untyped-def]
    from punie.models import PromptBuilder

    return PromptBuilder(tokenizer)


@pytest.fixture(scope="session", autouse=True)
def unconfined_where_nothing_confines() -> None:
    """Where bubblewrap cannot confine commands (a locked-down CI container), the tests that only
    need commands to run opt in to running them unconfined; the confinement tests skip, saying why,
    and the refusal tests clear the opt-in themselves."""
    from punie.agent.sandbox import ALLOW_UNCONFINED_ENV, confinement_problem

    problem = confinement_problem()
    if problem is not None:
        os.environ[ALLOW_UNCONFINED_ENV] = "1"
        print(f"\npunie tests: model-written commands run unconfined here ({problem})")
