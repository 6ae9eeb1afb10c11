"""Dataset operations behind ``punie dataset stats|filter|merge|split|dedupe``."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from punie.data.dataset import SPLITS, Conversation, TrainingDataset, calls_of, user_prompts
from punie.errors import ConfigError


def has_call(conv: Conversation) -> bool:
    return any(m.get("tool_calls") for m in conv["messages"] if m.get("role") == "assistant")


def call_turns(conv: Conversation) -> int:
    return sum(1 for m in conv["messages"] if m.get("role") == "assistant" and m.get("tool_calls"))


def split_stats(convs: list[Conversation], builder: Any = None) -> dict[str, Any]:
    tools: Counter[str] = Counter()
    n_calls = no_call = multi = 0
    for conv in convs:
        for m in conv["messages"]:
            for c in calls_of(m) if m.get("role") == "assistant" else []:
                tools[c["name"]] += 1
                n_calls += 1
        no_call += not has_call(conv)
        multi += call_turns(conv) > 1
    n = len(convs)
    out: dict[str, Any] = {
        "examples": n,
        "tool_calls": dict(sorted(tools.items())),
        "calls_per_example": round(n_calls / n, 3) if n else 0.0,
        "no_call_share": round(no_call / n, 3) if n else 0.0,
        "multi_step_share": round(multi / n, 3) if n else 0.0,
    }
    if builder is not None and n:
        lengths, trained, total = [], 0, 0
        for conv in convs:
            enc = builder.encode(conv["messages"], conv.get("tools"))
            lengths.append(len(enc.input_ids))
            trained += enc.n_trainable
            total += len(enc.input_ids)
        lengths.sort()
        out["tokens"] = {f"p{q}": lengths[min(n - 1, int(q / 100 * n))] for q in (50, 90, 99)}
        out["tokens"]["max"] = lengths[-1]
        out["supervised_token_share"] = round(trained / total, 4) if total else 0.0
        out["supervised_share_after_prefix"] = round(
            trained / max(1, total - n * builder.encode([{"role": "user", "content": "x"}]).prefix_len), 4
        )
    return out


def dataset_stats(ds: TrainingDataset, builder: Any = None) -> dict[str, Any]:
    return {split: split_stats(convs, builder) for split, convs in ds.splits().items() if convs or split == "train"}


# ---- filter -----------------------------------------------------------------------------------------


def make_filter(
    *,
    tools: list[str] | None = None,
    calls: str | None = None,
    contains: str | None = None,
    max_tokens: int | None = None,
    builder: Any = None,
    min_turns: int | None = None,
) -> Callable[[Conversation], bool]:
    """A predicate keeping conversations that match every given condition."""
    if calls not in (None, "any", "none", "some"):
        raise ConfigError(f"--calls must be any, none or some, got {calls!r}", location="--calls")
    if max_tokens is not None and builder is None:
        raise ConfigError("--max-tokens needs --model (token counts come from the model's prompt builder)",
                          location="--max-tokens")
    pattern = re.compile(contains, re.I) if contains else None
    wanted = set(tools or [])

    def keep(conv: Conversation) -> bool:
        if wanted:
            names = {c["name"] for m in conv["messages"] if m.get("role") == "assistant" for c in calls_of(m)}
            if not names & wanted:
                return False
        if calls == "none" and has_call(conv):
            return False
        if calls == "some" and not has_call(conv):
            return False
        if pattern and not any(pattern.search(m.get("content") or "") for m in conv["messages"]):
            return False
        if min_turns is not None and sum(m["role"] == "assistant" for m in conv["messages"]) < min_turns:
            return False
        return not (max_tokens is not None
                    and len(builder.encode(conv["messages"], conv.get("tools")).input_ids) > max_tokens)

    return keep


def filter_dataset(ds: TrainingDataset, keep: Callable[[Conversation], bool]) -> TrainingDataset:
    return TrainingDataset(**{s: [c for c in convs if keep(c)] for s, convs in ds.splits().items()})


# ---- merge / split / dedupe ---------------------------------------------------------------------------


def merge_datasets(datasets: Iterable[TrainingDataset]) -> TrainingDataset:
    out = TrainingDataset()
    for ds in datasets:
        for s, convs in ds.splits().items():
            getattr(out, s).extend(convs)
    return out


def parse_ratios(text: str) -> tuple[float, float, float]:
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"ratios must be numbers like 0.8,0.1,0.1, got {text!r}", location="--ratios") from None
    if len(parts) == 2:
        parts.append(0.0)
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise ConfigError(f"ratios must be 2 or 3 non-negative numbers, got {text!r}", location="--ratios")
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


def split_dataset(convs: list[Conversation], ratios: tuple[float, float, float], seed: int = 0) -> TrainingDataset:
    """Shuffle with ``seed`` and cut into train/valid/test by ``ratios``."""
    items = list(convs)
    random.Random(seed).shuffle(items)
    n = len(items)
    n_valid = round(n * ratios[1])
    n_test = round(n * ratios[2])
    if ratios[1] > 0 and n >= 3:
        n_valid = max(1, n_valid)
    if ratios[2] > 0 and n >= 3:
        n_test = max(1, n_test)
    n_train = n - n_valid - n_test
    return TrainingDataset(
        train=items[:n_train], valid=items[n_train : n_train + n_valid], test=items[n_train + n_valid :]
    )


def prompt_key(conv: Conversation, mode: str = "normalized") -> str:
    prompts = user_prompts(conv)
    if mode == "exact":
        return "\x00".join(prompts)
    if mode == "normalized":
        return "\x00".join(" ".join(p.casefold().split()) for p in prompts)
    raise ConfigError(f"--mode must be exact or normalized, got {mode!r}", location="--mode")


def dedupe_dataset(ds: TrainingDataset, mode: str = "normalized") -> tuple[TrainingDataset, dict[str, int]]:
    """Drop conversations whose user prompts repeat an earlier one (exact or case/space-normalised).

    test is kept first, then valid, then train, so a duplicate across splits leaves train, never test.
    """
    seen: set[str] = set()
    out = TrainingDataset()
    removed: dict[str, int] = {}
    for split in reversed(SPLITS):
        kept = []
        for conv in getattr(ds, split):
            key = prompt_key(conv, mode)
            if key in seen:
                removed[split] = removed.get(split, 0) + 1
                continue
            seen.add(key)
            kept.append(conv)
        setattr(out, split, kept)
    return out, removed
