"""``punie dataset validate``: every problem with ``file:line`` and message index.

Errors (exit 1): invalid JSON, unknown role, misplaced system turn, empty content, no final assistant
turn, a call to a tool not offered, arguments failing the tool's JSON Schema, tool results that answer
no call, calls never answered; with a model: over-long conversations and ones with no trainable
token. Warnings: duplicates, no no-call examples, tools never used, legacy formats.
Unreadable input (non-UTF-8, an over-long line, wrong JSON types, a missing split) raises
DatasetError instead (exit 2): it is not a dataset to report on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from punie.data.dataset import ROLES, Conversation, iter_lines, split_files, to_conversation
from punie.errors import DatasetError
from punie.toolcalls import normalize_tools, tool_name, tool_parameters

DEFAULT_MAX_SEQ_LENGTH = 2048
# the predecessor's data pasted results as user turns; a model trained on that never sees a tool turn
_PASTED_RESULT = re.compile(r"\s*(tool result|tool output|function result|observation)\s*:|\s*<tool_response>", re.I)


@dataclass
class Issue:
    file: str
    line: int | None
    message_index: int | None
    text: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        msg = f"message {self.message_index}: " if self.message_index is not None else ""
        return f"{where}: {msg}{self.text}"

    @property
    def location(self) -> str:
        return self.file + (f":{self.line}" if self.line is not None else "")

    @property
    def message(self) -> str:
        return (f"message {self.message_index}: " if self.message_index is not None else "") + self.text

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message_index": self.message_index,
                "text": self.text, "severity": self.severity}


@dataclass
class ValidationReport:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        ex = self.counts.get("examples", 0)
        per = ", ".join(f"{s} {n}" for s, n in self.counts.get("splits", {}).items())
        verdict = "valid" if self.ok else "INVALID"
        return (f"{verdict}: {ex} examples ({per}), {len(self.errors)} errors, "
                f"{len(self.warnings)} warnings")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "counts": self.counts, "errors": [e.to_dict() for e in self.errors],
                "warnings": [w.to_dict() for w in self.warnings]}


_SIMPLE_TYPES = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}
_IGNORED_KEYWORDS = {"description", "title", "default", "examples"}


def _fast_check(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """A pre-check for flat object schemas (all 7 tools): True means valid for sure.

    jsonschema takes ~100 µs per call, most of a line's validation time; this makes 100k lines take
    seconds. Anything it can't decide goes to jsonschema, which also writes every error message.
    """
    if set(schema) - {"type", "properties", "required", "additionalProperties"} - _IGNORED_KEYWORDS:
        return None
    if schema.get("type", "object") != "object":
        return None
    props: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict) or set(sub) - {"type"} - _IGNORED_KEYWORDS or sub.get("type") not in _SIMPLE_TYPES:
            return None
        props[name] = _SIMPLE_TYPES[sub["type"]]
    required = list(schema.get("required") or [])
    closed = schema.get("additionalProperties", True) is False

    def check(args: Any) -> bool:
        if not isinstance(args, dict) or any(r not in args for r in required):
            return False
        for key, value in args.items():
            typ = props.get(key)
            if typ is None:
                if closed:
                    return False
                continue
            # bool is an int in Python but not in JSON Schema
            if not isinstance(value, typ) or (typ is not bool and isinstance(value, bool)):
                return False
        return True

    return check


class _Checker:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.validator = Draft202012Validator(schema)
        self.schema_error: str | None = None
        self.fast: Callable[[Any], bool] | None = None
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            self.schema_error = exc.message
            return
        self.fast = _fast_check(schema)

    def is_valid(self, args: Any) -> bool:
        return (self.fast is not None and self.fast(args)) or self.validator.is_valid(args)

    def iter_errors(self, args: Any) -> Any:
        return self.validator.iter_errors(args)


class _SchemaCache:
    """Compiled jsonschema validators per tool list (jsonschema compilation dominates otherwise)."""

    def __init__(self) -> None:
        self._by_key: dict[str, dict[str, _Checker]] = {}
        self.default = self._compile(normalize_tools(None))

    @staticmethod
    def _compile(tools: list[dict[str, Any]]) -> dict[str, _Checker]:
        return {tool_name(t): _Checker(tool_parameters(t)) for t in tools}

    def get(self, tools: list[dict[str, Any]] | None) -> dict[str, _Checker]:
        if tools is None:
            return self.default
        key = json.dumps(tools, sort_keys=True)
        if key not in self._by_key:
            self._by_key[key] = self._compile(tools)
        return self._by_key[key]


def check_conversation(conv: Conversation, validators: dict[str, Any]) -> list[tuple[int | None, str]]:
    """Rule checks on one normalised conversation: [(message index or None, text)]."""
    problems: list[tuple[int | None, str]] = []
    msgs = conv["messages"]
    if not msgs:
        return [(None, "conversation has no messages")]
    pending: dict[str, tuple[int, str]] = {}  # call id -> (message index, tool name)
    seen_ids: set[str] = set()
    last = len(msgs) - 1
    for i, m in enumerate(msgs):
        role = m["role"]
        if role not in ROLES:
            problems.append((i, f"unknown role {role!r} (expected one of {', '.join(ROLES)})"))
            continue
        calls = m.get("tool_calls") or []
        if role == "system" and i != 0:
            problems.append((i, "a system message is only allowed as the first message"))
        if not (m.get("content") or "").strip() and not (role == "assistant" and calls):
            problems.append((i, f"empty content in {'an' if role == 'assistant' else 'a'} {role} message"))
        if role == "assistant":
            if pending:
                problems.append((pending[next(iter(pending))][0], _unanswered(pending)))
                pending = {}
            for call in calls:
                fn = call["function"]
                name, args = fn["name"], fn["arguments"]
                if call.get("invalid_arguments"):
                    pass
                elif name not in validators:
                    problems.append((i, f"call to tool {name!r}, which is not in the tools offered"))
                elif validators[name].schema_error:
                    problems.append((i, f"tool {name!r} has an invalid parameters schema: "
                                        f"{validators[name].schema_error}"))
                else:
                    v = validators[name]
                    if not v.is_valid(args):
                        err = min(v.iter_errors(args), key=lambda e: len(list(e.path)))
                        at = "/".join(str(p) for p in err.path)
                        problems.append((i, f"arguments of {name!r} break its schema: "
                                            f"{at + ': ' if at else ''}{err.message}"))
                if call["id"] in seen_ids:
                    problems.append((i, f"duplicate tool call id {call['id']!r}"))
                seen_ids.add(call["id"])
                # a call in the very last turn needs no result: the example teaches the call itself
                if i != last:
                    pending[call["id"]] = (i, name)
        elif role == "tool":
            tcid = m.get("tool_call_id")
            if tcid not in pending:
                problems.append((i, f"tool result with tool_call_id {tcid!r} answers no earlier call"))
            else:
                del pending[tcid]
        elif role == "user" and pending:
            problems.append((pending[next(iter(pending))][0], _unanswered(pending)))
            pending = {}
    if pending:
        problems.append((pending[next(iter(pending))][0], _unanswered(pending)))
    if msgs[-1]["role"] != "assistant" and msgs[-1]["role"] in ROLES:
        problems.append((last, f"conversation ends with a {msgs[-1]['role']} turn, not an assistant turn"))
    return sorted(problems, key=lambda p: -1 if p[0] is None else p[0])


def _unanswered(pending: dict[str, tuple[int, str]]) -> str:
    names = ", ".join(f"{name} ({cid})" for cid, (_, name) in pending.items())
    return f"tool call never answered by a tool message: {names}"


def validate_dataset(
    path: str | Path,
    model: str | None = None,
    *,
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
    builder: Any = None,
    max_issues: int | None = None,
) -> ValidationReport:
    """Validate a dataset folder (or one .jsonl file); streams, so large files are fine.

    ``model`` (or a ready ``builder``) adds the token checks through punie's prompt builder.
    """
    files = split_files(path)
    if builder is None and model is not None:
        from punie.models import PromptBuilder, load_tokenizer

        builder = PromptBuilder(load_tokenizer(model))
    report = ValidationReport()
    schemas = _SchemaCache()
    tools_used: Counter[str] = Counter()
    offered: set[str] = set()
    seen: dict[bytes, str] = {}
    split_counts: dict[str, int] = {}
    no_call_splits: dict[str, int] = {}
    legacy = 0

    def add(issue: Issue) -> None:
        target = report.errors if issue.severity == "error" else report.warnings
        if max_issues is None or len(target) < max_issues:
            target.append(issue)
        else:
            report.counts["truncated"] = True

    n_err = 0
    for split, file in files.items():
        label = file.name if Path(path).is_dir() else str(file)
        n = no_calls = 0
        for lineno, text in iter_lines(file, label=label):
            n += 1
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                add(Issue(label, lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno})"))
                n_err += 1
                continue
            conv, soft = to_conversation(obj, f"{label}:{lineno}")
            if isinstance(obj, dict) and "messages" not in obj:
                legacy += 1
            for s in soft:
                add(Issue(label, lineno, s.message_index, s.message))
                n_err += 1
            for i, m in enumerate(conv["messages"]):
                if m["role"] == "user" and _PASTED_RESULT.match(m.get("content") or ""):
                    add(Issue(label, lineno, i, "looks like a tool result pasted as a user turn; "
                              "use a tool message with tool_call_id", "warning"))
            tools = conv.get("tools")
            validators = schemas.get(tools)
            offered.update(validators)
            problems = check_conversation(conv, validators)
            for idx, msg in problems:
                add(Issue(label, lineno, idx, msg))
            n_err += len(problems)
            has_call = False
            for m in conv["messages"]:
                for c in m.get("tool_calls") or []:
                    tools_used[c["function"]["name"]] += 1
                    has_call = True
            no_calls += not has_call
            key = hashlib.blake2b(text.strip().encode(), digest_size=12).digest()  # exact duplicate lines
            if key in seen:
                add(Issue(label, lineno, None, f"duplicate of {seen[key]}", "warning"))
            else:
                seen[key] = f"{label}:{lineno}"
            if builder is not None and not problems and not soft:
                for idx, msg in _token_checks(builder, conv, max_seq_length):
                    add(Issue(label, lineno, idx, msg))
                    n_err += 1
        split_counts[split] = n
        no_call_splits[split] = no_calls
        if n == 0:
            add(Issue(label, None, None, "split has no examples", "error" if split == "train" else "warning"))
            n_err += split == "train"
        elif no_calls == 0:
            add(Issue(label, None, None, "no no-call examples: a model trained on this will call tools for 'Hi'",
                      "warning"))
    never = sorted(t for t in offered if t not in tools_used)
    if sum(split_counts.values()):
        for t in never:
            add(Issue(str(path), None, None, f"tool {t!r} is never called in the dataset", "warning"))
    if legacy:
        add(Issue(str(path), None, None, f"{legacy} lines use mlx-lm prompt/completion or text format; "
                  "`punie dataset filter` rewrites them canonically", "warning"))
    report.counts = {
        **report.counts,  # "truncated": issues past max_issues were dropped
        "examples": sum(split_counts.values()),
        "splits": split_counts,
        "no_call": no_call_splits,
        "tool_calls": dict(sorted(tools_used.items())),
        "errors": n_err,
    }
    return report


def _token_checks(builder: Any, conv: Conversation, max_seq_length: int) -> list[tuple[int | None, str]]:
    try:
        enc = builder.encode(conv["messages"], conv.get("tools"))
    except DatasetError:
        raise
    except Exception as exc:  # a template that can't render this conversation is a data problem here
        return [(None, f"the model's prompt builder can't render it: {exc}")]
    out: list[tuple[int | None, str]] = []
    if len(enc.input_ids) > max_seq_length:
        out.append((None, f"{len(enc.input_ids)} tokens, longer than the max sequence length {max_seq_length}"))
    if enc.n_trainable == 0:
        out.append((None, "no trainable (assistant) tokens: training on it teaches nothing"))
    return out
