"""Training prompts that equal or nearly equal eval prompts (``punie dataset check-leakage``).

Prompts are normalised (case, punctuation, whitespace); a pair leaks when the texts are equal, or
when at least ``threshold`` of the eval prompt's word n-grams appear in one training prompt
(containment, so a training prompt that merely wraps the eval prompt in extra words still counts).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from punie.data.dataset import Conversation, user_prompts
from punie.errors import SuiteError

DEFAULT_THRESHOLD = 0.8
NGRAM = 3
_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def ngrams(norm: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = norm.split()
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass
class Leak:
    case_id: str
    eval_prompt: str
    train_prompt: str
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "eval_prompt": self.eval_prompt, "train_prompt": self.train_prompt,
                "similarity": round(self.similarity, 3)}


@dataclass
class LeakageReport:
    leaks: list[Leak] = field(default_factory=list)
    n_cases: int = 0
    n_train_prompts: int = 0
    threshold: float = DEFAULT_THRESHOLD
    max_share: float = 0.0

    @property
    def share(self) -> float:
        return len({leak.case_id for leak in self.leaks}) / self.n_cases if self.n_cases else 0.0

    @property
    def ok(self) -> bool:
        return self.share <= self.max_share

    def summary(self) -> str:
        n = len({leak.case_id for leak in self.leaks})
        verdict = "ok" if self.ok else "LEAKAGE"
        return (f"{verdict}: {n} of {self.n_cases} eval cases ({self.share:.1%}) match training prompts "
                f"(similarity ≥ {self.threshold}); {self.n_train_prompts} training prompts checked")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "share": self.share, "n_cases": self.n_cases, "n_train_prompts": self.n_train_prompts,
                "threshold": self.threshold, "leaks": [leak.to_dict() for leak in self.leaks]}


def _case_prompts(case: dict[str, Any]) -> list[str]:
    return [m.get("content") or "" for m in case.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"
            and isinstance(m.get("content"), str)]


def check_leakage(
    dataset: Iterable[Conversation],
    suite_cases: Iterable[dict[str, Any]],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    max_share: float = 0.0,
) -> LeakageReport:
    """Compare every user prompt of the eval cases with every training user prompt."""
    exact: dict[str, str] = {}
    index: dict[tuple[str, ...], list[int]] = {}
    train_texts: list[str] = []
    for conv in dataset:
        for p in user_prompts(conv):
            norm = normalize(p)
            if not norm or norm in exact:
                continue
            exact[norm] = p
            k = len(train_texts)
            train_texts.append(p)
            for g in ngrams(norm):
                index.setdefault(g, []).append(k)
    report = LeakageReport(n_train_prompts=len(train_texts), threshold=threshold, max_share=max_share)
    for n, case in enumerate(suite_cases):
        report.n_cases += 1
        cid = str(case.get("id", n))
        for p in _case_prompts(case):
            norm = normalize(p)
            if not norm:
                continue
            if norm in exact:
                report.leaks.append(Leak(cid, p, exact[norm], 1.0))
                continue
            grams = ngrams(norm)
            hits: Counter[int] = Counter()
            for g in grams:
                # very common n-grams ("in the background") can't make a prompt a near copy on their own;
                # skipping huge posting lists keeps this linear
                posting = index.get(g, ())
                if len(posting) <= 5000:
                    hits.update(posting)
            if hits:
                k, shared = hits.most_common(1)[0]
                sim = shared / len(grams)
                if sim >= threshold:
                    report.leaks.append(Leak(cid, p, train_texts[k], sim))
    return report


def read_suite_cases(path: str | Path) -> list[dict[str, Any]]:
    """Cases of a suite JSONL file (only what leakage needs: id and messages)."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError("suite file not found", location=str(path))
    from punie.data.dataset import iter_lines

    cases = []
    for lineno, text in iter_lines(path):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"invalid JSON: {exc.msg}", location=f"{path}:{lineno}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
            raise SuiteError("a suite line must be an object with a 'messages' list", location=f"{path}:{lineno}")
        obj.setdefault("id", f"{path.stem}:{lineno}")
        cases.append(obj)
    return cases
