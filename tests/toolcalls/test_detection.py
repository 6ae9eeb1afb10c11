"""Issue 14's rules: no false calls, several formats in one reply, salvage, strict output, --tools checks."""

from __future__ import annotations

import pytest
from negatives import NEGATIVES
from toolcall_cases import TOOLS

from punie.toolcalls import parse

READ_A = {"name": "read_file", "arguments": {"path": "a.py"}}
READ_B = {"name": "read_file", "arguments": {"path": "b.py"}}


def test_the_negatives_set_is_large_enough() -> None:
    assert len(NEGATIVES) >= 50


@pytest.mark.parametrize("text", NEGATIVES)
def test_no_false_calls(text: str) -> None:
    res = parse(text)
    assert res.calls == [] and res.errors == [], res


def test_bare_leading_call_then_tagged_ones() -> None:
    text = ('{"name": "read_file", "arguments": {"path": "a.py"}}\n'
            '<tool_call>{"name": "read_file", "arguments": {"path": "b.py"}}</tool_call>')
    res = parse(text)
    assert res.calls == [READ_A, READ_B] and res.format == "hermes" and res.errors == []


def test_two_marker_formats_in_one_reply_keep_text_order() -> None:
    text = ('I will read both.\n<function=read_file>{"path": "a.py"}</function>\n'
            '<tool_call>{"name": "read_file", "arguments": {"path": "b.py"}}</tool_call>')
    res = parse(text)
    assert res.calls == [READ_A, READ_B] and res.content == "I will read both."


def test_functionary_v31_is_not_claimed_by_qwen3_xml() -> None:
    res = parse('<function=read_file>{"path": "a.py"}</function>')
    assert res.format == "functionary_v31" and res.calls == [READ_A]


def test_untagged_json_counts_only_at_start_or_alone() -> None:
    assert parse('  {"name": "read_file", "arguments": {"path": "a.py"}}').calls == [READ_A]
    assert parse('Sure: {"name": "read_file", "parameters": {"path": "a.py"}}').calls == [READ_A]
    two = 'e.g. {"name": "read_file", "arguments": {"path": "a.py"}} or {"name": "read_file", "arguments": {"path": "b.py"}}'
    assert parse(two).calls == []
    lines = '{"name": "read_file", "arguments": {"path": "a.py"}}\n{"name": "read_file", "arguments": {"path": "b.py"}}'
    assert parse(lines).calls == [READ_A, READ_B]


def test_tool_definitions_are_never_calls() -> None:
    definition = ('{"type": "function", "function": {"name": "read_file", "description": "d", '
                  '"parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}')
    for text in (definition, f"[{definition}]", f"```json\n{definition}\n```"):
        res = parse(text)
        assert res.calls == [] and res.errors == [], res
    res = parse(f"<tool_call>{definition}</tool_call>")
    assert res.calls == [] and "tool definition" in res.errors[0]


def test_reasoning_never_counts() -> None:
    text = ("<|channel|>analysis<|message|>to=functions.read_file {\"path\": \"b.py\"}<|end|>"
            "<|start|>assistant<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>"
            '{"path": "a.py"}<|call|>')
    assert parse(text).calls == [READ_A]
    text = 'Answer first.\n<think>{"name": "read_file", "arguments": {"path": "b.py"}}</think>\nDone.'
    assert parse(text).calls == []
    text = '<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>\n<think>[read_file(path="b.py")]</think>'
    assert parse(text).calls == [READ_A]
    r7b = ('<|START_THINKING|><|START_ACTION|>[{"tool_name": "read_file", "parameters": {"path": "b.py"}}]'
           '<|END_ACTION|><|END_THINKING|><|START_ACTION|>[{"tool_call_id": "0", "tool_name": "read_file", '
           '"parameters": {"path": "a.py"}}]<|END_ACTION|>')
    assert parse(r7b).calls == [READ_A]


def test_harmony_final_channel_is_the_content() -> None:
    text = ("<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>"
            "It is 4.<|return|>")
    res = parse(text)
    assert res.calls == [] and res.content == "It is 4."


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        # array: a complete item is kept, an invalid one is an error, a truncated tail is dropped
        ('<tool_call>[{"name": "read_file", "arguments": {"path": "a.py"}}, {"name": "read_file", "arguments": {"p',
         [READ_A]),
        ('<tool_call>[{"name": "read_file", "arguments": {"path": "a.py"}}, {"name": bad}, '
         '{"name": "read_file", "arguments": {"path": "b.py"}}]</tool_call>', [READ_A, READ_B]),
        ('<|tool_call|>[{"name": "read_file", "arguments": {"path": "a.py"}}', [READ_A]),
        # JSON lines
        ('<tool_calls>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n{"name": broken}\n'
         '{"name": "read_file", "arguments": {"path": "b.py"}}\n</tool_calls>', [READ_A, READ_B]),
        ('<tool_calls>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n{"name": "read_file", "argu',
         [READ_A]),
        # pythonic lists
        ('[read_file(path="a.py"), read_file(path=b.py), read_file(path="b.py")]', [READ_A, READ_B]),
        ('[read_file(path="a.py"), read_file(path="b', [READ_A]),
        ('<|tool_call_start|>[read_file(path="a.py"), read_file(path="b.py"), read_file(pa', [READ_A, READ_B]),
        ('<function_calls>\nread_file(path="a.py")\nread_file(path=)\nread_file(path="b.py")\n</function_calls>',
         [READ_A, READ_B]),
    ],
)
def test_salvage_item_by_item(text: str, calls: list) -> None:
    res = parse(text)
    assert res.calls == calls and res.errors, res


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "f", "arguments": {"x": 1e999}}</tool_call>',
        '<tool_call>{"name": "f", "arguments": {"x": NaN}}</tool_call>',
        '<tool_call>{"name": "f", "arguments": {"x": -Infinity}}</tool_call>',
        '{"name": "f", "arguments": {"x": 1e400}}',
        "[f(x=1e999)]",
        "<start_function_call>call:f{x:1e999}<end_function_call>",
    ],
)
def test_non_finite_numbers_are_errors(text: str) -> None:
    res = parse(text, [{"name": "f"}])
    assert res.calls == [] and res.errors, res


def test_validate_reports_unknown_tools_and_coerces_values() -> None:
    text = ('<tool_call>{"name": "typed", "arguments": {"int_field": "42", "bool_field": "true", "string_field": 7}}'
            '</tool_call><tool_call>{"name": "nope", "arguments": {}}</tool_call>')
    loose = parse(text, TOOLS)
    assert [c["name"] for c in loose.calls] == ["typed", "nope"]
    res = parse(text, TOOLS, validate=True)
    assert res.calls == [{"name": "typed", "arguments": {"int_field": 42, "bool_field": True, "string_field": 7}}]
    assert res.errors == ["unknown tool 'nope' (not in the tools offered)"]


def test_function_gemma_values_decode_as_json_where_they_are_json() -> None:
    res = parse("<start_function_call>call:f{a:<escape>1<escape>,b:1,c:yes,d:[1,<escape>x<escape>],"
                "e:{f:null}}<end_function_call>", [{"name": "f"}])
    assert res.calls == [{"name": "f", "arguments": {"a": "1", "b": 1, "c": "yes", "d": [1, "x"], "e": {"f": None}}}]


def test_command_r_plus_directly_answer_is_not_a_call() -> None:
    res = parse('Action: ```json\n[{"tool_name": "directly_answer", "parameters": {}}]\n```')
    assert res.calls == []


def test_every_format_is_detected_without_a_format_flag() -> None:
    from toolcall_cases import CASES

    from punie.toolcalls import FORMATS

    for name in FORMATS:
        assert parse(CASES[name].one, TOOLS).format == name


def test_the_docs_table_names_every_registered_format() -> None:
    from pathlib import Path

    from punie.toolcalls import FORMATS

    table = (Path(__file__).parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| ") and line.rstrip().endswith("` |")]
    named = {line.rstrip(" |").rsplit("`", 2)[-2] for line in rows}
    assert named == set(FORMATS)
