"""The request grammar: broad, held out by family, and every value exactly recoverable."""

from __future__ import annotations

import random
import re

import pytest

from punie.data import _grammar as G
from punie.data._values import pools

VALUES = {"path": "src/app/main.py", "cmd": "pytest -k \"not slow\"", "cwd": "services/api", "tid": "term-42",
          "content": "DEBUG=true"}
TOOL_INTENTS = {
    "read_file": ["read"], "write_file": ["write_inline", "write_block"], "run_command": ["run", "run_cwd", "run_bg"],
    "get_terminal_output": ["get_output"], "wait_for_terminal_exit": ["wait"], "kill_terminal": ["kill"],
    "release_terminal": ["release"],
}


def _slots(intent: str) -> dict[str, str]:
    needed = {m for c in G.intent_cores(intent, "train") for m in re.findall(r"\{(\w+)\}", c)}
    return {k: VALUES[k] for k in needed}


@pytest.mark.parametrize("tool", sorted(TOOL_INTENTS))
def test_at_least_150_distinct_train_phrasings_per_tool(tool: str) -> None:
    g = G.Grammar("train", random.Random(0))
    texts = {g.request(i, **_slots(i)) for i in TOOL_INTENTS[tool] for _ in range(1500)}
    assert len(texts) >= 150, (tool, len(texts))
    cores = sum(len(G.intent_cores(i, "train")) for i in TOOL_INTENTS[tool])
    assert cores >= 20, (tool, cores)


def test_heldout_families_never_appear_in_train() -> None:
    for name in G.INTENTS:
        train, held = set(G.intent_cores(name, "train")), set(G.intent_cores(name, "heldout"))
        assert not train & held, name
        assert train, name
        spec = G.INTENTS[name]
        for key, items in spec.items():
            sides = G.split_parts(items)
            assert not set(sides["train"]) & set(sides["heldout"]), (name, key)
            assert items[: G.ANCHORS] == sides["train"][: G.ANCHORS]  # the plainest phrasings train
    for key in ("wrappers", "preambles", "inline_tails", "sentence_tails"):
        assert not set(G.parts("train")[key]) & set(G.parts("heldout")[key]) - {""}, key
    for key in ("mentions", "m_topics", "m_openers", "m_closers"):  # fixed and composed mentions
        heldout = G.parts("heldout")[key]
        assert heldout and not set(G.parts("train")[key]) & set(heldout) - {""}, key


@pytest.mark.parametrize("side", G.SIDES)
def test_every_value_is_recoverable_verbatim(side: str) -> None:
    rng = random.Random(7)
    g = G.Grammar(side, rng)
    p = pools()
    for _ in range(3000):
        intent = rng.choice([i for i in G.INTENTS if not i.startswith("fu_")])
        values = {"path": rng.choice(p["path"][side]), "cmd": rng.choice(p["cmd"][side]),
                  "cwd": rng.choice(p["cwd"][side]), "tid": rng.choice(p["tid"][side]),
                  "content": rng.choice(p["line"][side])}
        a, b = rng.sample(p["path"][side], 2)
        t1, t2 = rng.sample(p["tid"][side], 2)
        values |= {"a": a, "b": b, "src": a, "dst": b, "t1": t1, "t2": t2}
        text = g.request(intent, **values)
        assert "{" not in text.replace(values["content"], "").replace(values["cmd"], ""), text
        for slot in re.findall(r"\{(\w+)\}", " ".join(G.INTENTS[intent].get("cores", []))):
            if slot in values and slot != "content":
                assert values[slot] in text, (intent, slot, text)
        # a bare command is never followed by more words: it ends the text or meets punctuation
        cmd = values["cmd"]
        for m in re.finditer(re.escape(cmd), text):
            before = text[m.start() - 1] if m.start() else " "
            if before not in "`\"'":
                rest = text[m.end():]
                assert rest == "" or rest[0] in "?!,.:;" and (len(rest) == 1 or rest[1] in " \n"), (text, cmd)


def test_inline_content_is_always_quoted_with_a_character_it_lacks() -> None:
    g = G.Grammar("train", random.Random(3))
    for content in ("it's \"quoted\"", "a `tick`", "plain text"):
        for _ in range(200):
            text = g.request("write_inline", path="a.txt", content=content)
            i = text.index(content)
            q = text[i - 1]
            assert q in "`\"'" and q not in content and text[i + len(content)] == q, text


def test_typos_and_case_never_touch_values() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        text = G._typo("Please open {path} and kill {tid} quickly", rng)
        assert "{path}" in text and "{tid}" in text
    assert G._lower_outside_slots("Open {Path} NOW") == "open {Path} now"


def test_mentions_name_things_without_a_request_and_fill_every_slot() -> None:
    g = G.Grammar("train", random.Random(5))
    values = {"cmd": "npm test", "cmd2": "cargo build", "path": "docs/x.md", "tid": "t9"}
    seen = set()
    for _ in range(400):
        q, a = g.mention(values)
        assert "{" not in q and "{" not in a, (q, a)
        assert "<tool_call>" not in a
        seen.add(q)
    assert len(seen) > 60


@pytest.mark.parametrize("side", G.SIDES)
def test_composed_mentions_are_broad_and_use_only_their_side(side: str) -> None:
    from punie.data import _mentions as M

    g = G.Grammar(side, random.Random(11))
    other = {q for q, _ in G.parts("heldout" if side == "train" else "train")["m_topics"]}
    topics = {q.lower() for q, _ in G.parts(side)["m_topics"]}
    values = {"cmd": "make lint", "cmd2": "go vet ./...", "path": "a/b.py", "tid": "t-7"}
    seen = set()
    for _ in range(300):
        q, a = g.composed_mention()
        text = g.fill(q, values)
        assert "{" not in text and q[:1] == q[:1].upper(), (q, text)  # fill() may lower-case it all
        # the topic is one of this side's, whole, with its slots in place
        assert any(t.split("{")[0][:20] in q.lower() for t in topics), q
        assert not any(o in q for o in other), q
        assert (q, a) and "<tool_call>" not in a
        seen.add(text)
    assert len(seen) > (150 if side == "train" else 40)
    # every slot a topic names is one that conv_mention fills
    slots = {m for q, a in M.TOPICS for m in re.findall(r"\{(\w+)\}", q + a)}
    assert slots <= {"cmd", "cmd2", "path", "tid", "explain"}


@pytest.mark.parametrize("side", G.SIDES)
def test_composed_requests_keep_every_value_and_use_only_their_side(side: str) -> None:
    rng = random.Random(11)
    g = G.Grammar(side, rng)
    p = pools()
    other = "heldout" if side == "train" else "train"
    for _ in range(600):
        path, cmd, cwd = rng.choice(p["path"][side]), rng.choice(p["cmd"][side]), rng.choice(p["cwd"][side])
        items = rng.choice([[("run", {"cmd": cmd}), ("read", {"path": path})],
                            [("run_cwd", {"cmd": cmd, "cwd": cwd}), ("read", {"path": path})],
                            [("read", {"path": path}), ("run", {"cmd": cmd})],
                            [("run_bg", {"cmd": cmd}), ("fu_wait", {})]])
        mode = rng.choice(["seq", "par"])
        text = g.compose(items, mode)
        assert "{" not in text.replace(cmd, ""), text
        for _, vals in items:
            for v in vals.values():
                assert v in text, (v, text)
    # the connectors are held out like every other part
    for mode in ("seq", "par"):
        assert G.parts(side)[mode] and not set(G.parts(side)[mode]) & set(G.parts(other)[mode])


def test_generated_file_bodies_are_broad_and_hard_to_copy() -> None:
    from punie.data._content import generated_bodies

    single, multi = generated_bodies()
    assert len(multi) >= 500 and len(single) >= 100
    bodies = single + multi
    assert len(set(bodies)) == len(bodies)
    # the characters a JSON string must escape, and long blocks, are all well represented
    assert sum('"' in b for b in bodies) > 200
    assert sum("\\" in b for b in bodies) > 30
    assert sum("\t" in b for b in bodies) > 20
    assert sum(b.count("\n") >= 4 for b in multi) > 100
    p = pools()
    for pool in ("line", "multiline"):
        assert not set(p[pool]["train"]) & set(p[pool]["heldout"])
        assert len(p[pool]["heldout"]) >= 40
