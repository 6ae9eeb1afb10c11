"""punie: make small local coding models call a coding agent's tools reliably."""

from punie.errors import PunieError

__version__ = "0.1.0"
__all__ = ["PunieError", "__version__"]
