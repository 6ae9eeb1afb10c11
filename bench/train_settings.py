"""Examples/s of the real trainer under different settings, side by side in one run.

Each setting trains a few steps of the shipped config on the same dataset (same seed, so the same
batches for the same batch size) and prints the median examples/s of steps 3..N and its ratio to the
first setting. Settings are TrainConfig keys as JSON:

    python bench/train_settings.py DATA_DIR \\
        '{"default": {}, "batch16": {"batch_size": 16}, "blocks8": {"num_layers": 8},
          "threads1": {"threads": 1}}' --steps 8

Run it twice with the settings in opposite order: on a shared machine the absolute figures move
±15 % or more between minutes, the ratios less.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="dataset folder (punie dataset generate DIR)")
    ap.add_argument("settings", help='JSON object: name -> TrainConfig overrides, e.g. {"b16": {"batch_size": 16}}')
    ap.add_argument("--steps", type=int, default=8)
    args = ap.parse_args()

    from punie.train import default_config, train

    settings = json.loads(args.settings)
    base: float | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in settings.items():
            out = Path(tmp) / name
            cfg = default_config().replace(data=args.data, output=str(out), iters=args.steps, eval_every=0,
                                           eval_samples=0, val_batches=1, patience=0, warmup=2, **extra).validate()
            t0 = time.time()
            train(cfg, progress=False)
            recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"train"' in line]
            eps = statistics.median(r["examples_per_s"] for r in recs if r["step"] >= 3)
            base = base or eps
            print(json.dumps({"setting": name, **extra, "examples_per_s": round(eps, 3),
                              "ratio": round(eps / base, 2), "wall_s": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
