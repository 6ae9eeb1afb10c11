"""punie-wild: the hand-written held-out suite loads through punie's reader and every case is sound.

Sound means: the expected calls conform to the 7 tool schemas, every expected string argument is
stated verbatim somewhere in the conversation (so a model can recover it exactly), the history is a
well-formed tool conversation, and the suite covers every tool in the promised amounts.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from punie.eval.runner import run_eval
from punie.eval.suites import SUITES, load_suite, read_suite_file
from punie.eval.suites import tools as tools_module
from punie.eval.testing import oracle
from punie.toolcalls import TOOL_NAMES
from punie.toolcalls.specs import default_tools, tool_name, tool_parameters

SCHEMAS = {tool_name(t): tool_parameters(t) for t in default_tools()}
JSON_TYPES = {"string": str, "boolean": bool}


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    return load_suite("punie-wild").cases


def _history_values(args: Any) -> list[str]:
    return [str(v) for v in args.values()] if isinstance(args, dict) else []


def _conversation_text(case: dict[str, Any]) -> str:
    """Every text the model sees: message contents and the arguments of earlier calls."""
    parts = []
    for msg in case["messages"]:
        if isinstance(msg.get("content"), str):
            parts.append(msg["content"])
        for tc in msg.get("tool_calls") or []:
            args = tc["function"]["arguments"]
            parts += _history_values(json.loads(args) if isinstance(args, str) else args)
    return "\n".join(parts)


def _check_call(call: dict[str, Any], where: str) -> None:
    assert call["name"] in TOOL_NAMES, where
    schema = SCHEMAS[call["name"]]
    args = call["arguments"]
    assert set(schema["required"]) <= set(args), f"{where}: missing required arguments"
    assert set(args) <= set(schema["properties"]), f"{where}: unknown arguments {set(args) - set(schema['properties'])}"
    for key, value in args.items():
        assert isinstance(value, JSON_TYPES[schema["properties"][key]["type"]]), f"{where}: {key} has the wrong type"
        if isinstance(value, str):
            assert value.strip(), f"{where}: {key} is empty"


def test_registered_and_read_by_punies_reader(cases) -> None:
    assert SUITES["punie-wild"] == SUITES["punie-tools"] == "punie.eval.suites.tools"
    from_file = read_suite_file(tools_module.WILD_FILE)
    assert [c["id"] for c in from_file] == [c["id"] for c in cases]
    # punie-tools still reads its own file
    assert tools_module.load_cases("punie-tools") == read_suite_file(tools_module.DATA_FILE)
    assert tools_module.load_cases() == tools_module.load_cases("punie-tools")
    assert {c["id"] for c in cases}.isdisjoint(c["id"] for c in tools_module.load_cases("punie-tools"))


def test_every_case_is_valid(cases) -> None:
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)) and all(i.startswith("wild-") for i in ids)
    for case in cases:
        cid = case["id"]
        assert case["category"] in ("tool_call", "no_call"), cid
        assert (case["category"] == "tool_call") == bool(case["expected_calls"]), cid
        assert "tools" not in case, f"{cid}: the default 7 tools apply"
        msgs = case["messages"]
        assert msgs[-1]["role"] == "user" and msgs[-1]["content"].strip(), f"{cid}: must end with a user turn"
        open_ids: set[str] = set()
        for i, msg in enumerate(msgs):
            assert msg["role"] in ("user", "assistant", "tool"), f"{cid}: message {i} role {msg['role']}"
            if msg["role"] == "assistant":
                for tc in msg.get("tool_calls") or []:
                    args = json.loads(tc["function"]["arguments"])
                    _check_call({"name": tc["function"]["name"], "arguments": args}, f"{cid} history {i}")
                    open_ids.add(tc["id"])
            if msg["role"] == "tool":
                assert msg["tool_call_id"] in open_ids, f"{cid}: tool result {i} answers no call"
                open_ids.discard(msg["tool_call_id"])
        assert not open_ids, f"{cid}: a history call has no result"
        text = _conversation_text(case)
        for call in case["expected_calls"]:
            _check_call(call, cid)
            for key, value in call["arguments"].items():
                if isinstance(value, str):
                    assert value in text, f"{cid}: {key}={value!r} is not stated verbatim in the conversation"
                elif key == "background":
                    assert value is True and ("background" in text or " bg" in text), cid


def test_coverage(cases) -> None:
    calls = [call for c in cases for call in c["expected_calls"]]
    per_tool = Counter(call["name"] for call in calls)
    minimum = {"read_file": 30, "write_file": 28, "run_command": 40, "get_terminal_output": 20,
               "wait_for_terminal_exit": 20, "kill_terminal": 20, "release_terminal": 20}
    for name, n in minimum.items():
        assert per_tool[name] >= n, f"{name}: {per_tool[name]} < {n}"
    runs = [call["arguments"] for call in calls if call["name"] == "run_command"]
    assert sum("cwd" in a for a in runs) >= 10 and sum(a.get("background") is True for a in runs) >= 10
    cats = Counter(c["category"] for c in cases)
    assert cats["tool_call"] >= 180 and cats["no_call"] >= 100
    multi = [c for c in cases if any(m["role"] == "tool" or m["role"] == "assistant" for m in c["messages"])]
    assert len(multi) >= 35
    assert sum(not c["expected_calls"] for c in multi) >= 8  # the answer is already in the history
    assert sum(len(c["expected_calls"]) > 1 for c in cases) >= 5  # parallel calls


def test_expected_answers_score_as_correct(cases) -> None:
    report = run_eval(oracle(cases), ["punie-wild"], model_name="oracle", progress=False)
    assert report["overall"]["n"] == len(cases) and report["overall"]["accuracy"] == 1.0


def test_not_leaked_into_training_data(cases) -> None:
    """The suite was written independently of the generator; training prompts must not copy it.

    A handful of terse prompts ("git status") may coincide with generated ones by chance; many would
    mean the generator was tuned to these cases.
    """
    from punie.data.generator import generate_split
    from punie.data.leakage import check_leakage

    leak = check_leakage(generate_split("train", 3000, seed=0), cases)
    assert leak.n_cases == len(cases)
    assert len({item.case_id for item in leak.leaks}) <= 3, leak.summary()


def test_histories_render_with_the_real_prompt_builder(cases) -> None:
    from punie.models import PromptBuilder
    from punie.models.loading import load_tokenizer

    builder = PromptBuilder(load_tokenizer())
    for case in cases:
        if len(case["messages"]) > 1:
            text = builder.render(case["messages"], case.get("tools"))
            assert case["messages"][-1]["content"] in text, case["id"]
