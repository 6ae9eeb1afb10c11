"""The parser's hand-written fast paths give what the general paths give.

Each fast path is switched off (monkeypatched to "cannot tell") and the whole conformance corpus,
the negatives and seeded fuzz mutations are parsed both ways; the pieces are also compared directly
on generated inputs (hypothesis).
"""

from __future__ import annotations

import ast
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from negatives import NEGATIVES
from test_fuzz import SEEDS, mutate
from toolcall_cases import TOOLS

from punie.toolcalls import parse, registry
from punie.toolcalls.formats import _common, pythonic
from punie.toolcalls.stream import replay


def _corpus() -> list[str]:
    rng = random.Random(1414)
    texts = list(SEEDS) + list(NEGATIVES)
    texts += [mutate(rng, rng.choice(SEEDS)) for _ in range(3_000)]
    return texts


CORPUS = _corpus()


def _key(text: str, tools: object) -> str:
    r = parse(text, tools)  # type: ignore[arg-type]
    return repr((r.calls, r.content, r.format, r.errors, r.repaired, r.spans))


def _general(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fast path off: the general path answers everything."""
    monkeypatch.setattr(pythonic, "_fast_calls", lambda text, pos, end: None)
    monkeypatch.setattr(pythonic, "_fast_call", lambda m: None)
    monkeypatch.setattr(_common, "_SHALLOW", 0)  # _never_closes never answers: every value is decoded
    monkeypatch.setattr(_common, "_CLOSER", _NeverSearch())
    # the registry never stops early: every later entry is looked at (the first format's result is
    # never returned alone, and a reply is not left because no later trigger occurs outside its spans)
    monkeypatch.setattr(registry._Variant, "left", lambda self, k, text, spans: True)


class _NeverSearch:
    """Stands in for balanced_end's closer pre-check: "a closer may be there", so the scan runs."""

    def search(self, *args: object) -> object:
        return True


def test_fast_paths_match_general_paths_on_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [_key(t, tools) for t in CORPUS for tools in (None, TOOLS)]
    with monkeypatch.context() as m:
        _general(m)
        general = [_key(t, tools) for t in CORPUS for tools in (None, TOOLS)]
    assert fast == general


def test_streaming_agrees_with_the_fast_paths() -> None:
    # the streaming parser reparses through the same registry: chunked input, same calls
    rng = random.Random(7)
    for text in CORPUS[:: 10]:
        cut = rng.randrange(len(text) + 1)
        reasoning = "</think>" in text and "<think>" not in text[: text.find("</think>")]
        _, calls, streamed = replay([text[:cut], text[cut:]], TOOLS, reasoning=reasoning)
        assert calls == streamed.calls == parse(text, TOOLS).calls, text


# --- pythonic: calls read without ast ---

# mostly shapes the fast path reads, with every kind of thing it must leave to ast mixed in
_NAMES = st.sampled_from(
    ["f", "read_file", "a.b", "brave_search.call", "x1", "_", "match"] * 3 + ["True", "if", "a.if", "é", "a .b"]
)
_KEYS = st.sampled_from(["a", "path", "b2", "class_", "_x", "b", "c"] * 3 + ["if", "None", "__debug__", "é", "a"])
_PLAIN_CHARS = st.sampled_from(list("ab '\"\t\x0c\x85\u2028é,()=[]{}#"))
_ODD_CHARS = st.sampled_from([*"abntr'\"\\\n\r\x00", "\ud800"])
_VALUES = st.one_of(
    st.builds(lambda q, s: q + s.replace(q, "") + q, st.sampled_from(["'", '"']), st.text(_PLAIN_CHARS, max_size=8)),
    st.builds(lambda q, s: q + s + q, st.sampled_from(["'", '"', "'''"]), st.text(_ODD_CHARS, max_size=4)),
    st.sampled_from(
        ["0", "-0", "7", "-12", "1.5", "-0.0", "123456789012345.25", "True", "false", "null", "None"] * 4
        + ["00", "01", "1.", ".5", "1e5", "1_0", "0x1", "9" * 20, "9" * 17 + ".5", "1.5j", "x", "[1]", "{'a': 1}",
           "- 1", "+1", "1 .5"]
    ),
)
_WS = st.sampled_from(["", " ", "\t", "\n", "  "] * 10 + ["\r\n", "\x0c", " #c\n", "\\\n"])


@st.composite
def _call_source(draw: st.DrawFn) -> str:
    kwargs = [
        draw(_KEYS) + draw(_WS) + "=" + draw(_WS) + draw(_VALUES) for _ in range(draw(st.integers(0, 3)))
    ]
    sep = draw(_WS) + "," + draw(_WS)
    trail = draw(st.sampled_from(["", "", ",", ", ", ",,"])) if kwargs else ""
    gap = draw(st.sampled_from(["", "", " ", "\n"]))
    return draw(_NAMES) + gap + "(" + draw(_WS) + sep.join(kwargs) + trail + ")"


@settings(max_examples=400, deadline=None)
@given(_call_source())
def test_pythonic_fast_call_matches_ast(source: str) -> None:
    assert repr(pythonic.call_of(source)) == repr(pythonic._ast_call_of(source))


def _ast_list(text: str) -> list[dict[str, object]] | None:
    """What calls_from_items reads from a closed list through ast (None: not a list of calls)."""
    try:
        tree = ast.parse("[" + text + "]", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not (isinstance(tree, ast.List) and all(isinstance(e, ast.Call) for e in tree.elts)):
        return None
    got = [pythonic._call_node(node) for node in tree.elts]
    return got if all(isinstance(g, dict) for g in got) else None  # type: ignore[misc]


@settings(max_examples=250, deadline=None)
@given(st.lists(_call_source(), min_size=1, max_size=3), _WS, st.sampled_from(["", ",", " , "]))
def test_pythonic_fast_list_matches_ast(sources: list[str], ws: str, trail: str) -> None:
    text = ws + (ws + "," + ws).join(sources) + trail + ws
    fast = pythonic._fast_calls(text, 0, len(text))
    if fast is not None:  # where the fast path answers, ast reads the same calls
        assert repr(fast) == repr(_ast_list(text))


# --- balanced_end: whole strings skipped by a regex, the old loop as the reference ---


def _balanced_end_reference(text: str, pos: int, end: int | None = None) -> int | None:
    end = len(text) if end is None else end
    depth = 0
    quote = ""
    skip = -1
    for i in range(pos, end):
        ch = text[i]
        if ch not in "\"'\\{}[]()" or i == skip:
            continue
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
            if depth <= 0:
                return i + 1
    return None


@settings(max_examples=1_000, deadline=None)
@given(st.text(st.sampled_from(list("{}[]()\"'\\ a\n")), max_size=24), st.integers(0, 24), st.integers(0, 30))
def test_balanced_end_matches_reference(text: str, pos: int, end: int) -> None:
    pos = min(pos, len(text))
    for stop in (None, min(end, len(text))):
        assert _common.balanced_end(text, pos, stop) == _balanced_end_reference(text, pos, stop)


def test_deep_nesting_is_still_reported() -> None:
    # the no-closer shortcut must not hide RecursionError from a value nested beyond the limit
    for text in ("<|tool_call|>[" + "[" * 5000, '<|tool_call|>[{"a": ' + "[" * 5000, "<tool_call>" + "[" * 5000):
        r = parse(text)
        assert any("nested too deeply" in e for e in r.errors), (text[:20], r.errors)


# --- harmony: calls searched from each recipient back, not from every position ---

_HARMONY_PIECES = st.sampled_from(
    ["<|start|>", "assistant", "<|channel|>", "commentary", "analysis", "to=functions.", "read_file", "x", " ", "\n",
     "\u3000", "<|constrain|>", "json", "<|message|>", '{"a": 1}', "<|call|>", "<|end|>", "=", ".", "é", "1"]
)


@settings(max_examples=1_500, deadline=None)
@given(st.lists(_HARMONY_PIECES, max_size=14))
def test_harmony_call_search_matches_finditer(pieces: list[str]) -> None:
    from punie.toolcalls.formats import harmony

    text = "".join(pieces)
    assert [m.span() for m in harmony._calls(text)] == [m.span() for m in harmony._CALL.finditer(text)]


# --- registry: a later trigger searched among the entries still to come ---


def test_left_matches_a_search_for_every_trigger() -> None:
    # left(k) looks only for the triggers of entries[k:]; with k = 0 it is the old search for any trigger
    table = registry._table()
    everything = registry._Variant([e for v in table._variants for e in v.entries], {})
    rng = random.Random(5)
    for text in CORPUS[::7]:
        variant = table.variant(text)
        for _ in range(3):
            a = rng.randrange(len(text) + 1)
            spans = [(a, rng.randrange(a, len(text) + 1))] * rng.randrange(1, 3)
            outside = registry._outside(text, spans)
            assert everything.left(0, text, spans) == any(t in outside for t in everything.triggers)
            for k in range(len(variant.entries) + 1):
                later = {e[0] for e in variant.entries[k:]}
                assert variant.left(k, text, spans) == any(t in outside for t in later), (text, spans, k)


# --- calls_from_values: the usual {"name": ..., "arguments": {...}} read without normalize_call ---

_ITEM_VALUES = st.one_of(
    st.sampled_from(["read_file", "", "x", None, 0, True, [], {}, {"path": "a"}, '{"a": 1}', " ", "[1]"]),
    st.dictionaries(st.sampled_from(["path", "type", "properties"]), st.sampled_from(["object", {}, 1]), max_size=2),
)
_ITEMS = st.one_of(
    st.dictionaries(
        st.sampled_from(["name", "arguments", "parameters", "args", "function", "tool_name", "type", "id"]),
        _ITEM_VALUES | st.dictionaries(st.sampled_from(["name", "arguments"]), _ITEM_VALUES, max_size=2),
        max_size=4,
    ),
    _ITEM_VALUES,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ITEMS, st.lists(_ITEMS, max_size=3)), max_size=3), st.booleans(), st.booleans())
def test_calls_from_values_matches_normalize_call(values: list[object], tagged: bool, with_tools: bool) -> None:
    tools = TOOLS if with_tools else None
    calls, errors = [], []
    for value in values:
        for item in value if isinstance(value, list) else _common._unwrap(value):
            got = _common.normalize_call(item, tools, tagged=tagged)
            if isinstance(got, dict):
                calls.append(got)
            elif isinstance(got, str):
                errors.append(got)
    assert repr(_common.calls_from_values(values, tools, tagged=tagged)) == repr((calls, errors))


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from(list(" \t\r\n\x0ba{")), max_size=8), st.integers(0, 10))
def test_skip_ws_matches_the_regex(text: str, pos: int) -> None:
    assert _common.skip_ws(text, pos) == _common._WS_RUN.match(text, pos).end()  # type: ignore[union-attr]
