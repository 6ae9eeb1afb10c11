"""SQLite registry of training and eval runs in ``punie_home()/runs.db``.

One table; JSON columns for config and scores so stages can record what they like without a
migration. Each call opens its own short connection (sqlite3 handles concurrent writers with
its file lock; the busy timeout covers a parallel ``punie eval``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from punie.errors import ConfigError
from punie.paths import punie_home

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    model TEXT,
    adapter TEXT,
    data_fingerprint TEXT,
    config TEXT,
    scores TEXT,
    report_path TEXT,
    duration_s REAL
)
"""
JSON_COLUMNS = ("config", "scores")


def db_path() -> Path:
    return punie_home() / "runs.db"


@contextlib.contextmanager
def _open() -> Iterator[sqlite3.Connection]:
    """A short connection; a damaged or foreign runs.db is one ConfigError naming it, and is left as
    it is (recreating it would lose what a repair could still save)."""
    path = db_path()
    try:
        with closing(sqlite3.connect(str(path), timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute(SCHEMA)
            yield conn
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"the runs registry is unreadable ({exc})", location=str(path),
                          hint="move the file aside and punie starts a new one") from None


def _row(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in JSON_COLUMNS:
        # keep the raw text if it isn't JSON: a hand-edited row should still show up
        with contextlib.suppress(json.JSONDecodeError):
            out[key] = json.loads(out[key]) if out[key] else None
    return out


def record_run(
    kind: str,
    model: str,
    adapter: str | None = None,
    data_fingerprint: str | None = None,
    config: dict[str, Any] | None = None,
    scores: dict[str, Any] | None = None,
    report_path: str | Path | None = None,
    duration_s: float | None = None,
) -> int:
    """Add a run ("train", "eval", "sweep", …) and return its id."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    with _open() as conn, conn:
        cur = conn.execute(
            "INSERT INTO runs (kind, created_at, model, adapter, data_fingerprint, config, scores, report_path,"
            " duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                created,
                model,
                str(adapter) if adapter else None,
                data_fingerprint,
                json.dumps(config, default=str) if config is not None else None,
                json.dumps(scores, default=str) if scores is not None else None,
                str(report_path) if report_path else None,
                float(duration_s) if duration_s is not None else None,
            ),
        )
        return int(cur.lastrowid or 0)


def update_run(run_id: int, **fields: Any) -> None:
    """Change fields of a run (e.g. attach scores or a report path once they exist)."""
    allowed = {"model", "adapter", "data_fingerprint", "config", "scores", "report_path", "duration_s"}
    bad = set(fields) - allowed
    if bad:
        raise ConfigError(f"unknown run field(s): {', '.join(sorted(bad))}")
    if not fields:
        return
    values = [json.dumps(v, default=str) if k in JSON_COLUMNS and v is not None else v for k, v in fields.items()]
    sets = ", ".join(f"{k} = ?" for k in fields)
    with _open() as conn, conn:
        conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*values, run_id])  # noqa: S608 - keys whitelisted


def list_runs(kind: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Runs, oldest first (the cumulative table)."""
    query = "SELECT * FROM runs"
    params: list[Any] = []
    if kind:
        query += " WHERE kind = ?"
        params.append(kind)
    query += " ORDER BY id"
    with _open() as conn:
        rows = [_row(r) for r in conn.execute(query, params)]
    return rows[-limit:] if limit else rows


def get_run(run_id: int) -> dict[str, Any]:
    with _open() as conn:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
    if row is None:
        raise ConfigError(f"no run with id {run_id}", location="ID", hint="see `punie runs list`")
    return _row(row)


def _score(scores: Any, *keys: str) -> float | None:
    if not isinstance(scores, dict):
        return None
    for key in keys:
        value = scores.get(key)
        if isinstance(value, dict):
            value = value.get("accuracy")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def tool_call_accuracy(run: dict[str, Any]) -> float | None:
    return _score(run.get("scores"), "tool_calling", "tool_call_accuracy", "tool_call")


def overall_accuracy(run: dict[str, Any]) -> float | None:
    return _score(run.get("scores"), "overall", "overall_accuracy", "accuracy")


__all__ = ["db_path", "get_run", "list_runs", "overall_accuracy", "record_run", "tool_call_accuracy", "update_run"]
