"""Seeded mutation fuzz: parse never raises (no internal error) and every call is well-formed.

2,000 mutations in the fast suite; 100,000 in the slow one (``-m slow``).
"""

from __future__ import annotations

import random

import pytest
from negatives import NEGATIVES
from toolcall_cases import CASES, SAME_CALL_TABLE, TOOLS

from punie.toolcalls import FORMATS, parse
from punie.toolcalls.registry import INTERNAL_ERROR, get_format
from punie.toolcalls.stream import replay

SEEDS = [t for _, t in SAME_CALL_TABLE] + NEGATIVES
for _c in CASES.values():
    SEEDS += [_c.one, _c.several, _c.typed, _c.empty, _c.escaped, *_c.malformed, *_c.truncated]

# every format's markers, so mutations splice real markup into other formats' bodies
PIECES = sorted({
    m for name in FORMATS for m in (*get_format(name).TRIGGERS, getattr(get_format(name), "END", "") or "") if m
} | {"</think>", "<think>", "<|call|>", "<|message|>", "<escape>", '<|"|>', "{", "}", "[", "]", "(", ")", '"', "'",
     ",", "\n", "\\", "1e999", "NaN", "null", ":", "=", "\x00", "\ud800", "é"})


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        i = rng.randrange(len(text) + 1)
        if op < 0.25 and text:
            text = text[:i] + text[i + rng.randint(1, 8):]  # delete a run
        elif op < 0.5:
            text = text[:i] + rng.choice(PIECES) + text[i:]  # insert a marker or a special character
        elif op < 0.65:
            text = text[:i]  # truncate
        elif op < 0.8:
            other = rng.choice(SEEDS)
            j = rng.randrange(len(other) + 1)
            text = text[:i] + other[j:]  # splice two outputs
        elif op < 0.9 and text:
            k = rng.randrange(len(text))
            text = text[:k] + chr(rng.randrange(32, 0x2FF)) + text[k + 1 :]  # flip a character
        else:
            text = text[:i] + text[i:] * 2  # repeat the tail (parallel-call shapes)
    return text


def run(n: int, seed: int) -> None:
    rng = random.Random(seed)
    for k in range(n):
        text = mutate(rng, rng.choice(SEEDS))
        res = parse(text, TOOLS)
        assert not any(INTERNAL_ERROR in e for e in res.errors), (k, text, res.errors)
        for call in res.calls:
            assert isinstance(call["name"], str) and call["name"] and isinstance(call["arguments"], dict), (k, text)
        if k % 50 == 0:  # the streaming parser agrees with parse on a chunked copy
            cut = rng.randrange(len(text) + 1)
            reasoning = "</think>" in text and "<think>" not in text[: text.find("</think>")]
            content, calls, streamed = replay([text[:cut], text[cut:]], TOOLS, reasoning=reasoning)
            assert streamed.calls == res.calls and calls == res.calls, (k, text)


def test_fuzz_2000_mutations() -> None:
    run(2_000, seed=14)


@pytest.mark.slow
def test_fuzz_100000_mutations() -> None:
    run(100_000, seed=1414)
