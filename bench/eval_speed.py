"""Generation of the whole punie-tools suite: the plain in-process path vs the fast one, side by side.

Base model, real per-case token budgets (``token_budget``), greedy. "old" turns every speed option
of InProcessBackend off (fixed row batches, prefix KV copied per row, transformers attention);
"new" is the default backend. Prints seconds, the ratio, the prefill/decode split (time inside the
decoder's forward calls; the rest is lm_head, picking tokens and bookkeeping), prefill tokens
(real suffix tokens vs tokens pushed through the model) and how many outputs are identical.

    .venv/bin/python bench/eval_speed.py [--limit N] [--batch-size 48] [--configs old,new]
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Any

import torch

from punie.backends.base import GenerationRequest
from punie.backends.inprocess import InProcessBackend
from punie.models import load_model

CONFIGS: dict[str, dict[str, Any]] = {
    "old": {"cascade": False, "refill": False, "prefill_tokens": None, "lm_head_chunk": 0},
    "plan": {"cascade": False, "refill": False},  # token-budget batches only
    "cascade": {"refill": False},  # shared-prefix attention + packed prefill, fixed batches
    "new": {},
}


class ForwardTimer:
    """Times the decoder's forward calls: prefill (more than one token per row) vs decode steps."""

    def __init__(self, decoder: Any) -> None:
        self.prefill_s = self.decode_s = 0.0
        self.prefill_tokens = self.decode_rows = self.prefill_calls = self.decode_calls = 0
        self._t0 = 0.0
        decoder.register_forward_pre_hook(self._pre, with_kwargs=True)
        decoder.register_forward_hook(self._post, with_kwargs=True)

    def reset(self) -> None:
        self.prefill_s = self.decode_s = 0.0
        self.prefill_tokens = self.decode_rows = self.prefill_calls = self.decode_calls = 0

    def _pre(self, module: Any, args: Any, kwargs: Any) -> None:
        self._t0 = time.perf_counter()

    def _post(self, module: Any, args: Any, kwargs: Any, out: Any) -> None:
        dt = time.perf_counter() - self._t0
        ids = kwargs.get("input_ids")
        rows, width = ids.shape
        if width > 1:
            self.prefill_s += dt
            self.prefill_tokens += rows * width
            self.prefill_calls += 1
        else:
            self.decode_s += dt
            self.decode_rows += rows
            self.decode_calls += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="first N cases only (default: all 260)")
    ap.add_argument("--batch-size", type=int, default=48)
    ap.add_argument("--configs", default="old,new",
                    help=f"comma-separated, first is the reference: {', '.join(CONFIGS)}")
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 while another job holds a core)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from punie.eval.suites.tools import load_cases, token_budget

    model, tok = load_model(args.model)
    cases = load_cases()[: args.limit]
    reqs = [GenerationRequest(c["messages"], tools=c.get("tools"), max_new_tokens=token_budget(c)) for c in cases]
    timer = ForwardTimer(model.get_decoder())
    names = args.configs.split(",")
    outs: dict[str, list[str]] = {}
    secs: dict[str, float] = {}
    for name in names:
        backend = InProcessBackend(model, tok, batch_size=args.batch_size, **CONFIGS[name])
        rows = backend._rows(reqs)
        real = sum(len(r.suffix) for r in rows)
        backend.generate(reqs[:2])  # prefix KV and first-call allocations
        timer.reset()
        t0 = time.perf_counter()
        gens = backend.generate(reqs)
        secs[name] = time.perf_counter() - t0
        outs[name] = [g.text for g in gens]
        other = secs[name] - timer.prefill_s - timer.decode_s
        print(f"{name:8s} {secs[name]:7.1f} s | prefill {timer.prefill_s:6.1f} s ({timer.prefill_calls} calls, "
              f"{timer.prefill_tokens} tokens through the model for {real} real) | decode {timer.decode_s:6.1f} s "
              f"({timer.decode_calls} steps, {timer.decode_rows} row-steps) | other {other:5.1f} s", flush=True)
    ref = names[0]
    for name in names[1:]:
        same = sum(a == b for a, b in zip(outs[ref], outs[name], strict=True))
        print(f"{name} vs {ref}: speed-up {secs[ref] / secs[name]:.2f}x, identical outputs {same}/{len(reqs)}")
    print(f"cases: {len(reqs)}, batch size {args.batch_size}, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
