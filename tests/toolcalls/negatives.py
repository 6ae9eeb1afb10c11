"""Replies that hold JSON, code, tool definitions or markup but call nothing (issue 14: 0 false calls)."""

from __future__ import annotations

import json

_DEF = {"type": "function", "function": {"name": "read_file", "description": "Read a file.", "parameters": {
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}
_PKG = '{"name": "my-app", "version": "1.0.0", "scripts": {"test": "jest"}}'

NEGATIVES: list[str] = [
    # JSON in prose and fences
    f"Your package.json:\n```json\n{_PKG}\n```\nIt looks fine.",
    f"It reads {_PKG}.",
    _PKG,
    '{"debug": true, "level": 3}',
    '[1, 2, 3] is a list and {"a": 1} is a dict.',
    'The API answers {"status": "ok", "items": []} on success.',
    'Set `"name": "x"` in the manifest to rename the package.',
    'Two examples: {"name": "read_file", "arguments": {"path": "a"}} and {"name": "run_command", "arguments": {"command": "ls"}} are calls an agent could make.',
    'A call looks like {"name": "read_file", "arguments": {"path": "a"}}, and a result like {"content": "..."}.',
    '```json\n{"name": "pkg", "dependencies": {"react": "^18"}}\n```',
    '```json\n[{"id": 1, "name": "alice"}, {"id": 2, "name": "bob"}]\n```',
    '{"users": [{"name": "alice", "role": "admin"}]}',
    '[{"name": "alice", "age": 3}, {"name": "bob", "age": 4}]',
    'The response was: {"error": {"message": "not found", "code": 404}}',
    '{"name": "weather-service", "parameters_file": "p.yaml"}',
    # tool definitions
    json.dumps(_DEF),
    json.dumps([_DEF]),
    json.dumps(_DEF["function"]),
    "Here is the tool schema:\n```json\n" + json.dumps(_DEF, indent=2) + "\n```",
    '{"tools": [' + json.dumps(_DEF) + "]}",
    "I have these tools: " + json.dumps(_DEF["function"]) + " and can use them if you ask.",
    # code
    "```python\ndef f(d):\n    return {k: v for k, v in d.items() if v}\n```",
    "```python\nprint(read_file('a.py'))\n```\nThat would print the file.",
    "Call `read_file(path='a.py')` yourself if you want the contents.",
    "Use json.loads('{\"name\": \"x\"}') to parse it.",
    "```js\nconst call = {name: 'read_file', arguments: {path: 'a'}};\n```",
    "```bash\ncurl -d '{\"name\": \"x\", \"arguments\": {}}' http://localhost\n```",
    "In Python, f(x=1) calls f with a keyword argument.",
    "The function get_weather(city) returns a dict.",
    "[See (1)] for details: Tokyo (Japan) is mild in spring.",
    "Results: [a(1), b(2)] are the two options.",
    "x = [f(a=1) for f in fs]",
    "SELECT name, arguments FROM calls WHERE id = 1;",
    "Run `ls -la` (or `dir` on Windows) to list files.",
    # markup and other syntaxes in prose
    "The <b>bold</b> and <i>italic</i> tags are HTML.",
    "Write <function> tags? HTML has no such element.",
    "Quote a reply with > at the start of a line:\n> Tokyo is sunny.",
    "Python's prompt is >>> and its continuation prompt is ...",
    "Action items: buy milk, call Bob.",
    "Mistral models use [INST] and [/INST] around user turns.",
    "The call: now{} is not valid syntax.",
    "Route messages to=anyone you like.",
    "Use functools.partial(f, 1) to bind arguments.",
    "The analysis channel is where gpt-oss reasons.",
    "<think>Maybe I should call {\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}</think>No tool is needed.",
    "<think>I could run <tool_call>{\"name\": \"run_command\", \"arguments\": {\"command\": \"ls\"}}</tool_call></think>The answer is 4.",
    "<|channel|>analysis<|message|>Maybe call to=functions.read_file {\"path\": \"a\"}<|end|><|start|>assistant<|channel|>final<|message|>It is 4.<|return|>",
    "<|START_THINKING|>I might call read_file.<|END_THINKING|><|START_RESPONSE|>No need; it is 4.<|END_RESPONSE|>",
    "Hello! How can I help you today?",
    "2 + 2 = 4.",
    "I can't do that without more information. Which file do you mean: [a] src/app.py or [b] app/main.py?",
    "Tool calling lets a model ask an agent to act: the agent runs the tool and returns its result.",
    "The weather in Tokyo is usually pleasant in May.",
    "{\"answer\": 42}",
    "Here is a YAML file:\n```yaml\nname: app\narguments:\n  - a\n```",
]
