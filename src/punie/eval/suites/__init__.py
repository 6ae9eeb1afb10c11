"""Eval suites: the registry of built-in suites, JSONL suite files, and the suite-module contract.

A suite is a list of case dicts (docs/suite-format.md): ``id``, ``category``, ``messages``, optional
``tools``, and ``expected_calls`` for tool-call categories; other categories add their own fields.

Suite-module contract (every module named in ``SUITES`` / ``CATEGORY_MODULES``)::

    load_cases(name: str) -> list[dict]
        The cases of the built-in suite ``name`` (e.g. "agentic", "bfcl:simple_python").
    preflight() -> None   (optional)
        Raise a PunieError when the module cannot run here; called before any model loads.
    evaluate(cases, backend, *, progress=None, max_new_tokens=None) -> list[dict]
        One record per case, in order, with at least
        {"id", "category", "correct": bool, "calls", "expected_calls", "raw", "format"}
        plus anything extra. ``progress(n)`` is called with the number of cases just finished.
        ``max_new_tokens=None`` means the module's own default; a module may omit that parameter
        (the runner only passes it where the signature accepts it). Generate for all cases with ONE
        ``backend.generate(requests)`` call where possible (the in-process backend batches and
        shares the prompt prefix). An empty, endless or garbage reply is a failed record, never an
        exception.

Tool-call categories are scored by ``punie.eval.scoring`` (``score_case``), which any module may use.
"""

from __future__ import annotations

import importlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from punie.errors import SuiteError

# Public suite names (what users type after --suite) -> module. Renames are breaking changes.
SUITES: dict[str, str] = {
    "punie-tools": "punie.eval.suites.tools",
    "punie-wild": "punie.eval.suites.tools",
    "agentic": "punie.eval.suites.agentic",
    "code": "punie.eval.suites.code",
    "reasoning": "punie.eval.suites.reasoning",
}
# ``bfcl:<category>`` (e.g. bfcl:simple_python) is served by one module.
PREFIX_SUITES: dict[str, str] = {"bfcl:": "punie.eval.suites.bfcl"}

# Which module evaluates a case of a given category. A category not listed here whose case has
# ``expected_calls`` is a tool-call case (users may name categories freely in their suite files).
TOOL_MODULE = "punie.eval.suites.tools"
CATEGORY_MODULES: dict[str, str] = {
    "tool_call": TOOL_MODULE,
    "no_call": TOOL_MODULE,
    "agentic": "punie.eval.suites.agentic",
    "code": "punie.eval.suites.code",
    "reasoning": "punie.eval.suites.reasoning",
}
TOOL_CATEGORIES: tuple[str, ...] = ("tool_call", "no_call")


@dataclass
class Suite:
    name: str
    cases: list[dict[str, Any]] = field(default_factory=list)
    path: str | None = None  # the JSONL file, for suites read from a file

    def sample(self, fraction: float) -> Suite:
        """A deterministic subset stratified by category: every case whose position within its
        category falls on the ``fraction`` grid (``fraction >= 1`` returns the suite itself).

        Used where a second, paired measurement of the same suite is enough on a share of it (the
        demo's baseline of the base model); McNemar then runs on the shared cases.
        """
        if not fraction > 0:
            raise ValueError(f"fraction must be > 0, got {fraction}")
        if fraction >= 1:
            return self
        seen: dict[str, int] = {}
        keep = []
        for case in self.cases:
            cat = str(case.get("category"))
            i = seen.get(cat, 0)
            seen[cat] = i + 1
            # case i of its category is kept when the running quota ceil((i+1)*f) steps up, so
            # every category keeps its first case and about its share of the rest
            if math.ceil((i + 1) * fraction) > math.ceil(i * fraction):
                keep.append(case)
        return Suite(self.name, keep, self.path)


def suite_names() -> list[str]:
    return [*SUITES, *(f"{p}<category>" for p in PREFIX_SUITES)]


def _module_name_for_suite(name: str) -> str | None:
    if name in SUITES:
        return SUITES[name]
    for prefix, module in PREFIX_SUITES.items():
        if name.startswith(prefix):
            return module
    return None


def module_for_category(category: str, case: dict[str, Any] | None = None) -> str:
    """Module name that evaluates cases of ``category``."""
    if category in CATEGORY_MODULES:
        return CATEGORY_MODULES[category]
    for prefix, module in PREFIX_SUITES.items():
        if category.startswith(prefix):
            return module
    if case is None or "expected_calls" in case:
        return TOOL_MODULE
    raise SuiteError(f"unknown category {category!r} (cases without expected_calls must use one of "
                     f"{', '.join(c for c in CATEGORY_MODULES if c not in TOOL_CATEGORIES)} or bfcl:*)")


def is_tool_case(case: dict[str, Any]) -> bool:
    return module_for_category(str(case.get("category", "tool_call")), case) == TOOL_MODULE


def import_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise SuiteError(f"suite module {module_name} is not available in this install") from exc
        raise


def preflight(suites: list[Suite]) -> None:
    """Call the optional ``preflight()`` of every module the suites' cases need: a suite that cannot
    run on this machine (model-written code with nothing to confine it) fails before any model loads."""
    names = {module_for_category(str(c.get("category", "tool_call")), c) for s in suites for c in s.cases}
    for name in sorted(names):
        check = getattr(import_module(name), "preflight", None)
        if check is not None:
            check()


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a ``.jsonl`` suite file. Unknown names raise ``SuiteError``."""
    module_name = _module_name_for_suite(name_or_path)
    if module_name is not None:
        cases = import_module(module_name).load_cases(name_or_path)
        for i, case in enumerate(cases):
            validate_case(case, f"{name_or_path}: case {i + 1}")
        _check_unique_ids(cases, name_or_path)
        return Suite(name=name_or_path, cases=cases)
    path = Path(name_or_path).expanduser()
    if path.suffix == ".jsonl" or path.exists():
        return Suite(name=path.stem, cases=read_suite_file(path), path=str(path))
    raise SuiteError(
        f"unknown suite {name_or_path!r}",
        location="--suite",
        hint=f"built-in suites: {', '.join(suite_names())}; or a path to a .jsonl suite file",
    )


def read_suite_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL suite; every problem raises ``SuiteError`` located at ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError("suite file not found", location=str(path))
    cases: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read suite file: {exc}", location=str(path)) from exc
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        loc = f"{path}:{lineno}"
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"invalid JSON: {exc.msg} (column {exc.colno})", location=loc) from exc
        if not isinstance(case, dict):
            raise SuiteError("a suite line must be a JSON object", location=loc)
        case.setdefault("id", f"{path.stem}-{lineno}")
        validate_case(case, loc)
        if case["id"] in seen:
            raise SuiteError(f"duplicate id {case['id']!r} (first on line {seen[case['id']]})", location=loc)
        seen[case["id"]] = lineno
        cases.append(case)
    if not cases:
        raise SuiteError("suite file has no cases", location=str(path))
    return cases


def validate_case(case: dict[str, Any], location: str) -> dict[str, Any]:
    """Check and normalise one case in place (category default, expected_calls arguments as objects)."""
    if not isinstance(case.get("id"), str | int) or str(case["id"]) == "":
        raise SuiteError("missing id", location=location)
    case["id"] = str(case["id"])
    if "category" not in case:
        case["category"] = "no_call" if case.get("expected_calls") == [] else "tool_call"
    if not isinstance(case["category"], str) or not case["category"]:
        raise SuiteError("category must be a non-empty string", location=location)
    messages = case.get("messages")
    if "messages" in case or is_tool_case_safe(case, location):
        if not isinstance(messages, list) or not messages:
            raise SuiteError("missing messages (a non-empty list)", location=location)
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
                raise SuiteError(f"message {i}: must be an object with a role", location=location)
    if "tools" in case and case["tools"] is not None and not isinstance(case["tools"], list):
        raise SuiteError("tools must be a list of tool specs", location=location)
    if is_tool_case_safe(case, location):
        if "expected_calls" not in case:
            raise SuiteError("missing expected_calls", location=location)
        case["expected_calls"] = normalize_calls(case["expected_calls"], location)
    return case


def is_tool_case_safe(case: dict[str, Any], location: str) -> bool:
    """Like ``is_tool_case`` but names the location when the category is unknown."""
    category = str(case.get("category", "tool_call"))
    if category in TOOL_CATEGORIES:
        return True
    try:
        return module_for_category(category, case) == TOOL_MODULE
    except SuiteError as exc:
        raise SuiteError(exc.message, location=location) from None


def normalize_calls(calls: Any, location: str = "") -> list[dict[str, Any]]:
    """``[{"name", "arguments": dict}]`` from OpenAI-style or plain calls; arguments may be a JSON string."""
    if not isinstance(calls, list):
        raise SuiteError("expected_calls must be a list", location=location or None)
    out = []
    for i, call in enumerate(calls):
        if isinstance(call, dict) and "function" in call and "name" not in call:
            call = call["function"]
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise SuiteError(f"expected_calls[{i}]: needs a name", location=location or None)
        args = call.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError as exc:
                raise SuiteError(f"expected_calls[{i}]: arguments are not valid JSON",
                                 location=location or None) from exc
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise SuiteError(f"expected_calls[{i}]: arguments must be an object", location=location or None)
        out.append({"name": call["name"], "arguments": args})
    return out


def _check_unique_ids(cases: list[dict[str, Any]], name: str) -> None:
    seen: set[str] = set()
    for case in cases:
        if case["id"] in seen:
            raise SuiteError(f"duplicate case id {case['id']!r}", location=name)
        seen.add(case["id"])


__all__ = [
    "CATEGORY_MODULES",
    "PREFIX_SUITES",
    "SUITES",
    "TOOL_CATEGORIES",
    "Suite",
    "import_module",
    "is_tool_case",
    "load_suite",
    "module_for_category",
    "normalize_calls",
    "read_suite_file",
    "suite_names",
    "validate_case",
]
