"""The format registry: stable public names → parser modules (imported on first use), and ``parse``.

``parse`` drops reasoning (``<think>…</think>``, harmony's analysis channel), then scans with every
format whose trigger occurs, strongest first (special markers, then fences, then bare JSON and
pythonic lists). Each format reports the spans it read; a span a format turned into calls is blanked
before weaker formats look, so spans never overlap and several formats may share one reply (a bare
leading call followed by tagged ones). Error-only spans of marker formats are blanked before the
generic formats run, so nothing inside a broken ``<tool_call>`` is read as a call. Calls come out in
text order; ``format`` names the strongest format that yielded calls (or, with none, the first that
recognised its markup). ``parse`` never raises: a failure is a value in ``ParseResult.errors``.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any

from punie.toolcalls.result import CANONICAL_FORMAT, NO_CALL_FORMAT, ParseResult

# Public name → module. Names are a contract (reports, --format, eval histograms): never rename.
# Order is the scan order and the strength: distinctive markers first, fences, then bare shapes.
_MODULES: dict[str, str] = {
    name: f"punie.toolcalls.formats.{name}"
    for name in (
        # special markers
        "hermes",
        "qwen3_xml",
        "functionary_v31",
        "glm45",
        "minimax_m2",
        "minimax_m1",
        "mistral",
        "harmony",
        "llama3_json",
        "llama3_builtin",
        "granite",
        "phi4_mini",
        "jamba",
        "kimi_k2",
        "deepseek_v3",
        "function_gemma",
        "gemma4",
        "command_r7b",
        "apertus",
        "olmo3",
        "lfm2",
        "functionary_v32",
        # fences
        "command_r_plus",
        "json_fence",
        # bare shapes
        "pythonic",
        "bare_json",
    )
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


_LATER_THINK = re.compile(r"(?:\A|(?<=\n))[ \t]*<think>.*?(?:</think>|\Z)", re.S)
_HARMONY_ANALYSIS = re.compile(
    r"(?:<\|start\|>\s*assistant\s*)?<\|channel\|>\s*analysis(?:(?!<\|message\|>).)*<\|message\|>"
    r"(?:(?!<\|end\|>|<\|start\|>).)*(?:<\|end\|>|(?=<\|start\|>)|\Z)",
    re.S,
)

_LEADING_THINK = re.compile(r"\s*<think>")
_COMMAND_THINKING = re.compile(r"<\|START_THINKING\|>.*?(?:<\|END_THINKING\|>|\Z)", re.S)


def strip_think(text: str) -> str:
    """``text`` without its reasoning: a leading ``<think>…</think>``, or everything up to a ``</think>``
    that comes before any ``<tool_call>`` (templates that open the think block in the prompt); later
    ``<think>`` blocks that start a line or follow a tag, and harmony analysis messages, are blanked."""
    if "<" not in text:  # every reasoning tag starts with "<"
        return text
    if "think>" in text:
        end = text.find(THINK_END)
        if _LEADING_THINK.match(text):
            # unclosed: the model never finished thinking, so there is no answer yet
            text = "" if end < 0 else text[end + len(THINK_END) :]
        elif end >= 0:
            call = text.find("<tool_call>")
            if call < 0 or end < call:
                text = text[end + len(THINK_END) :]
        if THINK_START in text:
            text = _LATER_THINK.sub(_spaces, text)
    if "<|" in text:
        if "<|START_THINKING|>" in text:
            text = _COMMAND_THINKING.sub(_spaces, text)
        if "<|channel|>" in text:
            text = _HARMONY_ANALYSIS.sub(_spaces, text)
    return text


def _spaces(m: re.Match[str]) -> str:
    return " " * (m.end() - m.start())


def blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with ``spans`` replaced by spaces (offsets kept, so spans stay valid)."""
    if not spans:
        return text
    parts = []
    pos = 0
    for a, b in sorted(spans):
        a = max(a, pos)
        if b <= a:
            continue
        parts.append(text[pos:a])
        parts.append(" " * (b - a))
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


def parse(
    text: Any,
    tools: list[dict[str, Any]] | None = None,
    format: str | None = None,
    *,
    validate: bool = False,
) -> ParseResult:
    """Tool calls in model output ``text``. ``tools``: the specs offered (None: the 7 default tools);
    ``format``: a registry name to read only that format ("none": no calls); ``validate`` (with
    ``tools``): a call to a tool not in ``tools`` is an error, not a call, and argument values are
    coerced to the parameter schema's types."""
    try:
        if not isinstance(text, str):
            text = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text or "")
        got = _parse(strip_think(text) if "<" in text else text, tools, format)  # reasoning tags start with "<"
        if validate and tools is not None:
            _validate(got, tools)
        return got
    except Exception as exc:  # the parser must never raise: a crash is reported, not propagated
        return ParseResult(content=str(text).strip(), errors=[f"{INTERNAL_ERROR}: {type(exc).__name__}: {exc}"])


def _validate(res: ParseResult, tools: list[dict[str, Any]]) -> None:
    from punie.toolcalls.formats._common import coerce, param_schemas, tool_names

    known = tool_names(tools)
    kept = []
    for call in res.calls:
        if call["name"] not in known:
            res.errors.append(f"unknown tool {call['name']!r} (not in the tools offered)")
            continue
        schemas = param_schemas(tools, call["name"])
        args = {k: coerce(v, schemas.get(k)) if isinstance(v, str) else v for k, v in call["arguments"].items()}
        kept.append({"name": call["name"], "arguments": args})
    res.calls = kept


def _overlaps(spans: list[tuple[int, int]], taken: list[tuple[int, int]]) -> bool:
    return any(a < d and c < b for a, b in spans for c, d in taken)


def _parse(
    text: str, tools: list[dict[str, Any]] | None, format: str | None, *, generic: bool = True
) -> ParseResult:
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
    # the variant for ``text`` (what _Table.variant does, written out: this runs for every reply)
    key: int = '"' in text
    if "<" in text:
        key |= 2 | ("<|" in text) << 2 | ("<tool" in text) << 3 | ("<function" in text) << 4
    variant = (_TABLE or _table())._variants[key]
    # the formats in scan order, each tested for its triggers when reached, so a reply whose first
    # format reads everything there is to read is done after one search of what is left
    i = 0
    for t in variant.triggers:  # the first format woken: nothing read yet
        if t in text:
            break
        i += 1
    else:
        return ParseResult(content=text.strip())
    entries = variant.entries
    n = len(entries)
    # the usual reply: the first format woken reads calls and no trigger of a later format is left;
    # what the loop below does for that entry with nothing read yet, without setting up its state
    first_fn = entries[i][1]
    if entries[i][3] and not generic:
        return ParseResult(content=text.strip())
    first = first_fn(text, tools)
    if first is not None and first.calls and first.spans and not variant.left(i + 1, text, first.spans):
        return first
    accepted: list[ParseResult] = []
    pending: list[ParseResult] = []  # markup recognised, but no calls in it
    blanked: list[tuple[int, int]] = []  # spans already read: weaker formats see spaces there
    work: str | None = text  # ``text`` with ``blanked`` blanked (made when a format has to read it)
    rest = text  # the text outside ``blanked``: where triggers are looked for
    generic_seen = False
    last = None  # the parse of the last entry taken: a format with several triggers is read once
    while i < n:
        trigger, parse_fn, triggers, is_generic = entries[i]
        i += 1
        if parse_fn is last or trigger not in rest:
            continue
        last = parse_fn
        if is_generic and not generic_seen:
            if not generic:
                break
            generic_seen = True
            more = [s for r in pending for s in r.spans] if pending else None
            if more:  # error-only spans of marker formats: nothing inside them is a call
                blanked += more
                if not variant.left(i - 1, text, blanked):
                    break
                rest, work = _outside(text, blanked), None
                for t in triggers:
                    if t in rest:
                        break
                else:
                    continue
        if parse_fn is first_fn:  # the first entry, read above (on ``text``: nothing was blanked yet)
            got = first
        else:
            if work is None:
                work = blank(text, blanked)
            got = parse_fn(work, tools)
        if got is None:
            continue
        if got.calls:
            accepted.append(got)
        elif got.spans or got.errors:
            pending.append(got)
            if not is_generic:
                continue
            # a generic shape recognised but broken is not read again
        else:
            continue
        if got.spans:
            blanked += got.spans
            if not variant.left(i, text, blanked):
                break  # nothing left that could wake a format
            rest, work = _outside(text, blanked), None
    if not accepted:
        return pending[0] if pending else ParseResult(content=text.strip())
    if len(accepted) == 1 and not pending:
        return accepted[0]
    taken = [s for r in accepted for s in r.spans]
    extra = [r for r in pending if not _overlaps(r.spans, taken)]
    ordered = sorted(accepted, key=lambda r: min((a for a, _ in r.spans), default=0))
    spans = taken + [s for r in extra for s in r.spans]
    from punie.toolcalls.formats._common import cut

    return ParseResult(
        calls=[c for r in ordered for c in r.calls],
        content=cut(text, spans).strip(),
        format=accepted[0].format,
        errors=[e for r in (*accepted, *extra) for e in r.errors],
        repaired=any(r.repaired for r in accepted),
        spans=spans,
    )


def _outside(text: str, spans: list[tuple[int, int]]) -> str:
    """The parts of ``text`` outside ``spans``, joined by NULs (no trigger holds one, so a trigger is in
    the result exactly when it is in ``blank(text, spans)``); blank parts are left out, so "" means
    nothing is left."""
    parts = []
    pos = 0
    for a, b in sorted(spans):
        if b <= max(a, pos):
            continue
        parts.append(text[pos:a] if a > pos else "")
        pos = b
    parts.append(text[pos:])
    return "\0".join(p for p in parts if p.strip())


Row = tuple[Any, tuple[str, ...], bool]  # (parse, triggers, generic)
Entry = tuple[str, Any, tuple[str, ...], bool]  # (trigger, parse, triggers, generic)


# Prefixes that most triggers start with, tested once per reply: a trigger whose prefix is absent is
# never looked for. Bit k of a variant's key: _GATES[k] occurs.
_GATES = ('"', "<", "<|", "<tool", "<function")


class _Variant:
    """The entries for one combination of ``_GATES``, and per position in them a search for the
    triggers of the entries from there on: the only ones that could still wake a format."""

    __slots__ = ("entries", "triggers", "_after", "_sets", "_searches")

    def __init__(self, entries: list[Entry], searches: dict[tuple[str, ...], Any]) -> None:
        self.entries = entries
        self.triggers = tuple(e[0] for e in entries)
        # per position: the triggers from there on (sorted, so equal sets share one compiled search)
        self._sets = [tuple(sorted({e[0] for e in entries[k:]})) for k in range(len(entries) + 1)]
        # per position: its search, None until first needed, False where no trigger is left
        self._after: list[Any] = [None if t else False for t in self._sets]
        self._searches = searches

    def _search(self, k: int) -> Any:
        trig = self._sets[k]
        search = self._searches.get(trig)
        if search is None:  # an alternation of literals: which one matches does not matter here
            search = self._searches[trig] = re.compile("|".join(map(re.escape, trig))).search
        self._after[k] = search
        return search

    def left(self, k: int, text: str, spans: list[tuple[int, int]]) -> bool:
        """Whether a trigger of ``entries[k:]`` occurs in ``text`` outside ``spans`` (what ``_outside``
        keeps, unjoined). The entries before ``k`` are never looked at again, and a trigger outside
        this variant cannot occur in ``text``, so this decides whether any format could still wake."""
        search = self._after[k]
        if not search:
            if search is False:
                return False
            search = self._search(k)
        if len(spans) == 1:
            a, b = spans[0]
            if b <= a:
                return search(text) is not None
            return (a > 0 and search(text, 0, a) is not None) or search(text, b) is not None
        pos = 0
        for a, b in sorted(spans):
            if b <= max(a, pos):
                continue
            if a > pos and search(text, pos, a):
                return True
            pos = b
        return search(text, pos) is not None


class _Table:
    """The formats in scan order, as (trigger, parse, triggers, generic) entries, one per trigger, in
    a variant per combination of the ``_GATES`` a reply holds, keeping only the triggers that can occur
    in it: a substring test per trigger is most of the cost of a reply."""

    def __init__(self) -> None:
        mods = list(map(get_format, FORMATS))
        self.rows: list[Row] = [(m.parse, tuple(m.TRIGGERS), m.GENERIC) for m in mods]
        self._variants: list[_Variant] = []
        searches: dict[tuple[str, ...], Any] = {}  # one compiled search per distinct trigger set
        for key in range(1 << len(_GATES)):
            present = {g for k, g in enumerate(_GATES) if key >> k & 1}
            entries = [(t, fn, triggers, gen) for fn, triggers, gen in self.rows for t in triggers]
            kept = [e for e in entries if _gate(e[0]) in present or _gate(e[0]) is None]
            self._variants.append(_Variant(kept, searches))

    def variant(self, text: str) -> _Variant:
        """The variant for ``text``: the entries whose trigger may occur in it, in scan order."""
        key: int = '"' in text
        if "<" in text:
            key |= 2 | ("<|" in text) << 2 | ("<tool" in text) << 3 | ("<function" in text) << 4
        return self._variants[key]

    def entries(self, text: str) -> list[Entry]:
        """The entries whose trigger may occur in ``text``, in scan order."""
        return self.variant(text).entries


def _gate(trigger: str) -> str | None:
    """The longest of ``_GATES`` that ``trigger`` starts with; None: always looked for."""
    return max((g for g in _GATES if trigger.startswith(g)), key=len, default=None)


_TABLE: _Table | None = None


def _table() -> _Table:
    """Built once, at the first auto-detecting parse."""
    global _TABLE
    if _TABLE is None:  # built whole, then assigned: safe if two threads race here
        _TABLE = _Table()
    return _TABLE
