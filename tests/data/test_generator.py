"""The generator: deterministic, learnable (values verbatim in the prompt), disjoint train/held-out."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from punie.data import (
    TrainingDataset,
    calls_of,
    check_leakage,
    generate_dataset,
    generate_split,
    heldout_suite_cases,
    validate_dataset,
    write_dataset,
)
from punie.data import _templates as T
from punie.data._values import pools
from punie.data.ops import has_call
from punie.toolcalls import TOOL_NAMES


def test_deterministic_for_a_seed() -> None:
    a = generate_split("train", 200, seed=3)
    assert a == generate_split("train", 200, seed=3)
    assert a != generate_split("train", 200, seed=4)
    assert heldout_suite_cases(60, seed=1) == heldout_suite_cases(60, seed=1)


def test_mix_no_call_share_all_tools_and_multi_step() -> None:
    convs = generate_split("train", 1500, seed=0)
    assert len({json.dumps(c, sort_keys=True) for c in convs}) == len(convs)
    no_call = sum(not has_call(c) for c in convs) / len(convs)
    assert no_call >= 0.20
    used = Counter(c["name"] for conv in convs for m in conv["messages"] for c in calls_of(m))
    assert set(used) == set(TOOL_NAMES)
    assert min(used.values()) >= 50
    parallel = sum(any(len(m.get("tool_calls") or []) > 1 for m in c["messages"]) for c in convs)
    chains = sum(sum(bool(m.get("tool_calls")) for m in c["messages"]) > 1 for c in convs)
    errors = sum(any(m["role"] == "tool" and m["content"].startswith("Error") for m in c["messages"]) for c in convs)
    assert parallel > 30 and chains > 150 and errors > 30
    for conv in convs:
        assert conv["messages"][0]["role"] == "user" and "tools" not in conv
        assert conv["messages"][-1]["role"] == "assistant" and not conv["messages"][-1].get("tool_calls")


def test_every_generated_example_validates(tmp_path: Path) -> None:
    ds = generate_dataset(seed=0, size=800)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (800, 80, 80)
    write_dataset(ds, tmp_path / "ds")
    report = validate_dataset(tmp_path / "ds")
    assert report.ok, [str(e) for e in report.errors[:5]]
    assert not [w for w in report.warnings if "duplicate" in w.text]


def test_templates_and_values_are_disjoint_with_enough_phrasings() -> None:
    for key in ("read", "run", "get_output", "wait", "kill", "release"):
        assert len(T.TRAIN[key]) >= 15, key
    assert len(T.TRAIN["write_block"]) + len(T.TRAIN["write_inline"]) >= 15
    for key, train in T.TRAIN.items():
        if key == "qa_prefix":
            continue
        assert not set(train) & set(T.HELDOUT[key]), key
    for name, sides in pools().items():
        assert sides["heldout"], name
        assert not set(sides["train"]) & set(sides["heldout"]), name
    for table in (T.GREETINGS, T.THANKS):
        assert not set(table["train"]) & set(table["heldout"])
    assert not {q for q, _ in T.QA["train"]} & {q for q, _ in T.QA["heldout"]}


def test_no_leakage_between_train_and_the_heldout_suite() -> None:
    train = generate_split("train", 3000, seed=0)
    report = check_leakage(train, heldout_suite_cases(300, seed=0))
    assert report.ok and report.leaks == [], [leak.to_dict() for leak in report.leaks[:5]]
    # ... while the same check does catch train-on-train
    assert not check_leakage(train, [{"id": "x", "messages": train[0]["messages"]}]).ok


def _values(args: dict) -> list[str]:
    return [v for v in args.values() if isinstance(v, str)]


def test_suite_cases_format_coverage_and_recoverable_values() -> None:
    cases = heldout_suite_cases(300, seed=0)
    assert len(cases) >= 250
    assert len({c["id"] for c in cases}) == len(cases)
    cats = Counter(c["category"] for c in cases)
    assert cats["tool_call"] >= 150 and cats["no_call"] >= 75
    called = Counter(c["expected_calls"][0]["name"] for c in cases if c["expected_calls"])
    assert set(called) == set(TOOL_NAMES)
    assert sum(len(c["expected_calls"]) > 1 for c in cases) >= 10
    after_result = [c for c in cases if not c["expected_calls"] and c["messages"][-1]["role"] == "tool"]
    assert len(after_result) >= 20
    for c in cases:
        assert set(c) == {"id", "category", "messages", "expected_calls"}
        assert c["messages"][-1]["role"] in ("user", "tool")
        assert all(m["role"] != "system" for m in c["messages"])
        context = "\n".join(m.get("content") or "" for m in c["messages"])
        for call in c["expected_calls"]:
            for v in _values(call["arguments"]):
                assert v in context, (c["id"], v)  # every argument is copyable from the conversation
        for m in c["messages"]:
            for tc in m.get("tool_calls") or []:
                assert isinstance(tc["function"]["arguments"], str)


def test_same_request_kind_same_call() -> None:
    # one phrasing filled with one value always produces one call (no ambiguity to learn)
    seen: dict[str, str] = {}
    for conv in generate_split("train", 1500, seed=1):
        m = conv["messages"]
        if len(m) > 1 and m[1].get("tool_calls"):
            key = m[0]["content"]
            val = json.dumps(calls_of(m[1]), sort_keys=True)
            assert seen.setdefault(key, val) == val


def test_valid_and_test_share_nothing_with_train() -> None:
    ds: TrainingDataset = generate_dataset(seed=0, size=1000)
    train_prompts = {m["content"] for c in ds.train for m in c["messages"] if m["role"] == "user"}
    for conv in ds.valid + ds.test:
        first = conv["messages"][0]["content"]
        assert first not in train_prompts


def test_call_only_share_cuts_tool_conversations_after_their_last_call(tmp_path: Path) -> None:
    from punie.data import validate_dataset, write_dataset
    from punie.data.generator import call_only

    whole = generate_dataset(seed=3, size=400, call_only_share=0.0)
    cut = generate_dataset(seed=3, size=400, call_only_share=0.5)
    ends_at_call = [c for c in cut.train
                    if c["messages"][-1]["role"] == "assistant" and c["messages"][-1].get("tool_calls")]
    tool_convs = [c for c in cut.train if has_call(c)]
    assert 0.35 < len(ends_at_call) / len(tool_convs) < 0.65
    # no-call conversations are never cut, valid/test keep whole conversations
    assert sum(not has_call(c) for c in cut.train) > 50
    assert cut.valid == whole.valid and cut.test == whole.test
    # shorter on average, and still valid and duplicate-free
    # (tool conversations are what gets cut: the no-call share doesn't dilute the comparison)
    assert sum(len(c["messages"]) for c in tool_convs) < 0.85 * sum(
        len(c["messages"]) for c in whole.train if has_call(c))
    write_dataset(cut, tmp_path / "d")
    report = validate_dataset(tmp_path / "d")
    assert not report.errors and not report.warnings
    # call_only keeps every call turn (multi-step chains, follow-ups) and drops what follows the last
    for conv in [c for c in whole.train if len(c["messages"]) > 4 and has_call(c)][:50]:
        short = call_only(conv)["messages"]
        assert short == conv["messages"][: len(short)] and short[-1].get("tool_calls")
        n_calls = sum(bool(m.get("tool_calls")) for m in conv["messages"])
        assert sum(bool(m.get("tool_calls")) for m in short) == n_calls
        assert not any(m.get("tool_calls") for m in conv["messages"][len(short):])
    with pytest.raises(ValueError):
        generate_dataset(size=10, call_only_share=1.5)


@pytest.mark.parametrize("side", ["train", "heldout"])
def test_chains_call_in_the_requested_order_with_every_value_from_the_request(side: str) -> None:
    import random

    from punie.data.generator import _Gen
    from punie.data.ops import calls_of

    gen = _Gen(side, random.Random(4))
    seen_orders = set()
    for _ in range(300):
        conv = gen.conversation("chain")
        msgs = conv["messages"]
        request = msgs[0]["content"]
        calls = [c for m in msgs if m["role"] == "assistant" for c in calls_of(m)]
        # one call per assistant turn (sequential), and each value it needs is in the request
        assert sum(1 for m in msgs if m["role"] == "assistant" and calls_of(m)) == len(calls) == 2
        for call in calls:
            for key in ("path", "command", "cwd"):
                if key in call["arguments"]:
                    assert call["arguments"][key] in request, (key, request)
        seen_orders.add(tuple(c["name"] for c in calls))
    assert {("run_command", "read_file"), ("read_file", "run_command"), ("write_file", "run_command")} <= seen_orders


def test_mute_history_weights_only_history_answers_after_a_tool_result(tmp_path: Path) -> None:
    from punie.data import validate_dataset, write_dataset

    plain = generate_dataset(seed=4, size=300, mute_history=False)
    muted = generate_dataset(seed=4, size=300, mute_history=True)
    n_muted = 0
    for a, b in zip(plain.train, muted.train, strict=True):
        msgs = b["messages"]
        last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
        for i, (ma, mb) in enumerate(zip(a["messages"], msgs, strict=True)):
            assert {k: v for k, v in mb.items() if k != "weight"} == ma  # the same conversations
            if mb.get("weight") == 0:
                n_muted += 1
                # an answer, right after a tool result, with a later user turn: history, not the end
                assert mb["role"] == "assistant" and not mb.get("tool_calls") and msgs[i - 1]["role"] == "tool"
                assert i < last_user
        assert msgs[-1].get("weight", 1) == 1 and any(m["role"] == "assistant" and m.get("weight", 1) == 1
                                                      for m in msgs)
    assert n_muted > 30
    assert muted.valid == plain.valid and muted.test == plain.test  # held-out splits keep every turn
    write_dataset(muted, tmp_path / "d")
    assert not validate_dataset(tmp_path / "d").errors


def test_mute_share_mutes_a_subset_of_the_same_answers() -> None:
    """--mute-share: the same conversations, and the muted answers a subset of those muting all picks."""
    def muted_at(ds) -> set[tuple[int, int]]:  # type: ignore[no-untyped-def]
        return {(c, i) for c, conv in enumerate(ds.train) for i, m in enumerate(conv["messages"])
                if m.get("weight") == 0}

    every = generate_dataset(seed=4, size=300, mute_history=True, mute_share=1.0)
    half = generate_dataset(seed=4, size=300, mute_history=True, mute_share=0.5)
    none = generate_dataset(seed=4, size=300, mute_history=True, mute_share=0.0)
    strip = [[{k: v for k, v in m.items() if k != "weight"} for m in c["messages"]] for c in half.train]
    assert strip == [c["messages"] for c in generate_dataset(seed=4, size=300, mute_history=False).train]
    a, h = muted_at(every), muted_at(half)
    assert h < a and 0.3 < len(h) / len(a) < 0.7
    assert not muted_at(none)
    with pytest.raises(ValueError, match="mute_share"):
        generate_dataset(seed=4, size=50, mute_share=1.5)
