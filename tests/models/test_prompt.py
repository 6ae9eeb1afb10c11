from __future__ import annotations

import pytest

from punie.models import IGNORE_INDEX, PromptBuilder
from punie.toolcalls import default_tools

CONV = [
    {"role": "user", "content": "Open src/app.py"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "src/app.py"}'}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "def main(): pass"},
    {"role": "assistant", "content": "It defines main()."},
]


def trained_text(builder: PromptBuilder, enc) -> str:  # type: ignore[no-untyped-def]
    kept = [t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != IGNORE_INDEX]
    return builder.tokenizer.decode(kept)


def test_every_assistant_turn_is_trained_with_end_of_turn(builder: PromptBuilder) -> None:
    enc = builder.encode(CONV)
    text = trained_text(builder, enc)
    assert text == (
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "src/app.py"}}\n</tool_call><|im_end|>'
        "It defines main().<|im_end|>"
    )
    assert enc.n_trainable == sum(1 for x in enc.labels if x != IGNORE_INDEX)


def test_system_user_and_tool_tokens_are_masked(builder: PromptBuilder) -> None:
    enc = builder.encode(CONV)
    masked = builder.tokenizer.decode([t for t, lab in zip(enc.input_ids, enc.labels, strict=True)
                                       if lab == IGNORE_INDEX])
    assert "Open src/app.py" in masked and "def main(): pass" in masked and "<tools>" in masked
    assert "It defines" not in masked


def test_per_turn_ids_equal_whole_text_tokenisation(builder: PromptBuilder) -> None:
    enc = builder.encode(CONV)
    whole = builder.tokenizer(builder.render(CONV, add_generation_prompt=False), add_special_tokens=False)["input_ids"]
    assert enc.input_ids == list(whole)


def test_prefix_is_shared_and_holds_the_tools(builder: PromptBuilder) -> None:
    a = builder.encode_prompt([{"role": "user", "content": "hi"}])
    b = builder.encode_prompt(CONV[:3])
    assert a.prefix_len == b.prefix_len > 0
    assert a.input_ids[: a.prefix_len] == b.input_ids[: b.prefix_len]
    prefix_text = builder.tokenizer.decode(a.input_ids[: a.prefix_len])
    for tool in default_tools():
        assert tool["function"]["name"] in prefix_text
    assert builder.tokenizer.decode(a.input_ids).endswith("<|im_start|>assistant\n")


def test_tool_block_is_compact(builder: PromptBuilder) -> None:
    enc = builder.encode_prompt([{"role": "user", "content": "hi"}])
    assert enc.prefix_len < 450  # the tool block is most of every example's tokens


def test_case_system_message_replaces_default_but_keeps_tools(builder: PromptBuilder) -> None:
    text = builder.render([{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}])
    assert "Be terse." in text and "<tools>" in text and "coding assistant" not in text


def test_no_tools_means_no_tool_block(builder: PromptBuilder) -> None:
    assert "<tools>" not in builder.render([{"role": "user", "content": "hi"}], tools=[])


def test_arguments_as_object_or_string_render_the_same(builder: PromptBuilder) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": {"path": "src/app.py"}}}
    obj = [dict(CONV[1], tool_calls=[call])]
    assert builder.render(CONV[:1] + obj) == builder.render(CONV[:2])


def test_template_without_chat_template_is_an_error(tokenizer) -> None:  # type: ignore[no-untyped-def]
    import copy

    from punie.errors import ModelError

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    with pytest.raises(ModelError):
        PromptBuilder(tok)
