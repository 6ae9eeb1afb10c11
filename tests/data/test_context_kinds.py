"""Conversation kinds whose call depends on earlier turns: the call must follow from what was said."""

from __future__ import annotations

import re

import pytest

from punie.data import calls_of
from punie.data._context import ORDINALS, split_parts
from punie.data.generator import generate_tagged


def _by_kind(kind: str, side: str = "train", n: int = 120) -> list[dict]:
    convs = [c for k, c in generate_tagged(side, n, seed=2, weights={kind: 1.0}) if k == kind]
    assert len(convs) == n, kind
    return convs


def _turns(conv: dict) -> tuple[list[str], list[list[dict]], list[str]]:
    users = [m["content"] for m in conv["messages"] if m["role"] == "user"]
    calls = [calls_of(m) for m in conv["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    results = [m["content"] for m in conv["messages"] if m["role"] == "tool"]
    return users, calls, results


@pytest.mark.parametrize("side", ["train", "heldout"])
def test_bg_pick_calls_the_job_the_user_named(side: str) -> None:
    for conv in _by_kind("bg_pick", side):
        users, calls, results = _turns(conv)
        cmds = [c["arguments"]["command"] for c in calls[0]]
        tids = [re.search(r"terminal_id: (\S+)", r).group(1) for r in results[: len(cmds)]]
        (pick,) = calls[1]
        k = tids.index(pick["arguments"]["terminal_id"])
        ask = users[1].lower()
        named = [i for i, c in enumerate(cmds) if c.lower() in ask or f" {c.split()[0].lower()} " in f" {ask} "]
        pos = [i for i, o in enumerate(ORDINALS) if o in ask] + ([len(cmds) - 1] if " last " in f" {ask} " else [])
        assert all(c.lower() in users[0].lower() for c in cmds)
        if named:
            assert named == [k], (users, cmds, pick)
        elif pos:
            assert pos == [k], (users, pick)
        elif "job number" in ask:
            assert f"job number {k + 1}" in ask


def test_result_ref_reads_a_path_listed_by_the_earlier_command() -> None:
    for conv in _by_kind("result_ref"):
        users, calls, results = _turns(conv)
        assert calls[0][0]["arguments"]["command"] in users[0]
        path = calls[1][0]["arguments"]["path"]
        listing = results[0]
        assert path in listing or path.rsplit("/", 1)[-1] in listing.splitlines()


def test_clarify_takes_the_missing_argument_from_the_answer() -> None:
    for conv in _by_kind("clarify"):
        users, calls, _ = _turns(conv)
        msgs = conv["messages"]
        assert msgs[1]["role"] == "assistant" and not msgs[1].get("tool_calls")  # the assistant asks first
        (call,) = calls[0]
        for value in call["arguments"].values():
            assert value in users[0] or value in users[1], (users, call)
        assert any(v in users[1] for v in call["arguments"].values())


def test_redo_repeats_the_call_with_the_change_asked_for() -> None:
    for conv in _by_kind("redo"):
        users, calls, _ = _turns(conv)
        first, second = calls[0][0], calls[1][0]
        assert first["name"] == second["name"]
        if first["name"] == "read_file":
            assert second["arguments"]["path"] in users[1]
            continue
        assert second["arguments"]["command"] == first["arguments"]["command"]
        extra = {k: v for k, v in second["arguments"].items() if k != "command"}
        if "background" in users[1].lower():
            assert extra == {"background": True}
        elif "cwd" in extra:
            assert extra["cwd"] in users[1]


def test_after_result_answers_without_a_call() -> None:
    for conv in _by_kind("after_result"):
        last = conv["messages"][-1]
        assert last["role"] == "assistant" and not last.get("tool_calls") and last["content"]
        assert conv["messages"][-2]["role"] == "user"


def test_every_phrase_list_has_disjoint_train_and_heldout_families() -> None:
    from punie.data import _context as C

    for name in ("START_MANY", "REFS_BY_CMD", "REFS_BY_POS", "PICK", "RESULT_REFS", "CLARIFY", "REDO", "AFTER"):
        spec = getattr(C, name)
        lists = [spec] if isinstance(spec, list) else [x for v in spec.values() for x in (v if isinstance(v, tuple)
                                                                                        else (v,))]
        for parts in lists:
            train, held = C._split(parts, "train"), C._split(parts, "heldout")
            assert train and held and not set(train) & set(held), (name, parts)
    assert split_parts(["a", "b"], anchors=1)["train"][0] == "a"
