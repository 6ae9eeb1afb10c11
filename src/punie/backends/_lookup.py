"""Prompt-lookup drafts for speculative greedy decoding of one row.

Why: a tool-call reply copies much of its text from the prompt (tool names, paths, commands, the
``<tool_call>`` markup shown in the system turn). The tokens that followed the latest earlier
occurrence of the row's last few tokens are a free guess at its next ones; one forward over the
guess checks them all (``_decode_lookup``). A rejected guess still costs: a
forward of several tokens is ~2x a one-token step on CPU, so only matches of 2+ tokens draft.
"""

from __future__ import annotations

from collections.abc import Sequence


def find_draft(tokens: Sequence[int], k: int, max_ngram: int = 3, min_ngram: int = 1) -> list[int]:
    """``k`` tokens copied from after the latest earlier occurrence of the longest matching n-gram
    (``max_ngram`` down to ``min_ngram``) that ends ``tokens``; [] when none occurs earlier.

    The copy may run into the draft itself (as in LZ77), so a loop of period p that has just
    repeated drafts its next k tokens, not only the p that follow the match.
    """
    size = len(tokens)
    if k <= 0:
        return []
    for n in range(min(max_ngram, size - 1), max(1, min_ngram) - 1, -1):
        pattern = list(tokens[size - n :])
        last = pattern[-1]
        for end in range(size - 2, n - 2, -1):  # end: last index of an earlier occurrence
            if tokens[end] == last and list(tokens[end - n + 1 : end + 1]) == pattern:
                draft: list[int] = []
                for j in range(end + 1, end + 1 + k):
                    draft.append(tokens[j] if j < size else draft[j - size])
                return draft
    return []


class Drafter:
    """Drafts for one row: the tokens that followed the latest earlier match of its last 3 or 2
    tokens, ``max_draft`` long.

    Why these settings (SmolLM2-135M, 1 thread, base model on 12 tool asks, 48 tokens): a verify
    forward of 2 tokens costs ~1.7x a 1-token step, of 9 tokens ~2.2x, so a draft pays off when it
    gains more than ~1.2 tokens on average, whatever its length. Drafts of 8 gained on average
    3.1 tokens after a 3-gram match, 2.1 after a 2-gram match, but 0.95 after a single-token match,
    so a single token does not draft (``min_ngram`` 2) and drafts are always full length.
    """

    def __init__(self, tokens: Sequence[int], max_draft: int, max_ngram: int = 3, min_ngram: int = 2) -> None:
        self.tokens = list(tokens)
        self.max_draft = max_draft
        self.max_ngram = max_ngram
        self.min_ngram = min_ngram

    def draft(self, limit: int, after: Sequence[int] = ()) -> list[int]:
        """Tokens to verify after the last one (and after ``after``, tokens that will be appended
        anyway: a forced run), at most ``limit`` (what is left of the budget)."""
        tokens = [*self.tokens, *after] if after else self.tokens
        return find_draft(tokens, min(self.max_draft, limit), self.max_ngram, self.min_ngram)

    def update(self, new: Sequence[int]) -> None:
        """Record a step: ``new`` = the tokens it emitted."""
        self.tokens.extend(new)
