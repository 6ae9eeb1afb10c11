"""The HTML report: one self-contained file that renders in headless Chromium with no script errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from punie.eval.compare import compare_reports, verdict
from punie.eval.report import (
    confusion_view,
    curve_charts,
    render_report_html,
    smooth,
    training_series,
    write_comparison_html,
    write_html_report,
)
from punie.eval.runner import run_eval
from punie.eval.suites import Suite
from punie.eval.svg import nice_ticks
from punie.eval.testing import oracle

CASES = [
    {"id": "r1", "category": "tool_call", "messages": [{"role": "user", "content": "Open <src/app.py> & 'x'"}],
     "expected_calls": [{"name": "read_file", "arguments": {"path": "src/app.py"}}]},
    {"id": "r2", "category": "tool_call", "messages": [{"role": "user", "content": "Run the tests"}],
     "expected_calls": [{"name": "run_command", "arguments": {"command": "pytest"}}]},
    {"id": "n1", "category": "no_call",
     "messages": [{"role": "user", "content": "Hi </script><script>alert(1)</script>"}],
     "expected_calls": []},
]
CURVES = [{"step": 10, "train_loss": 2.1, "val_loss": 2.3, "val_tool_acc": 0.2},
          {"step": 20, "train_loss": 1.2, "val_loss": 1.5, "val_tool_acc": 0.6}, {"bad": "row"}]


@pytest.fixture(scope="module")
def report():
    rep = run_eval(oracle(CASES, wrong={"r2"}), [Suite("mini", CASES)], model_name="fake", progress=False)
    rep["verdict"] = verdict(None, rep).to_dict()
    return rep


def test_report_is_self_contained_and_escaped(report, tmp_path):
    path = write_html_report(report, tmp_path / "report.html", training_curves=CURVES)
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from the network
    assert "<link" not in html
    assert "<script>alert(1)</script>" not in html and "&lt;/script&gt;" in html  # user text is escaped
    assert html.count("<svg") >= 3  # category bars, format histogram, training curves
    assert "Training curves" in html
    # failures first in the per-case table
    rows = re.findall(r'<tr data-correct="(\d)"', html)
    assert rows == ["0", "1", "1"]
    assert "Verdict: FAIL" in html  # 66.7 % tool calling is under the 95 % gate


def test_training_series_splits_loss_and_rates():
    loss, rate = training_series(CURVES)
    assert loss == {"train_loss": [(10.0, 2.1), (20.0, 1.2)], "val_loss": [(10.0, 2.3), (20.0, 1.5)]}
    assert rate == {"val_tool_acc": [(10.0, 0.2), (20.0, 0.6)]}


@pytest.mark.parametrize(("lo", "hi", "ticks"), [
    (1, 45, [0, 10, 20, 30, 40, 50]),
    (1, 600, [0, 200, 400, 600]),
    (0, 1, [0, 0.25, 0.5, 0.75, 1]),
    (0.83, 2.65, [0.5, 1, 1.5, 2, 2.5, 3]),
    (3, 3, [3, 3.25, 3.5, 3.75, 4]),  # a flat series still gets an axis
])
def test_nice_ticks_are_round_and_cover_the_range(lo, hi, ticks):
    assert nice_ticks(lo, hi, 5 if hi <= 3 else 6) == pytest.approx(ticks)


def test_smooth_is_bias_corrected():
    pts = smooth([(1, 2.0), (2, 2.0), (3, 0.0)])
    assert pts[0] == (1, 2.0) and pts[1][1] == pytest.approx(2.0)  # not dragged towards 0 at the start
    assert 0 < pts[2][1] < 2.0


def test_curve_charts_smooth_train_loss_and_plot_held_out_points():
    rows = [{"event": "train", "step": s, "loss": 2.0 / s} for s in range(1, 21)]
    rows += [{"event": "eval", "step": 10, "val_loss": 1.0, "tool_call_accuracy": 0.4},
             {"event": "eval", "step": 20, "val_loss": 0.8, "tool_call_accuracy": 0.7}]
    svg = curve_charts(rows)
    assert svg.count("<svg") == 2
    assert "loss (smoothed)" in svg and 'stroke-opacity="0.35"' in svg  # raw loss pale behind its trend
    assert svg.count("<circle") == 4  # val_loss and tool_call_accuracy: one marker per eval
    assert ">100%<" in svg and ">0%<" in svg and ">20<" in svg  # percent axis; round step ticks
    assert curve_charts(None) == "" and curve_charts([]) == ""


def test_confusion_view_scales_right_and_wrong_separately():
    view = confusion_view({"kill_terminal": {"kill_terminal": 10}, "release_terminal": {"kill_terminal": 8,
                                                                                          "release_terminal": 2}})
    assert view["cols"] == ["kill_terminal", "release_terminal"]
    release = view["rows"][1]
    assert [c["n"] for c in release["cells"]] == [8, 2] and release["total"] == 10
    assert "179,38,30,0.72" in release["cells"][0]["style"]  # the largest confusion: full red
    assert "46,125,79" in release["cells"][1]["style"]
    assert confusion_view({}) is None


def test_report_shows_failure_reasons_confusion_and_links(report):
    html = render_report_html(report, links={"comparison": "../comparison.html"})
    assert 'href="../comparison.html"' in html
    assert 'id="failure-reasons"' in html and 'id="confusion"' in html
    assert report["failure_reasons"]["missed_call"] == 1 and report["confusion"]["run_command"] == {"(no call)": 1}


def _disjoint(rep):
    other = dict(rep, cases=[dict(c, id=c["id"] + "-new") for c in rep["cases"]])
    return other


def test_comparison_html_fixed_broken_unpaired_and_links(report, tmp_path):
    other = run_eval(oracle(CASES, wrong={"r1"}), [Suite("mini", CASES)], model_name="fake2", progress=False)
    path = write_comparison_html(compare_reports([report, other]), tmp_path / "c.html",
                                 links={"baseline report": "a/report.html"})
    html = path.read_text()
    assert 'href="a/report.html"' in html
    assert re.search(r'<table id="fixed">.*?r2.*?</table>', html, re.S)  # r2 was wrong, now right
    assert re.search(r'<table id="broken">.*?r1.*?</table>', html, re.S)  # r1 the reverse
    assert "3</b> cases are shared" in html and "(unpaired)" not in html
    html = write_comparison_html(compare_reports([report, _disjoint(other)]), tmp_path / "d.html").read_text()
    assert "none are shared" in html and "pt (unpaired)" in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _render(path: Path, tmp_path: Path) -> tuple[str, str]:
    exe = _chromium()
    proc = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--no-first-run", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={tmp_path / 'chrome-profile'}", "--dump-dom", path.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    return proc.stdout, proc.stderr


def _script_errors(dom: str, log: str) -> list[str]:
    errors = re.findall(r'data-js-errors="([^"]*)"', dom)
    errors += [line for line in log.splitlines() if "Uncaught" in line]
    return errors


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (scripts/ci_system_deps.sh installs it)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    path = write_html_report(report, tmp_path / "report.html", training_curves=CURVES)
    dom, log = _render(path, tmp_path)
    assert 'data-ready="1"' in dom, log[-2000:]  # the page script ran to the end
    assert _script_errors(dom, log) == []
    assert "3 of 3 shown" in dom  # the filter script populated the counter

    # the check itself catches a broken script
    broken = tmp_path / "broken.html"
    broken.write_text(path.read_text().replace('"use strict";', '"use strict"; undefinedFunction();'))
    dom, log = _render(broken, tmp_path)
    assert _script_errors(dom, log)


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (scripts/ci_system_deps.sh installs it)")
def test_comparison_renders_in_headless_chromium(report, tmp_path):
    other = run_eval(oracle(CASES), [Suite("mini", CASES)], model_name="fake2", progress=False)
    path = write_comparison_html(compare_reports([report, other]), tmp_path / "comparison.html")
    dom, log = _render(path, tmp_path)
    assert 'data-ready="1"' in dom and _script_errors(dom, log) == []
    assert "McNemar" in dom
    for section in ('id="fixed"', 'id="failure-reasons"', 'id="confusion-0"', 'id="confusion-1"', 'id="shared"'):
        assert section in dom, section


def test_render_handles_non_tool_records():
    rep = {"model": "m", "adapter": None, "suites": ["code"], "backend": "fake", "duration_s": 1.0,
           "overall": {"accuracy": 0.5, "n": 2, "correct": 1, "ci95": [0.09, 0.91]},
           "categories": {"code": {"accuracy": 0.5, "n": 2, "correct": 1, "ci95": [0.09, 0.91]}},
           "format_histogram": {}, "cases": [
               {"id": "c1", "category": "code", "correct": False, "calls": [], "expected_calls": None,
                "raw": "def f(): pass", "format": "none", "tests_failed": 3},
               {"id": "c2", "category": "code", "correct": True, "calls": [], "expected_calls": None,
                "raw": "def g(): return 1", "format": "none"}]}
    html = render_report_html(rep)
    assert "tests_failed" in html and "c1" in html
