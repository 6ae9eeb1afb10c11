"""The dataset model and JSONL I/O.

A conversation is a plain dict ``{"messages": [...], "tools": [...]?}`` (``Conversation``). On read,
every accepted line format is normalised into it: assistant ``tool_calls`` in OpenAI form with
``arguments`` as a *dict*, tool results as ``{"role": "tool", "tool_call_id", "content"}``.
On write, the canonical OpenAI form (``arguments`` as a JSON string), which mlx-lm and TRL read,
with ``tools`` on every line (the 7 default tools when a conversation names none).

Accepted lines: ``{"messages", "tools"?}``; mlx-lm ``{"prompt", "completion"}`` and ``{"text"}``;
legacy assistant turns whose text holds ``<tool_call>`` markup (parsed with punie's parser).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from punie.errors import DatasetError
from punie.paths import atomic_dir

Conversation = dict[str, Any]

SPLITS: tuple[str, ...] = ("train", "valid", "test")
REQUIRED_SPLITS: tuple[str, ...] = ("train", "valid")
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")
# One JSONL line above this is refused: it is almost surely a broken file (a missing newline, a
# binary blob), and json.loads on it would take the memory of the whole file.
MAX_LINE_BYTES = 8 * 1024 * 1024


@dataclass
class TrainingDataset:
    train: list[Conversation] = field(default_factory=list)
    valid: list[Conversation] = field(default_factory=list)
    test: list[Conversation] = field(default_factory=list)

    def splits(self) -> dict[str, list[Conversation]]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def __len__(self) -> int:
        return len(self.train) + len(self.valid) + len(self.test)

    def __iter__(self) -> Iterator[Conversation]:
        """All conversations, train then valid then test."""
        for convs in (self.train, self.valid, self.test):
            yield from convs


class LineIssue(Exception):
    """A problem inside one line that ``validate`` reports and ``read_jsonl`` raises."""

    def __init__(self, message: str, message_index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_index = message_index


# ---- reading raw lines ----------------------------------------------------------------------------


def iter_lines(path: Path, *, label: str | None = None) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line; non-UTF-8 or over-long lines raise DatasetError."""
    path = Path(path)
    label = label or str(path)
    if not path.is_file():
        raise DatasetError("file not found", location=label)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below; the open itself may fail
    except OSError as exc:
        raise DatasetError(f"can't open: {exc.strerror}", location=label) from None
    with fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise DatasetError(
                    f"line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB",
                    location=f"{label}:{lineno}",
                    hint="one conversation per line; is a newline missing?",
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(
                    f"not valid UTF-8 (byte {exc.start} of the line)", location=f"{label}:{lineno}"
                ) from None
            if lineno == 1:
                text = text.lstrip("\ufeff")
            if text.strip():
                yield lineno, text


# ---- normalising one record -----------------------------------------------------------------------


def _type_error(location: str, what: str, expected: str, value: Any) -> DatasetError:
    return DatasetError(f"{what} must be {expected}, got {type(value).__name__}", location=location)


def _content_text(content: Any, location: str, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
            else:
                raise _type_error(location, f"message {index}: content part", "a text part", part)
        return "".join(parts)
    raise _type_error(location, f"message {index}: content", "a string", content)


def parse_arguments(args: Any) -> dict[str, Any]:
    """Arguments as a dict; a JSON string is decoded. Raises ValueError when that is impossible."""
    if args is None:
        return {}
    if isinstance(args, dict):
        return args
    if isinstance(args, str):
        if not args.strip():
            return {}
        try:
            val = json.loads(args)
        except json.JSONDecodeError as exc:
            raise ValueError(f"arguments are not valid JSON ({exc.msg})") from None
        if not isinstance(val, dict):
            raise ValueError(f"arguments must be a JSON object, got {type(val).__name__}")
        return val
    raise ValueError(f"arguments must be an object or a JSON string, got {type(args).__name__}")


def _tool_calls(raw: Any, location: str, index: int, issues: list[LineIssue], counter: list[int]) -> list[dict]:
    if not isinstance(raw, list):
        raise _type_error(location, f"message {index}: tool_calls", "a list", raw)
    calls = []
    for call in raw:
        if not isinstance(call, dict):
            raise _type_error(location, f"message {index}: tool call", "an object", call)
        fn = call.get("function", call)
        if not isinstance(fn, dict):
            raise _type_error(location, f"message {index}: tool call function", "an object", fn)
        name = fn.get("name")
        if not isinstance(name, str):
            raise _type_error(location, f"message {index}: tool call name", "a string", name)
        bad = False
        try:
            args = parse_arguments(fn.get("arguments"))
        except ValueError as exc:
            issues.append(LineIssue(f"tool call {name!r}: {exc}", index))
            args, bad = {}, True
        counter[0] += 1
        cid = call.get("id")
        cid = cid if isinstance(cid, str) and cid else f"call_{counter[0]}"
        out: dict[str, Any] = {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
        if bad:
            out["invalid_arguments"] = True  # already reported; the schema check skips it
        calls.append(out)
    return calls


_CHATML = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>|$)", re.S)


def _markup_to_message(text: str, index: int, issues: list[LineIssue], counter: list[int]) -> dict[str, Any]:
    """Assistant text that may hold ``<tool_call>`` markup (legacy data) → message with tool_calls."""
    if "<tool_call>" not in text:
        return {"role": "assistant", "content": text}
    from punie.toolcalls import parse

    result = parse(text)
    for err in result.errors:
        issues.append(LineIssue(f"tool-call markup: {err}", index))
    calls = []
    for call in result.calls:
        counter[0] += 1
        args = call.get("arguments")
        calls.append(
            {
                "id": f"call_{counter[0]}",
                "type": "function",
                "function": {"name": str(call.get("name", "")), "arguments": args if isinstance(args, dict) else {}},
            }
        )
    msg: dict[str, Any] = {"role": "assistant", "content": result.content if calls else text}
    if calls:
        msg["tool_calls"] = calls
    return msg


def to_conversation(obj: Any, location: str = "<input>") -> tuple[Conversation, list[LineIssue]]:
    """Normalise one decoded JSON line. Wrong JSON types raise DatasetError; softer problems are returned."""
    issues: list[LineIssue] = []
    if not isinstance(obj, dict):
        raise _type_error(location, "a line", "a JSON object", obj)
    counter = [0]
    conv: Conversation
    if "messages" in obj:
        raw_msgs = obj["messages"]
        if not isinstance(raw_msgs, list):
            raise _type_error(location, "messages", "a list", raw_msgs)
        messages = []
        for i, m in enumerate(raw_msgs):
            if not isinstance(m, dict):
                raise _type_error(location, f"message {i}", "an object", m)
            role = m.get("role")
            if not isinstance(role, str):
                raise _type_error(location, f"message {i}: role", "a string", role)
            msg: dict[str, Any] = {"role": role, "content": _content_text(m.get("content"), location, i)}
            if role == "assistant":
                if m.get("tool_calls") is not None:
                    calls = _tool_calls(m["tool_calls"], location, i, issues, counter)
                    if calls:
                        msg["tool_calls"] = calls
                elif "<tool_call>" in msg["content"]:
                    msg = _markup_to_message(msg["content"], i, issues, counter)
                if "weight" in m:  # OpenAI fine-tuning's per-turn weight: 0 = context only, not trained
                    if m["weight"] not in (0, 1) or isinstance(m["weight"], bool):
                        raise DatasetError(f"message {i}: weight must be 0 or 1, got {m['weight']!r}",
                                           location=location)
                    msg["weight"] = int(m["weight"])
            elif role == "tool":
                tcid = m.get("tool_call_id")
                if tcid is not None and not isinstance(tcid, str):
                    raise _type_error(location, f"message {i}: tool_call_id", "a string", tcid)
                if tcid:
                    msg["tool_call_id"] = tcid
                if isinstance(m.get("name"), str):
                    msg["name"] = m["name"]
            messages.append(msg)
        _pair_tool_results(messages)
        conv = {"messages": messages}
    elif "prompt" in obj or "completion" in obj:
        prompt, completion = obj.get("prompt"), obj.get("completion")
        if not isinstance(prompt, str):
            raise _type_error(location, "prompt", "a string", prompt)
        if not isinstance(completion, str):
            raise _type_error(location, "completion", "a string", completion)
        conv = {"messages": [{"role": "user", "content": prompt}, _markup_to_message(completion, 1, issues, counter)]}
    elif "text" in obj:
        text = obj["text"]
        if not isinstance(text, str):
            raise _type_error(location, "text", "a string", text)
        conv = {"messages": _text_messages(text, issues, counter)}
    else:
        raise DatasetError(
            "unknown line format: expected 'messages', 'prompt'/'completion' or 'text'", location=location
        )
    if "tools" in obj and obj["tools"] is not None:
        tools = obj["tools"]
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise _type_error(location, "tools", "a list of objects", tools)
        from punie.toolcalls import normalize_tools

        conv["tools"] = normalize_tools(tools)
    return conv, issues


def _text_messages(text: str, issues: list[LineIssue], counter: list[int]) -> list[dict[str, Any]]:
    # mlx-lm trains a {"text"} line whole; a ChatML-rendered text is split back into turns, anything
    # else becomes one assistant turn (so all of it is trained, as in mlx-lm).
    turns = _CHATML.findall(text)
    if not turns:
        return [_markup_to_message(text, 0, issues, counter)]
    msgs: list[dict[str, Any]] = []
    for role, body in turns:
        body = body.strip("\n")
        if role == "assistant":
            msgs.append(_markup_to_message(body, len(msgs), issues, counter))
        elif role == "tool" or (role == "user" and body.startswith("<tool_response>")):
            inner = body.removeprefix("<tool_response>").removesuffix("</tool_response>").strip("\n")
            msgs.append({"role": "tool", "content": inner})
        else:
            msgs.append({"role": role, "content": body})
    _pair_tool_results(msgs)
    return msgs


def _pair_tool_results(messages: list[dict[str, Any]]) -> None:
    """Give id-less tool results the id of the oldest unanswered call (legacy data answers in order)."""
    pending: list[str] = []
    for m in messages:
        if m["role"] == "assistant":
            pending = [c["id"] for c in m.get("tool_calls", [])]
        elif m["role"] == "tool":
            if "tool_call_id" not in m and pending:
                m["tool_call_id"] = pending[0]
            if m.get("tool_call_id") in pending:
                pending.remove(m["tool_call_id"])


def parse_line(text: str, location: str = "<input>") -> Conversation:
    """One JSONL line → conversation; every problem raises DatasetError with the location."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"invalid JSON: {exc.msg} (column {exc.colno})", location=location) from None
    conv, issues = to_conversation(obj, location)
    if issues:
        first = issues[0]
        where = f"message {first.message_index}: " if first.message_index is not None else ""
        raise DatasetError(f"{where}{first.message}", location=location)
    return conv


def read_jsonl(path: str | Path, split: str | None = None) -> Iterator[Conversation]:
    """Stream conversations from one JSONL file. Errors name ``file:line``."""
    path = Path(path)
    label = f"{split}.jsonl" if split and path.name == f"{split}.jsonl" else str(path)
    for lineno, text in iter_lines(path, label=label):
        yield parse_line(text, f"{label}:{lineno}")


def split_files(path: str | Path, *, required: Iterable[str] = REQUIRED_SPLITS) -> dict[str, Path]:
    """Split name → file of a dataset folder (a single .jsonl file counts as ``train``)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError("no such file or folder", location=str(path))
    if path.is_file():
        return {"train": path}
    found = {s: path / f"{s}.jsonl" for s in SPLITS if (path / f"{s}.jsonl").is_file()}
    if not found:
        raise DatasetError(
            "no train.jsonl, valid.jsonl or test.jsonl in this folder", location=str(path),
            hint="create one with `punie dataset generate OUT`",
        )
    for s in required:
        if s not in found:
            raise DatasetError(f"missing split file {s}.jsonl", location=str(path))
    return found


def read_dataset(path: str | Path) -> TrainingDataset:
    """Read a dataset folder (train.jsonl and valid.jsonl required, test.jsonl optional) or one file."""
    files = split_files(path)
    ds = TrainingDataset()
    for split, file in files.items():
        setattr(ds, split, list(read_jsonl(file, split=split)))
    if not ds.train and Path(path).is_dir():
        raise DatasetError("the train split has no examples", location=str(files["train"]))
    return ds


# ---- writing --------------------------------------------------------------------------------------


def to_canonical(conv: Conversation) -> dict[str, Any]:
    """OpenAI form: ``arguments`` as a JSON string, tool results as ``tool`` messages."""
    messages = []
    for m in conv["messages"]:
        out: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            out["tool_calls"] = []
            for k, call in enumerate(m["tool_calls"], 1):
                fn = call.get("function", call)
                args = fn.get("arguments")
                args_text = args if isinstance(args, str) else json.dumps(args or {}, ensure_ascii=False)
                out["tool_calls"].append(
                    {"id": call.get("id") or f"call_{k}", "type": "function",
                     "function": {"name": fn["name"], "arguments": args_text}}
                )
        if m["role"] == "assistant" and "weight" in m:
            out["weight"] = m["weight"]
        if m["role"] == "tool":
            if m.get("tool_call_id"):
                out["tool_call_id"] = m["tool_call_id"]
            if m.get("name"):
                out["name"] = m["name"]
        messages.append(out)
    line: dict[str, Any] = {"messages": messages}
    if conv.get("tools") is not None:
        line["tools"] = conv["tools"]
    return line


def dumps_line(conv: Conversation) -> str:
    """One written line. Every line carries ``tools`` (the 7 default tools when the conversation names
    none), so the data trains TRL, mlx-lm or OpenAI fine-tuning *with* the tool schemas."""
    line = to_canonical(conv)
    if line.get("tools") is None:
        from punie.toolcalls import default_tools

        line["tools"] = default_tools()
    return json.dumps(line, ensure_ascii=False)


def write_jsonl(conversations: Iterable[Conversation], path: Path) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for conv in conversations:
            fh.write(dumps_line(conv) + "\n")
            n += 1
    return n


def write_dataset(ds: TrainingDataset, path: str | Path, *, extra_files: dict[str, str] | None = None) -> Path:
    """Write train/valid/test.jsonl into ``path`` atomically (temp folder, then rename)."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise DatasetError("output exists and is not a folder", location=str(target))
    if target.is_dir():
        # the folder is replaced as a whole: never do that to a folder holding anything but a dataset
        ours = {f"{s}.jsonl" for s in SPLITS} | set(extra_files or {}) | {"punie_dataset.json"}
        others = sorted(p.name for p in target.iterdir() if p.name not in ours)
        if others:
            raise DatasetError(
                f"output folder exists and holds other files ({', '.join(others[:3])}); refusing to replace it",
                location=str(target), hint="choose a new or empty folder",
            )
    with atomic_dir(target) as tmp:
        for split, convs in ds.splits().items():
            write_jsonl(convs, tmp / f"{split}.jsonl")
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
    return target


# ---- small accessors used across the package ------------------------------------------------------


def calls_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"name", "arguments": dict}]`` of an assistant message."""
    out = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function", call)
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = parse_arguments(args)
            except ValueError:
                args = {}
        out.append({"name": fn.get("name", ""), "arguments": args or {}})
    return out


def user_prompts(conv: Conversation) -> list[str]:
    return [m.get("content") or "" for m in conv["messages"] if m.get("role") == "user"]


def n_calls(conv: Conversation) -> int:
    return sum(len(m.get("tool_calls") or []) for m in conv["messages"] if m.get("role") == "assistant")
