"""Suite.sample: deterministic, stratified by category, a share of every category."""

from collections import Counter

import pytest

from punie.eval.suites import Suite, load_suite


def _suite() -> Suite:
    cases = [{"id": f"a{i}", "category": "tool_call"} for i in range(100)]
    cases += [{"id": f"b{i}", "category": "no_call"} for i in range(30)]
    cases += [{"id": "c0", "category": "rare"}]
    return Suite("x", cases)


def test_sample_is_stratified_and_deterministic() -> None:
    s = _suite().sample(0.4)
    counts = Counter(c["category"] for c in s.cases)
    assert counts["tool_call"] == 40 and counts["no_call"] == 12 and counts["rare"] == 1
    assert s.sample(1.0) is s
    assert [c["id"] for c in _suite().sample(0.4).cases] == [c["id"] for c in s.cases]
    # spread over the suite, not just its head
    ids = [int(c["id"][1:]) for c in s.cases if c["category"] == "tool_call"]
    assert min(ids) == 0 and max(ids) > 95


def test_sample_of_builtin_suite_keeps_every_category() -> None:
    suite = load_suite("punie-tools")
    s = suite.sample(0.3)
    full = Counter(c["category"] for c in suite.cases)
    part = Counter(c["category"] for c in s.cases)
    assert set(part) == set(full)
    for cat, n in full.items():
        assert abs(part[cat] - 0.3 * n) <= 1


def test_sample_rejects_nonpositive() -> None:
    with pytest.raises(ValueError):
        _suite().sample(0)
