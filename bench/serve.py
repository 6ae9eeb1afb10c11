"""punie serve: one tool-requiring request with the tool-prefix KV cache vs without, and 8 concurrent clients.

Two servers on 127.0.0.1 share one loaded model: InProcessBackend(prefix_cache=True) and
(prefix_cache=False). Requests go through the official openai client, alternating between the two,
so machine noise hits both alike. Printed: median latency of a 1-token reply (prompt processing:
what the cache removes) and of a full reply of up to --max-tokens, their ratios (goal: cached ≤ 1/3
of uncached), then throughput of 8 concurrent clients vs 1 client on the cached server (concurrent
requests are batched into one generate call).

A lone request on the cached server also gets prompt-lookup speculative decoding (the backend's
default ``lookup``; it needs the shared-prefix path, so the uncached server never uses it): pass
--lookup 0 to compare prompt processing alone. bench/lookup.py measures lookup by itself.

Also printed: completion tokens/s at 1 and 8 clients, and the cost of constrained decoding
(tool_choice, on by default for requests with tools): the masks + state steps of a constrained
reply replayed token by token, against the decode time per token of the same server.

--jump-forward (verify, force, off) sets both servers' jump-forward decoding of grammar-forced tool-call
text (InProcessBackend jump_forward; default verify): run it with off and verify to see what it buys.
Printed with it: the cached server's forwards per completion token and the forced tokens that rode
along (forwards saved), and how many replies to the asks differ between force (the canonical split
taken as it is) and verify (the model's own split kept) with --split-check.

--adapter PATH serves a trained LoRA adapter (as `punie serve --adapter` does, folded into the weights): its replies to
these asks are tool calls, the case the server exists for; the base model rambles to --max-tokens.

    .venv/bin/python bench/serve.py [--model smollm2-135m] [--adapter PATH] [--repeats 5] [--max-tokens 48]
                                    [--per-client 2] [--lookup N] [--dtype bfloat16]
                                    [--jump-forward verify|force|off] [--split-check]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import threading
import time

import openai
import torch

from punie.backends.inprocess import InProcessBackend
from punie.models import load_model
from punie.serve import ServerThread, create_app
from punie.toolcalls import default_tools

ASKS = [
    "Show me src/app.py",
    "What's in README.md?",
    "Please run `pytest -q`",
    "Open docs/index.md for me",
    "Run ls -la",
    "Write 'hello' to notes.txt",
    "Can you read setup.cfg?",
    "Execute `git status`",
]
TOOLS = default_tools()


MODEL = "m"  # what requests ask for: the base model's name, or the served adapter's ("tuned")


TOKENS: list[int] = []  # completion tokens of every reply (for tokens/s)


def one(client: openai.OpenAI, ask: str, max_tokens: int) -> tuple[float, bool]:
    t0 = time.perf_counter()
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": ask}], tools=TOOLS, max_tokens=max_tokens
    )
    TOKENS.append(r.usage.completion_tokens if r.usage else 0)
    return time.perf_counter() - t0, bool(r.choices[0].message.tool_calls)


def throughput(client: openai.OpenAI, clients: int, per_client: int, max_tokens: int) -> tuple[float, float]:
    """(requests/s, completion tokens/s)."""
    done: list[float] = []
    TOKENS.clear()

    def worker(k: int) -> None:
        for j in range(per_client):
            done.append(one(client, ASKS[(k + j) % len(ASKS)], max_tokens)[0])

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return len(done) / wall, sum(TOKENS) / wall


def constraint_cost(backend: InProcessBackend, max_tokens: int) -> tuple[float, float, int]:
    """(ms per token for masks + steps, replayed over a constrained reply; decode ms per token; tokens)."""
    from punie.backends.base import GenerationRequest

    req = GenerationRequest([{"role": "user", "content": ASKS[0]}], tools=TOOLS, max_new_tokens=max_tokens,
                            tool_choice="required")
    t0 = time.perf_counter()
    gen = backend.generate([req])[0]
    decode_ms = 1000 * (time.perf_counter() - t0) / max(1, gen.completion_tokens)
    ids = backend.tokenizer(gen.text, add_special_tokens=False)["input_ids"]
    grammar = backend.grammar(req)
    assert grammar is not None
    logits = torch.zeros(1, backend._logits_width())
    from punie.backends._constrain import apply_masks

    for _ in range(2):  # the second pass is the warm cost (masks cached per state, as in a server)
        t0 = time.perf_counter()
        state = grammar.start
        for t in ids:  # what the decode loop adds per token: the state's mask applied, then one step
            apply_masks(logits, [grammar.mask(state)])
            state = grammar.advance(state, t)
        mask_ms = 1000 * (time.perf_counter() - t0) / max(1, len(ids))
    return mask_ms, decode_ms, len(ids)


def split_check(backend: InProcessBackend, max_tokens: int) -> None:
    """Replies to every ask alone (tool_choice auto, as served) with jump-forward off, verify and force:
    how often taking the canonical split as it is (force) changes the text, and the forwards each needs.
    The same backend switches mode (a second backend over the same weights could fold an adapter twice)."""
    from punie.backends.base import GenerationRequest

    texts: dict[str, list[str]] = {}
    forwards: dict[str, int] = {}
    was = backend.jump_forward
    reqs = [GenerationRequest([{"role": "user", "content": a}], tools=TOOLS, max_new_tokens=max_tokens,
                              tool_choice="auto") for a in ASKS]
    for mode in ("off", "verify", "force"):
        backend.jump_forward = "" if mode == "off" else mode
        backend.decode_stats.reset()
        texts[mode] = [backend.generate([r])[0].text for r in reqs]
        forwards[mode] = backend.decode_stats.forwards
    backend.jump_forward = was
    same_v = sum(a == b for a, b in zip(texts["off"], texts["verify"], strict=True))
    same_f = sum(a == b for a, b in zip(texts["off"], texts["force"], strict=True))
    calls = sum("<tool_call>" in t for t in texts["off"])
    print(
        f"split check ({len(ASKS)} asks alone, {calls} with a call): same text as jump-forward off: verify "
        f"{same_v}/{len(ASKS)}, force {same_f}/{len(ASKS)}; forwards off {forwards['off']}, verify "
        f"{forwards['verify']}, force {forwards['force']}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--adapter", default=None, help="a trained LoRA adapter folder to serve")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--per-client", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lookup", type=int, default=None, help="cached server's draft length (default: the backend's)")
    ap.add_argument("--dtype", default="auto", help="weights' precision (auto, float32, bfloat16)")
    ap.add_argument("--jump-forward", default="verify", choices=["verify", "force", "off"],
                    help="both servers' jump-forward decoding of forced tool-call text")
    ap.add_argument("--split-check", action="store_true",
                    help="also count replies that differ between jump-forward force and verify")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    global MODEL
    adapters = {"tuned": args.adapter} if args.adapter else {}
    MODEL = "tuned" if args.adapter else "m"
    model, tok = load_model(args.model, adapter=adapters or None, dtype=args.dtype)
    extra = {} if args.lookup is None else {"lookup": args.lookup}
    keep = bool(adapters)  # as punie serve: a served adapter stays folded into the weights
    jump = False if args.jump_forward == "off" else args.jump_forward
    cached = InProcessBackend(model, tok, batch_size=8, prefix_cache=True, keep_merged=keep, jump_forward=jump, **extra)
    plain = InProcessBackend(model, tok, batch_size=8, prefix_cache=False, keep_merged=keep, jump_forward=jump)
    prefix = cached.builder.encode_prompt([{"role": "user", "content": ASKS[0]}], TOOLS).prefix_len
    with (
        ServerThread(create_app(cached, model_name="m", adapters=adapters)) as s1,
        ServerThread(create_app(plain, model_name="m", adapters=adapters)) as s2,
    ):
        c1 = openai.OpenAI(base_url=s1.base_url, api_key="x", max_retries=0, timeout=600)
        c2 = openai.OpenAI(base_url=s2.base_url, api_key="x", max_retries=0, timeout=600)
        one(c1, ASKS[0], args.max_tokens)  # warm-up: builds the prefix cache (and warms the allocator)
        one(c2, ASKS[0], args.max_tokens)
        cached.decode_stats.reset()
        plain.decode_stats.reset()
        lat: dict[str, list[float]] = {"cached": [], "uncached": []}
        first: dict[str, list[float]] = {"cached": [], "uncached": []}
        calls = {"cached": 0, "uncached": 0}
        for i in range(args.repeats):
            ask = ASKS[(i + 1) % len(ASKS)]
            pair = (("cached", c1), ("uncached", c2))
            for name, client in pair if i % 2 == 0 else pair[::-1]:
                first[name].append(one(client, ask, 1)[0])
                t, has_call = one(client, ask, args.max_tokens)
                lat[name].append(t)
                calls[name] += has_call
        med = {k: statistics.median(v) for k, v in lat.items()}
        mft = {k: statistics.median(v) for k, v in first.items()}
        print(
            f"model: {args.model or 'smollm2-135m'}, adapter: {args.adapter}, tool prefix: {prefix} tokens, "
            f"max_tokens: {args.max_tokens}, "
            f"torch threads: {args.threads}, repeats: {args.repeats}, cached server lookup: {cached.lookup}, "
            f"dtype: {next(model.parameters()).dtype}"
        )
        print(
            f"1-token reply (prompt processing), median: cached {mft['cached']:.3f} s | "
            f"uncached {mft['uncached']:.3f} s | cached/uncached = {mft['cached'] / mft['uncached']:.2f}"
        )
        print(
            f"full reply (<= {args.max_tokens} tokens), median: cached {med['cached']:.3f} s | "
            f"uncached {med['uncached']:.3f} s | cached/uncached = {med['cached'] / med['uncached']:.2f}"
        )
        print(
            f"replies with a parsed tool call: cached {calls['cached']}/{args.repeats}, "
            f"uncached {calls['uncached']}/{args.repeats}"
        )
        for name, b in (("cached", cached), ("uncached", plain)):
            st = b.decode_stats
            print(
                f"jump-forward {args.jump_forward}, {name} server (these replies): {st.forwards} forwards, "
                f"{st.jump_tokens} forced tokens rode along (forwards saved) in {st.jump_runs} runs, "
                f"{st.jump_rejected} replaced by the model's own split"
            )
        seq, seq_tok = throughput(c1, 1, args.per_client * 2, args.max_tokens)
        conc, conc_tok = throughput(c1, 8, args.per_client, args.max_tokens)
        print(
            f"throughput (cached server): 1 client {seq:.2f} req/s, {seq_tok:.1f} tokens/s | 8 concurrent clients "
            f"{conc:.2f} req/s, {conc_tok:.1f} tokens/s | ratio {conc / seq:.2f}x"
        )
    with cached.use_adapter("tuned" if adapters else None) if adapters else contextlib.nullcontext():
        mask_ms, decode_ms, n = constraint_cost(cached, args.max_tokens)
        if args.split_check:
            split_check(cached, args.max_tokens)
    print(
        f"constrained decoding (tool_choice=required, {n} tokens): masks + steps {mask_ms:.3f} ms/token vs "
        f"decode {decode_ms:.1f} ms/token = {100 * mask_ms / decode_ms:.1f} % of decode time (goal < 10 %)"
    )


if __name__ == "__main__":
    main()
