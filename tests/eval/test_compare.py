"""compare_reports + verdict: paired McNemar on shared ids, gates and red flags."""

from __future__ import annotations

import pytest

from punie.errors import ConfigError
from punie.eval.compare import compare_reports, paired_test, verdict
from punie.eval.runner import summarize


def _tool_rec(i, correct, *, expects_call=True, strict=True, lenient=True, false_call=False):
    return {"id": f"c{i}", "suite": "s", "category": "tool_call" if expects_call else "no_call",
            "correct": correct, "calls": [], "expected_calls": [], "raw": "", "format": "hermes" if strict else "json",
            "strict_ok": strict, "lenient_ok": lenient, "expects_call": expects_call, "false_call": false_call,
            "missed_call": False, "name_correct": correct, "args_exact": correct, "arg_precision": 1.0,
            "arg_recall": 1.0, "arg_f1": 1.0, "tools": []}


def report(correct_calls, n_calls=100, *, false_calls=0, n_nocalls=20, lenient_only=0, model="m", adapter=None):
    cases = [_tool_rec(i, i < correct_calls, strict=i >= lenient_only) for i in range(n_calls)]
    cases += [_tool_rec(1000 + i, i >= false_calls, expects_call=False, false_call=i < false_calls)
              for i in range(n_nocalls)]
    return {"model": model, "adapter": adapter, "suites": ["s"], **summarize(cases), "cases": cases}


def test_two_case_difference_is_not_an_improvement():
    base, cand = report(90), report(92, adapter="a")
    t = paired_test(base, cand)
    assert t["only_candidate_correct"] == 2 and t["only_baseline_correct"] == 0
    assert t["p_value"] == pytest.approx(0.5) and not t["significant"]
    v = verdict(base, cand)
    assert any("not improved" in f for f in v.red_flags)


def test_clear_improvement_passes_all_gates():
    base, cand = report(40), report(98, adapter="a")
    v = verdict(base, cand)
    assert v.passed, v.summary()
    assert all(g["ok"] for g in v.gates)
    assert v.red_flags == []
    assert "PASS" in v.summary()


def test_tool_gate_fails_under_95():
    v = verdict(report(40), report(90, adapter="a"))
    assert not v.passed
    assert [g["ok"] for g in v.gates if g["name"].startswith("tool calling")] == [False]


def test_overall_below_baseline_fails_and_low_overall_flags():
    v = verdict(report(99), report(80))
    assert not v.passed
    assert next(g for g in v.gates if g["name"] == "overall not below baseline")["ok"] is False
    assert any("under 85%" in f for f in v.red_flags)


def test_format_drift_red_flag():
    v = verdict(None, report(100, lenient_only=30))
    assert any("wrong output format" in f for f in v.red_flags)
    assert next(g for g in v.gates if g["name"] == "overall not below baseline")["ok"] is None


def test_false_call_rate_up_red_flag():
    v = verdict(report(50), report(99, false_calls=3))
    assert any("false-call rate up" in f for f in v.red_flags)


def test_compare_reports_rows_and_deltas():
    base, cand = report(50, model="base"), report(95, adapter="out/adapter")
    cmp = compare_reports([base, cand])
    assert cmp["labels"] == ["base", "m + adapter"]
    overall = next(r for r in cmp["rows"] if r["category"] == "overall")
    assert overall["values"][1]["delta"] == pytest.approx((95 + 20 - 70) / 120)
    assert overall["values"][1]["paired"]["significant"]
    tool = next(r for r in cmp["rows"] if r["category"] == "tool_call")
    assert tool["values"][1]["paired"]["n_shared"] == 100
    assert len(cmp["verdicts"]) == 1
    with pytest.raises(ConfigError):
        compare_reports([base])


def test_unpaired_reports_fall_back_to_intervals():
    base = report(50)
    cand = report(99)
    for c in cand["cases"]:
        c["suite"] = "other"  # no shared ids
    v = verdict(base, cand)
    assert not any("not improved" in f for f in v.red_flags)
    assert "unpaired" in next(g for g in v.gates if g["name"] == "overall not below baseline")["detail"]


# --- paired first, fixed/broken, failure reasons, confusion: hand-built reports from real scored replies ---

from punie.eval.compare import case_changes, shared_keys  # noqa: E402
from punie.eval.stats import confusion, failure_counts  # noqa: E402
from punie.toolcalls import render_calls  # noqa: E402
from punie.toolcalls.scoring import failure_reason, score_case  # noqa: E402

KILL = {"name": "kill_terminal", "arguments": {"terminal_id": "t1"}}
RELEASE = {"name": "release_terminal", "arguments": {"terminal_id": "t1"}}
READ = {"name": "read_file", "arguments": {"path": "a.py"}}


def _scored(case_id, expected, reply, finish="stop"):
    rec = score_case({"id": case_id, "category": "tool_call" if expected else "no_call", "expected_calls": expected},
                     reply, finish_reason=finish)
    return {**rec, "suite": "s", "prompt": f"prompt of {case_id}"}


def _run(records, model="m", adapter=None):
    return {"model": model, "adapter": adapter, "suites": ["s"], **summarize(records), "cases": records}


RIGHT, WRONG = render_calls([RELEASE]), render_calls([KILL])


@pytest.mark.parametrize(("expected", "reply", "finish", "reason"), [
    ([RELEASE], RIGHT, "stop", None),
    ([RELEASE], WRONG, "stop", "wrong_tool"),
    ([RELEASE], render_calls([{"name": "release_terminal", "arguments": {"terminal_id": "t2"}}]), "stop",
     "wrong_arguments"),
    ([RELEASE], render_calls([{"name": "release_terminal", "arguments": {}}]), "stop", "wrong_arguments"),
    ([RELEASE], "Sure, releasing it now.", "stop", "missed_call"),
    ([], WRONG, "stop", "false_call"),
    ([], '<tool_call>{"name": "kill_term', "stop", "false_call"),  # broken markup is an attempted call
    ([RELEASE], '<tool_call>{"name": "release_terminal", "arguments": {', "stop", "unparsable"),
    ([RELEASE], '<tool_call>{"name": "release_terminal", "arguments": {', "length", "truncated"),
    ([], "Hello!", "length", None),
])
def test_failure_reason_table(expected, reply, finish, reason):
    assert failure_reason(_scored("x", expected, reply, finish)) == reason


def test_failure_reason_of_non_tool_records_is_other():
    assert failure_reason({"id": "c", "category": "code", "correct": False}) == "other"
    assert failure_reason({"id": "c", "category": "code", "correct": True}) is None


def test_confusion_counts_wrong_tool_no_call_unknown_and_unparsable():
    recs = [_scored("a", [RELEASE], WRONG), _scored("b", [RELEASE], WRONG), _scored("c", [RELEASE], RIGHT),
            _scored("d", [], WRONG), _scored("e", [], "Hi"), _scored("f", [READ], "ok"),
            _scored("g", [READ], render_calls([{"name": "open_file", "arguments": {"path": "a.py"}}])),
            _scored("h", [READ], '<tool_call>{"name": "read_file", "arguments": {'),
            _scored("i", [READ, KILL], render_calls([KILL]))]
    assert confusion(recs) == {
        "(no call)": {"(no call)": 1, "kill_terminal": 1},
        "kill_terminal": {"kill_terminal": 1},
        "read_file": {"(no call)": 2, "(unparsable)": 1, "open_file": 1},
        "release_terminal": {"kill_terminal": 2, "release_terminal": 1},
    }
    # "i" made one of its two calls: the tools called differ from the expected ones, so a wrong tool
    assert failure_counts(recs) == {"false_call": 1, "truncated": 0, "unparsable": 1, "missed_call": 1,
                                    "wrong_tool": 4, "wrong_arguments": 0, "other": 0}


# (id, baseline reply or None when the baseline never ran it, candidate reply, bucket)
FLIPS = [
    ("c0", WRONG, RIGHT, "fixed"),
    ("c1", RIGHT, WRONG, "broken"),
    ("c2", RIGHT, RIGHT, None),
    ("c3", WRONG, WRONG, None),
    ("c4", None, RIGHT, None),  # candidate-only cases are neither fixed nor broken
    ("c5", None, WRONG, None),
]


def _flip_reports():
    base = _run([_scored(i, [RELEASE], b) for i, b, _, _ in FLIPS if b is not None], model="base")
    cand = _run([_scored(i, [RELEASE], c) for i, _, c, _ in FLIPS], adapter="out/a")
    return base, cand


def test_fixed_and_broken_both_ways_on_shared_ids():
    base, cand = _flip_reports()
    fixed, broken = case_changes(base, cand, "cand")
    assert [c["id"] for c in fixed] == [i for i, *_, b in FLIPS if b == "fixed"]
    assert [c["id"] for c in broken] == [i for i, *_, b in FLIPS if b == "broken"]
    f = fixed[0]
    assert f["prompt"] == "prompt of c0" and f["candidate"] == "cand" and f["expected_calls"] == [RELEASE]
    assert f["baseline_raw"] == WRONG and f["baseline_calls"] == [KILL] and f["baseline_failure"] == "wrong_tool"
    assert f["candidate_raw"] == RIGHT and f["candidate_calls"] == [RELEASE] and f["candidate_failure"] is None


def test_compare_json_contract_is_paired_and_keeps_old_keys():
    base, cand = _flip_reports()
    cmp = compare_reports([base, cand])
    assert {"labels", "reports", "rows", "tool_metrics", "verdicts"} <= set(cmp)  # today's keys stay
    assert cmp["n_shared"] == 4 and len(shared_keys([base, cand])) == 4
    assert [c["id"] for c in cmp["fixed"]] == ["c0"] and [c["id"] for c in cmp["broken"]] == ["c1"]
    # only the 4 shared cases count: the candidate-only wrong c5 is not in its failures
    shared = {"c0", "c1", "c2", "c3"}
    assert cmp["failure_reasons"] == {lab: failure_counts([r for r in rep["cases"] if r["id"] in shared])
                                      for lab, rep in (("base", base), ("m + a", cand))}
    assert cmp["failure_reasons"]["m + a"]["wrong_tool"] == 2
    assert cmp["confusion"] == {"release_terminal": {"kill_terminal": 2, "release_terminal": 2}}
    assert cmp["reports"][0]["confusion"] == {"release_terminal": {"kill_terminal": 2, "release_terminal": 2}}
    overall = next(r for r in cmp["rows"] if r["category"] == "overall")["values"][1]
    assert overall["paired"]["n_shared"] == 4 and overall["delta"] == pytest.approx(0.0)  # 2/4 → 2/4
    assert overall["unpaired_delta"] == pytest.approx(3 / 6 - 2 / 4)  # kept, under its own name
    acc = next(m for m in cmp["tool_metrics"] if m["metric"] == "accuracy")
    assert acc["shared"] == [0.5, 0.5] and acc["values"] == [0.5, 0.5]
    assert cmp["verdicts"][0]["n_shared"] == 4


def test_false_call_flag_only_from_shared_cases():
    # the case: the baseline ran a sample without the no-call cases the candidate got wrong
    calls = [_scored(f"t{i}", [RELEASE], RIGHT) for i in range(20)]
    nocalls = [_scored(f"n{i}", [], WRONG if i < 2 else "Hi") for i in range(20)]
    base = _run(calls[:10] + [r for r in nocalls[5:10]])
    cand = _run(calls + nocalls)
    v = verdict(base, cand)
    assert not any("false-call" in f for f in v.red_flags), v.red_flags
    assert v.n_shared == 15
    # a false call on a shared no-call case does raise it, with the shared count
    cand2 = _run(calls + [_scored(f"n{i}", [], WRONG if i == 5 else "Hi") for i in range(20)])
    flag = next(f for f in verdict(base, cand2).red_flags if "false-call" in f)
    assert "0.0% → 20.0% on 5 shared no-call cases" in flag


def test_no_shared_ids_labels_everything_unpaired():
    base = _run([_scored(f"a{i}", [RELEASE], WRONG) for i in range(5)])
    cand = _run([_scored(f"b{i}", [RELEASE], RIGHT) for i in range(5)])
    cmp = compare_reports([base, cand])
    overall = next(r for r in cmp["rows"] if r["category"] == "overall")["values"][1]
    assert overall["delta"] is None and overall["unpaired_delta"] == pytest.approx(1.0)
    assert cmp["n_shared"] == 0 and cmp["fixed"] == [] and cmp["broken"] == []
    assert cmp["labels"] == ["m", "m (#2)"]  # same model twice: labels stay distinct keys
    assert cmp["failure_reasons"]["m"]["wrong_tool"] == 5  # each run's own cases, said so in the HTML
    assert cmp["failure_reasons"]["m (#2)"]["wrong_tool"] == 0
    assert "unpaired" in next(g for g in verdict(base, cand).gates if g["name"].startswith("overall"))["detail"]


def test_same_ids_with_different_prompts_are_flagged():
    base = _run([_scored(f"c{i}", [RELEASE], WRONG) for i in range(4)])
    cand = _run([_scored(f"c{i}", [RELEASE], RIGHT) for i in range(4)])
    assert not any("different prompts" in f for f in verdict(base, cand).red_flags)
    cand["cases"][1]["prompt"] = "a regenerated suite's case c1"
    assert any(f.startswith("1 of 4 shared case ids have different prompts") for f in verdict(base, cand).red_flags)
