"""bfcl:<category>: BFCL's prompt, BFCL's decoder, and BFCL's AST rules checked one by one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from punie.backends.base import Generation
from punie.errors import SuiteError
from punie.eval.suites import bfcl
from punie.models.registry import package_dir


class FakeBackend:
    name = "fake"

    def __init__(self, replies) -> None:  # type: ignore[no-untyped-def]
        self.replies = replies
        self.requests: list[Any] = []

    def generate(self, requests, *, progress=None):  # type: ignore[no-untyped-def]
        self.requests.extend(requests)
        if progress:
            progress(len(requests))
        return [Generation(text=self.replies(r) if callable(self.replies) else self.replies) for r in requests]

    def stream(self, request):  # type: ignore[no-untyped-def]
        yield ""


def fn(name: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"name": name, "description": "d", "parameters": {"type": "dict", "properties": props, "required": required}}


S, INT, F, B = {"type": "string"}, {"type": "integer"}, {"type": "float"}, {"type": "boolean"}
AREA = fn("geometry.area", {"base": INT, "height": INT, "unit": S}, ["base", "height"])
AREA_ANS = {"geometry.area": {"base": [10], "height": [5], "unit": ["units", ""]}}
TEMP = fn("weather.get", {"city": S, "scale": F}, ["city"])
TEMP_ANS = {"weather.get": {"city": ["New York, NY", "NYC"], "scale": [1.0, ""]}}
LIST = fn("stats.mean", {"values": {"type": "array", "items": {"type": "float"}},
                         "tags": {"type": "array", "items": S}}, ["values"])
LIST_ANS = {"stats.mean": {"values": [[1.5, 2.5]], "tags": [["Fast Mode"], ""]}}
TUP = fn("grid.cell", {"pos": {"type": "tuple", "items": INT}, "ids": {"type": "array", "items": INT}}, ["pos"])
TUP_ANS = {"grid.cell": {"pos": [[1, 2]], "ids": [[3, 4], ""]}}
DICT = fn("db.query", {"where": {"type": "dict", "properties": {"age": INT, "city": S}}}, ["where"])
DICT_ANS = {"db.query": {"where": [{"age": [30], "city": ["Paris", ""]}]}}
FLAG = fn("light.set", {"on": B, "level": INT}, ["on"])
FLAG_ANS = {"light.set": {"on": [True], "level": [3]}}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


# (function doc, possible answer, model call, verdict, rule)
CHECKER_TABLE = [
    (AREA, AREA_ANS, call("geometry.area", base=10, height=5), True, "omittable param ('' in options) may be left out"),
    (AREA, AREA_ANS, call("geometry.area", base=10, height=5, unit="units"), True,
     "optional param given a listed value"),
    (AREA, AREA_ANS, call("geometry_area", base=10, height=5), False, "exact function name (no . → _ leniency)"),
    (AREA, AREA_ANS, call("geometry.area", base=10), False, "required param missing"),
    (AREA, AREA_ANS, call("geometry.area", base=10, height=5, color="red"), False, "unexpected param not in the doc"),
    (AREA, AREA_ANS, call("geometry.area", base="10", height=5), False, "strict types: string for integer"),
    (AREA, AREA_ANS, call("geometry.area", base=10.0, height=5), False, "strict types: float for integer"),
    (AREA, AREA_ANS, call("geometry.area", base=11, height=5), False, "value not among the possible answers"),
    (FLAG, FLAG_ANS, call("light.set", on=1, level=3), False, "strict types: int is not a boolean"),
    (FLAG, FLAG_ANS, call("light.set", on=True, level=True), False, "strict types: bool is not an integer"),
    (FLAG, FLAG_ANS, call("light.set", on=True), False, "param without '' in its options cannot be omitted"),
    (TEMP, TEMP_ANS, call("weather.get", city="new york ny", scale=1), True,
     "int → float coercion; strings normalised"),
    (TEMP, TEMP_ANS, call("weather.get", city="New-York,  NY."), True, "normalisation drops spaces and ,./-_*^"),
    (TEMP, TEMP_ANS, call("weather.get", city="nyc"), True, "normalisation is case-insensitive"),
    (TEMP, TEMP_ANS, call("weather.get", city="Boston"), False, "different string"),
    (TEMP, TEMP_ANS, call("weather.get", city="NYC", scale="1.0"), False, "strict types: string for float"),
    (LIST, LIST_ANS, call("stats.mean", values=[1.5, 2.5]), True, "list equal"),
    (LIST, LIST_ANS, call("stats.mean", values=[2.5, 1.5]), False, "list order matters"),
    (LIST, LIST_ANS, call("stats.mean", values=[1.5, 2.5], tags=["fast mode"]), True,
     "strings inside lists normalised"),
    (LIST, LIST_ANS, call("stats.mean", values=[1, 2]), False, "nested item types are strict (int items for float)"),
    (TUP, TUP_ANS, call("grid.cell", pos=(1, 2)), True, "tuple → list coercion for tuple-typed params"),
    (TUP, TUP_ANS, call("grid.cell", pos=[1, 2], ids=(3, 4)), False, "no tuple coercion for array-typed params"),
    (DICT, DICT_ANS, call("db.query", where={"age": 30, "city": "paris"}), True, "dict values checked and normalised"),
    (DICT, DICT_ANS, call("db.query", where={"age": 30}), True, "dict key with '' may be omitted"),
    (DICT, DICT_ANS, call("db.query", where={"city": "Paris"}), False, "dict key without '' is required"),
    (DICT, DICT_ANS, call("db.query", where={"age": 30, "zip": "1"}), False, "unexpected dict key"),
]


@pytest.mark.parametrize(("doc", "answer", "model_call", "verdict", "rule"), CHECKER_TABLE,
                         ids=[r[4] for r in CHECKER_TABLE])
def test_ast_checker_rules(doc: dict, answer: dict, model_call: dict, verdict: bool, rule: str) -> None:
    assert (bfcl.check_call(doc, model_call, answer) is None) is verdict, rule


def test_parallel_is_order_insensitive_and_counts_calls() -> None:
    docs = [AREA]
    answers = [{"geometry.area": {"base": [10], "height": [5], "unit": [""]}},
               {"geometry.area": {"base": [3], "height": [4], "unit": [""]}}]
    a, b = call("geometry.area", base=10, height=5), call("geometry.area", base=3, height=4)
    assert bfcl.ast_check("parallel", docs, [b, a], answers) is None
    assert bfcl.ast_check("parallel", docs, [a, a], answers) is not None
    assert "wrong number" in (bfcl.ast_check("parallel", docs, [a], answers) or "")
    # simple/multiple categories need exactly one call
    assert bfcl.ast_check("simple_python", [AREA], [a, b], [answers[0]]) is not None


def test_multiple_picks_the_expected_function_among_several() -> None:
    docs = [AREA, TEMP]
    assert bfcl.ast_check("multiple", docs, [call("weather.get", city="NYC")], [TEMP_ANS]) is None
    assert bfcl.ast_check("multiple", docs, [call("geometry.area", base=10, height=5)], [TEMP_ANS]) is not None


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        ("[geometry.area(base=10, height=5)]", [call("geometry.area", base=10, height=5)]),
        ("geometry.area(base=10, height=5)", [call("geometry.area", base=10, height=5)]),
        ("```\n[f(a='x'), g(b=[1, 2], c={'k': -1})]\n```", [call("f", a="x"), call("g", b=[1, 2], c={"k": -1})]),
        ("[f(a=2*3, b=(1, 2))]", [call("f", a=6, b=(1, 2))]),
        ("[]", []),
        ("", []),  # BFCL wraps the reply in [] first: nothing decodes to no calls
        ("[f(a=1)", [call("f", a=1)]),  # ... and closes an unclosed list
    ],
)
def test_bfcl_decoder(text: str, calls: list[dict]) -> None:
    assert bfcl.decode_pythonic(text) == calls


@pytest.mark.parametrize("text", ["I cannot do that.", "[f(1, 2) + 1]", "[f(a=__import__('os').system('true') + 1)]",
                                  "[1, 2]", "[f(**kw)]"])
def test_decoder_rejects_non_calls_without_evaluating_them(text: str) -> None:
    with pytest.raises(bfcl.DecodeError):
        bfcl.decode_pythonic(text)


def test_system_prompt_is_bfcls_and_prepends_to_a_case_system_turn() -> None:
    prompt = bfcl.system_prompt([AREA])
    assert prompt.startswith("You are an expert in composing functions.You are given a question")
    assert "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]" in prompt
    assert "Note that the provided function is in Python 3 syntax." in prompt
    assert json.loads(prompt.split("that you can invoke.\n", 1)[1])[0]["name"] == "geometry.area"
    assert AREA["description"] == "d"  # the hint is added to a copy
    case = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            "functions": [AREA]}
    msgs = bfcl.build_messages(case)
    assert msgs[0]["content"].endswith("\n\nBe brief.") and len(msgs) == 2
    assert case["messages"][0]["content"] == "Be brief."


def _fake_data(root: Path) -> None:
    (root / "possible_answer").mkdir(parents=True)
    q = [{"id": "simple_python_0", "question": [[{"role": "user", "content": "Area of base 10 height 5?"}]],
          "function": [AREA]},
         {"id": "simple_python_1", "question": [[{"role": "user", "content": "Area of base 3 height 4?"}]],
          "function": [AREA]}]
    a = [{"id": "simple_python_0", "ground_truth": [AREA_ANS]},
         {"id": "simple_python_1", "ground_truth": [{"geometry.area": {"base": [3], "height": [4], "unit": [""]}}]}]
    (root / "BFCL_v4_simple_python.json").write_text("\n".join(json.dumps(r) for r in q) + "\n")
    (root / "possible_answer" / "BFCL_v4_simple_python.json").write_text("\n".join(json.dumps(r) for r in a) + "\n")
    irr = [{"id": "irrelevance_0", "question": [[{"role": "user", "content": "Tell me a joke"}]], "function": [AREA]}]
    (root / "BFCL_v4_irrelevance.json").write_text(json.dumps(irr[0]) + "\n")


def test_suite_end_to_end_on_small_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_data(tmp_path)
    monkeypatch.setenv(bfcl.DATA_ENV, str(tmp_path))
    cases = bfcl.load_cases("bfcl:simple_python")
    assert [c["category"] for c in cases] == ["bfcl:simple_python"] * 2
    replies = {"Area of base 10 height 5?": "[geometry.area(base=10, height=5)]",
               "Area of base 3 height 4?": "[geometry.area(base=4, height=3)]"}
    backend = FakeBackend(lambda r: replies[r.messages[-1]["content"]])
    done: list[int] = []
    records = bfcl.evaluate(cases, backend, progress=done.append)
    assert [r["correct"] for r in records] == [True, False]
    assert records[0]["format"] == "pythonic" and records[0]["bfcl_strict"]
    assert "invalid value" in records[1]["detail"] and sum(done) == 2
    assert backend.requests[0].tools == [] and backend.requests[0].messages[0]["role"] == "system"
    assert records[0]["expected_calls"] == [call("geometry.area", base=10, height=5, unit="units")]

    irr = bfcl.load_cases("bfcl:irrelevance")
    assert [r["correct"] for r in bfcl.evaluate(irr, FakeBackend("No function fits; here is a joke."))] == [True]
    assert [r["correct"] for r in bfcl.evaluate(irr, FakeBackend("[geometry.area(base=1, height=1)]"))] == [False]
    # lenient fallback: a canonical <tool_call> is still a call (so irrelevance fails, simple passes)
    tagged = '<tool_call>\n{"name": "geometry.area", "arguments": {"base": 10, "height": 5}}\n</tool_call>'
    [rec] = bfcl.evaluate(irr, FakeBackend(tagged))
    assert not rec["correct"] and not rec["bfcl_strict"]
    [rec] = bfcl.evaluate(cases[:1], FakeBackend(tagged))
    assert rec["correct"] and rec["format"] != "pythonic"


@pytest.mark.parametrize("text", ["", "\x00\xff", "[" * 5000, "[f(a=" + "1+" * 3000 + "1)]", "word " * 4000])
def test_garbage_is_a_failure_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    _fake_data(tmp_path)
    monkeypatch.setenv(bfcl.DATA_ENV, str(tmp_path))
    records = bfcl.evaluate(bfcl.load_cases("bfcl:simple"), FakeBackend(text))
    assert [r["correct"] for r in records] == [False, False]


def test_missing_data_and_unknown_category_are_suite_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bfcl.DATA_ENV, raising=False)
    monkeypatch.setattr("punie.models.registry.package_dir", lambda name: None)
    with pytest.raises(SuiteError, match="pip install --no-deps bfcl-eval"):
        bfcl.load_cases("bfcl:simple_python")
    monkeypatch.setenv(bfcl.DATA_ENV, str(tmp_path))
    with pytest.raises(SuiteError, match="pip install --no-deps bfcl-eval"):
        bfcl.load_cases("bfcl:multiple")
    with pytest.raises(SuiteError, match="unknown BFCL category"):
        bfcl.load_cases("bfcl:nope")


REAL = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance", "live_simple", "live_multiple"]


@pytest.mark.skipif(package_dir("bfcl_eval") is None,
                    reason="bfcl-eval data not installed (pip install --no-deps bfcl-eval)")
@pytest.mark.parametrize("category", REAL)
def test_real_bfcl_ground_truth_passes_our_checker(category: str) -> None:
    """Replying with BFCL's own first possible answer must pass (a few BFCL data quirks aside)."""
    cases = bfcl.load_cases(f"bfcl:{category}")
    assert len(cases) >= 100

    def pythonic(case: dict[str, Any]) -> str:
        calls = bfcl.expected_calls(case["possible_answer"])
        if not calls:
            return "None of these functions can answer that."
        def one(c: dict) -> str:
            return f"{c['name']}({', '.join(f'{k}={v!r}' for k, v in c['arguments'].items())})"

        return "[" + ", ".join(one(c) for c in calls) + "]"

    replies = iter([pythonic(c) for c in cases])
    records = bfcl.evaluate(cases, FakeBackend(lambda r: next(replies)))
    assert sum(r["correct"] for r in records) / len(records) >= 0.97
    wrong = bfcl.evaluate(cases[:50], FakeBackend("[no_such_function(x=1)]"))
    assert sum(r["correct"] for r in wrong) == 0  # irrelevance: any decoded call is a failure too


@pytest.mark.slow  # verified plumbing; the tiny model costs seconds on a loaded 2-core machine
def test_runs_on_the_in_process_backend_with_a_tiny_model(  # type: ignore[no-untyped-def]
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny) -> None:
    from punie.backends.inprocess import InProcessBackend

    _fake_data(tmp_path)
    monkeypatch.setenv(bfcl.DATA_ENV, str(tmp_path))
    model, tokenizer = tiny
    records = bfcl.evaluate(bfcl.load_cases("bfcl:simple_python"), InProcessBackend(model, tokenizer), max_new_tokens=6)
    assert [r["correct"] for r in records] == [False, False]
