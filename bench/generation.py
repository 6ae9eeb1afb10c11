"""punie's in-process backend vs plain ``model.generate`` with left-padded batches of 12.

Same 120 tool-requiring prompts, default system prompt (7 tools), greedy, same max_new_tokens.
Prints cases/s for both, the ratio, whether the outputs agree, and peak RSS.

    .venv/bin/python bench/generation.py [--n 120] [--max-new-tokens 40] [--batch-size 40]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from punie.backends.base import GenerationRequest
from punie.backends.inprocess import InProcessBackend
from punie.models import PromptBuilder, load_model

PATHS = ["src/app.py", "README.md", "setup.cfg", "tests/test_api.py", "docs/index.md", "pyproject.toml"]
COMMANDS = ["pytest -q", "ls -la", "git status", "python -m build", "make lint", "npm test"]
TEMPLATES = [
    "Show me {p}",
    "What's in {p}?",
    "Please run `{c}`",
    "Run {c} in the background",
    "Write 'hello' to {p}",
    "Can you open {p} for me?",
    "Execute `{c}` and tell me the result",
    "Create {p} containing print(1)",
]


def prompts(n: int) -> list[str]:
    out = []
    for i in range(n):
        t = TEMPLATES[i % len(TEMPLATES)]
        out.append(t.format(p=PATHS[(i // len(TEMPLATES)) % len(PATHS)], c=COMMANDS[(i // 3) % len(COMMANDS)]))
    return out


def naive(model, tok, builder: PromptBuilder, texts: list[str], max_new: int, batch: int = 12) -> list[str]:  # type: ignore[no-untyped-def]
    tok.padding_side = "left"
    outs = []
    eos = sorted(builder.end_of_turn_ids)
    for i in range(0, len(texts), batch):
        chunk = [builder.render([{"role": "user", "content": t}]) for t in texts[i : i + batch]]
        enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False, eos_token_id=eos,
                                 pad_token_id=tok.pad_token_id)
        for row in gen[:, enc["input_ids"].shape[1] :]:
            outs.append(tok.decode(row, skip_special_tokens=True))
    return outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=40)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 while another job holds a core)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model)
    builder = PromptBuilder(tok)
    texts = prompts(args.n)
    reqs = [GenerationRequest([{"role": "user", "content": t}], max_new_tokens=args.max_new_tokens) for t in texts]
    backend = InProcessBackend(model, tok, builder=builder, batch_size=args.batch_size)

    t0 = time.perf_counter()
    base_out = naive(model, tok, builder, texts, args.max_new_tokens)
    t_naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    punie_out = [g.text for g in backend.generate(reqs)]
    t_punie = time.perf_counter() - t0

    same = sum(a.strip() == b.strip() for a, b in zip(base_out, punie_out, strict=True))
    prefix = builder.encode_prompt(reqs[0].messages).prefix_len
    print(f"prompts: {args.n}, prefix tokens: {prefix}, max_new_tokens: {args.max_new_tokens}")
    print(f"naive model.generate (left-padded batches of 12): {args.n / t_naive:6.2f} cases/s  ({t_naive:.1f} s)")
    print(f"punie InProcessBackend (batch {args.batch_size}, prefix cache): {args.n / t_punie:6.2f} cases/s  "
          f"({t_punie:.1f} s)")
    print(f"speed-up: {t_naive / t_punie:.2f}x   identical outputs: {same}/{args.n}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
