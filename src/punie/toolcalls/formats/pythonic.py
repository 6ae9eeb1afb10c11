"""Pythonic calls, as BFCL's prompting mode and Llama-4 ask: ``[f(a=1), g(b="x")]``.

Read with ``ast`` (never ``eval``), item by item: a complete call is kept, an invalid one is an
error, a truncated tail is dropped. A single bare call ``f(a=1)`` filling the whole output counts
only when ``f`` is a tool. ``true``/``false``/``null`` are accepted as JSON spellings. The helpers
here also read LFM2's and OLMo 3's call lists.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from typing import Any

from punie.toolcalls.formats._common import balanced_end, finish, skip_ws, tool_names
from punie.toolcalls.result import ParseResult

NAME = "pythonic"
START = "["
END = "]"
LLAMA4_START = "<|python_start|>"
LLAMA4_END = "<|python_end|>"
TRIGGERS = ("(",)
GENERIC = True

_LIST_START = re.compile(r"\[\s*([A-Za-z_][\w.]*)\s*\(")
_CALL_START = re.compile(r"([A-Za-z_][\w.]*)\s*\(")
_FENCE_OPEN = re.compile(r"```(?:python|py|tool_code)?[ \t]*\n")
_JSON_NAMES = {"true": True, "false": False, "null": None}
_ITEM_SPLIT = re.compile(r"[\"'\\{}\[\](),;\n]")


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ValueError("** in a dict")
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    value = ast.literal_eval(node)
    if isinstance(value, complex | bytes | set | frozenset):
        raise ValueError(f"{type(value).__name__} is not a JSON value")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"non-finite number {value}")
    return value


# --- fast path: calls whose arguments are plain literals, read without ``ast`` ---
# Only a shape whose meaning is certain is read here: keyword arguments whose values are strings
# without line breaks or escapes other than \\ \' \" \n \t \r, decimal numbers of a few digits,
# True/False/None and their JSON spellings. Anything else (other escapes, containers, comments,
# keywords as names, a repeated argument, odd whitespace) is left to ``ast``, so both paths give the
# same calls (tests/toolcalls/test_fast_paths.py).

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_LIT = (
    r"'[^'\\\n\r\x00\ud800-\udfff]*(?:\\[\\'\"ntr][^'\\\n\r\x00\ud800-\udfff]*)*'"
    r"|\"[^\"\\\n\r\x00\ud800-\udfff]*(?:\\[\\'\"ntr][^\"\\\n\r\x00\ud800-\udfff]*)*\""
    r"|-?(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,15})?(?![\w.])|(?:True|False|None|true|false|null)(?!\w)"
)
_WS = r"[ \t\n]*"
_KWARGS = rf"(?:{_ID}{_WS}={_WS}(?:{_LIT})(?:{_WS},{_WS}{_ID}{_WS}={_WS}(?:{_LIT}))*{_WS},?{_WS})?"
_CALL = rf"(?P<name>{_ID}(?:\.{_ID})*)[ \t]*\({_WS}(?P<args>{_KWARGS})\)"
_ONE_CALL = re.compile(_CALL)
_CALL_LIST = re.compile(rf"{_WS}{_CALL}(?:{_WS},{_WS}{_CALL.replace('?P<name>', '').replace('?P<args>', '')})*{_WS},?{_WS}")
_KWARG = re.compile(rf"({_ID}){_WS}={_WS}({_LIT})")
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_CONSTANTS = {"True": True, "true": True, "False": False, "false": False, "None": None, "null": None}
_RESERVED = frozenset(keyword.kwlist) | {"__debug__"}


def _unescape(m: re.Match[str]) -> str:
    return _ESCAPES[m.group(1)]


def _fast_call(m: re.Match[str]) -> dict[str, Any] | None:
    """The call ``_ONE_CALL`` matched, or None where only ``ast`` can tell (a reserved word as a
    name, an argument given twice)."""
    name = m.group("name")
    if not _RESERVED.isdisjoint(name.split(".")):
        return None
    args: dict[str, Any] = {}
    for kw in _KWARG.finditer(m.group("args")):
        key, raw = kw.groups()
        if key in args or key in _RESERVED:
            return None
        c = raw[0]
        if c == "'" or c == '"':
            args[key] = raw[1:-1] if "\\" not in raw else _ESCAPE.sub(_unescape, raw[1:-1])
        elif raw in _CONSTANTS:
            args[key] = _CONSTANTS[raw]
        else:
            args[key] = float(raw) if "." in raw else int(raw)
    return {"name": name, "arguments": args}


def _fast_calls(text: str, pos: int, end: int) -> list[dict[str, Any]] | None:
    """The calls of a comma-separated list ``text[pos:end]`` read without ``ast``, or None."""
    if not _CALL_LIST.fullmatch(text, pos, end):
        return None
    calls = []
    for m in _ONE_CALL.finditer(text, pos, end):
        got = _fast_call(m)
        if got is None:
            return None
        calls.append(got)
    return calls


def call_of(source: str) -> dict[str, Any] | str:
    """One ``f(a=1)`` call read from ``source``, or an error string."""
    source = source.strip()
    m = _ONE_CALL.fullmatch(source)
    if m is not None:
        got = _fast_call(m)
        if got is not None:
            return got
    return _ast_call_of(source)


def _ast_call_of(source: str) -> dict[str, Any] | str:
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return f"call is not valid Python: {getattr(exc, 'msg', exc)}"
    return _call_node(node)


def _call_node(node: ast.expr) -> dict[str, Any] | str:
    name = _dotted(node.func) if isinstance(node, ast.Call) else None
    if name is None or not isinstance(node, ast.Call):
        return "list item is not a function call"
    if node.args:
        return f"{name}: positional arguments are not supported (use name=value)"
    args: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            return f"{name}: **kwargs are not supported"
        try:
            args[kw.arg] = _literal(kw.value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as exc:
            why = str(exc) if str(exc).startswith("non-finite") else ast.dump(kw.value)[:60]
            return f"{name}: argument {kw.arg!r} is not a literal ({why})"
    return {"name": name, "arguments": args}


def split_items(text: str, pos: int, end: int, seps: str) -> tuple[list[tuple[int, int]], bool]:
    """Ranges of the items between ``pos`` and ``end`` split at top-level ``seps`` (quote- and
    bracket-aware), and whether the last one is complete (its brackets and quotes all closed)."""
    items: list[tuple[int, int]] = []
    depth = 0
    quote = ""
    skip = -1
    start = pos
    for m in _ITEM_SPLIT.finditer(text, pos, end):
        i = m.start()
        if i == skip:
            continue
        ch = m.group()
        if quote:
            if ch == "\\":
                skip = i + 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif depth == 0 and ch in seps:
            items.append((start, i))
            start = i + 1
    items.append((start, end))
    return items, depth == 0 and not quote


def calls_from_items(
    text: str, pos: int, end: int, seps: str, closed: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """Calls from a separated list of ``f(a=1)`` items; ``closed``: the list's end was seen."""
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    if closed and seps == ",":  # fast path: the whole list at once; item by item only when that fails
        fast = _fast_calls(text, pos, end)
        if fast is not None:
            return fast, errors
        try:
            tree = ast.parse("[" + text[pos:end] + "]", mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
        if isinstance(tree, ast.List) and all(isinstance(e, ast.Call) for e in tree.elts):
            for node in tree.elts:
                got = _call_node(node)
                (calls if isinstance(got, dict) else errors).append(got)  # type: ignore[arg-type]
            return calls, errors
    ranges, complete = split_items(text, pos, end, seps)
    for k, (a, b) in enumerate(ranges):
        src = text[a:b]
        if not src.strip():
            continue
        if k == len(ranges) - 1 and not (closed and complete):
            errors.append(f"call list truncated at offset {a}: an unfinished call is dropped")
            break
        got = call_of(src)
        if isinstance(got, dict):
            calls.append(got)
        else:
            errors.append(got)
    return calls, errors


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if "(" not in text:
        return None
    start = pos = skip_ws(text, 0)
    if text.startswith(LLAMA4_START, pos):
        pos = skip_ws(text, pos + len(LLAMA4_START))
    fence_end = -1
    fence = _FENCE_OPEN.match(text, pos)
    if fence:
        pos = skip_ws(text, fence.end())
        fence_end = text.find("\n```", pos)
    limit = len(text) if fence_end < 0 else fence_end
    head = _LIST_START.match(text, pos, limit)
    known = tool_names(tools)
    if head:
        # prose such as "[See (1)]" also starts like this: only report errors when a tool was named
        first = head.group(1)
        close = balanced_end(text, pos, limit)
        calls, errors = calls_from_items(text, pos + 1, limit if close is None else close - 1, ",", close is not None)
        stop = limit if close is None else close
    else:
        m = _CALL_START.match(text, pos, limit)
        body = text[pos:limit].rstrip()
        if m is None or m.group(1) not in known or not body.endswith(")"):
            return None
        got = call_of(body)
        if not isinstance(got, dict):
            return None
        first, calls, errors, stop = m.group(1), [got], [], pos + len(body)
    if not calls and first not in known:
        return None
    stop = skip_ws(text, stop)
    if text.startswith(LLAMA4_END, stop):
        stop += len(LLAMA4_END)
    if fence_end >= 0 and not text[stop:fence_end].strip():
        stop = fence_end + 4
    return finish(NAME, text, calls, [(start, stop)], errors)
