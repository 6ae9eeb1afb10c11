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
            '[TOOL_CALLS]get_weather("Tokyo")',
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
        truncated=['<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Tokyo"}'],
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
        truncated=['[get_weather(city="Tok', '[get_weather(city="Tokyo"'],
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
    "functionary_v31": FormatCases(
        no_call="Use <function> tags in HTML5? No, that tag does not exist.",
        one='Checking.\n<function=get_weather>{"city": "Tokyo"}</function>',
        one_content="Checking.",
        several='<function=get_weather>{"city": "Tokyo"}</function><function=get_time>{"timezone": "Asia/Tokyo"}</function>',
        typed="<function=typed>" + j(TYPED_ARGS) + "</function>",
        empty="<function=get_time>{}</function>",
        escaped="<function=echo>" + j({"text": TEXT}) + "</function>",
        malformed=['<function=get_weather>{"city": Tokyo}</function>', "<function=get_weather>[1, 2]</function>"],
        truncated=['<function=get_weather>{"city": "Tok', '<function=get_weather>{"city": "Tokyo"</function>'],
    ),
    "minimax_m2": FormatCases(
        no_call="MiniMax models answer plainly when no tool fits: Tokyo is in Japan.",
        one='Let me see.\n<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Tokyo</parameter>\n'
        "</invoke>\n</minimax:tool_call>",
        one_content="Let me see.",
        several='<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Tokyo</parameter>\n</invoke>\n'
        '<invoke name="get_time">\n<parameter name="timezone">Asia/Tokyo</parameter>\n</invoke>\n</minimax:tool_call>',
        typed='<minimax:tool_call>\n<invoke name="typed">\n'
        + "".join(f'<parameter name="{k}">{v if isinstance(v, str) else j(v)}</parameter>\n' for k, v in TYPED_ARGS.items())
        + "</invoke>\n</minimax:tool_call>",
        empty='<minimax:tool_call>\n<invoke name="get_time">\n</invoke>\n</minimax:tool_call>',
        escaped=f'<minimax:tool_call>\n<invoke name="echo">\n<parameter name="text">{TEXT}</parameter>\n</invoke>\n'
        "</minimax:tool_call>",
        malformed=[
            '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Tokyo\n</invoke>\n</minimax:tool_call>',
            "<minimax:tool_call>\nget_weather(city=Tokyo)\n</minimax:tool_call>",
        ],
        truncated=['<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Tok'],
    ),
    "minimax_m1": FormatCases(
        no_call="I don't need a tool for that: 2 + 2 = 4.",
        one='<tool_calls>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_calls>',
        several="<tool_calls>\n" + "\n".join(map(j, SEVERAL)) + "\n</tool_calls>",
        typed="<tool_calls>\n" + j(TYPED[0]) + "\n</tool_calls>",
        empty='<tool_calls>\n{"name": "get_time", "arguments": {}}\n</tool_calls>',
        escaped="<tool_calls>\n" + j(escaped()[0]) + "\n</tool_calls>",
        malformed=[
            '<tool_calls>\n{"name": "get_weather", "arguments": {"city": Tokyo}}\n</tool_calls>',
            '<tool_calls>\n{"arguments": {"city": "Tokyo"}}\n</tool_calls>',
        ],
        truncated=['<tool_calls>\n{"name": "get_weather", "arguments": {"city": "To'],
    ),
    "harmony": FormatCases(
        no_call="The weather tool is not needed: you told me it is sunny.",
        one="<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
        '{"city": "Tokyo"}<|call|>',
        several="<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
        '{"city": "Tokyo"}<|call|><|start|>assistant to=functions.get_time<|channel|>commentary json<|message|>'
        '{"timezone": "Asia/Tokyo"}<|call|>',
        typed="<|channel|>commentary to=functions.typed <|constrain|>json<|message|>" + j(TYPED_ARGS) + "<|call|>",
        empty="<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{}",
        escaped="<|channel|>commentary to=functions.echo <|constrain|>json<|message|>" + j({"text": TEXT}) + "<|call|>",
        malformed=[
            '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Tokyo",, }<|call|>',
            "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>[1]<|call|>",
        ],
        truncated=['<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "To'],
    ),
    "llama3_builtin": FormatCases(
        no_call="Llama can search the web with brave_search, but this question needs no search.",
        one='<|python_tag|>get_weather.call(city="Tokyo")<|eom_id|>',
        several='<|python_tag|>get_weather.call(city="Tokyo"); get_time.call(timezone="Asia/Tokyo")',
        typed='<|python_tag|>typed.call(string_field="hello", int_field=42, float_field=3.5, bool_field=True, '
        'null_field=None, array_field=[1, "two"], object_field={"k": "v"})<|eom_id|>',
        empty="<|python_tag|>get_time.call()",
        escaped=f"<|python_tag|>echo.call(text={TEXT!r})",
        malformed=['<|python_tag|>get_weather.call("Tokyo")', "<|python_tag|>get_weather.call(city=Tokyo)"],
        truncated=['<|python_tag|>get_weather.call(city="Tok', '<|python_tag|>get_weather.call(city="Tokyo"'],
    ),
    "function_gemma": FormatCases(
        no_call="FunctionGemma would call a tool here; call: none needed {really}.",
        one="<start_function_call>call:get_weather{city:<escape>Tokyo<escape>}<end_function_call>",
        several="<start_function_call>call:get_weather{city:<escape>Tokyo<escape>}<end_function_call>"
        "<start_function_call>call:get_time{timezone:<escape>Asia/Tokyo<escape>}<end_function_call>",
        typed="<start_function_call>call:typed{string_field:<escape>hello<escape>,int_field:42,float_field:3.5,"
        "bool_field:true,null_field:null,array_field:[1,<escape>two<escape>],object_field:{k:<escape>v<escape>}}"
        "<end_function_call>",
        empty="<start_function_call>call:get_time{}<end_function_call>",
        escaped=f"<start_function_call>call:echo{{text:<escape>{TEXT}<escape>}}<end_function_call>",
        malformed=[
            "<start_function_call>call:get_weather{city:<escape>Tokyo<escape> country:x}<end_function_call>",
            '<start_function_call>get_weather(city="Tokyo")<end_function_call>',
        ],
        truncated=["<start_function_call>call:get_weather{city:<escape>Tok", "<start_function_call>call:get_time{n:3"],
    ),
    "gemma4": FormatCases(
        no_call="Gemma 4 can answer this without a tool.",
        one='Checking.<|tool_call>call:get_weather{city:<|"|>Tokyo<|"|>}<tool_call|>',
        one_content="Checking.",
        several='<|tool_call>call:get_weather{city:<|"|>Tokyo<|"|>}<tool_call|>'
        '<|tool_call>call:get_time{timezone:<|"|>Asia/Tokyo<|"|>}<tool_call|>',
        typed='<|tool_call>call:typed{string_field:<|"|>hello<|"|>,int_field:42,float_field:3.5,bool_field:true,'
        'null_field:null,array_field:[1,<|"|>two<|"|>],object_field:{k:<|"|>v<|"|>}}<tool_call|>',
        empty="<|tool_call>call:get_time{}<tool_call|>",
        escaped=f'<|tool_call>call:echo{{text:<|"|>{TEXT}<|"|>}}<tool_call|>',
        malformed=[
            '<|tool_call>call:get_weather{city:<|"|>Tokyo<|"|>,,}<tool_call|>',
            '<|tool_call>get_weather{"city": "Tokyo"}<tool_call|>',
        ],
        truncated=['<|tool_call>call:get_weather{city:<|"|>Tok', '<|tool_call>call:get_weather{city:<|"|>Tokyo<|"|>'],
    ),
    "command_r7b": FormatCases(
        no_call="<|START_RESPONSE|>No action needed: it is 3 pm in Tokyo.<|END_RESPONSE|>",
        one='<|START_THINKING|>I need the weather.<|END_THINKING|><|START_ACTION|>[\n    {"tool_call_id": "0", '
        '"tool_name": "get_weather", "parameters": {"city": "Tokyo"}}\n]<|END_ACTION|>',
        several="<|START_ACTION|>"
        + j([{"tool_call_id": str(i), "tool_name": c["name"], "parameters": c["arguments"]} for i, c in enumerate(SEVERAL)])
        + "<|END_ACTION|>",
        typed='<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "typed", "parameters": ' + j(TYPED_ARGS) + "}]<|END_ACTION|>",
        empty='<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "get_time", "parameters": {}}]<|END_ACTION|>',
        escaped='<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "echo", "parameters": ' + j({"text": TEXT})
        + "}]<|END_ACTION|>",
        malformed=[
            '<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": Tokyo}}]<|END_ACTION|>',
            '<|START_ACTION|>[{"tool_call_id": "0", "parameters": {"city": "Tokyo"}}]<|END_ACTION|>',
        ],
        truncated=['<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"ci'],
    ),
    "command_r_plus": FormatCases(
        no_call="Action items for today: check the weather (Tokyo) and book a table.",
        one='Plan: look up the weather.\nAction: ```json\n[\n    {\n        "tool_name": "get_weather",\n'
        '        "parameters": {"city": "Tokyo"}\n    }\n]\n```',
        one_content="Plan: look up the weather.",
        several="Action: ```json\n" + j([{"tool_name": c["name"], "parameters": c["arguments"]} for c in SEVERAL]) + "\n```",
        typed="Action: ```json\n" + j([{"tool_name": "typed", "parameters": TYPED_ARGS}]) + "\n```",
        empty='Action: ```json\n[{"tool_name": "get_time", "parameters": {}}]\n```',
        escaped="Action: ```json\n" + j([{"tool_name": "echo", "parameters": {"text": TEXT}}]) + "\n```",
        malformed=[
            'Action: ```json\n[{"tool_name": "get_weather", "parameters": {"city": Tokyo}}]\n```',
            'Action: ```json\n[{"parameters": {"city": "Tokyo"}}]\n```',
        ],
        truncated=['Action: ```json\n[{"tool_name": "get_weather", "parameters": {"city": "To'],
    ),
    "apertus": FormatCases(
        no_call="Apertus says: no tool is needed for a greeting.",
        one='Sure.<|tools_prefix|>[{"get_weather": {"city": "Tokyo"}}]<|tools_suffix|>',
        one_content="Sure.",
        several='<|tools_prefix|>[{"get_weather": {"city": "Tokyo"}}, {"get_time": {"timezone": "Asia/Tokyo"}}]<|tools_suffix|>',
        typed='<|tools_prefix|>[{"typed": ' + j(TYPED_ARGS) + "}]<|tools_suffix|>",
        empty='<|tools_prefix|>[{"get_time": {}}]<|tools_suffix|>',
        escaped='<|tools_prefix|>[{"echo": ' + j({"text": TEXT}) + "}]<|tools_suffix|>",
        malformed=[
            '<|tools_prefix|>[{"get_weather": {"city": Tokyo}}]<|tools_suffix|>',
            '<|tools_prefix|>[{"get_weather": "Tokyo"}]<|tools_suffix|>',
        ],
        truncated=['<|tools_prefix|>[{"get_weather": {"city": "To'],
    ),
    "olmo3": FormatCases(
        no_call="OLMo would write function_calls here, but none are needed.",
        one='<function_calls>\nget_weather(city="Tokyo")\n</function_calls>',
        several='<function_calls>\nget_weather(city="Tokyo")\nget_time(timezone="Asia/Tokyo")\n</function_calls>',
        typed='<function_calls>\ntyped(string_field="hello", int_field=42, float_field=3.5, bool_field=true, '
        'null_field=null, array_field=[1, "two"], object_field={"k": "v"})\n</function_calls>',
        empty="<function_calls>\nget_time()\n</function_calls>",
        escaped=f"<function_calls>\necho(text={TEXT!r})\n</function_calls>",
        malformed=['<function_calls>\nget_weather("Tokyo")\n</function_calls>', "<function_calls>\n</function_calls>"],
        truncated=['<function_calls>\nget_weather(city="Tok', '<function_calls>\nget_weather(city="Tokyo")'],
    ),
    "lfm2": FormatCases(
        no_call="LFM2 answers: the capital of Japan is Tokyo.",
        one='I will check the weather.<|tool_call_start|>[get_weather(city="Tokyo")]<|tool_call_end|>',
        one_content="I will check the weather.",
        several='<|tool_call_start|>[get_weather(city="Tokyo"), get_time(timezone="Asia/Tokyo")]<|tool_call_end|>',
        typed='<|tool_call_start|>[typed(string_field="hello", int_field=42, float_field=3.5, bool_field=True, '
        'null_field=None, array_field=[1, "two"], object_field={"k": "v"})]<|tool_call_end|>',
        empty="<|tool_call_start|>[get_time()]<|tool_call_end|>",
        escaped=f"<|tool_call_start|>[echo(text={TEXT!r})]<|tool_call_end|>",
        malformed=['<|tool_call_start|>[get_weather("Tokyo")]<|tool_call_end|>', "<|tool_call_start|>get_weather<|tool_call_end|>"],
        truncated=['<|tool_call_start|>[get_weather(city="Tok', '<|tool_call_start|>[get_weather(city="Tokyo"'],
    ),
    "functionary_v32": FormatCases(
        no_call="Quote a reply with > at the start of a line, like this:\n> Tokyo is sunny.",
        one='>>>all\nLet me check.\n>>>get_weather\n{"city": "Tokyo"}',
        one_content="Let me check.",
        several='>>>get_weather\n{"city": "Tokyo"}\n>>>get_time\n{"timezone": "Asia/Tokyo"}',
        typed=">>>typed\n" + j(TYPED_ARGS),
        empty=">>>get_time\n{}",
        escaped=">>>echo\n" + j({"text": TEXT}),
        malformed=['>>>get_weather\n{"city": Tokyo}', '>>>get_weather\n["Tokyo"]'],
        truncated=['>>>get_weather\n{"city": "To'],
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
    ("bare_json", '{"tool_call": {"name": "read_file", "arguments": {"path": "src/app.py"}}}'),
    ("bare_json", '{"tool_calls": [{"name": "read_file", "arguments": {"path": "src/app.py"}}]}'),
    ("llama3_json", '{"tool_name": "read_file", "parameters": {"path": "src/app.py"}}'),
    ("bare_json", '{"name": "read_file", "args": {"path": "src/app.py"}}'),
    ("functionary_v31", '<function=read_file>{"path": "src/app.py"}</function>'),
    ("functionary_v32", '>>>read_file\n{"path": "src/app.py"}'),
    ("functionary_v32", 'read_file\n{"path": "src/app.py"}\n>>>all\nReading it.'),
    ("minimax_m2", '<minimax:tool_call>\n<invoke name="read_file">\n<parameter name="path">src/app.py</parameter>\n'
     "</invoke>\n</minimax:tool_call>"),
    ("minimax_m1", '<tool_calls>\n{"name": "read_file", "arguments": {"path": "src/app.py"}}\n</tool_calls>'),
    ("mistral", '[TOOL_CALLS]read_file{"path": "src/app.py"}'),
    ("harmony", '<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{"path": "src/app.py"}<|call|>'),
    ("harmony", '<|start|>assistant to=functions.read_file<|channel|>commentary json<|message|>{"path": "src/app.py"}'),
    ("harmony", 'commentary to=functions.read_file json{"path": "src/app.py"}'),
    ("harmony", "<|channel|>analysis<|message|>The user wants the file.<|end|><|start|>assistant<|channel|>commentary "
     'to=functions.read_file <|constrain|>json<|message|>{"path": "src/app.py"}<|call|>'),
    ("llama3_builtin", '<|python_tag|>read_file.call(path="src/app.py")<|eom_id|>'),
    ("function_gemma", "<start_function_call>call:read_file{path:<escape>src/app.py<escape>}<end_function_call>"),
    ("gemma4", '<|tool_call>call:read_file{path:<|"|>src/app.py<|"|>}<tool_call|>'),
    ("command_r7b", '<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "read_file", "parameters": {"path": "src/app.py"}}]'
     "<|END_ACTION|>"),
    ("command_r_plus", 'Action: ```json\n[{"tool_name": "read_file", "parameters": {"path": "src/app.py"}}]\n```'),
    ("apertus", '<|tools_prefix|>[{"read_file": {"path": "src/app.py"}}]<|tools_suffix|>'),
    ("olmo3", '<function_calls>\nread_file(path="src/app.py")\n</function_calls>'),
    ("lfm2", '<|tool_call_start|>[read_file(path="src/app.py")]<|tool_call_end|>'),
]
