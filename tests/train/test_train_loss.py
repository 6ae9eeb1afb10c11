from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from train_helpers import conversation

from punie.models.prompt import IGNORE_INDEX
from punie.train.data import Conversation, collate, encode_all, plan_epoch
from punie.train.loss import batch_tensors, naive_loss, shared_prefix_loss


def _lora(model, seed: int = 0):  # type: ignore[no-untyped-def]
    import copy

    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"]
    pm = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, target_modules=modules))
    for name, p in pm.named_parameters():
        if "lora_B" in name:  # non-zero B: gradients reach A as well
            torch.nn.init.normal_(p, std=0.05)
    return pm


@pytest.fixture(scope="module")
def examples(builder):  # type: ignore[no-untyped-def]
    convs = [Conversation(conversation(i)["messages"], None, f"t:{i}") for i in range(6)]
    ex, stats = encode_all(convs, builder, max_seq_length=4096)
    assert stats.prefixes == 1 and 0 < stats.share < 0.5
    return ex


def test_shared_prefix_matches_naive_loss_and_gradients(tiny, examples) -> None:  # type: ignore[no-untyped-def]
    model, _ = tiny
    pm = _lora(model)
    pm.train()
    batch = collate(examples, [1, 2, 4])  # different suffix lengths → padding exercised
    pm.zero_grad()
    ref = naive_loss(pm, batch)
    ref.backward()
    g_ref = {n: p.grad.clone() for n, p in pm.named_parameters() if p.requires_grad}
    pm.zero_grad()
    got = shared_prefix_loss(pm, **batch_tensors(batch, "cpu"))
    got.backward()
    g_got = {n: p.grad.clone() for n, p in pm.named_parameters() if p.requires_grad}
    assert abs(float(got) - float(ref)) <= 1e-4 * abs(float(ref))
    assert g_ref.keys() == g_got.keys() and g_ref
    for n in g_ref:
        assert float((g_ref[n] - g_got[n]).norm()) <= 1e-4 * float(g_ref[n].norm()) + 1e-9, n


def test_first_suffix_token_label_uses_prefix_hidden_state(tiny, examples) -> None:  # type: ignore[no-untyped-def]
    # a label on the very first suffix token must be predicted from the prefix's last position
    model, _ = tiny
    pm = _lora(model)
    batch = collate(examples, [0, 1])
    batch.suffix_labels = [[s[0]] + [IGNORE_INDEX] * (len(s) - 1) for s in batch.suffix_ids]
    with torch.no_grad():
        a = naive_loss(pm, batch)
        b = shared_prefix_loss(pm, **batch_tensors(batch, "cpu"))
    assert abs(float(a) - float(b)) <= 1e-4 * abs(float(a))


def test_masks_cover_assistant_turns_and_end_of_turn_only(builder, tokenizer) -> None:  # type: ignore[no-untyped-def]
    conv = conversation(0)  # tool call turn, tool result, final answer
    ex, _ = encode_all([Conversation(conv["messages"], None, "t")], builder, max_seq_length=4096)
    e = ex[0]
    trained = [t for t, y in zip(e.input_ids, e.labels, strict=True) if y != IGNORE_INDEX]
    text = tokenizer.decode(trained)
    assert text.count("<|im_end|>") == 2  # both assistant turns end with a trained end-of-turn
    assert '"read_file"' in text and "holds a short note" in text
    assert "Show me" not in text and "contents of" not in text and "system" not in text
    assert all(y == IGNORE_INDEX for y in e.labels[: e.prefix_len])


def test_untrainable_and_long_examples(builder) -> None:  # type: ignore[no-untyped-def]
    from punie.errors import DatasetError

    bad = Conversation([{"role": "user", "content": "hi"}], None, "f.jsonl:3")
    with pytest.raises(DatasetError) as exc:
        encode_all([bad], builder, max_seq_length=4096)
    assert exc.value.location == "f.jsonl:3"
    good = Conversation(conversation(0)["messages"], None, "f.jsonl:1")
    with pytest.raises(DatasetError, match="max-seq-length"):
        encode_all([good], builder, max_seq_length=64)
    ex, stats = encode_all([bad, good], builder, max_seq_length=64, drop=True)
    assert ex == [] and stats.dropped_long == 1 and stats.dropped_untrainable == 1


def test_batches_share_prefix(builder) -> None:  # type: ignore[no-untyped-def]
    params = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
    tools = [{"type": "function", "function": {"name": "read_file", "description": "Read", "parameters": params}}]
    convs = [Conversation(conversation(i)["messages"], tools if i % 2 else None, str(i)) for i in range(8)]
    ex, stats = encode_all(convs, builder, max_seq_length=4096)
    assert stats.prefixes == 2
    for b in plan_epoch(ex, 3, seed=1, epoch=0):
        assert len({ex[i].prefix_key for i in b}) == 1
        collate(ex, b)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), bs=st.integers(1, 9), seed=st.integers(0, 5), keys=st.integers(1, 3),
       world=st.integers(1, 3))
def test_plan_epoch_is_a_deterministic_partition(n: int, bs: int, seed: int, keys: int, world: int) -> None:
    from punie.train.data import Example

    ex = [Example([1] * (5 + i % 7), [1] * (5 + i % 7), 2, f"k{i % keys}", 1, "") for i in range(n)]
    plan = plan_epoch(ex, bs, seed, 0, min_size=world)
    assert plan == plan_epoch(ex, bs, seed, 0, min_size=world)
    assert sorted(i for b in plan for i in b) == list(range(n))
    assert all(len({ex[i].prefix_key for i in b}) == 1 for b in plan)


def test_batch_tensors_padding(examples) -> None:  # type: ignore[no-untyped-def]
    batch = collate(examples, [0, 1, 2])
    t = batch_tensors(batch, "cpu")
    lengths = [len(s) for s in batch.suffix_ids]
    assert t["suffix_ids"].shape[1] == max(lengths)  # no padding beyond the batch's longest suffix
    assert t["suffix_mask"].sum(1).tolist() == lengths
    assert int((t["suffix_labels"] != IGNORE_INDEX).sum()) == batch.n_tokens
    json.dumps(batch.prefix_ids)


def test_decision_tokens_are_the_choices_of_each_assistant_turn(  # type: ignore[no-untyped-def]
    builder, tokenizer
) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}
    run = {"id": "c2", "type": "function", "function": {"name": "run_command", "arguments": '{"command": "ls"}'}}
    msgs = [{"role": "user", "content": "read a.py and list files"},
            {"role": "assistant", "content": "", "tool_calls": [call, run]},
            {"role": "tool", "tool_call_id": "c1", "content": "x = 1"},
            {"role": "tool", "tool_call_id": "c2", "content": "a.py"},
            {"role": "assistant", "content": "Done."}]
    enc = builder.encode(msgs, None)
    # first token of the call turn; per call: the name's first token, the token after each argument
    # value (close the arguments here?) and the one after the block; first token of the answer
    got = [tokenizer.decode([enc.input_ids[d]]).strip() for d in enc.decisions]
    assert got[0] == "<" and got[-1] == "Done"
    assert [g for g in got if g.isalpha()][:2] == ["read", "run"]
    assert got.count("}}") == 2  # `"a.py"}}` and `"ls"}}`: the arguments close after one value
    assert "<|im_end|>" in got and len(got) == 8
    assert all(enc.labels[d] != IGNORE_INDEX for d in enc.decisions)


def test_decision_weights_match_naive_loss_and_scale_the_token_count(  # type: ignore[no-untyped-def]
    tiny, builder
) -> None:
    model, _ = tiny
    convs = [Conversation(conversation(i)["messages"], None, f"t:{i}") for i in range(4)]
    plain, _ = encode_all(convs, builder, max_seq_length=4096)
    weighted, _ = encode_all(convs, builder, max_seq_length=4096, decision_weight=4.0)
    a, b = collate(plain, [0, 1, 3]), collate(weighted, [0, 1, 3])
    n_dec = sum(1 for w in b.suffix_weights for x in w if x == 4.0)
    assert a.suffix_weights is None and n_dec >= 6
    assert b.n_tokens == a.n_tokens + 3 * n_dec
    pm = _lora(model)
    with torch.no_grad():
        ref = naive_loss(pm, b)
        got = shared_prefix_loss(pm, **batch_tensors(b, "cpu"))
        unweighted = shared_prefix_loss(pm, **batch_tensors(a, "cpu"))
    assert abs(float(got) - float(ref)) <= 1e-4 * abs(float(ref))
    assert abs(float(got) - float(unweighted)) > 1e-3  # the weights change the loss


def test_argument_ends_are_decisions_in_canonical_calls_only() -> None:
    from punie.models.prompt import decision_chars
    from punie.toolcalls import render_calls

    text = render_calls([{"name": "write_file", "arguments": {"path": "a, b.py", "content": 'x = "}", 1\n'}}])
    ends = [c for c in decision_chars(text) if text[c] in ",}"]
    # after the path (another argument follows) and after the content (the arguments close); the
    # comma and brace inside the string values are not decisions
    assert [text[c] for c in ends] == [",", "}"]
    assert text[: ends[0]].endswith('"a, b.py"') and text[: ends[1]].endswith('1\\n"')
    # a body that is not canonical JSON keeps the other decisions and gets no argument ones
    broken = '<tool_call>\n{"name": "x", "arguments": {"path" "a"}}\n</tool_call>'
    assert [broken[c] for c in decision_chars(broken)] == ["<", "x"]


def test_weight_zero_turns_are_context_not_labels(builder) -> None:  # type: ignore[no-untyped-def]
    call = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}
    msgs = [{"role": "user", "content": "read a.py"}, {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "x = 1"},
            {"role": "assistant", "content": "It sets x."}, {"role": "user", "content": "thanks"},
            {"role": "assistant", "content": "You're welcome."}]
    full = builder.encode(msgs, None)
    muted = builder.encode([{**m, "weight": 0} if m.get("content") == "It sets x." else m for m in msgs], None)
    # the same tokens (the muted answer stays in the context), fewer labels: exactly that answer's
    assert muted.input_ids == full.input_ids
    trained = [i for i, y in enumerate(full.labels) if y != IGNORE_INDEX]
    kept = [i for i, y in enumerate(muted.labels) if y != IGNORE_INDEX]
    dropped = builder.tokenizer.decode([full.input_ids[i] for i in sorted(set(trained) - set(kept))])
    assert set(kept) < set(trained) and dropped.strip().startswith("It sets x.")
    assert all(muted.labels[i] == full.labels[i] for i in kept)
