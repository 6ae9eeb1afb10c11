"""Constrained tool-call decoding: per-row token masks that only allow offered, schema-valid calls.

Machinery: outlines-core (a small Rust wheel, no dependencies). It turns each tool's JSON Schema
into a regex and the regex into a token-level index over the whole vocabulary; a step then costs a
dict lookup for the mask. Measured here with SmolLM2's 49k vocabulary and the 7 agent tools: the
index builds in 0.35-1.7 s once per tool set (cached), masks are cached per state. xgrammar
(the other candidate) pulls triton and tvm-ffi (hundreds of MB) onto a CPU box; a hand-written
JSON Schema FSM would reimplement what outlines-core already tests.

What outlines-core does not do is the part around the call, so it is done here at the byte level:

- ``auto``: free text, watched for the ``<tool_call>`` marker (KMP over bytes). A token that
  completes the marker moves the row into the call index; a token that completes it and carries
  bytes past it is allowed only when those bytes are themselves a token the index accepts there.
- ``none``: free text in which no token may complete the marker.
- ``required`` / a named function: the reply is call blocks from the first token.
- between blocks (``\n<tool_call>`` after ``</tool_call>``) and ``parallel_tool_calls=False``
  (only end-of-turn after one block): the index covers exactly one block. outlines-core 0.2.14
  leaves single-byte tokens out of a final state's transitions (``a(\nb)*`` allows no ``\n``
  after ``a``: measured), so a regex repeating blocks would refuse the newline between calls.

Schema keywords that can blow up a regex (``pattern``, ``minLength``/``maxLength`` repeats, ...)
are dropped before the regex is built: a request must not be able to stall the server with
a DFA of millions of states. What stays enforced: keys, required keys, types, enums, consts,
nested objects and arrays, anyOf/oneOf/allOf and local ``$ref``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from punie.toolcalls import TOOL_CALL_END, TOOL_CALL_START, tool_name, tool_parameters

MARKER = TOOL_CALL_START.encode()
MODES = ("auto", "none", "required", "function")
MAX_SCHEMA_DEPTH = 16
MAX_SCHEMA_NODES = 2000
MAX_REGEX_CHARS = 200_000
# json.dumps' layout exactly: one space after ':' and ',' (between items and keys), none elsewhere. One
# layout makes the separators forced text, so jump-forward runs them through the model in one forward
WHITESPACE = " "

# dropped before the regex is built (size blow-ups, or nothing to enforce at the token level)
_DROPPED = {
    "pattern", "format", "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
    "patternProperties", "multipleOf", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "uniqueItems", "minContains", "maxContains", "contains", "propertyNames", "dependentRequired",
    "dependentSchemas", "if", "then", "else", "not", "unevaluatedProperties", "unevaluatedItems",
    "description", "title", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment",
}
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_ONE = ("items", "additionalProperties")


class ToolSchemaError(ValueError):
    """A tool's schema can't be used: ``param`` names the field (``tools[2].function.parameters...``)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


# ---- tool_choice ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    mode: str  # auto | none | required | function
    name: str | None = None
    parallel: bool = True


def parse_choice(tool_choice: Any, parallel: bool = True) -> Choice | None:
    """OpenAI ``tool_choice`` (str or {"type":"function","function":{"name"}}) → Choice; None → no constraint."""
    if tool_choice is None:
        return None
    if isinstance(tool_choice, Choice):
        return tool_choice
    if isinstance(tool_choice, str):
        if tool_choice not in ("auto", "none", "required"):
            raise ValueError(f"tool_choice: unknown mode {tool_choice!r}")
        return Choice(tool_choice, None, parallel)
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function", tool_choice)
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            raise ValueError("tool_choice: a named choice needs function.name")
        return Choice("function", name, False)  # a named choice is exactly that one call
    raise ValueError(f"tool_choice: unsupported value {tool_choice!r}")


# ---- schemas ----------------------------------------------------------------------------------------
def sanitize_schema(schema: Any, where: str, depth: int = 0, count: list[int] | None = None) -> Any:
    """A copy of ``schema`` without the keywords in ``_DROPPED``; ToolSchemaError when too deep or big."""
    count = count if count is not None else [0]
    count[0] += 1
    if count[0] > MAX_SCHEMA_NODES:
        raise ToolSchemaError(f"schema has more than {MAX_SCHEMA_NODES} subschemas", where)
    if depth > MAX_SCHEMA_DEPTH:
        raise ToolSchemaError(f"schema nested deeper than {MAX_SCHEMA_DEPTH} levels", where)
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise ToolSchemaError(f"a schema must be an object, not {type(schema).__name__}", where)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        sub = f"{where}.{key}"
        if key in _SUBSCHEMA_MAPS:
            if not isinstance(value, dict):
                raise ToolSchemaError("must be an object", sub)
            out[key] = {k: sanitize_schema(v, f"{sub}.{k}", depth + 1, count) for k, v in value.items()}
        elif key in _SUBSCHEMA_LISTS:
            if not isinstance(value, list) or not value:
                raise ToolSchemaError("must be a non-empty array", sub)
            out[key] = [sanitize_schema(v, f"{sub}[{i}]", depth + 1, count) for i, v in enumerate(value)]
        elif key in _SUBSCHEMA_ONE:
            out[key] = value if isinstance(value, bool) else sanitize_schema(value, sub, depth + 1, count)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_tools(tools: list[dict[str, Any]], where: str = "tools") -> list[dict[str, Any]]:
    """Validate tool specs; return their sanitized parameter schemas (ToolSchemaError naming the field)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    seen: set[str] = set()
    out = []
    for i, spec in enumerate(tools):
        at = f"{where}[{i}].function"
        name = tool_name(spec)
        if name in seen:
            raise ToolSchemaError(f"tool name {name!r} is used twice", f"{at}.name")
        seen.add(name)
        raw = spec.get("function", spec).get("parameters")
        if raw is not None and not isinstance(raw, dict):
            raise ToolSchemaError("must be a JSON Schema object", f"{at}.parameters")
        params = sanitize_schema(tool_parameters(spec), f"{at}.parameters")
        if params.get("type", "object") != "object":
            raise ToolSchemaError(f"type must be 'object', not {params.get('type')!r}", f"{at}.parameters.type")
        try:
            Draft202012Validator.check_schema(params)
        except SchemaError as exc:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
            raise ToolSchemaError(exc.message, f"{at}.parameters{path}") from None
        req = params.get("required", [])
        props = params.get("properties", {})
        for r in req:
            if r not in props and params.get("additionalProperties") is False:
                raise ToolSchemaError(f"required property {r!r} is not in properties", f"{at}.parameters.required")
        out.append(params)
    return out


_WS_MARK = "(?:\x00)"  # stands for outlines' whitespace slots until each gets json.dumps' own layout


def _canonical_layout(rx: str) -> str:
    """outlines-core puts the same whitespace pattern in every slot of the JSON (after ``{``, around
    ``:`` and ``,``, before ``}``). punie's calls are written as ``json.dumps`` writes them, so each slot
    gets what json.dumps puts there: one space after ``:`` and ``,`` (``WHITESPACE``), nothing
    elsewhere. Decided by the regex character before the slot, skipping group syntax
    (``(``, ``)``, ``?``). With one layout, ``", "`` and ``": "`` are forced text (jump-forward)."""
    out = []
    i = 0
    while True:
        j = rx.find(_WS_MARK, i)
        if j < 0:
            out.append(rx[i:])
            return "".join(out)
        out.append(rx[i:j])
        k = j - 1
        while k >= 0 and rx[k] in "()?":
            k -= 1
        before = rx[k] if k >= 0 else ""
        escaped = k >= 1 and rx[k - 1] == "\\"
        out.append(WHITESPACE if before in ":," and not escaped and rx[k - 1 : k + 1] != "?:" else "")
        i = j + len(_WS_MARK)


def _args_regex(params: dict[str, Any], where: str) -> str:
    from outlines_core.json_schema import build_regex_from_schema

    try:
        return _canonical_layout(str(build_regex_from_schema(json.dumps(params), _WS_MARK)))
    except (ValueError, TypeError, RecursionError) as exc:
        raise ToolSchemaError(f"not supported for constrained decoding ({exc})", where) from None


def call_regex(tools: list[dict[str, Any]], params: list[dict[str, Any]]) -> str:
    """Regex of one canonical block after ``<tool_call>``: ``\n{"name": ..., "arguments": ...}\n</tool_call>``."""
    alts = []
    for i, (spec, p) in enumerate(zip(tools, params, strict=True)):
        name = re.escape(json.dumps(tool_name(spec), ensure_ascii=False))
        alts.append(f'{name}, "arguments": {_args_regex(p, f"tools[{i}].function.parameters")}')
    call = r'\n\{"name": (?:' + "|".join(f"(?:{a})" for a in alts) + r")\}\n" + re.escape(TOOL_CALL_END)
    rx = call
    if len(rx) > MAX_REGEX_CHARS:
        raise ToolSchemaError(f"the tools' schemas are too complex to constrain ({len(rx)} regex chars)", "tools")
    return rx


# ---- vocabulary ---------------------------------------------------------------------------------------
def _byte_decoder() -> dict[str, int]:
    """GPT-2 byte-level BPE: the printable character standing for each byte, inverted."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


_SP_BYTE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@dataclass
class Vocab:
    """The tokenizer's tokens as bytes, and the outlines-core Vocabulary built from them."""

    token_bytes: list[bytes | None]  # None: a special/added token (never allowed inside a call)
    by_bytes: dict[bytes, int]
    eos_id: int
    stop_ids: tuple[int, ...]
    size: int  # logits width (model vocab, may be wider than the tokenizer's)
    ov: Any = None
    closers: list[int] = field(default_factory=list)  # ids whose bytes contain the marker's last byte
    by_first: dict[int, list[int]] = field(default_factory=dict)  # first byte → ids
    first_byte: Any = None  # int16 tensor [size]: each token's first byte, -1 for special/unknown ids
    encode: Any = None  # text → the tokenizer's canonical ids (no special tokens added)


def build_vocab(tokenizer: Any, stop_ids: tuple[int, ...], size: int) -> Vocab:
    from outlines_core import Vocabulary

    dec = _byte_decoder()
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    table: list[bytes | None] = [None] * size
    by_bytes: dict[bytes, int] = {}
    ov_map: dict[bytes, list[int]] = {}
    eos = stop_ids[0]
    for tok, i in tokenizer.get_vocab().items():
        if i >= size or i in special or i in stop_ids:
            continue
        if all(c in dec for c in tok):
            b = bytes(dec[c] for c in tok)
        elif m := _SP_BYTE.match(tok):  # sentencepiece byte fallback
            b = bytes([int(m.group(1), 16)])
        else:  # sentencepiece piece: '▁' stands for a space
            b = tok.replace("\u2581", " ").encode()
        if not b:
            continue
        table[i] = b
        by_bytes.setdefault(b, i)
        ov_map.setdefault(b, []).append(i)
    closers = [i for i, b in enumerate(table) if b is not None and MARKER[-1] in b]
    by_first: dict[int, list[int]] = {}
    for i, tb in enumerate(table):
        if tb:
            by_first.setdefault(tb[0], []).append(i)
    import torch

    first = torch.full((size,), -1, dtype=torch.int16)
    for b, ids in by_first.items():
        first[torch.tensor(ids, dtype=torch.long)] = b

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    return Vocab(table, by_bytes, eos, stop_ids, size, Vocabulary(eos, ov_map), closers, by_first, first, encode)


_VOCABS: dict[int, tuple[Any, Vocab]] = {}
_LOCK = threading.Lock()


def vocab_for(tokenizer: Any, stop_ids: tuple[int, ...], size: int) -> Vocab:
    key = id(tokenizer)
    with _LOCK:
        hit = _VOCABS.get(key)
        if hit is not None and hit[0] is tokenizer and hit[1].size == size and hit[1].stop_ids == stop_ids:
            return hit[1]
        v = build_vocab(tokenizer, stop_ids, size)
        _VOCABS[key] = (tokenizer, v)
        return v


def _kmp_table(pat: bytes) -> list[int]:
    fail = [0] * len(pat)
    k = 0
    for i in range(1, len(pat)):
        while k and pat[i] != pat[k]:
            k = fail[k - 1]
        if pat[i] == pat[k]:
            k += 1
        fail[i] = k
    return fail


_FAIL = _kmp_table(MARKER)


def kmp_scan(k: int, data: bytes) -> tuple[int, int | None]:
    """Feed ``data`` to the marker matcher in state ``k``: (new state, index just past a full match or None)."""
    for i, b in enumerate(data):
        while k and b != MARKER[k]:
            k = _FAIL[k - 1]
        if b == MARKER[k]:
            k += 1
        if k == len(MARKER):
            return 0, i + 1
    return k, None


@dataclass(frozen=True)
class Forced:
    """A forced run: ``tokens`` (canonical split of the forced text); ``sure``: no allowed token
    merges the last one with what follows (else a decoder that does not verify leaves it out)."""

    tokens: tuple[int, ...] = ()
    sure: bool = True

    def take(self, verify: bool) -> tuple[int, ...]:
        """The tokens to append: all of them when the model checks them, else the sure ones."""
        return self.tokens if verify or self.sure else self.tokens[:-1]


_NOT_FORCED = Forced()
MAX_FORCED_BYTES = 512


# ---- grammar: states and masks --------------------------------------------------------------------------
# A row's state: ("text", k) free text with k marker bytes matched; ("lit", j, pos) inside LITERALS[j]
# (the opening marker of a required call, or the newline + marker of a next call); ("call", s) outlines
# index state s; ("end",) nothing but end-of-turn.
State = tuple[Any, ...]
LITERALS = (MARKER, b"\n" + MARKER)


class Grammar:
    """Masks and transitions for one (tools, tool_choice) over one vocabulary. Thread-safe reads."""

    def __init__(self, vocab: Vocab, choice: Choice, tools: list[dict[str, Any]]) -> None:
        from outlines_core import Index

        self.vocab = vocab
        self.choice = choice
        self.index: Any = None
        self._masks: dict[State, Any] = {}
        self._forced: dict[State, Forced] = {}
        self._text: dict[int, tuple[Any, dict[int, State]]] = {}
        self._lock = threading.RLock()  # _build may ask for another state's mask
        if choice.mode == "none" or not tools:
            self.start: State = ("text", 0)
            return
        params = check_tools(tools)
        if choice.mode == "function":
            keep = [i for i, t in enumerate(tools) if tool_name(t) == choice.name]
            if not keep:
                raise ToolSchemaError(f"function {choice.name!r} is not in tools", "tool_choice.function.name")
            tools, params = [tools[keep[0]]], [params[keep[0]]]
        self.index = Index(call_regex(tools, params), vocab.ov)
        self.start = ("text", 0) if choice.mode == "auto" else ("lit", 0, 0)

    def _after_marker(self, data: bytes) -> State | None:
        """State after the marker followed by ``data`` (must be one token's bytes, or empty)."""
        s = self.index.get_initial_state()
        if not data:
            return ("call", s)
        tid = self.vocab.by_bytes.get(data)
        nxt = None if tid is None else self.index.get_next_state(s, tid)
        return None if nxt is None else ("call", nxt)

    def advance(self, state: State, tok: int) -> State:
        kind = state[0]
        if tok in self.vocab.stop_ids:
            return ("end",)
        data = self.vocab.token_bytes[tok] if 0 <= tok < len(self.vocab.token_bytes) else None
        if kind == "text":
            if data is None:
                return state
            k, hit = kmp_scan(state[1], data)
            if hit is None or self.index is None:
                return ("text", k)
            return self._after_marker(data[hit:]) or ("end",)
        if kind == "lit":
            if data is None:
                return ("end",)
            lit, pos = LITERALS[state[1]], state[2]
            take = min(len(data), len(lit) - pos)
            if data[:take] != lit[pos : pos + take]:
                return ("end",)
            if pos + take < len(lit):
                return ("lit", state[1], pos + take)
            return self._after_marker(data[take:]) or ("end",)
        if kind == "call":
            if self.index.is_final_state(state[1]):  # a block has ended: the next one's opening, or nothing
                return self.advance(("lit", 1, 0), tok) if self.choice.parallel else ("end",)
            nxt = self.index.get_next_state(state[1], tok)
            return ("end",) if nxt is None else ("call", nxt)
        return ("end",)

    def mask(self, state: State) -> Any:
        """Bool tensor [vocab] of allowed next tokens in ``state``, or None when every token is."""
        hit = self._masks.get(state, False)
        if hit is not False:
            return hit
        with self._lock:
            m = self._build(state)
            self._masks[state] = m
        return m

    # ---- jump-forward: what the grammar forces next ---------------------------------------------------
    def forced_bytes(self, state: State, limit: int = MAX_FORCED_BYTES) -> bytes:
        """The bytes every continuation of ``state`` starts with (b"" when the next byte is a choice).

        Walked one byte at a time through single-byte tokens: a byte is forced when every allowed
        token starts with it and end-of-turn is not allowed. Cut back to whole UTF-8 characters.
        """
        v = self.vocab
        out = bytearray()
        stops = list(v.stop_ids)
        while len(out) < limit and state[0] in ("lit", "call"):
            m = self.mask(state)
            if m is None or bool(m[stops].any()):
                break
            fb = v.first_byte[m[: v.first_byte.shape[0]]]
            if fb.numel() == 0 or int(fb[0]) < 0 or not bool((fb == fb[0]).all()):
                break
            b = int(fb[0])
            tid = v.by_bytes.get(bytes([b]))
            if tid is None or not bool(m[tid]):
                break
            out.append(b)
            state = self.advance(state, tid)
            if state == ("end",):
                break
        data = bytes(out)
        while data:
            try:
                data.decode("utf-8")
                break
            except UnicodeDecodeError:
                data = data[:-1]
        return data

    def forced(self, state: State) -> Forced:
        """The forced text after ``state`` in the tokenizer's canonical tokens (cached per state).

        Each token is checked against the masks along the way (a token the grammar would refuse
        ends the run there), so advancing a row through them keeps it inside the grammar.
        """
        hit = self._forced.get(state)
        if hit is not None:
            return hit
        f = _NOT_FORCED
        data = self.forced_bytes(state) if state[0] in ("lit", "call") else b""
        if data and self.vocab.encode is not None:
            tokens: list[int] = []
            s, done = state, b""
            before_last = state
            for t in self.vocab.encode(data.decode("utf-8")):
                tb = self.vocab.token_bytes[t] if 0 <= t < len(self.vocab.token_bytes) else None
                m = self.mask(s)
                if tb is None or not data.startswith(done + tb) or m is None or not bool(m[t]):
                    break
                tokens.append(t)
                before_last, done = s, done + tb
                s = self.advance(s, t)
            if tokens:
                f = Forced(tuple(tokens), self._tail_is_sure(before_last, tokens[-1]))
        self._forced[state] = f
        return f

    def _tail_is_sure(self, state: State, last: int) -> bool:
        """Whether no allowed token in ``state`` is ``last``'s bytes and more (a longer token the
        model might prefer at the end of a forced run)."""
        lb = self.vocab.token_bytes[last] or b""
        m = self.mask(state)
        cands = self.vocab.by_first.get(lb[0], []) if lb else []
        return not any(
            (b := self.vocab.token_bytes[t]) is not None and len(b) > len(lb) and b.startswith(lb)
            and (m is None or bool(m[t]))
            for t in cands
        )

    def _build(self, state: State) -> Any:
        import torch

        v = self.vocab
        kind = state[0]
        if kind == "text":
            banned = []
            for tid in v.closers:  # only a token holding '>' can complete the marker
                data = v.token_bytes[tid]
                assert data is not None
                _, hit = kmp_scan(state[1], data)
                if hit is not None and (self.index is None or self._after_marker(data[hit:]) is None):
                    banned.append(tid)
            if not banned:
                return None
            m = torch.ones(v.size, dtype=torch.bool)
            m[torch.tensor(banned)] = False
            return m
        m = torch.zeros(v.size, dtype=torch.bool)
        if kind == "lit":
            rest = LITERALS[state[1]][state[2] :]
            ok = [t for t in v.by_first.get(rest[0], []) if (b := v.token_bytes[t]) is not None
                  and (rest.startswith(b) or b.startswith(rest) and self._after_marker(b[len(rest):]))]
            if ok:
                m[torch.tensor(ok, dtype=torch.long)] = True
            return m
        if kind == "call":
            if self.index.is_final_state(state[1]):
                if self.choice.parallel:
                    m |= self.mask(("lit", 1, 0))
                m[torch.tensor(list(v.stop_ids))] = True
                return m
            allowed = self.index.get_allowed_tokens(state[1])
            if allowed:
                m[torch.tensor(list(allowed), dtype=torch.long)] = True
            m[v.eos_id] = False
            return m
        m[torch.tensor(list(v.stop_ids))] = True  # "end": only end-of-turn
        return m


_GRAMMARS: OrderedDict[tuple[Any, ...], Grammar] = OrderedDict()
MAX_GRAMMARS = 16


def grammar_for(vocab: Vocab, choice: Choice, tools: list[dict[str, Any]]) -> Grammar:
    """The cached Grammar for this vocabulary, choice and tool list (ToolSchemaError if unusable)."""
    key = (id(vocab), choice, json.dumps(tools, sort_keys=True, default=str))
    with _LOCK:
        g = _GRAMMARS.get(key)
        if g is not None:
            _GRAMMARS.move_to_end(key)
            return g
    g = Grammar(vocab, choice, tools)  # outside the lock: building an index takes up to seconds
    with _LOCK:
        _GRAMMARS[key] = g
        while len(_GRAMMARS) > MAX_GRAMMARS:
            _GRAMMARS.popitem(last=False)
    return g


class RowConstraint:
    """One row's position in its grammar."""

    __slots__ = ("grammar", "state")

    def __init__(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self.state = grammar.start

    def mask(self) -> Any:
        return self.grammar.mask(self.state)

    def advance(self, tok: int) -> None:
        self.state = self.grammar.advance(self.state, tok)

    def peek(self, state: State, tok: int) -> State:
        return self.grammar.advance(state, tok)

    def forced(self, verify: bool = True) -> tuple[int, ...]:
        """Tokens the grammar forces from here (jump-forward), () when the next token is a choice."""
        return self.grammar.forced(self.state).take(verify)


def apply_masks(logits: Any, masks: list[Any]) -> Any:
    """``logits`` [rows, vocab] with disallowed tokens at -inf (rows whose mask is None untouched)."""
    if all(m is None for m in masks):
        return logits
    logits = logits.clone()
    width = logits.shape[-1]
    for j, m in enumerate(masks):
        if m is not None:
            mm = m[:width] if m.shape[0] >= width else m
            logits[j, : mm.shape[0]].masked_fill_(~mm.to(logits.device), float("-inf"))
            if mm.shape[0] < width:
                logits[j, mm.shape[0] :] = float("-inf")
    return logits
