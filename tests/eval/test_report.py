"""The HTML report: one self-contained file that renders in headless Chromium with no script errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from punie.eval.compare import compare_reports, verdict
from punie.eval.report import render_report_html, training_series, write_comparison_html, write_html_report
from punie.eval.runner import run_eval
from punie.eval.suites import Suite
from punie.eval.testing import oracle

CASES = [
    {"id": "r1", "category": "tool_call", "messages": [{"role": "user", "content": "Open <src/app.py> & 'x'"}],
     "expected_calls": [{"name": "read_file", "arguments": {"path": "src/app.py"}}]},
    {"id": "r2", "category": "tool_call", "messages": [{"role": "user", "content": "Run the tests"}],
     "expected_calls": [{"name": "run_command", "arguments": {"command": "pytest"}}]},
    {"id": "n1", "category": "no_call", "messages": [{"role": "user", "content": "Hi </script><script>alert(1)</script>"}],
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
