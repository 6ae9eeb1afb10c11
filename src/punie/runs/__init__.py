"""The SQLite registry of training and eval runs (``punie runs list|show``)."""

from punie.runs.registry import db_path, get_run, list_runs, record_run, update_run

__all__ = ["db_path", "get_run", "list_runs", "record_run", "update_run"]
