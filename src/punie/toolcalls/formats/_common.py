"""Helpers shared by the format modules: JSON scanning, the two repairs, call normalisation, coercion.

Nothing here raises on model output; problems come back as error strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

from punie.toolcalls.result import ParseResult


class NonFinite(ValueError):
    """A number JSON cannot hold (``1e999``, ``NaN``, ``Infinity``): an error, never ``Infinity`` out."""

    msg = "non-finite number"


def _finite_float(s: str) -> float:
    f = float(s)
    if f != f or f in (float("inf"), float("-inf")):
        raise NonFinite(f"non-finite number {s}")
    return f


def _no_constant(s: str) -> Any:
    raise NonFinite(f"non-finite number {s}")


# strict=False accepts raw newlines/tabs inside strings: models write multi-line file contents that way.
_DECODER = json.JSONDecoder(strict=False, parse_float=_finite_float, parse_constant=_no_constant)
# raw_decode without its Python frame: (value, end), or StopIteration where no value starts
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]


class NotACall:
    """Marker: a JSON value that is fine but is not a tool call (e.g. a package.json)."""


NOT_A_CALL = NotACall()


_WS_RUN = re.compile(r"[ \t\r\n]*")


def skip_ws(text: str, pos: int) -> int:
    if pos < len(text) and text[pos] not in " \t\r\n":  # the usual case: no whitespace to skip
        return pos
    return _WS_RUN.match(text, pos).end()  # type: ignore[union-attr]  # always matches (may be empty)


# --- bracket matching (quote-aware, for both quote styles, so it also works on repairable JSON) ---

# a whole quoted string (escapes skipped), a quote that never closes, or a bracket
_BRACKET_TOKEN = re.compile(r"\"[^\"\\]*(?:\\.[^\"\\]*)*\"|'[^'\\]*(?:\\.[^'\\]*)*'|[\"'{}\[\]()]", re.S)
_CLOSER = re.compile(r"[}\])]")


def balanced_end(text: str, pos: int, end: int | None = None) -> int | None:
    """Index just past the bracket group opened at ``text[pos]``; None if it never closes (truncated).

    Brackets inside quoted strings (either quote style, backslash escapes honoured) do not count; a
    quote that never closes hides everything after it."""
    end = len(text) if end is None else end
    if _CLOSER.search(text, pos, end) is None:  # the usual truncated case: nothing could close it
        return None
    depth = 0
    for m in _BRACKET_TOKEN.finditer(text, pos, end):
        i = m.start()
        ch = text[i]
        if ch == '"' or ch == "'":
            if m.end() - i == 1:  # an unterminated string: nothing after it counts
                return None
        elif ch in "{[(":
            depth += 1
        else:
            depth -= 1
            if depth <= 0:
                return m.end()
    return None


# --- repair of the two common, unambiguous mistakes: single quotes and trailing commas ---
# Hand-written on purpose: json-repair libraries also *complete* truncated JSON, and a truncated
# call must never become a call.

_REPAIR_TOKEN = re.compile(
    r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|,(?=\s*[}\]])|\b(?:True|False|None)\b", re.S
)
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}
_SQ_INNER = re.compile(r"\\(.)|\"", re.S)


def _sq_inner(m: re.Match[str]) -> str:
    if m.group(1) is None:
        return '\\"'
    return "'" if m.group(1) == "'" else m.group()


def _repair_token(m: re.Match[str]) -> str:
    tok = m.group()
    c = tok[0]
    if c == '"':
        return tok
    if c == "'":
        return '"' + _SQ_INNER.sub(_sq_inner, tok[1:-1]) + '"'
    if c == ",":
        return ""
    return _PY_LITERALS[tok]


def repair_json(fragment: str) -> Any | None:
    """The value of ``fragment`` after fixing single quotes, trailing commas and Python literals."""
    fixed = _REPAIR_TOKEN.sub(_repair_token, fragment)
    if fixed == fragment:
        return None
    try:
        return _DECODER.decode(fixed)
    except (ValueError, RecursionError):
        return None


def loads(fragment: str) -> tuple[Any, bool] | None:
    """(value, repaired) for a complete JSON fragment, or None."""
    try:
        return _DECODER.decode(fragment), False
    except (ValueError, RecursionError):
        pass
    value = repair_json(fragment)
    return None if value is None else (value, True)


def read_json_values(
    text: str, pos: int, seps: str = ",;", end: int | None = None, max_values: int = 0
) -> tuple[list[Any], int, list[str], bool]:
    """Read consecutive JSON objects/arrays starting at ``pos`` (separated by whitespace or ``seps``).

    Returns (values, position after the last one, errors, repaired). Truncated JSON is an error, never
    a value; a balanced but invalid fragment is repaired if possible. ``max_values``: stop after that
    many (0: no limit).
    """
    values: list[Any] = []
    errors: list[str] = []
    repaired = False
    n = len(text)
    limit = n if end is None else end
    ws = _WS_RUN.match
    while True:
        if max_values and len(values) >= max_values:
            return values, pos, errors, repaired
        nxt = pos if pos < n and text[pos] not in " \t\r\n" else ws(text, pos).end()  # type: ignore[union-attr]
        if values:
            while nxt < limit and text[nxt] in seps:
                nxt = ws(text, nxt + 1).end()  # type: ignore[union-attr]
        if nxt >= limit or text[nxt] not in "{[":
            return values, pos, errors, repaired
        try:
            if text[nxt] == "[" and _never_closes(text, nxt, len(text), "]"):
                raise _UNCLOSED  # cannot decode whole: no need to try (salvage reports it)
            value, stop = _SCAN(text, nxt)
        except RecursionError:
            errors.append(f"JSON at offset {nxt} is nested too deeply")
            return values, limit, errors, repaired
        except (ValueError, StopIteration) as exc:
            if text[nxt] == "[":  # salvage item by item: keep complete items, report the rest
                items, stop, errs, rep = salvage_array(text, nxt, limit)
                values.append(items)
                errors.extend(errs)
                repaired |= rep
                if stop >= limit:
                    return values, limit, errors, repaired
                pos = stop
                continue
            stop_or_none = balanced_end(text, nxt, limit)
            if stop_or_none is None:
                errors.append(f"truncated JSON at offset {nxt}: {_why(exc)}")
                return values, limit, errors, repaired
            value = repair_json(text[nxt:stop_or_none])
            if value is None:  # an invalid item: an error value, and reading goes on after it
                errors.append(f"invalid JSON at offset {nxt}: {_why(exc)}")
                pos = stop_or_none
                continue
            stop = stop_or_none
            repaired = True
        if stop > limit:  # the value ran past the region we were told to read
            errors.append(f"JSON at offset {nxt} runs past its closing marker")
            return values, limit, errors, repaired
        values.append(value)
        pos = stop


def salvage_array(text: str, pos: int, limit: int) -> tuple[list[Any], int, list[str], bool]:
    """The complete items of the JSON array opened at ``text[pos]`` that did not decode whole.

    Items are split at top-level commas: a complete item is kept, an invalid one becomes an error,
    a truncated tail is dropped (never completed). Returns (items, stop, errors, repaired).
    """
    items: list[Any] = []
    errors: list[str] = []
    repaired = False
    i = pos + 1
    while True:
        i = skip_ws(text, i)
        if i >= limit:
            errors.append(f"truncated JSON array at offset {pos}: item {len(items) + len(errors)} never ends")
            return items, limit, errors, repaired
        if text[i] == "]":
            return items, i + 1, errors, repaired
        opener = text[i] in "{["
        if opener and _never_closes(text, i, limit, "}])"):
            # a truncated item (the usual case): decoding it could only fail or run past ``limit``
            errors.append(f"truncated JSON at offset {i} (item {len(items) + len(errors)} of the array)")
            return items, limit, errors, repaired
        try:
            value, stop = _SCAN(text, i)
            if stop > limit:
                raise ValueError("runs past its closing marker")
        except RecursionError:
            errors.append(f"JSON at offset {i} is nested too deeply")
            return items, limit, errors, repaired
        except (ValueError, StopIteration) as exc:
            end = balanced_end(text, i, limit) if opener else None
            if end is None:
                what = "truncated" if text[i] in "{[" else "invalid"
                errors.append(f"{what} JSON at offset {i} (item {len(items) + len(errors)} of the array)")
                return items, limit, errors, repaired
            value = repair_json(text[i:end])
            stop = end
            if value is None:
                errors.append(f"invalid JSON at offset {i}: {_why(exc)}")
                value = _INVALID
            else:
                repaired = True
        if value is not _INVALID:
            items.append(value)
        i = skip_ws(text, stop)
        if i < limit and text[i] == ",":
            i += 1
        elif i < limit and text[i] != "]":
            errors.append(f"JSON array at offset {pos}: expected ',' or ']' at offset {i}")
            return items, i, errors, repaired


_INVALID = object()
_UNCLOSED = ValueError("the array never closes")
# far below any recursion limit: a value with fewer openers cannot hit RecursionError when decoded
_SHALLOW = 64


def _never_closes(text: str, pos: int, end: int, closers: str) -> bool:
    """True when ``text[pos:end]`` holds none of ``closers`` and ``text[pos:]`` too few openers to nest
    deeply: the value opened at ``pos`` cannot decode inside ``end``, and decoding it (which reads on
    to the end of the text) would not hit RecursionError."""
    for c in closers:
        if text.find(c, pos, end) >= 0:
            return False
    return text.count("[", pos) + text.count("{", pos) < _SHALLOW


def _why(exc: BaseException) -> Any:
    """The reason a decode failed, as the error messages show it."""
    if isinstance(exc, StopIteration):  # scan_once found no value where one should start
        return "Expecting value"
    return getattr(exc, "msg", exc)


# --- calls ---


_DEFAULT_TOOLS: list[Any] | None = None


def _default_tools() -> list[Any]:
    # one shared read-only copy: default_tools() deep-copies, which dominated parse time
    global _DEFAULT_TOOLS
    if _DEFAULT_TOOLS is None:
        from punie.toolcalls.specs import default_tools

        _DEFAULT_TOOLS = default_tools()
    return _DEFAULT_TOOLS


_DEFAULT_NAMES: frozenset[str] | None = None


def tool_names(tools: list[Any] | None) -> frozenset[str] | set[str]:
    global _DEFAULT_NAMES
    if tools is None:
        if _DEFAULT_NAMES is None:
            _DEFAULT_NAMES = frozenset(tool_names(_default_tools()))
        return _DEFAULT_NAMES
    names = set()
    for spec in tools:
        if isinstance(spec, dict):
            fn = spec.get("function", spec)
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                names.add(fn["name"])
    return names


def param_schemas(tools: list[Any] | None, name: str) -> dict[str, Any]:
    """The ``properties`` of tool ``name`` (empty when unknown)."""
    if tools is None:
        tools = _default_tools()
    for spec in tools:
        if not isinstance(spec, dict):
            continue
        fn = spec.get("function", spec)
        if isinstance(fn, dict) and fn.get("name") == name:
            params = fn.get("parameters")
            props = params.get("properties") if isinstance(params, dict) else None
            return props if isinstance(props, dict) else {}
    return {}


def normalize_call(obj: Any, tools: list[Any] | None, *, tagged: bool) -> dict[str, Any] | NotACall | str:
    """A call dict, NOT_A_CALL, or an error string.

    ``tagged``: the object sits inside call markup, so it is meant as a call. Untagged objects with a
    ``name`` but no ``arguments``/``parameters`` (a package.json) only count when ``name`` is a tool.
    """
    if not isinstance(obj, dict):
        return "tool call is not a JSON object" if tagged else NOT_A_CALL
    fn = obj.get("function")
    if isinstance(fn, dict) and ("name" not in obj or obj.get("type") == "function"):
        obj = fn
    name = obj.get("name", obj.get("tool_name"))
    if not isinstance(name, str) or not name:
        return "tool call has no name" if tagged else NOT_A_CALL
    if "arguments" in obj:
        args = obj["arguments"]
    elif "parameters" in obj:
        args = obj["parameters"]
        if is_schema(args):  # {"name", "description", "parameters": {"type": "object", ...}}: a definition
            return f"{name!r} is a tool definition, not a call" if tagged else NOT_A_CALL
    elif "args" in obj:
        args = obj["args"]
    else:
        if not tagged and name not in tool_names(tools):
            return NOT_A_CALL
        args = {}
    if args is None:
        args = {}
    if isinstance(args, str):
        stripped = args.strip()
        if not stripped:
            args = {}
        else:
            loaded = loads(stripped)
            if loaded is None:
                return f"arguments of {name!r} is a string that is not valid JSON"
            args = loaded[0]
    if not isinstance(args, dict):
        return f"arguments of {name!r} is not a JSON object"
    return {"name": name, "arguments": args}


def is_schema(value: Any) -> bool:
    """A JSON Schema object (what a tool definition's ``parameters`` holds), not argument values."""
    return isinstance(value, dict) and value.get("type") == "object" and isinstance(value.get("properties"), dict)


def _unwrap(value: Any) -> list[Any]:
    """Items of a value: an array's items; ``{"tool_calls": [...]}`` / ``{"tool_call": {...}}`` envelopes
    (llama.cpp generic, xLAM) opened; anything else as itself."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and "name" not in value:
        inner = value.get("tool_calls", value.get("tool_call"))
        if isinstance(inner, list):
            return inner
        if isinstance(inner, dict):
            return [inner]
    return [value]


def calls_from_values(
    values: list[Any], tools: list[Any] | None, *, tagged: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """Calls from decoded values (objects, arrays of objects, or envelopes holding them)."""
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    for value in values:
        for item in value if isinstance(value, list) else _unwrap(value):
            if type(item) is dict and "function" not in item:
                # the usual call, {"name": "...", "arguments": {...}}: what normalize_call returns for it
                name = item.get("name")
                args = item.get("arguments")
                if type(name) is str and name and type(args) is dict:
                    calls.append({"name": name, "arguments": args})
                    continue
            got = normalize_call(item, tools, tagged=tagged)
            if isinstance(got, dict):
                calls.append(got)
            elif isinstance(got, str):
                errors.append(got)
    return calls, errors


_CALLISH = re.compile(r"[\"'](?:arguments|parameters)[\"']\s*:|[\"']type[\"']\s*:\s*[\"']function")
_NAME_VALUE = re.compile(r"[\"']name[\"']\s*:\s*[\"']([^\"']*)")


def looks_like_call(fragment: str, tools: list[Any] | None) -> bool:
    """Whether an unparseable JSON fragment was meant as a call (decides if it is reported as an error)."""
    if _CALLISH.search(fragment):
        return True
    m = _NAME_VALUE.search(fragment)
    return bool(m) and any(n.startswith(m.group(1)) for n in tool_names(tools)) if m else False


# --- coercion of string values (XML-style formats) to the schema's types ---

_INT = re.compile(r"[+-]?\d+")


def coerce(value: str, schema: Any) -> Any:
    """``value`` converted to the JSON type the parameter schema asks for; unchanged if it doesn't fit."""
    types = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list) or not types or "string" in types:
        if isinstance(types, list) and "null" in types and value.strip() in ("null", "None"):
            return None
        return value
    s = value.strip()
    for t in types:
        if t == "integer" and _INT.fullmatch(s):
            return int(s)
        if t == "number":
            if _INT.fullmatch(s):
                return int(s)
            try:
                f = float(s)
            except ValueError:
                continue
            if f == f and f not in (float("inf"), float("-inf")):
                return f
        if t == "boolean" and s.lower() in ("true", "false"):
            return s.lower() == "true"
        if t == "null" and s in ("null", "None", ""):
            return None
        if t in ("object", "array"):
            loaded = loads(s)
            if loaded is not None and isinstance(loaded[0], dict if t == "object" else list):
                return loaded[0]
    return value


def result(
    name: str,
    calls: list[dict[str, Any]],
    content: str,
    errors: list[str],
    repaired: bool = False,
    spans: list[tuple[int, int]] | None = None,
) -> ParseResult:
    return ParseResult(
        calls=calls, content=content.strip(), format=name, errors=errors, repaired=repaired, spans=spans or []
    )


def finish(
    name: str,
    text: str,
    calls: list[dict[str, Any]],
    spans: list[tuple[int, int]],
    errors: list[str],
    repaired: bool = False,
) -> ParseResult:
    """The result of a format that read ``spans`` of ``text``: content is the text around them."""
    if len(spans) == 1:  # cut() for one span
        a, b = spans[0]
        head = text[:a].strip() if a > 0 else ""
        tail = text[b:].strip()
        content = f"{head}\n{tail}" if head and tail else head or tail
    else:
        content = cut(text, spans).strip()
    return ParseResult(calls, content, name, errors, repaired, spans or [])


def cut(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the given (start, end) spans, joined so paragraphs stay apart."""
    if not spans:
        return text
    parts = []
    pos = 0
    for a, b in sorted(spans):
        if a > pos:
            parts.append(text[pos:a].strip())
        pos = max(pos, b)
    parts.append(text[pos:].strip())
    return "\n".join(p for p in parts if p)
