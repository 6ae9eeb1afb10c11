"""Every registered format passes the same conformance cases (see toolcall_cases.py)."""

from __future__ import annotations

import pytest
from toolcall_cases import (
    CASES,
    EMPTY,
    ONE,
    SAME_CALL,
    SAME_CALL_TABLE,
    SEVERAL,
    TOOLS,
    TYPED,
)

from punie.toolcalls import FORMATS, parse
from punie.toolcalls.registry import INTERNAL_ERROR, get_format

NAMES = sorted(CASES)


def test_every_registered_format_has_conformance_cases() -> None:
    missing = set(FORMATS) - set(CASES)
    assert not missing, f"formats without conformance cases: {sorted(missing)}"
    assert not set(CASES) - set(FORMATS), "cases for formats that are not registered"


def test_every_registered_format_is_in_the_same_call_table() -> None:
    assert {name for name, _ in SAME_CALL_TABLE} == set(FORMATS)


def test_format_modules_export_the_interface() -> None:
    for name in FORMATS:
        mod = get_format(name)
        assert name == mod.NAME
        assert mod.TRIGGERS and all(isinstance(t, str) and t for t in mod.TRIGGERS)
        assert isinstance(mod.GENERIC, bool)
        assert mod.parse("no markup here at all", None) is None


def _check(text: str, fmt: str, expected: list[dict], content: str | None = None) -> None:
    # auto-detection and the explicitly named format must agree
    for res in (parse(text, TOOLS), parse(text, TOOLS, format=fmt)):
        assert res.errors == [], res
        assert res.format == fmt, res
        assert res.calls == expected, res
        if content is not None:
            assert res.content == content


@pytest.mark.parametrize("fmt", NAMES)
def test_no_calls(fmt: str) -> None:
    text = CASES[fmt].no_call
    res = parse(text, TOOLS)
    assert res.calls == [] and res.errors == [] and res.format == "none"
    assert res.content == text.strip()
    named = parse(text, TOOLS, format=fmt)
    assert named.calls == [] and named.errors == []


@pytest.mark.parametrize("fmt", NAMES)
def test_one_call(fmt: str) -> None:
    _check(CASES[fmt].one, fmt, ONE, CASES[fmt].one_content)


@pytest.mark.parametrize("fmt", NAMES)
def test_several_calls(fmt: str) -> None:
    _check(CASES[fmt].several, fmt, SEVERAL, "")


@pytest.mark.parametrize("fmt", NAMES)
def test_typed_arguments(fmt: str) -> None:
    _check(CASES[fmt].typed, fmt, TYPED)
    args = parse(CASES[fmt].typed, TOOLS).calls[0]["arguments"]
    assert type(args["int_field"]) is int and type(args["float_field"]) is float
    assert args["bool_field"] is True and args["null_field"] is None


@pytest.mark.parametrize("fmt", NAMES)
def test_empty_arguments(fmt: str) -> None:
    _check(CASES[fmt].empty, fmt, EMPTY, "")


@pytest.mark.parametrize("fmt", NAMES)
def test_escaped_strings(fmt: str) -> None:
    _check(CASES[fmt].escaped, fmt, CASES[fmt].escaped_calls, "")


@pytest.mark.parametrize("fmt", NAMES)
def test_malformed_is_an_error_not_a_call(fmt: str) -> None:
    assert CASES[fmt].malformed
    for text in CASES[fmt].malformed:
        res = parse(text, TOOLS)
        assert res.calls == [], (text, res)
        assert res.errors and not any(INTERNAL_ERROR in e for e in res.errors), (text, res)
        assert res.format == fmt, (text, res)


@pytest.mark.parametrize("fmt", NAMES)
def test_truncated_is_never_a_call(fmt: str) -> None:
    assert CASES[fmt].truncated
    for text in CASES[fmt].truncated:
        res = parse(text, TOOLS)
        assert res.calls == [], (text, res)
        assert res.errors, (text, res)
        assert res.format == fmt, (text, res)


@pytest.mark.parametrize("fmt", NAMES)
def test_every_prefix_yields_at_most_the_complete_calls(fmt: str) -> None:
    """Cut anywhere, an output only ever yields calls it completely contains (a prefix of the list)."""
    c = CASES[fmt]
    for text, full in ((c.one, ONE), (c.several, SEVERAL), (c.typed, TYPED), (c.escaped, c.escaped_calls)):
        for cut in range(len(text)):
            calls = parse(text[:cut], TOOLS).calls
            assert calls == full[: len(calls)], (fmt, text[:cut], calls)


@pytest.mark.parametrize(("fmt", "text"), SAME_CALL_TABLE)
def test_same_call_in_every_syntax(fmt: str, text: str) -> None:
    res = parse(text)  # tools=None: the 7 default tools
    assert res.calls == SAME_CALL, res
    assert res.format == fmt, res
    assert res.errors == [], res
