"""The parsing rules of issue 3, one test each."""

from __future__ import annotations

import pytest

from punie.toolcalls import default_tools, parse
from punie.toolcalls.registry import strip_think

READ = {"name": "read_file", "arguments": {"path": "a.py"}}
RUN = {"name": "run_command", "arguments": {"command": "ls"}}


def test_array_inside_one_tag() -> None:
    text = '<tool_call>\n[{"name": "read_file", "arguments": {"path": "a.py"}}, {"name": "run_command", "arguments": {"command": "ls"}}]\n</tool_call>'
    assert parse(text).calls == [READ, RUN]


@pytest.mark.parametrize("sep", ["\n", ", ", "; ", ""])
def test_several_objects_inside_one_tag(sep: str) -> None:
    text = (
        '<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}'
        + sep
        + '{"name": "run_command", "arguments": {"command": "ls"}}</tool_call>'
    )
    assert parse(text).calls == [READ, RUN]


def test_arguments_given_as_json_string() -> None:
    text = '<tool_call>{"name": "read_file", "arguments": "{\\"path\\": \\"a.py\\"}"}</tool_call>'
    res = parse(text)
    assert res.calls == [READ] and not res.repaired


def test_empty_string_and_null_arguments_are_empty() -> None:
    for args in ('""', "null"):
        res = parse('<tool_call>{"name": "run_command", "arguments": ' + args + "}</tool_call>")
        assert res.calls == [{"name": "run_command", "arguments": {}}]


def test_parameters_instead_of_arguments() -> None:
    assert parse('<tool_call>{"name": "read_file", "parameters": {"path": "a.py"}}</tool_call>').calls == [READ]


def test_openai_function_wrapper() -> None:
    text = '<tool_call>{"type": "function", "function": {"name": "read_file", "arguments": "{\\"path\\": \\"a.py\\"}"}}</tool_call>'
    assert parse(text).calls == [READ]
    assert parse('{"function": {"name": "read_file", "arguments": {"path": "a.py"}}}').calls == [READ]


def test_closing_tag_inside_a_string_value() -> None:
    call = {"name": "write_file", "arguments": {"path": "t.xml", "content": "<a></tool_call><tool_call></a>"}}
    text = '<tool_call>\n{"name": "write_file", "arguments": {"path": "t.xml", "content": "<a></tool_call><tool_call></a>"}}\n</tool_call>'
    res = parse(text)
    assert res.calls == [call] and res.errors == [] and res.content == ""


@pytest.mark.parametrize("tail", ["", "\n", "\n</tool", "\n</tool_call"])
def test_closing_tag_missing_at_end_of_output(tail: str) -> None:
    res = parse('<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}' + tail)
    assert res.calls == [READ] and res.errors == [] and res.format == "hermes"


def test_truncated_json_is_never_a_call_even_if_repairable() -> None:
    for text in (
        '<tool_call>{"name": "read_file", "arguments": {"path": "a.py"',
        "<tool_call>{'name': 'read_file', 'arguments': {'path': 'a.py',",
        '{"name": "read_file", "arguments": {"path": "a.py"},',
        '```json\n{"name": "read_file", "arguments": {"path": "a.py"}',
    ):
        res = parse(text)
        assert res.calls == [] and res.errors, (text, res)


def test_call_nested_in_a_truncated_object_is_not_read() -> None:
    text = '{"calls": [{"name": "read_file", "arguments": {"path": "a.py"}}, {"name": "run_command", "argu'
    res = parse(text)
    assert res.calls == [] and res.errors


def test_broken_tool_call_is_not_rescued_by_generic_formats() -> None:
    text = '<tool_call>{"name": "x", "arguments": {"inner": {"name": "read_file", "arguments": {"path": "a.py"}}'
    res = parse(text)
    assert res.calls == [] and res.format == "hermes" and res.errors


def test_package_json_is_not_a_call() -> None:
    pkg = '{"name": "my-app", "version": "1.0.0", "scripts": {"test": "jest"}}'
    for text in (pkg, f"Your package.json:\n```json\n{pkg}\n```", f"It reads {pkg}."):
        res = parse(text)
        assert res.calls == [] and res.errors == [] and res.format == "none", res


def test_name_only_object_is_a_call_when_the_name_is_a_tool() -> None:
    tools = [{"name": "list_files", "parameters": {"type": "object", "properties": {}}}]
    assert parse('{"name": "list_files"}', tools).calls == [{"name": "list_files", "arguments": {}}]
    assert parse('{"name": "list_files"}').calls == []  # not one of the 7 default tools
    assert parse('{"name": "my-app"}', tools).calls == []


def test_single_quotes_and_trailing_commas_are_repaired_and_flagged() -> None:
    text = "<tool_call>{'name': 'read_file', 'arguments': {'path': 'a.py',},}</tool_call>"
    res = parse(text)
    assert res.calls == [READ] and res.repaired and not res.strict
    res = parse("""{'name': 'write_file', 'arguments': {'path': "it's.txt", 'content': 'say "hi"\\n', 'x': True}}""")
    assert res.calls == [
        {"name": "write_file", "arguments": {"path": "it's.txt", "content": 'say "hi"\n', "x": True}}
    ]
    assert res.repaired
    assert not parse('<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>').repaired


def test_unrepairable_json_is_an_error() -> None:
    res = parse('<tool_call>{"name": read_file, "arguments": {}}</tool_call>')
    assert res.calls == [] and res.errors and res.format == "hermes"


def test_xml_values_are_coerced_to_schema_types() -> None:
    text = (
        "<function=run_command>\n<parameter=command>\n42\n</parameter>\n"
        "<parameter=background>\ntrue\n</parameter>\n</function>"
    )
    res = parse(text)  # default tools: command is a string, background a boolean
    assert res.calls == [{"name": "run_command", "arguments": {"command": "42", "background": True}}]
    tools = [{"name": "f", "parameters": {"properties": {
        "n": {"type": "integer"}, "x": {"type": ["number", "null"]}, "l": {"type": "array"}, "s": {"type": "string"}}}}]
    text = (
        "<function=f>\n<parameter=n>\n7\n</parameter>\n<parameter=x>\n0.5\n</parameter>\n"
        "<parameter=l>\n['a', 1]\n</parameter>\n<parameter=s>\n007\n</parameter>\n"
        "<parameter=other>\n1\n</parameter>\n</function>"
    )
    assert parse(text, tools).calls == [{"name": "f", "arguments": {"n": 7, "x": 0.5, "l": ["a", 1], "s": "007", "other": "1"}}]
    # a value that doesn't fit its type is kept as text (the eval then scores it wrong)
    assert parse("<function=f>\n<parameter=n>\nseven\n</parameter>\n</function>", tools).calls[0]["arguments"] == {"n": "seven"}


def test_qwen3_xml_multiline_value_and_missing_opening_tag() -> None:
    text = "<function=write_file>\n<parameter=path>\na.py\n</parameter>\n<parameter=content>\ndef f():\n    return 1\n\n</parameter>\n</function>\n</tool_call>"
    res = parse(text)
    assert res.calls == [{"name": "write_file", "arguments": {"path": "a.py", "content": "def f():\n    return 1\n"}}]
    assert res.content == ""


def test_content_is_text_without_call_markup() -> None:
    text = 'First I read it.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>\nThen we see.'
    res = parse(text)
    assert res.content == "First I read it.\nThen we see."


@pytest.mark.parametrize(
    ("text", "calls", "content"),
    [
        ('<think>maybe {"name": "run_command", "arguments": {"command": "ls"}}</think>No tool needed.', [], "No tool needed."),
        ('<think>I should read it</think>\n<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>', [READ], ""),
        ('reasoning from a template that opened the block</think>\n{"name": "read_file", "arguments": {"path": "a.py"}}', [READ], ""),
        ('<think>still thinking about <tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}', [], ""),
    ],
)
def test_think_is_stripped_before_looking_for_calls(text: str, calls: list, content: str) -> None:
    res = parse(text)
    assert res.calls == calls and res.content == content


def test_think_inside_an_argument_is_kept() -> None:
    text = '<tool_call>{"name": "write_file", "arguments": {"path": "a", "content": "<think>x</think>"}}</tool_call>'
    assert strip_think(text) == text
    assert parse(text).calls[0]["arguments"]["content"] == "<think>x</think>"


def test_format_can_be_named() -> None:
    text = '```json\n{"name": "read_file", "arguments": {"path": "a.py"}}\n```'
    assert parse(text, format="json_fence").calls == [READ]
    assert parse(text, format="hermes").calls == []
    assert parse(text, format="none").calls == []
    res = parse(text, format="no-such-format")
    assert res.calls == [] and "unknown format" in res.errors[0]


def test_first_format_with_calls_wins_over_an_earlier_broken_one() -> None:
    text = "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>a.py</arg_value>\n</tool_call>"
    res = parse(text)
    assert res.format == "glm45" and res.calls == [READ]


@pytest.mark.parametrize("value", [None, b'{"name": "read_file", "arguments": {"path": "a.py"}}', 42, ""])
def test_odd_inputs_never_raise(value: object) -> None:
    res = parse(value)  # type: ignore[arg-type]
    assert isinstance(res.calls, list)


def test_bad_tools_never_raise() -> None:
    text = "<function=read_file>\n<parameter=path>\na\n</parameter>\n</function>"
    for tools in ([None, 3, "x", {"function": 5}, {"name": None}], [], default_tools()):
        assert parse(text, tools).calls == [{"name": "read_file", "arguments": {"path": "a"}}]  # type: ignore[arg-type]


def test_strict_means_trained_format_without_repair() -> None:
    assert parse('<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>').strict
    assert parse("plain answer").strict
    assert not parse('{"name": "read_file", "arguments": {"path": "a.py"}}').strict


def test_pythonic_rules() -> None:
    assert parse("[math.factorial(n=5)]", [{"name": "math.factorial"}]).calls == [
        {"name": "math.factorial", "arguments": {"n": 5}}
    ]
    assert parse("[f(x=true, y=null, z=(1, 2))]").calls == [{"name": "f", "arguments": {"x": True, "y": None, "z": [1, 2]}}]
    assert parse("print(x)").calls == []  # a bare call counts only when it names a tool
    assert parse("[f(x=__import__('os').system('ls'))]").calls == []  # never evaluated
