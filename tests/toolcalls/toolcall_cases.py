"""The conformance table: every registered format fills in the same cases with its own syntax.

Shape borrowed from vLLM's tests/tool_parsers/common_tests.py: one config per format (no calls, one
call, several calls, typed args, empty args, escaped strings, malformed, truncated); the tests in
test_conformance.py run every config, and a coverage test fails when a format has none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {"timezone": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "echo", "parameters": {
        "type": "object", "properties": {"text": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "typed", "parameters": {"type": "object", "properties": {
        "string_field": {"type": "string"},
        "int_field": {"type": "integer"},
        "float_field": {"type": "number"},
        "bool_field": {"type": "boolean"},
        "null_field": {"type": "null"},
        "array_field": {"type": "array"},
        "object_field": {"type": "object"},
    }}}},
]

ONE = [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]
SEVERAL = [
    {"name": "get_weather", "arguments": {"city": "Tokyo"}},
    {"name": "get_time", "arguments": {"timezone": "Asia/Tokyo"}},
]
TYPED_ARGS = {
    "string_field": "hello",
    "int_field": 42,
    "float_field": 3.5,
    "bool_field": True,
    "null_field": None,
    "array_field": [1, "two"],
    "object_field": {"k": "v"},
}
TYPED = [{"name": "typed", "arguments": TYPED_ARGS}]
EMPTY = [{"name": "get_time", "arguments": {}}]
# quotes, backslashes, a newline, a tab, braces, non-ASCII and the canonical closing tag
TEXT = 'He said "hi"\n\tC:\\dir\\ {x} </tool_call> é😀'
TEXT_NO_TAG = TEXT.replace(" </tool_call>", "")  # GLM's closing tag can't appear in its raw values


def escaped(text: str = TEXT) -> list[dict[str, Any]]:
    return [{"name": "echo", "arguments": {"text": text}}]


def j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass
class FormatCases:
    no_call: str
    one: str
    several: str
    typed: str
    empty: str
    escaped: str
    malformed: list[str]
    truncated: list[str]
    one_content: str = ""
    escaped_calls: list[dict[str, Any]] = field(default_factory=escaped)


CASES: dict[str, FormatCases] = {
    "hermes": FormatCases(
        no_call="Tokyo is usually mild in spring. Shall I look up today's weather?",
        one='Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>',
        one_content="Let me check.",
        several='<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_time", "arguments": {"timezone": "Asia/Tokyo"}}\n</tool_call>',
        typed='<tool_call>\n{"name": "typed", "arguments": {"string_field": "hello", "int_field": 42, '
        '"float_field": 3.5, "bool_field": true, "null_field": null, "array_field": [1, "two"], '
        '"object_field": {"k": "v"}}}\n</tool_call>',
        empty='<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>',
        escaped="<tool_call>\n" + j(escaped()[0]) + "\n</tool_call>",
        malformed=[
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": Tokyo}}\n</tool_call>',
            '<tool_call>\n{"arguments": {"city": "Tokyo"}}\n</tool_call>',
            '<tool_call>\n{"name": "get_weather", "arguments": "city=Tokyo"}\n</tool_call>',
            "<tool_call></tool_call>",
        ],
        truncated=[
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tok',
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}\n</tool_call>',
        ],
    ),
    "qwen3_xml": FormatCases(
        no_call="I can look that up with a <b>tool</b> if you like.",
        one="I will check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n"
        "</function>\n</tool_call>",
        one_content="I will check.",
        several="<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n</function>\n"
        "</tool_call>\n<tool_call>\n<function=get_time>\n<parameter=timezone>\nAsia/Tokyo\n</parameter>\n"
        "</function>\n</tool_call>",
        typed="<tool_call>\n<function=typed>\n<parameter=string_field>\nhello\n</parameter>\n"
        "<parameter=int_field>\n42\n</parameter>\n<parameter=float_field>\n3.5\n</parameter>\n"
        "<parameter=bool_field>\ntrue\n</parameter>\n<parameter=null_field>\nnull\n</parameter>\n"
        '<parameter=array_field>\n[1, "two"]\n</parameter>\n<parameter=object_field>\n{"k": "v"}\n'
        "</parameter>\n</function>\n</tool_call>",
        empty="<tool_call>\n<function=get_time>\n</function>\n</tool_call>",
        escaped=f"<tool_call>\n<function=echo>\n<parameter=text>\n{TEXT}\n</parameter>\n</function>\n</tool_call>",
        malformed=[
            "<tool_call>\n<function=>\n<parameter=city>\nTokyo\n</parameter>\n</function>\n</tool_call>",
            "<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n</tool_call>",
        ],
        truncated=[
            "<tool_call>\n<function=get_weather>\n<parameter=city>\nTok",
            "<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n",
        ],
    ),
    "glm45": FormatCases(
        no_call="Sure, I can check the weather for you.",
        one="Checking.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Tokyo</arg_value>\n</tool_call>",
        one_content="Checking.",
        several="<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Tokyo</arg_value>\n</tool_call>"
        "<tool_call>get_time\n<arg_key>timezone</arg_key>\n<arg_value>Asia/Tokyo</arg_value>\n</tool_call>",
        typed="<tool_call>typed\n<arg_key>string_field</arg_key>\n<arg_value>hello</arg_value>\n"
        "<arg_key>int_field</arg_key>\n<arg_value>42</arg_value>\n<arg_key>float_field</arg_key>\n"
        "<arg_value>3.5</arg_value>\n<arg_key>bool_field</arg_key>\n<arg_value>true</arg_value>\n"
        "<arg_key>null_field</arg_key>\n<arg_value>null</arg_value>\n<arg_key>array_field</arg_key>\n"
        '<arg_value>[1, "two"]</arg_value>\n<arg_key>object_field</arg_key>\n<arg_value>{"k": "v"}</arg_value>\n'
        "</tool_call>",
        empty="<tool_call>get_time\n</tool_call>",
        escaped=f"<tool_call>echo\n<arg_key>text</arg_key>\n<arg_value>{TEXT_NO_TAG}</arg_value>\n</tool_call>",
        escaped_calls=escaped(TEXT_NO_TAG),
        malformed=[
            "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Tokyo\n</tool_call>",
            "<tool_call>get_weather\n<arg_key>city</arg_key>\n</tool_call>",
        ],
        truncated=["<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Tok"],
    ),
    "mistral": FormatCases(
        no_call="The weather in Tokyo is usually pleasant in May.",
        one='Checking.[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Tokyo"}}]',
        one_content="Checking.",
        several='[TOOL_CALLS]get_weather[ARGS]{"city": "Tokyo"}[TOOL_CALLS]get_time[ARGS]{"timezone": "Asia/Tokyo"}',
        typed="[TOOL_CALLS]typed[ARGS]" + j(TYPED_ARGS),
        empty="[TOOL_CALLS]get_time[ARGS]{}",
        escaped="[TOOL_CALLS][" + j(escaped()[0]) + "]",
        malformed=[
            '[TOOL_CALLS]get_weather{"city": "Tokyo"}',
            '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": Tokyo}}]',
        ],
        truncated=[
            '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Tokyo"}',
            '[TOOL_CALLS]get_weather[ARGS]{"city": "To',
        ],
    ),
    "llama3_json": FormatCases(
        no_call="It is sunny in Tokyo today, according to the forecast you pasted.",
        one='<|python_tag|>{"name": "get_weather", "parameters": {"city": "Tokyo"}}',
        several='{"name": "get_weather", "parameters": {"city": "Tokyo"}}; '
        '{"name": "get_time", "parameters": {"timezone": "Asia/Tokyo"}}',
        typed='<|python_tag|>{"name": "typed", "parameters": ' + j(TYPED_ARGS) + "}<|eom_id|>",
        empty='{"name": "get_time", "parameters": {}}',
        escaped="<|python_tag|>" + j({"name": "echo", "parameters": {"text": TEXT}}),
        malformed=[
            '<|python_tag|>{"name": "get_weather", "parameters": {"city": Tokyo}}',
            '<|python_tag|>{"parameters": {"city": "Tokyo"}}',
        ],
        truncated=[
            '<|python_tag|>{"name": "get_weather", "parameters": {"ci',
            '{"name": "get_weather", "parameters": {"city": "Tokyo"}',
        ],
    ),
    "granite": FormatCases(
        no_call="Tokyo's weather is mild today.",
        one='<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]',
        several="<|tool_call|>" + j(SEVERAL),
        typed="<|tool_call|>" + j(TYPED),
        empty='<|tool_call|>[{"name": "get_time", "arguments": {}}]',
        escaped="<|tool_call|>" + j(escaped()),
        malformed=[
            '<|tool_call|>[{"name": "get_weather", "arguments": {"city": Tokyo}}]',
            '<|tool_call|>get_weather(city="Tokyo")',
        ],
        truncated=['<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}'],
    ),
    "phi4_mini": FormatCases(
        no_call="You can use functools.partial for that, e.g. partial(f, 1).",
        one='functools[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]',
        several="functools" + j(SEVERAL),
        typed="functools" + j(TYPED),
        empty='functools[{"name": "get_time", "arguments": {}}]',
        escaped="functools" + j(escaped()),
        malformed=[
            'functools[{"name": "get_weather", "arguments": {"city": Tokyo}}]',
            'functools[{"name": "get_weather", "arguments": ["Tokyo"]}]',
        ],
        truncated=['functools[{"name": "get_weather", "arguments": {"city": "To'],
    ),
    "jamba": FormatCases(
        no_call="No tools needed: it is 3 pm in Tokyo.",
        one='<tool_calls>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]</tool_calls>',
        several="<tool_calls>" + j(SEVERAL) + "</tool_calls>",
        typed="<tool_calls>" + j(TYPED) + "</tool_calls>",
        empty='<tool_calls>[{"name": "get_time", "arguments": {}}]</tool_calls>',
        escaped="<tool_calls>" + j(escaped()) + "</tool_calls>",
        malformed=[
            '<tool_calls>[{"name": "get_weather", "arguments": {"city": Tokyo}}]</tool_calls>',
            "<tool_calls>get_weather</tool_calls>",
        ],
        truncated=['<tool_calls>[{"name": "get_weather", "arguments": {"ci'],
    ),
    "kimi_k2": FormatCases(
        no_call="I would normally call a tool here, but the answer is simply 42.",
        one="<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
        '{"city": "Tokyo"}<|tool_call_end|><|tool_calls_section_end|>',
        several="<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
        '<|tool_call_argument_begin|>{"city": "Tokyo"}<|tool_call_end|><|tool_call_begin|>functions.get_time:1'
        '<|tool_call_argument_begin|>{"timezone": "Asia/Tokyo"}<|tool_call_end|><|tool_calls_section_end|>',
        typed="<|tool_calls_section_begin|><|tool_call_begin|>functions.typed:0<|tool_call_argument_begin|>"
        + j(TYPED_ARGS)
        + "<|tool_call_end|><|tool_calls_section_end|>",
        empty="<|tool_calls_section_begin|><|tool_call_begin|>functions.get_time:0<|tool_call_argument_begin|>{}"
        "<|tool_call_end|><|tool_calls_section_end|>",
        escaped="<|tool_calls_section_begin|><|tool_call_begin|>functions.echo:0<|tool_call_argument_begin|>"
        + j({"text": TEXT})
        + "<|tool_call_end|><|tool_calls_section_end|>",
        malformed=[
            "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
            '{"city": Tokyo}<|tool_call_end|><|tool_calls_section_end|>',
            '<|tool_call_begin|>functions.get_weather:0 {"city": "Tokyo"}<|tool_call_end|>',
        ],
        truncated=[
            "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
            '{"city": "Tokyo"}'
        ],
    ),
    "deepseek_v3": FormatCases(
        no_call="DeepSeek answers directly when no tool is needed.",
        one="Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
        '{"city": "Tokyo"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
        one_content="Let me check.",
        several='<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Tokyo"}<｜tool▁call▁end｜>'
        '<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"timezone": "Asia/Tokyo"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
        typed="<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>typed\n```json\n" + j(TYPED_ARGS)
        + "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
        empty="<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
        escaped="<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>echo<｜tool▁sep｜>" + j({"text": TEXT})
        + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
        malformed=[
            '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": Tokyo}<｜tool▁call▁end｜>',
            '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather {"city": "Tokyo"}<｜tool▁call▁end｜>',
        ],
        truncated=['<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Tokyo"}'],
    ),
    "json_fence": FormatCases(
        no_call='Here is the package.json:\n```json\n{"name": "my-app", "version": "1.0.0", "private": true}\n```',
        one='I will look it up.\n```json\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n```',
        one_content="I will look it up.",
        several="```json\n" + j(SEVERAL) + "\n```",
        typed="```json\n" + j(TYPED[0]) + "\n```",
        empty='```\n{"name": "get_time", "arguments": {}}\n```',
        escaped="```json\n" + j(escaped()[0]) + "\n```",
        malformed=[
            '```json\n{"name": "get_weather", "arguments": {"city": Tokyo}}\n```',
            '```json\n{"name": "get_weather", "arguments": 5}\n```',
        ],
        truncated=[
            '```json\n{"name": "get_weather", "arguments": {"city": "Tok',
            '```json\n{"name": "get_weather", "arguments": {"ci\n```',
        ],
    ),
    "pythonic": FormatCases(
        no_call="[See (1)] for details: Tokyo (Japan) is mild in spring.",
        one='[get_weather(city="Tokyo")]',
        several='[get_weather(city="Tokyo"), get_time(timezone="Asia/Tokyo")]',
        typed='[typed(string_field="hello", int_field=42, float_field=3.5, bool_field=True, null_field=None, '
        'array_field=[1, "two"], object_field={"k": "v"})]',
        empty="[get_time()]",
        escaped=f"[echo(text={TEXT!r})]",
        malformed=['[get_weather("Tokyo")]', "[get_weather(city=Tokyo)]", '[get_weather(city="Tokyo"]'],
        truncated=['[get_weather(city="Tok', '[get_weather(city="Tokyo"), get_time('],
    ),
    "bare_json": FormatCases(
        no_call='The package.json is {"name": "my-app", "version": "1.0.0"} and it looks fine.',
        one='Sure. {"name": "get_weather", "arguments": {"city": "Tokyo"}}',
        one_content="Sure.",
        several=j(SEVERAL),
        typed=j(TYPED[0]),
        empty='{"name": "get_time", "arguments": {}}',
        escaped=j(escaped()[0]),
        malformed=[
            '{"name": "get_weather", "arguments": {"city": Tokyo}}',
            '{"name": "get_weather", "arguments": "not json"}',
        ],
        truncated=[
            '{"name": "get_weather", "arguments": {"city": "Tok',
            'Calling it now: {"name": "get_weather", "arguments": ',
        ],
    ),
}

# The same call, read_file(path="src/app.py"), in every syntax (and the variants models write).
SAME_CALL = [{"name": "read_file", "arguments": {"path": "src/app.py"}}]
SAME_CALL_TABLE: list[tuple[str, str]] = [
    ("hermes", '<tool_call>\n{"name": "read_file", "arguments": {"path": "src/app.py"}}\n</tool_call>'),
    ("hermes", '<tool_call>{"name": "read_file", "parameters": {"path": "src/app.py"}}</tool_call>'),
    ("hermes", '<tool_call>\n{"name": "read_file", "arguments": "{\\"path\\": \\"src/app.py\\"}"}\n</tool_call>'),
    ("hermes", '<tool_call>\n{"type": "function", "function": {"name": "read_file", '
     '"arguments": {"path": "src/app.py"}}}\n</tool_call>'),
    ("hermes", '<tool_call>\n[{"name": "read_file", "arguments": {"path": "src/app.py"}}]\n</tool_call>'),
    ("hermes", '<tool_call>\n{"name": "read_file", "arguments": {"path": "src/app.py"}}'),
    ("qwen3_xml", "<tool_call>\n<function=read_file>\n<parameter=path>\nsrc/app.py\n</parameter>\n</function>\n"
     "</tool_call>"),
    ("qwen3_xml", "<function=read_file>\n<parameter=path>\nsrc/app.py\n</parameter>\n</function>"),
    ("glm45", "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>src/app.py</arg_value>\n</tool_call>"),
    ("mistral", '[TOOL_CALLS][{"name": "read_file", "arguments": {"path": "src/app.py"}}]'),
    ("mistral", '[TOOL_CALLS]read_file[ARGS]{"path": "src/app.py"}'),
    ("mistral", '[TOOL_CALLS]read_file[CALL_ID]a1b2c3d4e[ARGS]{"path": "src/app.py"}'),
    ("llama3_json", '<|python_tag|>{"name": "read_file", "parameters": {"path": "src/app.py"}}<|eom_id|>'),
    ("llama3_json", '{"name": "read_file", "parameters": {"path": "src/app.py"}}'),
    ("granite", '<|tool_call|>[{"name": "read_file", "arguments": {"path": "src/app.py"}}]'),
    ("phi4_mini", 'functools[{"name": "read_file", "arguments": {"path": "src/app.py"}}]'),
    ("jamba", '<tool_calls>[{"name": "read_file", "arguments": {"path": "src/app.py"}}]</tool_calls>'),
    ("kimi_k2", "<|tool_calls_section_begin|><|tool_call_begin|>functions.read_file:0<|tool_call_argument_begin|>"
     '{"path": "src/app.py"}<|tool_call_end|><|tool_calls_section_end|>'),
    ("deepseek_v3", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>read_file\n```json\n"
     '{"path": "src/app.py"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>'),
    ("deepseek_v3", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>read_file<｜tool▁sep｜>"
     '{"path": "src/app.py"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>'),
    ("json_fence", '```json\n{"name": "read_file", "arguments": {"path": "src/app.py"}}\n```'),
    ("json_fence", 'Here:\n```\n{"name": "read_file", "arguments": {"path": "src/app.py"}}\n```\nDone.'),
    ("pythonic", '[read_file(path="src/app.py")]'),
    ("pythonic", 'read_file(path="src/app.py")'),
    ("pythonic", '<|python_start|>[read_file(path="src/app.py")]<|python_end|>'),
    ("pythonic", "```python\n[read_file(path='src/app.py')]\n```"),
    ("bare_json", '{"name": "read_file", "arguments": {"path": "src/app.py"}}'),
    ("bare_json", 'I will open it: {"name": "read_file", "arguments": {"path": "src/app.py"}} then explain.'),
    ("bare_json", '[{"name": "read_file", "arguments": {"path": "src/app.py"}}]'),
]
