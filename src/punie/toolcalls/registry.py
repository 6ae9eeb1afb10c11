"""The format registry: stable public names → parser modules (imported on first use), and ``parse``.

``parse`` strips a leading ``<think>…</think>``, then tries the formats in ``FORMATS`` order (or only
the one named). The first format that yields calls wins; if none does, the first that recognised its
markup reports its errors. Generic formats (fences, bare JSON, pythonic) are not tried once a
format with distinctive markers has claimed the text, so nothing inside a broken ``<tool_call>`` is
read as a call. ``parse`` never raises: a failure is a value in ``ParseResult.errors``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from punie.toolcalls.result import CANONICAL_FORMAT, NO_CALL_FORMAT, ParseResult

# Public name → module. Names are a contract (reports, --format, eval histograms): never rename.
# Order is the try order: distinctive markers first, generic shapes last.
_MODULES: dict[str, str] = {
    "hermes": "punie.toolcalls.formats.hermes",
    "qwen3_xml": "punie.toolcalls.formats.qwen3_xml",
    "glm45": "punie.toolcalls.formats.glm45",
    "mistral": "punie.toolcalls.formats.mistral",
    "llama3_json": "punie.toolcalls.formats.llama3_json",
    "granite": "punie.toolcalls.formats.granite",
    "phi4_mini": "punie.toolcalls.formats.phi4_mini",
    "jamba": "punie.toolcalls.formats.jamba",
    "kimi_k2": "punie.toolcalls.formats.kimi_k2",
    "deepseek_v3": "punie.toolcalls.formats.deepseek_v3",
    "json_fence": "punie.toolcalls.formats.json_fence",
    "pythonic": "punie.toolcalls.formats.pythonic",
    "bare_json": "punie.toolcalls.formats.bare_json",
}

FORMATS: tuple[str, ...] = tuple(_MODULES)
assert CANONICAL_FORMAT in FORMATS

_loaded: dict[str, ModuleType] = {}

THINK_START = "<think>"
THINK_END = "</think>"
INTERNAL_ERROR = "internal parser error"


def get_format(name: str) -> ModuleType:
    """The parser module registered as ``name`` (KeyError for unknown names)."""
    mod = _loaded.get(name)
    if mod is None:
        mod = _loaded[name] = importlib.import_module(_MODULES[name])
    return mod


def strip_think(text: str) -> str:
    """``text`` without its reasoning: a leading ``<think>…</think>``, or everything up to a ``</think>``
    that comes before any ``<tool_call>`` (templates that open the think block in the prompt)."""
    end = text.find(THINK_END)
    head = text.lstrip()
    if head.startswith(THINK_START):
        # unclosed: the model never finished thinking, so there is no answer yet
        return "" if end < 0 else text[end + len(THINK_END) :]
    if end < 0:
        return text
    call = text.find("<tool_call>")
    if call < 0 or end < call:
        return text[end + len(THINK_END) :]
    return text


def parse(text: Any, tools: list[dict[str, Any]] | None = None, format: str | None = None) -> ParseResult:
    """Tool calls in model output ``text``. ``tools``: the specs offered (None: the 7 default tools);
    ``format``: a registry name to read only that format ("none": no calls)."""
    try:
        if not isinstance(text, str):
            text = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text or "")
        return _parse(strip_think(text), tools, format)
    except Exception as exc:  # the parser must never raise: a crash is reported, not propagated
        return ParseResult(content=str(text).strip(), errors=[f"{INTERNAL_ERROR}: {type(exc).__name__}: {exc}"])


def _parse(text: str, tools: list[dict[str, Any]] | None, format: str | None) -> ParseResult:
    if format is not None:
        if format == NO_CALL_FORMAT:
            return ParseResult(content=text.strip())
        if format not in _MODULES:
            return ParseResult(
                content=text.strip(),
                errors=[f"unknown format {format!r} (known: {', '.join(FORMATS)}, {NO_CALL_FORMAT})"],
            )
        got = get_format(format).parse(text, tools)
        return got if got is not None else ParseResult(content=text.strip())
    claimed: ParseResult | None = None
    for parse_fn, triggers, generic in _table():
        if claimed is not None and generic:
            break
        # a cheap substring check before any regex or JSON work: most formats are absent
        for t in triggers:
            if t in text:
                break
        else:
            continue
        got = parse_fn(text, tools)
        if got is None:
            continue
        if got.calls:
            return got
        if claimed is None:
            claimed = got
    return claimed if claimed is not None else ParseResult(content=text.strip())


_TABLE: list[tuple[Any, tuple[str, ...], bool]] | None = None


def _table() -> list[tuple[Any, tuple[str, ...], bool]]:
    """(parse, triggers, generic) per format in try order; built once, at the first auto-detecting parse."""
    global _TABLE
    if _TABLE is None:  # built whole, then assigned: safe if two threads race here
        _TABLE = [(m.parse, m.TRIGGERS, m.GENERIC) for m in map(get_format, FORMATS)]
    return _TABLE
