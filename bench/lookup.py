"""Prompt-lookup speculative decoding: single-row greedy requests with lookup off vs on.

One loaded model, one InProcessBackend whose ``lookup`` is switched between 0 and --lookup before
each request; the two settings alternate (and swap order every round) so machine noise hits both
alike. Requests are tool-requiring asks (bench/serve.py's ASKS) with the default tools, one at a
time, as `punie serve` runs a lone request. Printed: median latency per request, tokens/s, decoder
forwards per token, the on/off ratio, and whether every output was identical.

    .venv/bin/python bench/lookup.py [--adapter PATH] [--rounds 3] [--max-tokens 48] [--lookup 8]

--adapter: a trained LoRA adapter folder (merged for the whole run), where replies are tool calls.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from punie.backends.base import GenerationRequest
from punie.backends.inprocess import InProcessBackend
from punie.models import load_model
from punie.toolcalls import default_tools
from serve import ASKS  # bench/serve.py (bench/ is on sys.path when run as a script)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--rounds", type=int, default=3, help="passes over the 8 asks")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--lookup", type=int, default=8, help="draft length of the 'on' setting")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model, adapter=args.adapter)
    backend = InProcessBackend(model, tok, merge_adapter=args.adapter is not None)
    tools = default_tools()
    reqs = [GenerationRequest([{"role": "user", "content": a}], tools, max_new_tokens=args.max_tokens) for a in ASKS]
    forwards: list[int] = []
    model.get_decoder().register_forward_pre_hook(lambda *_: forwards.append(1))
    settings = {"off": 0, "on": args.lookup}
    secs: dict[str, list[float]] = {k: [] for k in settings}
    toks = {k: 0 for k in settings}
    fwd = {k: 0 for k in settings}
    texts: dict[str, list[str]] = {k: [] for k in settings}
    with backend.merged():
        for k in settings.values():  # warm-up: prefix KV, allocator
            backend.lookup = k
            backend.generate(reqs[:1])
        for r in range(args.rounds):
            for i, req in enumerate(reqs):
                order = list(settings) if (r + i) % 2 == 0 else list(settings)[::-1]
                for name in order:
                    backend.lookup = settings[name]
                    forwards.clear()
                    t0 = time.perf_counter()
                    g = backend.generate([req])[0]
                    secs[name].append(time.perf_counter() - t0)
                    toks[name] += g.completion_tokens
                    fwd[name] += len(forwards)
                    texts[name].append(g.text)
    med = {k: statistics.median(v) for k, v in secs.items()}
    rate = {k: toks[k] / sum(secs[k]) for k in settings}
    print(f"model: {args.model or 'smollm2-135m'}, adapter: {args.adapter}, max_tokens: {args.max_tokens}, "
          f"threads: {args.threads}, requests per setting: {len(secs['off'])}, lookup on = {args.lookup}")
    for name in settings:
        print(f"lookup {name:3}: median {med[name]:.3f} s/request | {rate[name]:.1f} tokens/s | "
              f"{fwd[name] / max(1, toks[name]):.2f} forwards/token")
    print(f"on/off median latency = {med['on'] / med['off']:.2f} | tokens/s on/off = {rate['on'] / rate['off']:.2f}x")
    same = sum(a == b for a, b in zip(texts["off"], texts["on"], strict=True))
    print(f"identical outputs: {same}/{len(texts['off'])}" + ("" if same == len(texts["off"]) else "  <-- MISMATCH"))


if __name__ == "__main__":
    main()
