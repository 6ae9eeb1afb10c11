"""Validate 100k generated lines; compare with a bare json.loads pass over the same file.

    python bench/validate.py [--lines 100000]

Prints both times and the ratio (validation cost per line over just decoding JSON).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from punie.data import generate_split, validate_dataset
from punie.data.dataset import dumps_line


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        # 20k distinct conversations repeated: generation stays quick, duplicates get flagged as in real data
        distinct = generate_split("train", min(args.lines, 20_000), seed=0)
        convs = (distinct * (args.lines // len(distinct) + 1))[: args.lines]
        gen_s = time.perf_counter() - t
        (folder / "train.jsonl").write_text("".join(dumps_line(c) + "\n" for c in convs), encoding="utf-8")
        (folder / "valid.jsonl").write_text("".join(dumps_line(c) + "\n" for c in convs[:100]), encoding="utf-8")
        size_mb = (folder / "train.jsonl").stat().st_size / 1e6

        t = time.perf_counter()
        with open(folder / "train.jsonl", encoding="utf-8") as fh:
            n = sum(1 for line in fh if json.loads(line))
        base_s = time.perf_counter() - t

        t = time.perf_counter()
        report = validate_dataset(folder)
        val_s = time.perf_counter() - t
    print(f"generated {args.lines} conversations in {gen_s:.1f}s ({size_mb:.0f} MB)")
    print(f"json.loads only : {n} lines in {base_s:.2f}s")
    print(f"validate_dataset: {report.counts['examples']} lines in {val_s:.2f}s "
          f"({report.counts['examples'] / val_s:,.0f} lines/s), {len(report.errors)} errors, "
          f"{len(report.warnings)} warnings")
    print(f"ratio validate / json.loads: {val_s / base_s:.1f}x")


if __name__ == "__main__":
    main()
