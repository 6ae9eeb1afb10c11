"""``bfcl:<category>``: BFCL v4 single-turn categories, prompted and scored the way BFCL does it.

The data comes from the PyPI wheel ``bfcl-eval`` installed with ``pip install --no-deps bfcl-eval``
(its pinned dependency tree is not needed: punie only reads the JSON files and never imports it).

Prompting follows BFCL's default prompting mode (``ret_fmt=python&tool_call_tag=False&func_doc_fmt=json
&prompt_fmt=plaintext&style=classic``): the system prompt below is BFCL's text, the function docs
are ``json.dumps(functions, indent=4)`` with BFCL's "Python 3 syntax" hint appended to each
description. Scoring re-implements BFCL's AST checker (``bfcl_eval/eval_checker/ast_eval/
ast_checker.py``) for Python, quirks included, because importing it would need BFCL's dependencies.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from punie.backends.base import GenerationRequest
from punie.errors import PunieError, SuiteError

INSTALL_HINT = "install the BFCL data with: pip install --no-deps bfcl-eval"
DATA_ENV = "PUNIE_BFCL_DATA"  # optional: a folder holding BFCL_v4_*.json and possible_answer/
VERSION_PREFIX = "BFCL_v4"

# Public name → BFCL file stem. Only Python single-turn categories (Java/JS need BFCL's converters).
CATEGORIES: dict[str, str] = {
    "simple_python": "simple_python",
    "simple": "simple_python",
    "multiple": "multiple",
    "parallel": "parallel",
    "parallel_multiple": "parallel_multiple",
    "irrelevance": "irrelevance",
    "live_simple": "live_simple",
    "live_multiple": "live_multiple",
    "live_parallel": "live_parallel",
    "live_parallel_multiple": "live_parallel_multiple",
    "live_irrelevance": "live_irrelevance",
    "live_relevance": "live_relevance",
}
MAX_NEW_TOKENS = 256

# ---- BFCL's prompt (constants/default_prompts.py, classic style, plaintext, python, no tag) ---------
_PERSONA = "You are an expert in composing functions."
_TASK = (
    "You are given a question and a set of possible functions. Based on the question, you will need to "
    "make one or more function/tool calls to achieve the purpose. If none of the functions can be used, "
    "point it out. If the given question lacks the parameters required by the function, also point it out."
)
_TOOL_CALL_FORMAT = (
    "You should only return the function calls in your response.\n\nIf you decide to invoke any of the "
    "function(s), you MUST put it in the format of [func_name1(params_name1=params_value1, "
    "params_name2=params_value2...), func_name2(params)]. {param_types} You SHOULD NOT include any other "
    "text in the response."
).replace("{param_types}", "")  # PARAM_TYPE_MAPPING["python"] is ""
_MULTITURN = (
    "At each turn, you should try your best to complete the tasks requested by the user within the current "
    "turn. Continue to output functions to call until you have fulfilled the user's request to the best of "
    "your ability. Once you have no more functions to call, the system will consider the current turn "
    "complete and proceed to the next turn or task."
)
_AVAILABLE = "Here is a list of functions in json format that you can invoke.\n{functions}\n"
_PYTHON_HINT = " Note that the provided function is in Python 3 syntax."


def system_prompt(functions: list[dict[str, Any]]) -> str:
    """BFCL's default system prompt (``formulate_system_prompt``), persona and task joined as BFCL does."""
    docs = copy.deepcopy(functions)
    for fn in docs:  # utils._func_doc_language_specific_pre_processing for Python
        fn["description"] = str(fn.get("description", "")) + _PYTHON_HINT
    available = _AVAILABLE.replace("{functions}", json.dumps(docs, indent=4))
    return f"{_PERSONA}{_TASK}\n\n{_TOOL_CALL_FORMAT}\n\n{_MULTITURN}\n\n{available}"


def build_messages(case: dict[str, Any]) -> list[dict[str, Any]]:
    """BFCL's ``system_prompt_pre_processing_chat_model``: prepend to an existing system turn."""
    msgs = [dict(m) for m in case["messages"]]
    prompt = system_prompt(case["functions"])
    if msgs and msgs[0].get("role") == "system":
        msgs[0]["content"] = prompt + "\n\n" + str(msgs[0].get("content") or "")
    else:
        msgs.insert(0, {"role": "system", "content": prompt})
    return msgs


# ---- data --------------------------------------------------------------------------------------------
def data_dir() -> Path:
    """BFCL's ``data`` folder: $PUNIE_BFCL_DATA, else the installed ``bfcl_eval`` package (never imported)."""
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise SuiteError(f"{DATA_ENV}={env} is not a folder", location=DATA_ENV, hint=INSTALL_HINT)
        return path
    from punie.models.registry import package_dir

    pkg = package_dir("bfcl_eval")
    if pkg is None or not (pkg / "data").is_dir():
        raise SuiteError("the BFCL data is not installed", location="--suite bfcl", hint=INSTALL_HINT)
    return pkg / "data"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SuiteError(f"invalid JSON: {exc.msg}", location=f"{path}:{lineno}") from exc
    return rows


def load_cases(name: str) -> list[dict[str, Any]]:
    """All cases of ``bfcl:<category>`` (the runner applies --limit)."""
    category = name.split(":", 1)[1] if ":" in name else name
    stem = CATEGORIES.get(category)
    if stem is None:
        known = ", ".join(f"bfcl:{c}" for c in CATEGORIES)
        raise SuiteError(f"unknown BFCL category {category!r}", location="--suite", hint=f"known: {known}")
    root = data_dir()
    qfile = root / f"{VERSION_PREFIX}_{stem}.json"
    if not qfile.is_file():
        raise SuiteError(f"{qfile.name} is missing from the BFCL data", location=str(root), hint=INSTALL_HINT)
    answers: dict[str, Any] = {}
    afile = root / "possible_answer" / qfile.name
    needs_answers = "irrelevance" not in stem and "relevance" not in stem
    if needs_answers:
        if not afile.is_file():
            raise SuiteError(f"{afile} is missing", location=str(root), hint=INSTALL_HINT)
        answers = {row["id"]: row["ground_truth"] for row in _read_jsonl(afile)}
    cases = []
    for row in _read_jsonl(qfile):
        if needs_answers and row["id"] not in answers:
            raise SuiteError(f"no possible answer for {row['id']}", location=str(afile))
        cases.append(
            {
                "id": row["id"],
                "category": f"bfcl:{stem}",
                "bfcl_category": stem,
                "messages": row["question"][0],  # single-turn categories hold one turn
                "functions": row["function"],
                "possible_answer": answers.get(row["id"]),
            }
        )
    return cases


# ---- decoding (BFCL's default_decode_ast_prompting + ast_parse, without its eval() calls) ------------
class DecodeError(ValueError):
    pass


def decode_pythonic(text: str) -> list[dict[str, Any]]:
    """BFCL's decoder: strip backticks/newlines, wrap in [], ``ast.parse``; every element must be a call."""
    s = (text or "").strip("`\n ")
    if not s.startswith("["):
        s = "[" + s
    if not s.endswith("]"):
        s = s + "]"
    s = s.strip().strip("'")
    try:
        tree = ast.parse(s, mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise DecodeError(f"not a Python call list: {exc}") from exc
    body = tree.body
    elts = [body] if isinstance(body, ast.Call) else getattr(body, "elts", None)
    if elts is None:
        raise DecodeError("not a list of calls")
    calls = []
    for elem in elts:
        if not isinstance(elem, ast.Call):
            raise DecodeError("list element is not a call")
        name, args = _resolve_call(elem)
        calls.append({"name": name, "arguments": args})
    return calls


def _resolve_call(elem: ast.Call) -> tuple[str, dict[str, Any]]:
    parts = []
    func: ast.AST = elem.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    args = {}
    for kw in elem.keywords:
        if kw.arg is None:
            raise DecodeError("**kwargs in a call")
        args[kw.arg] = _resolve_value(kw.value)
    return ".".join(reversed(parts)), args


def _resolve_value(node: ast.AST) -> Any:
    # Mirrors bfcl's resolve_ast_by_type; BinOp/Lambda are folded only when purely numeric (BFCL eval()s
    # them, which would run model-written code here).
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        operand: Any = node.operand.value
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
        if isinstance(node.op, ast.Not):
            return not node.operand.value
    if isinstance(node, ast.List):
        return [_resolve_value(v) for v in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_resolve_value(v) for v in node.elts)
    if isinstance(node, ast.Dict):
        return {_resolve_value(k) if k is not None else None: _resolve_value(v)
                for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.BinOp):
        return _fold_numeric(node)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        if not node.keywords:
            return ast.unparse(node)
        name, args = _resolve_call(node)
        return {name: args}
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    if isinstance(node, ast.Attribute):
        return ast.unparse(node)
    raise DecodeError(f"unsupported expression {type(node).__name__}")


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}


def _fold_numeric(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_fold_numeric(node.operand)
    if isinstance(node, ast.BinOp):
        left, right = _fold_numeric(node.left), _fold_numeric(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > 64 or abs(left) > 1e6:
                raise DecodeError("power too large")
            return left**right
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise DecodeError("unsupported operator")
        try:
            return op(left, right)
        except ZeroDivisionError as exc:
            raise DecodeError("division by zero") from exc
    raise DecodeError("non-numeric expression")


def parse_reply(text: str, functions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, bool]:
    """(calls, format, bfcl_strict): BFCL's own decoder first, then punie's pythonic and lenient parsers."""
    try:
        calls = decode_pythonic(text)
        return calls, "pythonic" if calls else "none", True
    except (DecodeError, RecursionError):
        pass
    from punie.toolcalls import normalize_tools, parse

    tools = normalize_tools(functions)
    for fmt in ("pythonic", None):
        try:
            res = parse(text, tools, format=fmt)
        except (PunieError, ValueError, KeyError):  # e.g. a format name the registry doesn't know
            continue
        if res.calls:
            return [{"name": c["name"], "arguments": c.get("arguments") or {}} for c in res.calls], res.format, False
    return [], "none", False


# ---- BFCL's AST checker (Python) ------------------------------------------------------------------
PYTHON_TYPE_MAPPING: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
_NESTED = ("array", "tuple")
_STD = re.compile(r"[ \,\.\/\-\_\*\^]")


def standardize_string(s: str) -> str:
    """BFCL: drop spaces and ``,./-_*^``, lower-case, single quotes → double quotes."""
    return _STD.sub("", s).lower().replace("'", '"')


def _answer_type(possible: list[Any]) -> type | None:
    for ans in possible:
        if ans != "":
            return type(ans)
    return None


def _type_check(value: Any, possible: list[Any], expected: type, nested: type | None) -> tuple[bool, bool, str]:
    """(valid, is_variable, error) — bfcl type_checker, one level of nesting."""
    pa_type = _answer_type(possible)
    is_variable = pa_type is not None and pa_type is not expected
    if type(value) is expected:
        if nested is None:
            return True, is_variable, ""
        for item in possible:
            flag = True
            if type(item) is list:
                for v in value:  # type: ignore[attr-defined]  # type(value) is expected, a container here
                    if not _type_check(v, item, nested, None)[0]:
                        flag = False
                        break
            if flag:
                return True, is_variable, ""
        return False, False, f"nested type: expected items of type {nested.__name__}"
    if pa_type is not None and type(value) is pa_type:
        return True, True, ""
    return False, False, f"expected type {expected.__name__}, got {type(value).__name__}"


def _std_list(values: list[Any]) -> list[Any]:
    return [standardize_string(v) if type(v) is str else v for v in values]


def _dict_check(value: dict[str, Any], possible: list[Any]) -> str | None:
    error = "dict does not match"
    for answer in possible:
        if answer == "":
            continue
        error = ""
        for key, v in value.items():
            if key not in answer:
                error = f"unexpected dict key {key!r}"
                break
            std = standardize_string(v) if type(v) is str else v
            if std not in _std_list(answer[key]):
                error = f"invalid value for dict key {key!r}: {v!r}"
                break
        if not error:
            for key, vals in answer.items():
                if key not in value and "" not in vals:
                    error = f"missing dict key {key!r}"
                    break
        if not error:
            return None
    return error


def _list_dict_check(value: list[Any], possible: list[Any]) -> str | None:
    error = "list of dicts does not match"
    for answer in possible:
        if type(answer) is not list or len(value) != len(answer):
            error = "wrong number of dicts in the list"
            continue
        errs = [_dict_check(v, [a]) for v, a in zip(value, answer, strict=True)]
        first = next((e for e in errs if e), None)
        if first is None:
            return None
        error = first
    return error


def check_call(doc: dict[str, Any], call: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """BFCL ``simple_function_checker``: None when ``call`` matches ``{name: {param: [options]}}``."""
    possible = next(iter(answer.values()))
    name = doc["name"]
    props = doc.get("parameters", {}).get("properties", {}) or {}
    required = doc.get("parameters", {}).get("required", []) or []
    if call.get("name") != name:
        return f"wrong function name {call.get('name')!r}, expected {name!r}"
    args = call.get("arguments") or {}
    if not isinstance(args, dict):
        return "arguments are not keyword arguments"
    for param in required:
        if param not in args:
            return f"missing required parameter {param!r}"
    for param, value in args.items():
        if param not in props or param not in possible:
            return f"unexpected parameter {param!r}"
        type_name = props[param].get("type", "any")
        expected = PYTHON_TYPE_MAPPING.get(type_name)
        if expected is None:  # a type BFCL's Python mapping lacks: BFCL would crash, we compare values
            if value not in possible[param]:
                return f"invalid value for {param!r}: {value!r}"
            continue
        nested = None
        if type_name in _NESTED:
            nested = PYTHON_TYPE_MAPPING.get((props[param].get("items") or {}).get("type", ""))
        if type_name == "tuple" and type(value) is tuple:
            value = list(value)
        if type_name == "float" and type(value) is int:
            value = float(value)
        ok, is_variable, type_error = _type_check(value, possible[param], expected, nested)
        if not ok:
            return f"parameter {param!r}: {type_error}"
        error: str | None
        if not is_variable:
            if expected is dict:
                error = _dict_check(value, possible[param])
            elif expected is list and nested is dict:
                error = _list_dict_check(value, possible[param])
            elif expected is str:
                ok = standardize_string(value) in [standardize_string(p) for p in possible[param] if type(p) is str]
                error = None if ok else f"invalid value for {param!r}: {value!r}"
            elif expected is list:
                # BFCL builds one option per listed answer; an omittable "" becomes [] (so [] passes)
                options = [_std_list(p) if type(p) is list else []
                           for p in possible[param] if type(p) is list or p == ""]
                error = None if _std_list(list(value)) in options else f"invalid value for {param!r}: {value!r}"
            else:
                error = None if value in possible[param] else f"invalid value for {param!r}: {value!r}"
            if error:
                return error
            continue
        if value not in possible[param]:
            return f"invalid value for {param!r}: {value!r}"
    for param, options in possible.items():
        if param not in args and "" not in options:
            return f"parameter {param!r} not provided and not optional"
    return None


def _find_doc(functions: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for fn in functions:
        if fn.get("name") == name:
            return fn
    return {"name": name, "parameters": {"properties": {}, "required": []}}


def ast_check(category: str, functions: list[dict[str, Any]], calls: list[dict[str, Any]],
              answers: list[dict[str, Any]]) -> str | None:
    """BFCL ``ast_checker``: None when valid, else the reason. Parallel categories are order-insensitive."""
    if len(calls) != len(answers):
        return f"wrong number of calls: {len(calls)}, expected {len(answers)}"
    if "parallel" in category:
        matched: set[int] = set()
        for i, answer in enumerate(answers):  # greedy, as BFCL's parallel_function_checker_no_order
            doc = _find_doc(functions, next(iter(answer)))
            errors = []
            for j, call in enumerate(calls):
                if j in matched:
                    continue
                err = check_call(doc, call, answer)
                if err is None:
                    matched.add(j)
                    break
                errors.append(err)
            else:
                return f"no call matches expected call {i} ({next(iter(answer))}): " + "; ".join(errors)
        return None
    doc = _find_doc(functions, next(iter(answers[0]))) if "multiple" in category else functions[0]
    return check_call(doc, calls[0], answers[0])


def judge(case: dict[str, Any], calls: list[dict[str, Any]]) -> str | None:
    """None when the case is passed, else why not."""
    category = case["bfcl_category"]
    if "irrelevance" in category:
        return None if not calls else f"called {calls[0].get('name')!r} where no function applies"
    if "relevance" in category:
        return None if calls else "no function call"
    return ast_check(category, case["functions"], calls, case["possible_answer"])


# ---- the suite ---------------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _first_option(value: Any) -> Any:
    """A concrete value from a possible answer: dict answers nest ``{key: [options]}`` themselves."""
    if isinstance(value, dict):
        return {k: _first_option(opts[0]) for k, opts in value.items()
                if isinstance(opts, list) and opts and opts[0] != ""}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_first_option(v) for v in value]
    return value


def expected_calls(possible: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One correct call list: the first listed option per parameter (omittable ones left out)."""
    out = []
    for answer in possible or []:
        name, params = next(iter(answer.items()))
        args = {p: _first_option(opts[0]) for p, opts in params.items() if opts and opts[0] != ""}
        out.append({"name": name, "arguments": args})
    return out


def evaluate(
    cases: list[dict[str, Any]],
    backend: Any,
    *,
    progress: Callable[[int], None] | None = None,
    max_new_tokens: int | None = None,
) -> list[dict[str, Any]]:
    """One batched generation for all cases, then BFCL AST scoring."""
    budget = max_new_tokens or MAX_NEW_TOKENS
    requests = [GenerationRequest(messages=build_messages(c), tools=[], max_new_tokens=budget) for c in cases]
    generations = backend.generate(requests, progress=progress) if requests else []
    records = []
    for case, gen in zip(cases, generations, strict=True):
        text = gen.text or ""
        calls, fmt, strict = parse_reply(text, case["functions"])
        reason = judge(case, calls)
        records.append(
            {
                "id": case["id"],
                "category": case["category"],
                "correct": reason is None,
                "calls": _jsonable(calls),
                "expected_calls": expected_calls(case.get("possible_answer")),
                "possible_answer": case.get("possible_answer"),
                "raw": text,
                "format": fmt,
                "bfcl_strict": strict,
                "messages": case["messages"],
                "finish_reason": getattr(gen, "finish_reason", "stop"),
                "detail": reason or "",
            }
        )
    return records


__all__ = [
    "CATEGORIES",
    "INSTALL_HINT",
    "ast_check",
    "build_messages",
    "check_call",
    "data_dir",
    "decode_pythonic",
    "expected_calls",
    "evaluate",
    "judge",
    "load_cases",
    "parse_reply",
    "standardize_string",
    "system_prompt",
]
