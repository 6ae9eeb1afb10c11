"""Training throughput: naive PEFT loop vs punie's shared-prefix loss, side by side in one run.

Same model (SmolLM2-135M fp32 by default), data, LoRA rank, layers, batch and number of steps.
Prints examples/s for each and the ratio, and checks that the first step's gradients match.

    python bench/train_throughput.py [--model smollm2-135m] [--batch-sizes 4 8] [--steps 3] [--threads 2]

TRL's SFTTrainer is not a column: it is not a punie dependency (DESIGN.md measured ~0.20 ex/s,
half the naive loop, on this machine).
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def conversations(n: int) -> list[dict]:
    files = ["src/app.py", "README.md", "lib/util.py", "tests/test_app.py", "setup.cfg", "docs/guide.md"]
    out = []
    for i in range(n):
        path = files[i % len(files)]
        if i % 2 == 0:
            msgs = [
                {"role": "user", "content": f"What is in {path}? Please check."},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"function": {"name": "read_file", "arguments": json.dumps({"path": path})}}]},
                {"role": "tool", "content": f"# {path}\nimport os\n\ndef main():\n    return os.getcwd()\n"},
                {"role": "assistant", "content": f"{path} defines main(), which returns the working directory."},
            ]
        else:
            msgs = [
                {"role": "user", "content": f"Run the tests in {path}"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"function": {"name": "run_command", "arguments": {"command": f"pytest -q {path}"}}}]},
            ]
        out.append({"messages": msgs})
    return out


def lora(model, rank: int, layers: int):  # type: ignore[no-untyped-def]
    from peft import LoraConfig, get_peft_model

    n = model.config.num_hidden_layers
    cfg = LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.0, task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        layers_to_transform=list(range(max(0, n - layers), n)),
    )
    torch.manual_seed(0)
    pm = get_peft_model(model, cfg)
    for name, p in pm.named_parameters():  # non-zero B so the gradient check covers A and B
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=1e-3)
    return pm


def naive_step(model, batch) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """What a plain PEFT loop does: full padded sequences, logits everywhere, HF's mean loss."""
    from punie.models.prompt import IGNORE_INDEX

    seqs = [batch.prefix_ids + s for s in batch.suffix_ids]
    labs = [[IGNORE_INDEX] * len(batch.prefix_ids) + y for y in batch.suffix_labels]
    n = max(map(len, seqs))
    ids = torch.zeros((len(seqs), n), dtype=torch.long)
    labels = torch.full((len(seqs), n), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, (x, y) in enumerate(zip(seqs, labs, strict=True)):
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def punie_step(model, batch) -> torch.Tensor:  # type: ignore[no-untyped-def]
    from punie.train.loss import batch_tensors, shared_prefix_loss

    return shared_prefix_loss(model, **batch_tensors(batch, "cpu")) / batch.n_tokens


def grads(model) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def run(method, model, batches, lr: float) -> tuple[float, dict, float]:  # type: ignore[no-untyped-def]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    first: dict = {}
    first_loss = 0.0
    start = None
    n_ex = 0
    for k, batch in enumerate(batches):
        if k == 1:  # step 0 is warm-up (allocator, kernels); time the rest
            start = time.perf_counter()
        loss = method(model, batch)
        loss.backward()
        if k == 0:
            first, first_loss = grads(model), float(loss)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if k >= 1:
            n_ex += len(batch.suffix_ids)
    assert start is not None
    return n_ex / (time.perf_counter() - start), first, first_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--steps", type=int, default=3, help="timed steps per method (after one warm-up step)")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from punie.models import PromptBuilder
    from punie.models.loading import load_model
    from punie.train.data import Conversation, collate, encode_all

    rows = []
    for bs in args.batch_sizes:
        n = bs * (args.steps + 1)
        results = {}
        for name, method in (("naive PEFT", naive_step), ("punie", punie_step)):
            base, tok = load_model(args.model, dtype="float32", device="cpu")
            builder = PromptBuilder(tok)
            convs = [Conversation(c["messages"], None, f"bench:{i}") for i, c in enumerate(conversations(n))]
            examples, stats = encode_all(convs, builder, max_seq_length=8192)
            batches = [collate(examples, list(range(i, i + bs))) for i in range(0, n, bs)]
            model = lora(base, args.rank, args.layers)
            model.train()
            results[name] = run(method, model, batches, lr=1e-4)
            print(f"batch {bs}: {name}: {results[name][0]:.3f} examples/s", flush=True)
            del model, base
        (ex_naive, g_naive, l_naive), (ex_punie, g_punie, l_punie) = results["naive PEFT"], results["punie"]
        rel = max(float((g_naive[k] - g_punie[k]).norm() / g_naive[k].norm().clamp_min(1e-12)) for k in g_naive)
        tok_per_ex = stats.tokens / stats.n
        rows.append((bs, ex_naive, ex_punie, ex_punie / ex_naive, abs(l_naive - l_punie) / abs(l_naive), rel, tok_per_ex))

    print(f"\nmodel {args.model}, LoRA r{args.rank} on top {args.layers} blocks, {args.steps} timed steps, "
          f"{args.threads} threads, ~{rows[0][6]:.0f} tokens/example")
    print(f"{'batch':>5} {'naive ex/s':>11} {'punie ex/s':>11} {'ratio':>7} {'loss rel diff':>14} {'max grad rel diff':>18}")
    ok = True
    for bs, a, b, r, dl, dg in (row[:6] for row in rows):
        print(f"{bs:>5} {a:>11.3f} {b:>11.3f} {r:>6.2f}x {dl:>14.2e} {dg:>18.2e}")
        ok &= dg < 1e-3
    print("first-step gradients match (max rel diff < 1e-3):", "yes" if ok else "NO")


if __name__ == "__main__":
    main()
