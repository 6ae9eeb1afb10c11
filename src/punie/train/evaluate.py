"""What training watches: validation loss and generated tool-call accuracy on the valid split.

Accuracy is measured the way ``punie eval`` measures it: every assistant turn of a valid
conversation becomes a case (its preceding messages are the prompt, its ``tool_calls`` the expected
calls, none for a plain answer), the reply is generated greedily and parsed with the same parser,
and calls must match exactly (names, arguments as JSON values). Best-checkpoint selection uses this,
not the loss (val loss can fall while calls are unusable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from punie.models.prompt import PromptBuilder, message_calls
from punie.train.data import Conversation, Example, collate, eval_batches
from punie.train.loss import batch_tensors, shared_prefix_loss


@dataclass
class EvalCase:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    expected: list[dict[str, Any]]
    source: str


def eval_cases(convs: list[Conversation], limit: int) -> list[EvalCase]:
    """Cases from the first ``limit`` valid conversations (-1 = all): one per assistant turn."""
    chosen = convs if limit < 0 else convs[:limit]
    cases = []
    for conv in chosen:
        for i, m in enumerate(conv.messages):
            if m.get("role") == "assistant" and i > 0:
                cases.append(EvalCase(conv.messages[:i], conv.tools, message_calls(m), f"{conv.source} message {i}"))
    return cases


def make_backend(model: Any, tokenizer: Any, builder: PromptBuilder, batch_size: int) -> Any:
    """A fresh in-process backend (fresh prefix cache: the weights change between evals).

    The adapter is merged into the weights for the generate call (restored bit-exactly after it):
    unmerged, every adapted linear adds two small matmuls per decode step, which made a 31-case
    eval cost ~50 s of a 7-minute CPU training run.
    """
    from punie.backends.inprocess import InProcessBackend

    return InProcessBackend(model, tokenizer, builder=builder, batch_size=batch_size, merge_adapter=True)


def tool_call_accuracy(backend: Any, cases: list[EvalCase], *, max_new_tokens: int = 128) -> dict[str, Any]:
    """Generated-call accuracy scored exactly as ``punie eval`` scores a suite case.

    Same scorer (``score_case``: a broken call block is a failure, in a no-call turn a false call)
    and the same per-case token budget (``token_budget``: expected calls + slack, or the no-call
    budget), capped by ``max_new_tokens``; so a checkpoint picked here is picked by the suite's rule.
    """
    from punie.backends.base import GenerationRequest
    from punie.eval.suites.tools import token_budget
    from punie.toolcalls.scoring import score_case

    if not cases:
        return {"tool_call_accuracy": None, "eval_cases": 0}
    suite_cases: list[dict[str, Any]] = [{"id": c.source, "messages": c.messages, "tools": c.tools,
                                          "expected_calls": c.expected} for c in cases]
    reqs = [
        GenerationRequest(messages=c["messages"], tools=c["tools"], max_new_tokens=min(max_new_tokens, token_budget(c)))
        for c in suite_cases
    ]
    gens = backend.generate(reqs)
    correct = call_turns = call_ok = false_calls = no_call_turns = 0
    samples: list[dict[str, Any]] = []
    for case, gen in zip(suite_cases, gens, strict=True):
        rec = score_case(case, gen.text)
        ok = rec["correct"]
        correct += ok
        if case["expected_calls"]:
            call_turns += 1
            call_ok += ok
        else:
            no_call_turns += 1
            false_calls += rec["false_call"]
        if not ok and len(samples) < 3:
            samples.append({"source": case["id"], "expected": case["expected_calls"], "raw": gen.text[:300]})
    return {
        "tool_call_accuracy": correct / len(cases),
        "call_turn_accuracy": call_ok / call_turns if call_turns else None,
        "false_call_rate": false_calls / no_call_turns if no_call_turns else None,
        "eval_cases": len(cases),
        "failures": samples,
    }


@torch.no_grad()
def validation_loss(model: Any, examples: list[Example], batch_size: int, limit: int, device: Any) -> float | None:
    """Token-weighted mean CE over (up to ``limit``) deterministic validation batches."""
    if not examples:
        return None
    total = 0.0
    n = 0
    for idx in eval_batches(examples, batch_size, limit):
        batch = collate(examples, idx)
        total += float(shared_prefix_loss(model, **batch_tensors(batch, device)))
        n += batch.n_tokens
    return total / n if n else None


def is_better(acc: float | None, loss: float | None, best: tuple[float, float] | None) -> bool:
    """Higher tool-call accuracy wins; ties go to the lower validation loss."""
    key = (acc if acc is not None else -1.0, -(loss if loss is not None and math.isfinite(loss) else math.inf))
    return best is None or key > best


def score_key(acc: float | None, loss: float | None) -> tuple[float, float]:
    return (acc if acc is not None else -1.0, -(loss if loss is not None and math.isfinite(loss) else math.inf))
