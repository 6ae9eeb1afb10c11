"""Training throughput: naive PEFT loop vs punie's shared-prefix step, fp32 vs bf16 autocast, batch sizes.

Same model (SmolLM2-135M, fp32 weights), data, LoRA rank and layers in every row. Prints examples/s of:
the naive PEFT loop and punie's shared-prefix step at fp32 (batch ``--batch``), the shared-prefix step
under bf16 autocast on the same batches and at ``--bf16-batches``; the ratios to the naive loop and to
punie fp32; and how far the first step's gradients are from each other (punie vs naive at fp32: should
match; bf16 vs fp32: rounding). Every row starts with one untimed warm-up step on the same 2 conversations
(whose gradients are compared), then ``--steps`` timed steps.

    python bench/train_throughput.py [--model smollm2-135m] [--batch 8] [--bf16-batches 8 16 32] \\
        [--steps 1] [--threads 2]

bf16 is only fast where the CPU computes it natively (AVX-512 BF16 or AMX; ``--dtype auto`` picks it
there); elsewhere it is emulated, and the line "auto resolves to" says which this machine is.
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


def run(method, model, warm, batches, *, bf16: bool, lr: float) -> tuple[float, dict, float]:  # type: ignore[no-untyped-def]
    """examples/s over ``batches`` after an untimed warm-up step on ``warm``; that step's gradients and loss.

    bf16 as the trainer does it: autocast around the forward, backward and AdamW outside, fp32 weights.
    """
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    first: dict = {}
    first_loss = start = 0.0
    for k, batch in enumerate([warm, *batches]):
        if k == 1:  # the warm-up step pays for the allocator and kernel selection
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = method(model, batch)
        loss.backward()
        if k == 0:
            first, first_loss = grads(model), float(loss.detach())
        opt.step()
        opt.zero_grad(set_to_none=True)
    n_ex = sum(len(b.suffix_ids) for b in batches)
    return n_ex / (time.perf_counter() - start), first, first_loss


def rel_diff(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> tuple[float, float]:
    """(max over parameters, all parameters as one vector) of |got - want| / |want|."""
    per = [float((got[k] - want[k]).norm() / want[k].norm().clamp_min(1e-12)) for k in want]
    num = sum(float((got[k] - want[k]).norm()) ** 2 for k in want) ** 0.5
    den = sum(float(want[k].norm()) ** 2 for k in want) ** 0.5
    return max(per), num / max(den, 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch", type=int, default=8, help="batch of the naive / fp32 / bf16 comparison")
    ap.add_argument("--bf16-batches", type=int, nargs="+", default=[8, 16, 32], help="batch sizes of the bf16 rows")
    ap.add_argument("--steps", type=int, default=1, help="timed steps per row (after one warm-up step)")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from punie.models import PromptBuilder
    from punie.models.loading import load_model, load_tokenizer
    from punie.models.precision import dtype_name, resolve_dtype
    from punie.train.data import Conversation, collate, encode_all

    warm_n = 2  # small: every row pays for its warm-up step
    biggest = max([args.batch, *args.bf16_batches])
    builder = PromptBuilder(load_tokenizer(args.model))
    convs = [Conversation(c["messages"], None, f"bench:{i}")
             for i, c in enumerate(conversations(warm_n + biggest * args.steps))]
    examples, stats = encode_all(convs, builder, max_seq_length=8192)
    warm = collate(examples, list(range(warm_n)))

    def timed(bs: int) -> list:  # type: ignore[type-arg]
        """The same timed batches for every row of this batch size (conversations after the warm-up ones)."""
        return [collate(examples, list(range(warm_n + i * bs, warm_n + (i + 1) * bs))) for i in range(args.steps)]

    rows = [("naive PEFT", naive_step, False, args.batch), ("punie", punie_step, False, args.batch)]
    rows += [("punie", punie_step, True, bs) for bs in args.bf16_batches]
    results: dict[tuple[str, bool, int], tuple[float, dict, float]] = {}
    for name, method, bf16, bs in rows:
        base, _ = load_model(args.model, dtype="float32", device="cpu")
        model = lora(base, args.rank, args.layers)  # same seeded LoRA init in every row
        model.train()
        results[(name, bf16, bs)] = run(method, model, warm, timed(bs), bf16=bf16, lr=1e-4)
        ex = results[(name, bf16, bs)][0]
        print(f"{name} {'bf16' if bf16 else 'fp32'} batch {bs}: {ex:.3f} examples/s", flush=True)
        del model, base

    naive = results[("naive PEFT", False, args.batch)]
    fp32 = results[("punie", False, args.batch)]
    print(f"\nmodel {args.model}, LoRA r{args.rank} on top {args.layers} blocks, {args.steps} timed step(s) per row, "
          f"{args.threads} threads, ~{stats.tokens / stats.n:.0f} tokens/example; "
          f"--dtype auto resolves to {dtype_name(resolve_dtype('auto', 'cpu'))} on this CPU")
    print(f"{'method':<11} {'precision':>9} {'batch':>5} {'examples/s':>11} {'vs naive':>9} {'vs punie fp32':>14}")
    for name, _, bf16, bs in rows:
        ex = results[(name, bf16, bs)][0]
        print(f"{name:<11} {'bf16' if bf16 else 'fp32':>9} {bs:>5} {ex:>11.3f} {ex / naive[0]:>8.2f}x "
              f"{ex / fp32[0]:>13.2f}x")

    print(f"\nfirst-step gradients (the {warm_n}-conversation warm-up batch), relative difference "
          "(max per parameter / all):")
    per, whole = rel_diff(fp32[1], naive[1])
    print(f"  punie fp32 vs naive fp32: {per:.2e} / {whole:.2e}; loss {abs(fp32[2] - naive[2]) / abs(naive[2]):.2e}"
          f" -> {'match' if per < 1e-3 else 'DO NOT MATCH'} (< 1e-3)")
    for name, _, bf16, bs in rows:
        if bf16:
            got = results[(name, bf16, bs)]
            per, whole = rel_diff(got[1], fp32[1])
            loss = abs(got[2] - fp32[2]) / abs(fp32[2])
            print(f"  punie bf16 (batch-{bs} row) vs punie fp32: {per:.2e} / {whole:.2e}; loss {loss:.2e}")
            break  # every bf16 row's warm-up step is the same computation


if __name__ == "__main__":
    main()
