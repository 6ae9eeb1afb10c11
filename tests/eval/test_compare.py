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
