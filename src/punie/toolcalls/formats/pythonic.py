"""Pythonic calls, as BFCL's prompting mode and Llama-4 ask: ``[f(a=1), g(b="x")]``.

Read with ``ast`` (never ``eval``). A single bare call ``f(a=1)`` filling the whole output counts
only when ``f`` is a tool. ``true``/``false``/``null`` are accepted as JSON spellings.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from punie.toolcalls.formats._common import balanced_end, result, tool_names
from punie.toolcalls.result import ParseResult

NAME = "pythonic"
START = "["
END = "]"
LLAMA4_START = "<|python_start|>"
LLAMA4_END = "<|python_end|>"
TRIGGERS = ("(",)
GENERIC = True

_LIST_START = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
_CALL_START = re.compile(r"[A-Za-z_][\w.]*\s*\(")
_FENCE = re.compile(r"\A```(?:python|py|tool_code)?[ \t]*\n(.*?)(?:\n```|\Z)", re.S)
_JSON_NAMES = {"true": True, "false": False, "null": None}


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
    return value


def _calls(nodes: list[ast.expr]) -> tuple[list[dict[str, Any]], list[str]]:
    calls, errors = [], []
    for node in nodes:
        name = _dotted(node.func) if isinstance(node, ast.Call) else None
        if name is None or not isinstance(node, ast.Call):
            errors.append("list item is not a function call")
            continue
        if node.args:
            errors.append(f"{name}: positional arguments are not supported (use name=value)")
            continue
        args: dict[str, Any] = {}
        try:
            for kw in node.keywords:
                if kw.arg is None:
                    raise ValueError("**kwargs")
                args[kw.arg] = _literal(kw.value)
        except (ValueError, TypeError, SyntaxError, RecursionError) as exc:
            errors.append(f"{name}: argument is not a literal ({exc})")
            continue
        calls.append({"name": name, "arguments": args})
    return calls, errors


def parse(text: str, tools: list[Any] | None) -> ParseResult | None:
    if "(" not in text:
        return None
    body = text.strip()
    for marker in (LLAMA4_START, LLAMA4_END):
        body = body.replace(marker, "")
    fence = _FENCE.match(body)
    if fence:
        body = fence.group(1).strip()
    head = _LIST_START.match(body)
    first: str | None
    if head:
        # prose such as "[See (1)]" also starts like this: only report errors when a tool was named
        first = head.group()[1:-1].strip()
        end = balanced_end(body, 0)
        if end is None:
            return result(NAME, [], "", ["pythonic call list is truncated"]) if first in tool_names(tools) else None
        try:
            tree = ast.parse(body[:end], mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            if first not in tool_names(tools):
                return None
            return result(NAME, [], body[end:], [f"pythonic call list is not valid Python: {exc}"])
        if not isinstance(tree, ast.List):
            return None
        calls, errors = _calls(tree.elts)
        rest = body[end:]
    elif _CALL_START.match(body) and body.endswith(")"):
        try:
            tree = ast.parse(body, mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        if not isinstance(tree, ast.Call) or _dotted(tree.func) not in tool_names(tools):
            return None
        first = _dotted(tree.func)
        calls, errors = _calls([tree])
        rest = ""
    else:
        return None
    if not calls and (not errors or first not in tool_names(tools)):
        return None
    return result(NAME, calls, rest, errors)
