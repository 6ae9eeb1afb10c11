"""Procedural file bodies for ``write_file``: many shapes, and the characters that are hard to copy.

Why: with ~80 fixed snippets the held-out side held only ~20 file bodies, and the adapter failed on
exactly the ones whose kind the train side lacked (session 4, 3,200 examples: 12 of 42 errors were
write_file contents — a four-line try/except cut after two lines, ``"$HOME"`` cut at the first inner
quote, a literal ``\\t`` turned into a tab). Copying a body into a JSON string is a skill of its own
(escape ``"`` and ``\\``, keep every line, keep indentation and tabs); it is learned from breadth,
so bodies are composed here from shapes × names × literals: Python blocks of 2–8 lines, shell with
``"$VARS"`` and backslash continuations, printf/regex strings with literal backslashes, JSON / YAML /
TOML with nested quotes, Makefiles with real tabs, Markdown, SQL, JS template strings, Windows paths.

The caller splits the result by a stable hash of each string (``_values``), so train and held-out
bodies share the shapes and differ in every string.
"""

from __future__ import annotations

import random
from collections.abc import Callable

_NAMES = ["total", "items", "user", "config", "result", "path", "count", "data", "value", "name", "line",
          "rows", "cache", "token", "parser", "limit", "offset", "retries", "report", "payload", "status",
          "entry", "buffer", "queue", "index", "target", "source", "message", "record", "options"]
_FUNCS = ["load", "save", "parse", "render", "fetch", "main", "run", "build", "check", "update", "handle",
          "process", "format_row", "read_config", "send_email", "get_user", "retry", "validate", "normalize",
          "merge", "cleanup", "connect", "migrate", "serialize"]
_WORDS = ["ready", "done", "failed", "hello", "retrying", "missing key", "not found", "it's fine", "ok",
          "starting up", "shutting down", "bad input", "timeout", "saved", "loading…", "café", "Grüße",
          "all good ✅", "warning: low disk", "50% complete", "don't touch", "say \"hi\"", "a\\b", "tab\there"]
_ERRORS = ["ValueError", "KeyError", "OSError", "TimeoutError", "RuntimeError", "FileNotFoundError"]
_VARS = ["HOME", "PATH", "USER", "API_KEY", "PORT", "ENV", "TMPDIR", "PYTHONPATH", "NODE_ENV", "DATABASE_URL"]
_REGEXES = ["\\d+", "\\w+@\\w+", "^\\s*#", "[a-z]+\\.py$", "\\bTODO\\b", "(\\d{4})-(\\d{2})"]
_DIRS = ["src", "build", "dist", "logs", "data", "tmp", "out", "bin", "lib", "assets"]


def _py_func(r: random.Random) -> str:
    f, a, b = r.choice(_FUNCS), r.choice(_NAMES), r.choice(_NAMES)
    body = r.choice([
        [f"return {a} + {b}"],
        [f"if not {a}:", f"    raise {r.choice(_ERRORS)}(\"{r.choice(_WORDS)}\")", f"return {a}"],
        [f"for {b} in {a}:", f"    print(f\"{{{b}}}: {r.choice(_WORDS)}\")"],
        [f"{b} = {{}}", f"for key, val in {a}.items():", f"    {b}[key] = str(val).strip()", f"return {b}"],
        [f"with open({a}, \"w\") as fh:", f"    fh.write('{r.choice(['a', 'b', 'x'])}\\n')"],
        [f"{b} = [x for x in {a} if x]", f"return len({b})"],
    ])
    sig = f"def {f}({a}):" if r.random() < 0.6 else f"def {f}({a}, {b}=None):"
    doc = [f'    """{r.choice(_WORDS).capitalize()}."""'] if r.random() < 0.3 else []
    return "\n".join([sig, *doc, *("    " + x for x in body)])


def _py_try(r: random.Random) -> str:
    f, err = r.choice(_FUNCS), r.choice(_ERRORS)
    lines = ["try:", f"    {f}()", f"except {err} as exc:", "    print(exc)" if r.random() < 0.5 else
             f"    print(f\"{r.choice(_WORDS)}: {{exc}}\")"]
    if r.random() < 0.4:
        lines += ["finally:", f"    {r.choice(_FUNCS)}()"]
    if r.random() < 0.3:
        lines = ["import sys", "", *lines]
    return "\n".join(lines)


def _py_class(r: random.Random) -> str:
    cls = r.choice(["User", "Config", "Job", "Cache", "Client", "Report", "Task", "Session"])
    a, b = r.sample(_NAMES, 2)
    return "\n".join([f"class {cls}:", f"    def __init__(self, {a}, {b}=0):", f"        self.{a} = {a}",
                      f"        self.{b} = {b}", "", "    def __repr__(self):",
                      f"        return f\"{cls}({{self.{a}!r}})\""][: r.choice([5, 7, 7])])


def _py_misc(r: random.Random) -> str:
    a, f = r.choice(_NAMES), r.choice(_FUNCS)
    return r.choice([
        f"import json\n\nwith open(\"{a}.json\") as fh:\n    {a} = json.load(fh)",
        f"if __name__ == \"__main__\":\n    {f}()",
        "import re\n\nPATTERN = re.compile(r\"" + r.choice(_REGEXES) + "\")",
        f"{a.upper()} = {r.randint(1, 500)}\n{r.choice(_NAMES).upper()} = \"{r.choice(_WORDS)}\"",
        f"print(\"{r.choice(_WORDS)}\\t{r.choice(_WORDS)}\")",
        f"print('{r.choice(['col1', 'a', 'name'])}\\t{r.choice(['col2', 'b', 'age'])}')",
        f"logging.info(\"%s: %d\", {a}, len({a}))",
        f"assert {f}({r.randint(0, 9)}) == {r.randint(0, 99)}, \"{r.choice(_WORDS)}\"",
    ])


def _shell(r: random.Random) -> str:
    v, d = r.choice(_VARS), r.choice(_DIRS)
    return r.choice([
        f"export {v}=\"${v}:/opt/{d}\"",
        f"export PATH=\"$HOME/{d}:$PATH\"",
        f"#!/usr/bin/env bash\nset -euo pipefail\necho \"{r.choice(_WORDS)}\"",
        f"#!/bin/sh\nfor f in {d}/*; do\n  echo \"$f\"\ndone",
        f"if [ -z \"${v}\" ]; then\n  echo \"{v} is not set\" >&2\n  exit 1\nfi",
        f"docker run --rm \\\n  -e {v}=\"${v}\" \\\n  -v \"$PWD/{d}:/{d}\" \\\n  app:latest",
        f"printf '%s\\n' \"{r.choice(_WORDS)}\"",
        f"echo -e \"{r.choice(['a', 'name', 'x'])}\\t{r.choice(['b', 'value', 'y'])}\"",
        "alias ll='ls -la'\nexport EDITOR=\"vim\"",
        f"grep -rn \"{r.choice(['TODO', 'FIXME', 'XXX'])}\" {d} | wc -l",
    ])


def _data_file(r: random.Random) -> str:
    a, b = r.sample(_NAMES, 2)
    w = r.choice(_WORDS).replace("\\", "/").replace("\t", " ")
    return r.choice([
        f"{{\"{a}\": \"{w}\", \"{b}\": {r.randint(0, 99)}}}",
        f"{{\n  \"{a}\": {{\n    \"{b}\": [1, 2, 3],\n    \"enabled\": {r.choice(['true', 'false'])}\n  }}\n}}",
        f"{{\n  \"message\": \"say \\\"{w}\\\"\",\n  \"path\": \"C:\\\\{r.choice(_DIRS)}\\\\{a}.txt\"\n}}",
        f"{a}:\n  {b}: \"{w}\"\n  retries: {r.randint(1, 9)}",
        f"- name: {r.choice(_FUNCS)}\n  run: echo \"{w}\"",
        f"[{a}]\n{b} = \"{w}\"\nlevel = {r.randint(1, 5)}",
        f"{a.upper()}={r.choice(['true', 'false', '0', '8080', 'https://example.com/' + b])}\n"
        f"{b.upper()}=\"{w}\"",
        f"{a},{b},note\n1,2,\"{w}\"\n3,4,\"x, y\"",
    ])


def _other(r: random.Random) -> str:
    a, f, d = r.choice(_NAMES), r.choice(_FUNCS), r.choice(_DIRS)
    w = r.choice(_WORDS).replace("\t", " ")
    return r.choice([
        f"{f}:\n\tmkdir -p {d}\n\tcp -r src/* {d}/",
        f".PHONY: test\ntest:\n\tpytest -q\n\nclean:\n\trm -rf {d}",
        f"# {a.capitalize()}\n\n- {w}\n- see `{d}/`\n\n## Usage\n\n    make {f}",
        f"SELECT {a}, COUNT(*)\nFROM {r.choice(['users', 'orders', 'events'])}\nWHERE note = "
        f"'{w.replace(chr(39), '')}'\nGROUP BY {a};",
        f"const {a} = `${{{r.choice(_NAMES)}}}/{d}`;\nconsole.log('{w.replace(chr(39), '')}', {a});",
        f"export function {f}({a}) {{\n  if (!{a}) throw new Error(\"{w}\");\n  return {a};\n}}",
        f"fn {f}() -> Result<(), String> {{\n    println!(\"{{}}\", \"{w}\");\n    Ok(())\n}}",
        f"C:\\Users\\dev\\{d}\\{a}.txt",
        f"<div class=\"{a}\">\n  <p>{w}</p>\n</div>",
        f"{w}\n\n{r.choice(_WORDS)}",
    ])


_SHAPES: list[tuple[Callable[[random.Random], str], int]] = [
    (_py_func, 5), (_py_try, 3), (_py_class, 2), (_py_misc, 4), (_shell, 4), (_data_file, 4), (_other, 4),
]


def generated_bodies(n: int = 1200, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(single_line, multi_line)`` bodies, deterministic for a seed; no duplicates."""
    r = random.Random(f"punie:content:{seed}")
    shapes = [s for s, w in _SHAPES for _ in range(w)]
    seen: dict[str, None] = {}
    for _ in range(n * 3):
        if len(seen) >= n:
            break
        text = r.choice(shapes)(r)
        if text.strip() and text == text.strip():
            seen.setdefault(text, None)
    single = [t for t in seen if "\n" not in t]
    multi = [t for t in seen if "\n" in t]
    return single, multi
