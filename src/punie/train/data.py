"""Training data: read the dataset, encode with the shared PromptBuilder, plan shared-prefix batches.

Every conversation is encoded by ``PromptBuilder.encode`` (labels = -100 except assistant bodies
incl. their end-of-turn token). Its first ``prefix_len`` ids are the system turn with the tool block,
identical across conversations with the same tools and system prompt; batches are formed only from
conversations that share that prefix so the trainer can run it once per batch.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from punie.errors import DatasetError
from punie.models.prompt import IGNORE_INDEX, PromptBuilder

SPLITS = ("train", "valid", "test")


@dataclass
class Conversation:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    source: str  # file:line


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    prefix_len: int
    prefix_key: str
    n_trainable: int
    source: str
    # per-token loss weights (None: all 1); set by ``encode_all(decision_weight=...)``
    weights: list[float] | None = None

    @property
    def suffix_len(self) -> int:
        return len(self.input_ids) - self.prefix_len


@dataclass
class Batch:
    """One micro-batch: a shared prefix and right-padded suffixes (labels -100 on padding)."""

    prefix_ids: list[int]
    suffix_ids: list[list[int]]
    suffix_labels: list[list[int]]
    indices: list[int] = field(default_factory=list)
    first_label: list[int] = field(default_factory=list)  # label of the first suffix token, per row
    suffix_weights: list[list[float]] | None = None  # per-token loss weights (None: all 1)

    @property
    def n_tokens(self) -> float:
        """Supervised tokens, weighted (what the loss is averaged over)."""
        if self.suffix_weights is None:
            return sum(1 for row in self.suffix_labels for t in row if t != IGNORE_INDEX)
        return sum(
            w for row, ws in zip(self.suffix_labels, self.suffix_weights, strict=True)
            for t, w in zip(row, ws, strict=True) if t != IGNORE_INDEX
        )

    @property
    def n_seq_tokens(self) -> int:
        """Tokens of the full conversations (prefix counted per row), for tokens/s."""
        return sum(len(self.prefix_ids) + len(s) for s in self.suffix_ids)


# ---- reading ----------------------------------------------------------------------------------------
def load_splits(folder: str | Path, *, validate: bool = True) -> dict[str, list[Conversation]]:
    """Validate (stop on errors) and read a dataset folder with punie.data; arguments normalised."""
    from punie.data import read_dataset, validate_dataset

    root = Path(folder)
    if not str(folder):
        raise DatasetError("no dataset folder given", location="DATA_DIR")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found", hint="create one with `punie dataset generate DIR`")
    if validate:
        report = validate_dataset(root, max_issues=20)
        if report.errors:
            first = report.errors[0]
            more = (f" (and {len(report.errors) - 1} more: `punie dataset validate {root}`)"
                    if len(report.errors) > 1 else "")
            raise DatasetError(f"{first}{more}")
    ds = read_dataset(root)
    out: dict[str, list[Conversation]] = {}
    for split, convs in ds.splits().items():
        # read_dataset keeps file order; blank lines aside, index + 1 is the line number
        out[split] = [Conversation(list(c["messages"]), c.get("tools"), f"{root / split}.jsonl:{i + 1}")
                      for i, c in enumerate(convs)]
    if not out["train"]:
        raise DatasetError(f"{root / 'train.jsonl'}: no conversations")
    return out


def fingerprint(folder: str | Path) -> dict[str, Any]:
    """sha256 and line count of each split file, saved with the run and checked on --resume."""
    root = Path(folder)
    fp: dict[str, Any] = {"path": str(root.resolve())}
    for split in SPLITS:
        p = root / f"{split}.jsonl"
        if p.is_file():
            data = p.read_bytes()
            fp[split] = {"sha256": hashlib.sha256(data).hexdigest(), "lines": data.count(b"\n")}
    return fp


# ---- encoding -----------------------------------------------------------------------------------------
@dataclass
class EncodeStats:
    n: int = 0
    dropped_long: int = 0
    dropped_untrainable: int = 0
    tokens: int = 0
    trainable: int = 0
    prefixes: int = 0

    @property
    def share(self) -> float:
        return self.trainable / self.tokens if self.tokens else 0.0

    def line(self, split: str) -> str:
        parts = [
            f"{split}: {self.n} conversations, {self.tokens} tokens, "
            f"{self.trainable} supervised ({100 * self.share:.1f}%), {self.prefixes} shared prefix(es)"
        ]
        if self.dropped_long:
            parts.append(f"dropped {self.dropped_long} over --max-seq-length")
        if self.dropped_untrainable:
            parts.append(f"dropped {self.dropped_untrainable} with no trainable tokens")
        return "; ".join(parts)


def encode_all(
    convs: list[Conversation], builder: PromptBuilder, *, max_seq_length: int, drop: bool = False,
    decision_weight: float = 1.0,
) -> tuple[list[Example], EncodeStats]:
    """Encode; over-length or untrainable conversations are an error (or dropped and counted).
    ``decision_weight`` > 1 weights the loss of the decision tokens (``prompt.decision_chars``)."""
    stats = EncodeStats()
    out: list[Example] = []
    keys: dict[tuple[int, ...], str] = {}
    for conv in convs:
        try:
            enc = builder.encode(conv.messages, conv.tools)
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(f"could not render the conversation ({exc})", location=conv.source) from exc
        if enc.n_trainable == 0:
            if drop:
                stats.dropped_untrainable += 1
                continue
            raise DatasetError(
                "no trainable tokens (no assistant content after masking)", location=conv.source,
                hint="fix the conversation or pass --drop-long to skip such examples",
            )
        if len(enc.input_ids) > max_seq_length:
            if drop:
                stats.dropped_long += 1
                continue
            raise DatasetError(
                f"{len(enc.input_ids)} tokens is over --max-seq-length {max_seq_length}; targets would be truncated",
                location=conv.source, hint="raise --max-seq-length or pass --drop-long",
            )
        prefix = tuple(enc.input_ids[: enc.prefix_len])
        key = keys.setdefault(prefix, hashlib.sha1(json.dumps(prefix).encode()).hexdigest()[:12])
        weights = None
        if decision_weight != 1.0:
            weights = [1.0] * len(enc.input_ids)
            for d in enc.decisions:
                weights[d] = decision_weight
        out.append(Example(enc.input_ids, enc.labels, enc.prefix_len, key, enc.n_trainable, conv.source, weights))
        stats.n += 1
        stats.tokens += len(enc.input_ids)
        stats.trainable += enc.n_trainable
    stats.prefixes = len(keys)
    return out, stats


# ---- batching -------------------------------------------------------------------------------------------
def plan_epoch(examples: list[Example], batch_size: int, seed: int, epoch: int, *,
               min_size: int = 1) -> list[list[int]]:
    """Batches (lists of example indices) for one epoch: a deterministic function of (seed, epoch).

    Shuffle; group by shared prefix; inside windows of 16 batches sort by suffix length (little padding
    waste) and cut into batches; shuffle the batches. A tail smaller than ``min_size`` (the number of
    processes) joins the batch before it so every process gets at least one row.
    """
    rng = random.Random(f"punie-{seed}-{epoch}")
    order = list(range(len(examples)))
    rng.shuffle(order)
    groups: dict[str, list[int]] = {}
    for i in order:
        groups.setdefault(examples[i].prefix_key, []).append(i)
    batches: list[list[int]] = []
    window = batch_size * 16
    for key in sorted(groups):
        idx = groups[key]
        group_batches: list[list[int]] = []
        for w in range(0, len(idx), window):
            chunk = sorted(idx[w : w + window], key=lambda i: examples[i].suffix_len)
            group_batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
        if len(group_batches) > 1 and len(group_batches[-1]) < min_size:
            tail = group_batches.pop()
            group_batches[-1] = group_batches[-1] + tail
        batches += group_batches
    rng.shuffle(batches)
    return batches


class BatchStream:
    """Micro-batch ``k`` of the run, over as many epochs as needed; resumable by position."""

    def __init__(self, examples: list[Example], batch_size: int, seed: int, *, min_size: int = 1) -> None:
        self.examples = examples
        self.batch_size = batch_size
        self.seed = seed
        self.min_size = min_size
        self._epochs: dict[int, list[list[int]]] = {}

    def _epoch(self, e: int) -> list[list[int]]:
        if e not in self._epochs:
            self._epochs = {e: plan_epoch(self.examples, self.batch_size, self.seed, e, min_size=self.min_size)}
        return self._epochs[e]

    def indices(self, position: int) -> list[int]:
        e = 0
        while True:
            plan = self._epoch(e)
            if position < len(plan):
                return plan[position]
            position -= len(plan)
            e += 1

    def epoch_of(self, position: int) -> float:
        if not hasattr(self, "_n0"):
            self._n0 = len(plan_epoch(self.examples, self.batch_size, self.seed, 0, min_size=self.min_size))
        return position / max(1, self._n0)


def collate(examples: list[Example], indices: list[int]) -> Batch:
    """Shared prefix + right-padded suffixes. All rows must share the prefix (same prefix_key)."""
    rows = [examples[i] for i in indices]
    p = rows[0].prefix_len
    prefix = rows[0].input_ids[:p]
    for r in rows[1:]:
        if r.prefix_len != p or r.input_ids[:p] != prefix:
            raise ValueError("collate: rows of a batch must share their prefix")
    weighted = any(r.weights is not None for r in rows)
    return Batch(
        prefix_ids=prefix,
        suffix_ids=[r.input_ids[p:] for r in rows],
        suffix_labels=[r.labels[p:] for r in rows],
        indices=list(indices),
        suffix_weights=[(r.weights or [1.0] * len(r.input_ids))[p:] for r in rows] if weighted else None,
    )


def eval_batches(examples: list[Example], batch_size: int, limit: int = -1) -> list[list[int]]:
    """Deterministic validation batches (grouped by prefix, sorted by length)."""
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.prefix_key, []).append(i)
    out: list[list[int]] = []
    for key in sorted(groups):
        idx = sorted(groups[key], key=lambda i: examples[i].suffix_len)
        out += [idx[b : b + batch_size] for b in range(0, len(idx), batch_size)]
    if limit >= 0:
        # spread the chosen batches over the length range instead of only the shortest
        step = max(1, len(out) // max(1, limit))
        out = out[::step][:limit]
    return out
