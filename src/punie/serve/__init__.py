"""``punie serve``: an OpenAI-compatible endpoint returning tool calls parsed with punie's parser.

Public API: ``create_app`` (FastAPI app factory), ``ServeLimits``, ``Engine`` (the worker thread that
batches requests), ``APIError``, ``ServerThread`` (run an app on 127.0.0.1 in a thread).
"""

from punie.serve._app import ServeLimits, create_app
from punie.serve._engine import Engine
from punie.serve._wire import APIError
from punie.serve.testing import ServerThread

__all__ = ["APIError", "Engine", "ServeLimits", "ServerThread", "create_app"]
