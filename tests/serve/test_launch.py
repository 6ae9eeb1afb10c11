"""``punie serve --print-launch``: the chat template renders punie's prompt; the commands have the right shape."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from punie.cli import main
from punie.serve.cli import parse_adapters
from punie.serve.launch import chat_template
from punie.toolcalls import default_tools

EXTRA_TOOL = {
    "type": "function",
    "function": {
        "name": "pick",
        "description": 'Pick <one> "x" é',
        "parameters": {
            "type": "object",
            "properties": {"c": {"type": "string", "enum": ["a", "b"]}, "n": {"type": "integer"}},
            "required": ["c"],
        },
    },
}

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_args = st.dictionaries(st.sampled_from(["path", "command", "content"]), _text, max_size=2)


@st.composite
def conversations(draw):  # type: ignore[no-untyped-def]
    msgs = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": draw(_text)})
    for turn in range(draw(st.integers(0, 2))):
        msgs.append({"role": "user", "content": draw(_text)})
        calls = draw(st.lists(_args, max_size=2))
        if calls:
            tcs = [
                {"id": f"c{turn}{j}", "type": "function", "function": {"name": "read_file", "arguments": a}}
                for j, a in enumerate(calls)
            ]
            msgs.append(
                {"role": "assistant", "content": draw(st.one_of(st.none(), _text)), "tool_calls": tcs}
            )
            msgs += [{"role": "tool", "tool_call_id": tc["id"], "content": draw(_text)} for tc in tcs]
        msgs.append({"role": "assistant", "content": draw(_text)})
    msgs.append({"role": "user", "content": draw(_text)})
    return msgs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=conversations(), tools=st.sampled_from([None, [], [EXTRA_TOOL], "extra"]))
def test_chat_template_renders_exactly_punies_prompt(tokenizer, builder, messages, tools) -> None:  # type: ignore[no-untyped-def]
    if tools == "extra":
        tools = [*default_tools(), EXTRA_TOOL]
    template = chat_template(tokenizer.chat_template)
    offered = default_tools() if tools is None else tools
    got = tokenizer.apply_chat_template(
        messages, tools=offered, chat_template=template, tokenize=False, add_generation_prompt=True
    )
    assert got == builder.render(messages, tools)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # --print-launch writes the chat template into the current folder


def _rel(path: str | Path) -> str:
    import os

    return os.path.relpath(Path(path).resolve())


def _no_absolute_paths(out: str) -> None:
    for line in out.splitlines():
        if not line.startswith("#"):
            assert not any(tok.startswith("/") or "=/" in tok for tok in shlex.split(line.replace("\\", ""))), line


def _launch(kind: str, args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["serve", "--print-launch", kind, *args]) == 0
    out = capsys.readouterr().out
    _no_absolute_paths(out)
    return out


def test_print_launch_vllm(
    tiny_model_dir: str, tiny_adapters: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = _launch(
        "vllm",
        [
            "--model",
            tiny_model_dir,
            "--adapter",
            f"alpha={tiny_adapters['alpha']}",
            "--adapter",
            f"beta={tiny_adapters['beta']}",
            "--served-model-name",
            "tiny",
        ],
        capsys,
    )
    cmd = shlex.split(out.split("\n", 2)[-1].replace("\\\n", " "), comments=True)
    assert cmd[:3] == ["vllm", "serve", _rel(tiny_model_dir)]  # relative to the current folder
    assert cmd[cmd.index("--served-model-name") + 1] == "tiny"
    i = cmd.index("--lora-modules")
    assert cmd[i + 1 : i + 3] == [f"alpha={_rel(tiny_adapters['alpha'])}", f"beta={_rel(tiny_adapters['beta'])}"]
    assert "--enable-lora" in cmd and cmd[cmd.index("--max-lora-rank") + 1] == "8"  # r=4 rounded up
    assert cmd[cmd.index("--tool-call-parser") + 1] == "hermes" and "--enable-auto-tool-choice" in cmd
    template = Path(cmd[cmd.index("--chat-template") + 1])
    assert not template.is_absolute() and template.is_file() and "<tool_call>" in template.read_text()
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"


def test_print_launch_llama_cpp(
    tiny_model_dir: str, tiny_adapters: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = _launch(
        "llama.cpp", ["--model", tiny_model_dir, "--adapter", f"alpha={tiny_adapters['alpha']}"], capsys
    )
    lines = [ln for ln in out.replace("\\\n", " ").splitlines() if ln and not ln.startswith("#")]
    assert lines[0].startswith("python convert_hf_to_gguf.py ")
    assert shlex.split(lines[1])[:2] == ["python", "convert_lora_to_gguf.py"]
    assert "--base" in shlex.split(lines[1]) and "alpha.gguf" in shlex.split(lines[1])
    server = shlex.split(lines[2])
    assert server[0] == "llama-server" and server[server.index("--lora") + 1] == "alpha.gguf"
    assert "--jinja" in server and Path(server[server.index("--chat-template-file") + 1]).is_file()


def test_print_launch_default_model_uses_the_shipped_gguf(capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    out = _launch("llama.cpp", [], capsys)
    lines = out.replace("\\\n", " ").splitlines()
    server = shlex.split([ln for ln in lines if ln.startswith("llama-server")][0])
    assert server[server.index("-m") + 1] == "$GGUF"
    # the GGUF line finds the wheel's file where it runs: run it here
    find = next(ln for ln in lines if ln.startswith("GGUF="))
    found = subprocess.run(["bash", "-c", f"{find.replace('python ', sys.executable + ' ', 1)}; echo \"$GGUF\""],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert found.endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and Path(found).is_file()


def test_print_launch_default_model_names_the_hub_base(
    tiny_adapters: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = _launch("vllm", ["--adapter", f"alpha={tiny_adapters['alpha']}"], capsys)
    cmd = shlex.split(out.split("\n", 2)[-1].replace("\\\n", " "), comments=True)
    assert cmd[:3] == ["vllm", "serve", "HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert cmd[cmd.index("--chat-template") + 1] == "./smollm2-135m-punie-chat-template.jinja"
    out = _launch("llama.cpp", ["--adapter", f"alpha={tiny_adapters['alpha']}"], capsys)
    conv = next(shlex.split(ln) for ln in out.splitlines() if ln.startswith("python convert_lora_to_gguf.py"))
    assert conv[conv.index("--base-model-id") + 1] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_bad_flags_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--print-launch", "ollama"]) == 2
    assert "--print-launch" in capsys.readouterr().err
    assert main(["serve", "--adapter", f"x={tmp_path}/missing", "--print-launch", "vllm"]) == 2
    assert "adapter folder not found" in capsys.readouterr().err
    assert main(["serve", "--port", "0"]) == 2


def test_parse_adapters(tiny_adapters: dict[str, str]) -> None:
    from punie.errors import ConfigError

    named = parse_adapters([f"a1={tiny_adapters['alpha']}", tiny_adapters["beta"]], base_name="base")
    assert list(named) == ["a1", Path(tiny_adapters["beta"]).name]
    with pytest.raises(ConfigError):
        parse_adapters([f"a1={tiny_adapters['alpha']}", f"a1={tiny_adapters['beta']}"], base_name="base")
    with pytest.raises(ConfigError):
        parse_adapters([f"base={tiny_adapters['alpha']}"], base_name="base")
    with pytest.raises(ConfigError):
        parse_adapters([f"../x={tiny_adapters['alpha']}"], base_name="base")


def test_serve_command_wires_model_adapters_and_limits(
    tiny_model_dir: str, tiny_adapters: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``punie serve`` up to uvicorn.run; the app it built is then served here on a free port."""
    import openai
    import uvicorn

    from punie.serve import ServerThread

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    args = ["serve", "--model", tiny_model_dir, "--served-model-name", "tiny", "--max-tokens-limit", "16"]
    args += ["--adapter", f"alpha={tiny_adapters['alpha']}", "--adapter", f"beta={tiny_adapters['beta']}"]
    assert main(args) == 0
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8766)
    with (
        ServerThread(seen["app"]) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0) as c,
    ):
        assert [m.id for m in c.models.list().data] == ["tiny", "alpha", "beta"]
        msgs = [{"role": "user", "content": "hi"}]
        outs = {
            m: c.chat.completions.create(model=m, messages=msgs, max_tokens=6).choices[0].message.content
            for m in ("tiny", "alpha", "beta")
        }
        assert len(set(outs.values())) == 3
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="tiny", messages=msgs, max_tokens=17)
