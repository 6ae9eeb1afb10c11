"""punie's one exception tree.

    PunieError                 base; ``location`` names file:line, message index or flag
    ├── ConfigError            bad flag, config file or config key
    ├── DatasetError           unreadable/invalid dataset or JSONL line
    ├── ModelError             unknown alias, missing/corrupt weights, unreachable hub
    ├── AdapterError           adapter folder missing/invalid/for another base
    ├── SuiteError             unknown suite, malformed suite line
    ├── BackendError           generation backend failure (e.g. base URL refuses connections)
    └── ServeError             server start-up problems

The CLI turns any PunieError into one line ``punie: error: <location>: <message>`` and exit 2.
"""

from __future__ import annotations


class PunieError(Exception):
    """Base of every error punie reports to users."""

    def __init__(self, message: str, *, location: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(PunieError):
    pass


class DatasetError(PunieError):
    pass


class ModelError(PunieError):
    pass


class AdapterError(PunieError):
    pass


class SuiteError(PunieError):
    pass


class BackendError(PunieError):
    pass


class ServeError(PunieError):
    pass


__all__ = [
    "AdapterError",
    "BackendError",
    "ConfigError",
    "DatasetError",
    "ModelError",
    "PunieError",
    "ServeError",
    "SuiteError",
]
