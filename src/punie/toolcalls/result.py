"""The value every parser returns. A parse failure is data (``errors``), never an exception."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The format punie trains on; a reply in any other format counts as lenient-only in eval.
CANONICAL_FORMAT = "hermes"
NO_CALL_FORMAT = "none"


@dataclass(slots=True)  # built for every reply: slots make it cheaper to build and read
class ParseResult:
    calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name": str, "arguments": dict}]
    content: str = ""  # the text with call markup removed
    # registry name of the format whose markup was found, "none" when there was none. Broken markup
    # keeps its format with calls == [] and the reason in errors (probe and eval report what was tried).
    format: str = NO_CALL_FORMAT
    errors: list[str] = field(default_factory=list)
    repaired: bool = False
    # (start, end) offsets of the markup this result read in the text it was given; used by the
    # registry to combine formats and by the streaming parser. Not part of to_dict (not a contract).
    spans: list[tuple[int, int]] = field(default_factory=list, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def strict(self) -> bool:
        """True when calls were written in the trained (canonical) format, or no markup at all."""
        return self.format in (CANONICAL_FORMAT, NO_CALL_FORMAT) and not self.repaired

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "content": self.content,
            "format": self.format,
            "errors": self.errors,
            "repaired": self.repaired,
        }
