"""Evaluation: suites, argument-level scoring, statistics, runner, HTML reports, compare + verdict.

Public API (stable): ``run_eval``, ``write_html_report``, ``compare_reports``, ``verdict``, ``Verdict``,
``load_suite``, ``score_case``, ``wilson_interval``, ``mcnemar_exact``. Imports are lazy so that
``import punie.eval`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "run_eval": "punie.eval.runner",
    "summarize": "punie.eval.runner",
    "write_html_report": "punie.eval.report",
    "write_comparison_html": "punie.eval.report",
    "compare_reports": "punie.eval.compare",
    "verdict": "punie.eval.compare",
    "Verdict": "punie.eval.compare",
    "load_report": "punie.eval.compare",
    "load_suite": "punie.eval.suites",
    "Suite": "punie.eval.suites",
    "score_case": "punie.toolcalls.scoring",
    "wilson_interval": "punie.eval.stats",
    "mcnemar_exact": "punie.eval.stats",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'punie.eval' has no attribute {name!r}")
