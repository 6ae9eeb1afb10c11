"""``punie dataset import`` / ``export``: the tool-calling formats people have, to and from punie's.

Import reads one ``.jsonl`` file (or a ``.json`` file holding one JSON array) in any of:

* ``openai``  — ``{"messages", "tools"?}`` (also punie's own lines, TRL and mlx-lm chat lines, and the
  legacy OpenAI ``functions`` / ``function_call`` / ``role: function`` form);
* ``sharegpt`` / ``hermes`` — ``{"conversations": [{"from", "value"}], "tools"?, "system"?}``: roles
  ``system/human/gpt/tool`` (Hermes: calls as ``<tool_call>`` blocks in ``gpt`` text, results in
  ``<tool_response>``, tool list in the system prompt's ``<tools>`` block; single-quoted Python-style
  dicts accepted), and LLaMA-Factory's ``function_call`` / ``observation`` turns;
* ``xlam``    — APIGen/xLAM ``{"query", "tools", "answers"}`` (``tools``/``answers`` JSON strings);
* ``trl``     — conversational ``{"prompt": [...], "completion": [...], "tools"?}`` or ``messages``;
* ``mlx``     — mlx-lm ``{"messages"}``, ``{"prompt", "completion"}`` strings, ``{"text"}``.

Every line comes out in punie's form with ``tools`` on it. A line that cannot be converted is
reported with ``file:line`` and skipped; the caller exits 1 when any line was dropped.

Export writes a punie dataset the way each trainer reads it (see ``export_line``).
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from punie.data.dataset import MAX_LINE_BYTES, Conversation, to_conversation
from punie.errors import DatasetError

IMPORT_FORMATS: tuple[str, ...] = ("auto", "sharegpt", "hermes", "xlam", "trl", "openai", "mlx")
EXPORT_FORMATS: tuple[str, ...] = ("openai", "sharegpt", "mlx", "trl")

_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "model": "assistant", "chatgpt": "assistant",
    "tool": "tool", "observation": "tool", "function_response": "tool", "ipython": "tool",
    "function_call": "function_call",
}


class LineProblem(Exception):
    """Why one source line cannot be converted (reported as ``file:line: message``; the line is skipped)."""


@dataclass
class ImportResult:
    conversations: list[Conversation] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file:line, message)
    formats: Counter[str] = field(default_factory=Counter)  # detected format -> lines
    notes: Counter[str] = field(default_factory=Counter)  # what the conversion did -> lines
    lines: int = 0

    @property
    def dropped(self) -> int:
        return len(self.problems)

    def detected(self) -> str:
        if not self.formats:
            return "none"
        return ", ".join(f"{f} ({_lines(n)})" for f, n in self.formats.most_common())


def _lines(n: int) -> str:
    return f"{n} line" if n == 1 else f"{n} lines"


# ---- reading records ------------------------------------------------------------------------------


def iter_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line, decoded JSON or None, problem) per record of a JSONL file or a JSON-array file.

    Bad lines of a JSONL file are yielded as problems and reading goes on; a JSON array that does not
    parse cannot be resumed after the damage, so it raises DatasetError (nothing is written)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError("file not found" if not path.exists() else "not a file", location=str(path))
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"["):
        yield from _iter_array(path)
        return
    with open(path, "rb") as fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the over-long line
                    raw = fh.readline(MAX_LINE_BYTES + 1)
                yield lineno, None, f"line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB"
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, None, f"not valid UTF-8 (byte {exc.start} of the line)"
                continue
            if lineno == 1:
                text = text.lstrip("\ufeff")
            if not text.strip():
                continue
            try:
                yield lineno, json.loads(text), None
            except json.JSONDecodeError as exc:
                yield lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno})"


def _iter_array(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    try:
        text = path.read_text(encoding="utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not valid UTF-8 (byte {exc.start})", location=str(path)) from None
    dec = json.JSONDecoder()
    i = text.index("[") + 1
    line, counted = 1, 0

    def skip(j: int) -> int:
        while j < len(text) and text[j] in " \t\r\n":
            j += 1
        return j

    i = skip(i)
    if i < len(text) and text[i] == "]":
        return
    while True:
        line += text.count("\n", counted, i)
        counted = i
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"invalid JSON in the array: {exc.msg}; the rest of the file can't be read",
                               location=f"{path}:{exc.lineno}", hint="fix the file, or convert it to JSONL") from None
        yield line, obj, None
        i = skip(end)
        if i < len(text) and text[i] == ",":
            i = skip(i + 1)
            continue
        if i < len(text) and text[i] == "]":
            return
        raise DatasetError("expected ',' or ']' between array items",
                           location=f"{path}:{line + text.count(chr(10), counted, i)}")


# ---- format detection -----------------------------------------------------------------------------


def detect(obj: Any) -> str | None:
    """The source format a decoded record looks like (``None``: none of them)."""
    if not isinstance(obj, dict):
        return None
    if "conversations" in obj:
        return "sharegpt"
    if "query" in obj and "answers" in obj:
        return "xlam"
    if isinstance(obj.get("prompt"), list) or isinstance(obj.get("completion"), list):
        return "trl"
    if "messages" in obj:
        return "openai"
    if "prompt" in obj or "completion" in obj or "text" in obj:
        return "mlx"
    return None


_ACCEPTS = {  # explicit --format: which record shapes it reads
    "sharegpt": {"sharegpt"}, "hermes": {"sharegpt"}, "xlam": {"xlam"},
    "trl": {"trl", "openai", "mlx"}, "openai": {"openai"}, "mlx": {"openai", "mlx"},
}
_SHAPES = {
    "sharegpt": "'conversations' with from/value turns", "xlam": "'query', 'tools' and 'answers'",
    "trl": "'prompt'/'completion' lists", "openai": "'messages'", "mlx": "'prompt'/'completion' strings or 'text'",
}


# ---- helpers ---------------------------------------------------------------------------------------


def _loads_lenient(text: str) -> Any:
    """JSON, else a Python literal (Hermes data writes dicts with single quotes)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise LineProblem(f"not JSON (nor a Python literal): {text[:60]!r}") from None


def _json_field(obj: dict[str, Any], key: str) -> Any:
    value = obj.get(key)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise LineProblem(f"{key}: not valid JSON ({exc.msg})") from None
    return value


def _tool_list(raw: Any, what: str) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise LineProblem(f"{what} must be a list of tool specs")
    out = []
    for t in raw:
        fn = t.get("function", t)
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise LineProblem(f"{what}: a tool spec without a name")
        fn = dict(fn)
        params = fn.get("parameters")
        if isinstance(params, dict) and "properties" in params and "type" not in params:
            fn["parameters"] = {"type": "object", **params}
        out.append({"type": "function", "function": fn})
    return out


_XLAM_TYPES = {"str": "string", "string": "string", "int": "integer", "integer": "integer", "float": "number",
               "number": "number", "bool": "boolean", "boolean": "boolean", "list": "array", "array": "array",
               "tuple": "array", "dict": "object", "object": "object", "set": "array"}


def _xlam_param(spec: Any) -> tuple[dict[str, Any], bool]:
    """xLAM ``{"type": "str, optional", "description", "default"}`` → (JSON Schema, required)."""
    if not isinstance(spec, dict):
        return {}, False
    out = {k: v for k, v in spec.items() if k in ("description", "default", "enum")}
    typ = spec.get("type")
    optional = "default" in spec
    if isinstance(typ, str):
        low = typ.strip().lower()
        optional = optional or "optional" in low
        base = re.sub(r"^optional\[(.*)\]$", r"\1", low.split(",")[0].strip())
        head = re.split(r"[\[\s(]", base, maxsplit=1)[0]
        if head in _XLAM_TYPES:
            out["type"] = _XLAM_TYPES[head]
    return out, not optional


def _xlam_tools(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise LineProblem("tools must be a list of tool specs")
    out = []
    for t in raw:
        fn = t.get("function", t)
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            raise LineProblem("tools: a tool spec without a name")
        params = fn.get("parameters") or {}
        if isinstance(params, dict) and params.get("type") == "object":
            schema = params  # already JSON Schema
        elif isinstance(params, dict):
            props, required = {}, []
            for pname, pspec in params.items():
                props[pname], req = _xlam_param(pspec)
                if req:
                    required.append(pname)
            schema = {"type": "object", "properties": props, "required": required}
        else:
            raise LineProblem(f"tools: {name}: parameters must be an object")
        out.append({"type": "function", "function": {"name": name, "description": str(fn.get("description") or ""),
                                                     "parameters": schema}})
    return out


def _call(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise LineProblem(f"{what} must be an object with name and arguments")
    fn = obj.get("function", obj)
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str) or not name:
        raise LineProblem(f"{what} has no name")
    args = fn.get("arguments", fn.get("parameters", {}))
    if isinstance(args, str):
        args = _loads_lenient(args) if args.strip() else {}
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise LineProblem(f"{what} ({name}): arguments must be an object")
    return {"type": "function", "function": {"name": name, "arguments": args}}


_TOOL_CALL_OPEN = "<tool_call>"
_TOOL_CALL_CLOSE = "</tool_call>"


def split_markup(text: str, what: str) -> tuple[str, list[dict[str, Any]]]:
    """Assistant text with ``<tool_call>`` blocks → (the text outside them, the calls)."""
    calls: list[dict[str, Any]] = []
    rest: list[str] = []
    pos = 0
    dec = json.JSONDecoder()
    while True:
        start = text.find(_TOOL_CALL_OPEN, pos)
        if start < 0:
            rest.append(text[pos:])
            break
        rest.append(text[pos:start])
        i = start + len(_TOOL_CALL_OPEN)
        while i < len(text) and text[i].isspace():
            i += 1
        try:  # the JSON value first: a "</tool_call>" inside a string can't end the block
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            end = text.find(_TOOL_CALL_CLOSE, i)
            if end < 0:
                raise LineProblem(f"{what}: <tool_call> without </tool_call>") from None
            obj = _loads_lenient(text[i:end].strip())
        close = text.find(_TOOL_CALL_CLOSE, end)
        if close < 0 or text[end:close].strip():
            raise LineProblem(f"{what}: <tool_call> without </tool_call>")
        calls.append(_call(obj, f"{what}: tool call"))
        pos = close + len(_TOOL_CALL_CLOSE)
    return "".join(rest).strip() if calls else text, calls


_TOOLS_BLOCK = re.compile(r"<tools>(.*?)</tools>", re.S)


def tools_from_text(text: str) -> list[dict[str, Any]] | None:
    """The tool list inside a system prompt's ``<tools>...</tools>`` (a JSON list, one spec per line, or
    Python-literal dicts), or ``None`` when there is no such block."""
    blocks = [b.strip() for b in _TOOLS_BLOCK.findall(text)]
    if not blocks:
        return None
    inner = next((b for b in reversed(blocks) if b), "")  # Hermes prompts also say "within <tools></tools>"
    if not inner:
        return []
    try:
        return _tool_list(_loads_lenient(inner), "the <tools> block")
    except LineProblem:
        pass
    specs = []  # one spec per line (punie's own block; some Hermes exports)
    for ln in inner.splitlines():
        if ln.strip():
            specs.append(_loads_lenient(ln.strip()))
    return _tool_list(specs, "the <tools> block")


def _unwrap_response(text: str) -> str:
    t = text.strip()
    if t.startswith("<tool_response>") and t.endswith("</tool_response>"):
        inner = t[len("<tool_response>"): -len("</tool_response>")]
        return inner.removeprefix("\n").removesuffix("\n")
    return text


def _responses(text: str) -> list[str]:
    """A tool turn's results: several ``<tool_response>`` blocks are several results."""
    blocks = re.findall(r"<tool_response>(.*?)</tool_response>", text, re.S)
    if len(blocks) > 1 and not re.sub(r"<tool_response>.*?</tool_response>", "", text, flags=re.S).strip():
        return [b.removeprefix("\n").removesuffix("\n") for b in blocks]
    return [_unwrap_response(text)]


# ---- per-format readers: one record → a dict that to_conversation reads ---------------------------


def _from_sharegpt(obj: dict[str, Any]) -> tuple[dict[str, Any], str]:
    turns = obj["conversations"]
    if not isinstance(turns, list):
        raise LineProblem("conversations must be a list")
    messages: list[dict[str, Any]] = []
    if isinstance(obj.get("system"), str) and obj["system"].strip():
        messages.append({"role": "system", "content": obj["system"]})
    hermes = False
    for i, t in enumerate(turns):
        if not isinstance(t, dict):
            raise LineProblem(f"turn {i} must be an object")
        who = t.get("from", t.get("role"))
        value = t.get("value", t.get("content"))
        if not isinstance(who, str):
            raise LineProblem(f"turn {i}: 'from' must be a string")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise LineProblem(f"turn {i}: 'value' must be a string")
        role = _SHAREGPT_ROLES.get(who.lower())
        if role is None:
            raise LineProblem(f"turn {i}: unknown speaker {who!r} (expected system, human, gpt, tool, "
                              "function_call or observation)")
        if role == "function_call":  # LLaMA-Factory: the value is the call(s) as JSON
            parsed = _loads_lenient(value)
            calls = [_call(c, f"turn {i}: function_call") for c in (parsed if isinstance(parsed, list) else [parsed])]
            messages.append({"role": "assistant", "content": "", "tool_calls": calls})
        elif role == "assistant":
            content, calls = split_markup(value, f"turn {i}")
            hermes = hermes or bool(calls)
            messages.append({"role": "assistant", "content": content, **({"tool_calls": calls} if calls else {})})
        elif role == "tool":
            hermes = hermes or "<tool_response>" in value
            messages += [{"role": "tool", "content": r} for r in _responses(value)]
        else:
            hermes = hermes or (role == "system" and "<tools>" in value)
            messages.append({"role": role, "content": value})
    rec: dict[str, Any] = {"messages": messages}
    tools = _tool_list(_json_field(obj, "tools"), "tools")
    if tools is not None:
        rec["tools"] = tools
    return rec, "hermes" if hermes else "sharegpt"


def _from_xlam(obj: dict[str, Any]) -> tuple[dict[str, Any], str]:
    query = obj.get("query")
    if not isinstance(query, str) or not query.strip():
        raise LineProblem("query must be a non-empty string")
    tools = _xlam_tools(_json_field(obj, "tools") or [])
    answers = _json_field(obj, "answers")
    if answers is None:
        answers = []
    if not isinstance(answers, list):
        raise LineProblem("answers must be a list of calls")
    if not answers:
        raise LineProblem("answers is empty: no call and no reply text to train on")
    calls = [_call(a, f"answer {k}") for k, a in enumerate(answers)]
    return {"messages": [{"role": "user", "content": query}, {"role": "assistant", "content": "", "tool_calls": calls}],
            "tools": tools}, "xlam"


def _from_trl(obj: dict[str, Any]) -> tuple[dict[str, Any], str]:
    prompt, completion = obj.get("prompt"), obj.get("completion")
    if not isinstance(prompt, list) or not isinstance(completion, list):
        raise LineProblem("prompt and completion must both be lists of messages")
    rec: dict[str, Any] = {"messages": [*prompt, *completion]}
    tools = _tool_list(_json_field(obj, "tools"), "tools")
    if tools is not None:
        rec["tools"] = tools
    return rec, "trl"


def _from_openai(obj: dict[str, Any]) -> tuple[dict[str, Any], str]:
    rec = dict(obj)
    msgs = rec.get("messages")
    if isinstance(msgs, list):  # the legacy function-calling form
        out = []
        for m in msgs:
            if isinstance(m, dict) and m.get("role") == "assistant" and isinstance(m.get("function_call"), dict):
                m = {**m, "tool_calls": [_call(m["function_call"], "function_call")]}
            elif isinstance(m, dict) and m.get("role") == "function":
                m = {"role": "tool", "content": m.get("content"),
                     **({"name": m["name"]} if isinstance(m.get("name"), str) else {})}
            out.append(m)
        rec["messages"] = out
    if rec.get("tools") is None and rec.get("functions") is not None:
        rec["tools"] = rec["functions"]
    if isinstance(rec.get("tools"), str):
        rec["tools"] = _json_field(rec, "tools")
    if rec.get("tools") is not None:
        rec["tools"] = _tool_list(rec["tools"], "tools")
    return {k: rec[k] for k in ("messages", "tools") if k in rec}, "openai"


_READERS = {"sharegpt": _from_sharegpt, "xlam": _from_xlam, "trl": _from_trl, "openai": _from_openai}


def _finish(conv: Conversation, notes: Counter[str]) -> Conversation:
    """punie's own prompt pieces in the source (a system turn with a ``<tools>`` block, results in
    ``<tool_response>``) are taken apart again; every conversation ends up with ``tools``."""
    from punie.models.prompt import DEFAULT_SYSTEM, TOOL_INSTRUCTIONS
    from punie.toolcalls import TOOL_NAMES, default_tools

    msgs = conv["messages"]
    if msgs and msgs[0]["role"] == "system" and "<tools>" in (msgs[0].get("content") or ""):
        text = msgs[0]["content"]
        block_tools = tools_from_text(text)
        if conv.get("tools") is None and block_tools is not None:
            conv["tools"] = block_tools
            notes["tool list read from the system prompt's <tools> block"] += 1
        head = TOOL_INSTRUCTIONS.split("{tools}")[0].split("<tools>")[0]
        at = text.find(head)
        base = text[:at].removesuffix("\n\n") if at >= 0 and text.rstrip().endswith("</tools>") else None
        if base is None or base == DEFAULT_SYSTEM:
            msgs.pop(0)  # a tool-format system prompt: punie writes its own from `tools`
            if base is None:
                notes["system prompt holding the tool list dropped (punie writes its own from `tools`)"] += 1
        else:
            msgs[0] = {"role": "system", "content": base}
    for m in msgs:
        if m["role"] == "tool" and "<tool_response>" in (m.get("content") or ""):
            m["content"] = _unwrap_response(m["content"])
    if not any(m["role"] == "assistant" for m in msgs):
        raise LineProblem("no assistant turn: nothing to train on")
    if conv.get("tools") is None:
        called = {c["function"]["name"] for m in msgs for c in m.get("tool_calls") or []}
        if called <= set(TOOL_NAMES):
            conv["tools"] = default_tools()
            notes["no tool list in the source: punie's 7 tools written"] += 1
        else:
            conv["tools"] = _inferred_tools(msgs)
            notes["no tool list in the source: specs inferred from the calls"] += 1
    return conv


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
               (dict, "object"))


def _inferred_tools(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = {}
    for m in msgs:
        for c in m.get("tool_calls") or []:
            fn = c["function"]
            props = specs.setdefault(fn["name"], {})
            for k, v in (fn.get("arguments") or {}).items():
                typ = next((t for py, t in _JSON_TYPES if isinstance(v, py)), None)
                props.setdefault(k, {"type": typ} if typ else {})
    return [{"type": "function", "function": {"name": n, "description": "",
                                              "parameters": {"type": "object", "properties": p}}}
            for n, p in specs.items()]


def convert_record(obj: Any, fmt: str = "auto", notes: Counter[str] | None = None) -> tuple[Conversation, str]:
    """One decoded source record → (punie conversation with ``tools``, the format it was read as)."""
    notes = Counter() if notes is None else notes
    shape = detect(obj)
    if shape is None:
        raise LineProblem("not a line of any known format (expected 'messages', 'conversations', "
                          "'query'/'answers', 'prompt'/'completion' or 'text')")
    if fmt != "auto" and shape not in _ACCEPTS[fmt]:
        raise LineProblem(f"not a {fmt} line: it looks like {shape}; a {fmt} line has "
                          f"{' or '.join(_SHAPES[s] for s in sorted(_ACCEPTS[fmt]))} (try --format auto)")
    if shape == "mlx":
        rec, name = obj, "mlx"
    else:
        rec, name = _READERS[shape](obj)
    try:
        conv, issues = to_conversation(rec, "")
    except DatasetError as exc:
        raise LineProblem(exc.message) from None
    if issues:
        first = issues[0]
        where = f"message {first.message_index}: " if first.message_index is not None else ""
        raise LineProblem(f"{where}{first.message}")
    return _finish(conv, notes), name


def import_file(path: str | Path, fmt: str = "auto") -> ImportResult:
    """Convert every record of ``path``; problems are collected (file:line), not raised."""
    if fmt not in IMPORT_FORMATS:
        raise DatasetError(f"unknown format {fmt!r} (one of {', '.join(IMPORT_FORMATS)})", location="--format")
    path = Path(path)
    res = ImportResult()
    for lineno, obj, problem in iter_records(path):
        res.lines += 1
        where = f"{path}:{lineno}"
        if problem is not None:
            res.problems.append((where, problem))
            continue
        try:
            conv, name = convert_record(obj, fmt, res.notes)
        except LineProblem as exc:
            res.problems.append((where, str(exc)))
            continue
        except RecursionError:
            res.problems.append((where, "nested too deeply"))
            continue
        res.formats[name] += 1
        res.conversations.append(conv)
    return res


# ---- export --------------------------------------------------------------------------------------


def _calls(m: dict[str, Any]) -> list[dict[str, Any]]:
    from punie.data.dataset import calls_of

    return calls_of(m)


def _tools_of(conv: Conversation) -> list[dict[str, Any]]:
    from punie.toolcalls import default_tools

    return conv["tools"] if conv.get("tools") is not None else default_tools()


def _openai_line(conv: Conversation) -> dict[str, Any]:
    from punie.data.dataset import to_canonical

    line = to_canonical(conv)
    for m in line["messages"]:
        if m.get("tool_calls") and not m.get("content"):
            del m["content"]  # OpenAI's fine-tuning form: a call-only assistant turn has no content
    return {"messages": line["messages"], "tools": _tools_of(conv)}


def _structured_line(conv: Conversation) -> dict[str, Any]:
    """messages + tools with ``arguments`` as objects (what HF chat templates and TRL/mlx-lm expect)."""
    names: dict[str, str] = {}
    msgs = []
    for m in conv["messages"]:
        out: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            out["tool_calls"] = []
            for k, call in enumerate(m["tool_calls"], 1):
                c = _calls({"tool_calls": [call]})[0]
                cid = call.get("id") or f"call_{k}"
                names[cid] = c["name"]
                out["tool_calls"].append({"id": cid, "type": "function",
                                          "function": {"name": c["name"], "arguments": c["arguments"]}})
        if "weight" in m:  # OpenAI's key; readers that don't know it train the turn
            out["weight"] = m["weight"]
        if m["role"] == "tool":
            if m.get("tool_call_id"):
                out["tool_call_id"] = m["tool_call_id"]
            name = m.get("name") or names.get(m.get("tool_call_id") or "")
            if name:
                out["name"] = name
        msgs.append(out)
    return {"messages": msgs, "tools": _tools_of(conv)}


def _system_and_rest(conv: Conversation) -> tuple[str, list[dict[str, Any]]]:
    from punie.models.prompt import DEFAULT_SYSTEM, render_tool_block

    msgs = list(conv["messages"])
    base = DEFAULT_SYSTEM
    if msgs and msgs[0]["role"] == "system":
        base = msgs[0].get("content") or ""
        msgs = msgs[1:]
    tools = _tools_of(conv)
    block = render_tool_block(tools) if tools else ""
    return (f"{base}\n\n{block}" if base else block) if block else base, msgs


def _sharegpt_line(conv: Conversation) -> dict[str, Any]:
    """Hermes-style ShareGPT: the text punie trains on, turn by turn (tool list in the system turn, calls
    as ``<tool_call>`` blocks, results in ``<tool_response>``), plus ``tools`` as a list."""
    from punie.toolcalls import render_assistant

    system, msgs = _system_and_rest(conv)
    turns = [{"from": "system", "value": system}]
    for m in msgs:
        role = m["role"]
        if role == "assistant":
            turns.append({"from": "gpt", "value": render_assistant(m.get("content"), _calls(m))})
        elif role == "tool":
            turns.append({"from": "tool", "value": f"<tool_response>\n{m.get('content') or ''}\n</tool_response>"})
        elif role == "user":
            turns.append({"from": "human", "value": m.get("content") or ""})
        else:
            turns.append({"from": role, "value": m.get("content") or ""})
    return {"conversations": turns, "tools": _tools_of(conv)}


def export_line(conv: Conversation, fmt: str, builder: Any = None) -> dict[str, Any]:
    """One conversation as ``fmt`` reads it.

    openai: OpenAI fine-tuning chat lines (``arguments`` JSON strings, ``tools``). sharegpt: Hermes-style
    text turns + ``tools``. trl / mlx: ``messages`` + ``tools`` as the model's chat template needs them:
    with a template that renders tools (``builder.native_tools``), structured calls with object
    arguments; otherwise (SmolLM2) the messages punie's prompt builder prepares — tool list in the
    system turn, calls as ``<tool_call>`` text — so the trainer sees exactly punie's prompt."""
    if fmt == "openai":
        return _openai_line(conv)
    if fmt == "sharegpt":
        return _sharegpt_line(conv)
    if fmt in ("trl", "mlx"):
        if builder is None or builder.native_tools:
            return _structured_line(conv)
        return {"messages": builder.prepare(conv["messages"], _tools_of(conv)), "tools": _tools_of(conv)}
    raise DatasetError(f"unknown format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})", location="--format")
