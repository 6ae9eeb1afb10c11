"""Kept importable: the scoring rule lives in ``punie.toolcalls.scoring`` (one rule for eval,
training's in-run eval, probe and compare)."""

from punie.toolcalls.scoring import (
    FAILURE_REASONS,
    NO_CALL,
    UNPARSABLE,
    call_pairs,
    calls_equal,
    canon,
    failure_reason,
    field_scores,
    json_equal,
    score_calls,
    score_case,
)

__all__ = ["FAILURE_REASONS", "NO_CALL", "UNPARSABLE", "call_pairs", "calls_equal", "canon", "failure_reason",
           "field_scores", "json_equal", "score_calls", "score_case"]
