"""``--dtype auto|float32|bfloat16``: the one place a precision name becomes a torch dtype.

``auto`` is bfloat16 where the hardware computes it natively (CUDA with bf16 support; a CPU with
AVX-512 BF16 or AMX) and float32 elsewhere: on other CPUs bf16 matmuls are emulated and slower.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from punie.errors import ConfigError

DTYPES = ("auto", "float32", "bfloat16")
CPUINFO = Path("/proc/cpuinfo")
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
HELP = "auto (bfloat16 on CUDA and on CPUs with AVX-512 BF16 or AMX, else float32), float32 or bfloat16."


def check_dtype(name: str, *, flag: str = "--dtype") -> str:
    """``name`` if it is a known precision, else a one-line ConfigError naming ``flag``."""
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r} (one of {', '.join(DTYPES)})", location=flag)
    return name


def cpu_has_bf16(cpuinfo: Path | None = None) -> bool:
    """Native bf16 matmuls on this CPU: the AVX-512 BF16 or AMX flags of /proc/cpuinfo."""
    try:
        text = (cpuinfo or CPUINFO).read_text(encoding="utf-8", errors="replace")
    except OSError:  # no /proc (macOS, Windows): ask torch's own CPU probe
        return _torch_cpu_has_bf16()
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & BF16_CPU_FLAGS)


def _torch_cpu_has_bf16() -> bool:
    import torch

    caps: dict[str, Any] = getattr(torch.cpu, "get_capabilities", lambda: {})()
    return any(caps.get(flag) for flag in BF16_CPU_FLAGS)


def resolve_dtype(name: str, device: Any = "cpu", *, flag: str = "--dtype") -> Any:
    """The torch dtype for ``name`` on ``device`` (a str or torch.device)."""
    import torch

    check_dtype(name, flag=flag)
    if name != "auto":
        return getattr(torch, name)
    kind = _device_kind(device)
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if kind == "cpu" and cpu_has_bf16() else torch.float32


def describe_dtype(name: str, dtype: Any, device: Any = "cpu") -> str:
    """``"float32"``, or for ``auto`` the choice and why: a CPU without bf16 units trains ~1.8x slower
    than one with them, and a user comparing machines should see which case they are in."""
    chosen = dtype_name(dtype)
    if name != "auto":
        return chosen
    kind = _device_kind(device)
    if kind == "cuda":
        why = "CUDA with bf16" if chosen == "bfloat16" else "this GPU has no bf16"
    else:
        why = ("this CPU has AVX-512 BF16 or AMX" if chosen == "bfloat16"
               else "this CPU has no AVX-512 BF16 or AMX; bf16 would be emulated and slower")
    return f"{chosen} (auto: {why})"


def _device_kind(device: Any) -> str:
    """``"cuda:0"`` / ``torch.device("cuda", 0)`` → ``"cuda"``."""
    return str(device).split(":")[0]


def dtype_name(dtype: Any) -> str:
    """``torch.bfloat16`` → ``"bfloat16"`` (for configs, summaries and reports)."""
    return str(dtype).removeprefix("torch.")
