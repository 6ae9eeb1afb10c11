"""The one prompt builder shared by data, training, eval and serve.

A conversation is rendered turn by turn through the model's chat template; each turn's text is
tokenised on its own and the ids are concatenated. Training masks come from that per-turn
rendering (assistant turns are trained, everything else masked), never from searching for marker
strings, and generation uses the very same ids. The first segment is the system turn holding the
tool block: it is identical for every conversation with the same tools, so its KV cache can be
computed once and shared (``prefix_len``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from punie.errors import ModelError
from punie.toolcalls.render import TOOL_CALL_END, TOOL_CALL_START, render_assistant
from punie.toolcalls.specs import normalize_tools, tool_name, tool_parameters

IGNORE_INDEX = -100

DEFAULT_SYSTEM = "You are a coding assistant working in the user's project."

# Kept short on purpose: this block is most of every example's tokens (and of every prefill).
TOOL_INSTRUCTIONS = (
    "You can call tools. To call one, reply with\n"
    '<tool_call>\n{"name": "<tool>", "arguments": {...}}\n</tool_call>\n'
    "(one block per call). If no tool is needed, answer in plain text.\n"
    "<tools>\n{tools}\n</tools>"
)


def compact_tool_line(spec: dict[str, Any]) -> str:
    """One tool as a single compact JSON schema line (no descriptions of obvious params)."""
    fn = spec.get("function", spec)
    params = tool_parameters(spec)
    props = {}
    for pname, pschema in (params.get("properties") or {}).items():
        entry: dict[str, Any] = {"type": pschema.get("type", "string")} if isinstance(pschema, dict) else {}
        if isinstance(pschema, dict) and "enum" in pschema:
            entry["enum"] = pschema["enum"]
        props[pname] = entry
    compact = {
        "name": tool_name(spec),
        "description": fn.get("description", ""),
        "parameters": {"properties": props, "required": params.get("required", [])},
    }
    return json.dumps(compact, ensure_ascii=False, separators=(",", ":"))


def render_tool_block(tools: list[dict[str, Any]]) -> str:
    return TOOL_INSTRUCTIONS.replace("{tools}", "\n".join(compact_tool_line(t) for t in tools))


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX where not trained
    prefix_len: int  # length of the shared system+tools segment
    n_trainable: int = 0
    segments: list[tuple[str, bool]] = field(default_factory=list)  # (text, trained) for inspection
    # indices into input_ids of the trained tokens where the model decides what to do (see decision_chars)
    decisions: list[int] = field(default_factory=list)


# After these, the next token is a decision: which tool (after the name key of a canonical call) or
# whether another call follows (after a call block's end).
_NAME_KEY = '{"name": "'
_ARGS_KEY = '"arguments": {'
_JSON = json.JSONDecoder()


def decision_chars(text: str) -> list[int]:
    """Character offsets in one assistant body where the model makes a choice rather than copying:
    the first character (answer or call?), the first character of each called tool's name (which
    tool?), the character right after each argument value (another argument, or close the object?)
    and the character right after each call block (another call, or stop?). Nearly every held-out
    error is one of these tokens (docs/tuning.md; session 9: most wrong write_file / run_command calls
    closed the arguments after `path` / `command` and left out `content` / `background`), while most
    supervised tokens are argument values and prose that are easy to learn;
    ``TrainConfig.decision_weight`` weights these up."""
    out = [0] if text else []
    start = 0
    while (i := text.find(TOOL_CALL_START, start)) >= 0:
        j = text.find(_NAME_KEY, i)
        if j >= 0:
            out.append(j + len(_NAME_KEY))
        end = text.find(TOOL_CALL_END, i)
        if end < 0:
            break
        out += _argument_ends(text, i, end)
        out.append(end + len(TOOL_CALL_END))
        start = end + len(TOOL_CALL_END)
    return sorted({c for c in out if c < len(text)})


def _argument_ends(text: str, start: int, end: int) -> list[int]:
    """Offsets of the character after each top-level argument value of the call in ``text[start:end]``
    (a ``,`` before the next key or the ``}`` that closes the arguments); none where it isn't canonical."""
    i = text.find(_ARGS_KEY, start, end)
    if i < 0:
        return []
    pos, out = i + len(_ARGS_KEY), []
    try:
        while pos < end and text[pos] != "}":
            if text.startswith(", ", pos):
                pos += 2
            _key, pos = _JSON.raw_decode(text, pos)
            if not text.startswith(": ", pos):
                break
            _value, pos = _JSON.raw_decode(text, pos + 2)
            out.append(pos)
    except ValueError:  # not the canonical layout: no further argument decisions
        pass
    return out


def _arguments_obj(args: Any) -> dict[str, Any]:
    if isinstance(args, str):
        try:
            val = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return {"__raw__": args}
        return val if isinstance(val, dict) else {"__raw__": args}
    return dict(args or {})


def message_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The assistant message's OpenAI ``tool_calls`` as ``[{"name","arguments": dict}]``."""
    calls = []
    for tc in message.get("tool_calls") or []:
        fn = tc.get("function", tc)
        calls.append({"name": fn.get("name", ""), "arguments": _arguments_obj(fn.get("arguments"))})
    return calls


class PromptBuilder:
    """Turns (messages, tools) into text / token ids for one tokenizer (one model family)."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        native_tools: bool | None = None,
        default_system: str = DEFAULT_SYSTEM,
    ) -> None:
        self.tokenizer = tokenizer
        template = getattr(tokenizer, "chat_template", None) or ""
        if not template:
            raise ModelError("the tokenizer has no chat template; punie needs an instruct/chat model")
        self.native_tools = ("tools" in template) if native_tools is None else native_tools
        self.default_system = default_system
        self._token_cache: dict[str, list[int]] = {}

    # ---- message preparation -------------------------------------------------------------
    def system_text(self, tools: list[dict[str, Any]] | None, system: str | None = None) -> str:
        base = system if system is not None else self.default_system
        tools = normalize_tools(tools)
        if self.native_tools or not tools:
            return base
        return f"{base}\n\n{render_tool_block(tools)}" if base else render_tool_block(tools)

    def prepare(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """Messages as the template sees them: punie's system turn first, calls rendered as text."""
        msgs = list(messages)
        system = None
        if msgs and msgs[0].get("role") == "system":
            system = str(msgs[0].get("content") or "")
            msgs = msgs[1:]
        out: list[dict[str, Any]] = [{"role": "system", "content": self.system_text(tools, system)}]
        for m in msgs:
            role = m.get("role")
            if role == "assistant":
                calls = message_calls(m)
                if self.native_tools and calls:
                    out.append(
                        {
                            "role": "assistant",
                            "content": m.get("content") or "",
                            "tool_calls": [
                                {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                                for c in calls
                            ],
                        }
                    )
                else:
                    out.append({"role": "assistant", "content": render_assistant(m.get("content"), calls)})
                if m.get("weight") == 0:  # OpenAI fine-tuning's per-turn weight: context, not trained
                    out[-1]["weight"] = 0
            elif role == "tool":
                content = m.get("content")
                if not isinstance(content, str):
                    content = json.dumps(content, ensure_ascii=False)
                if self.native_tools:
                    out.append({"role": "tool", "content": content, "tool_call_id": m.get("tool_call_id", "")})
                else:
                    out.append({"role": "tool", "content": f"<tool_response>\n{content}\n</tool_response>"})
            else:
                content = m.get("content")
                out.append({"role": str(role), "content": content if isinstance(content, str) else ""})
        return out

    # ---- rendering ----------------------------------------------------------------------------
    def _template(self, msgs: list[dict[str, Any]], tools: list[dict[str, Any]] | None, gen: bool) -> str:
        kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": gen}
        if self.native_tools and tools:
            kwargs["tools"] = normalize_tools(tools)
        if not msgs:
            return ""
        return str(self.tokenizer.apply_chat_template(msgs, **kwargs))

    def render(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, *,
        add_generation_prompt: bool = True,
    ) -> str:
        return self._template(self.prepare(messages, tools), tools, add_generation_prompt)

    def segments(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *, add_generation_prompt: bool
    ) -> list[tuple[str, bool]]:
        """Per-turn pieces of the rendered text: (text, trained). Assistant bodies are trained, except
        those with ``"weight": 0`` (OpenAI fine-tuning's per-message weight)."""
        msgs = self.prepare(messages, tools)
        pieces: list[tuple[str, bool]] = []
        prev = ""
        for i in range(len(msgs)):
            if msgs[i]["role"] == "assistant":
                header = self._template(msgs[:i], tools, True)
                self._check_prefix(prev, header, i)
                if header != prev:
                    pieces.append((header[len(prev):], False))
                prev = header
            cur = self._template(msgs[: i + 1], tools, False)
            self._check_prefix(prev, cur, i)
            pieces.append((cur[len(prev):], msgs[i]["role"] == "assistant" and msgs[i].get("weight", 1) != 0))
            prev = cur
        if add_generation_prompt:
            full = self._template(msgs, tools, True)
            self._check_prefix(prev, full, len(msgs))
            if full != prev:
                pieces.append((full[len(prev):], False))
        return pieces

    @staticmethod
    def _check_prefix(prev: str, cur: str, index: int) -> None:
        if not cur.startswith(prev):
            raise ModelError(
                f"message {index}: the chat template is not prefix-stable, so turns can't be rendered one by one"
            )

    # ---- tokenisation ---------------------------------------------------------------------------
    def _ids(self, text: str) -> list[int]:
        cached = self._token_cache.get(text)
        if cached is None:
            cached = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if len(self._token_cache) < 256 and len(text) > 200:  # the shared system turn, mostly
                self._token_cache[text] = cached
        return list(cached)

    @property
    def end_of_turn_ids(self) -> set[int]:
        ids = set()
        for tok in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>"):
            tid = self.tokenizer.convert_tokens_to_ids(tok)
            if isinstance(tid, int) and tid != getattr(self.tokenizer, "unk_token_id", None) and tid >= 0:
                ids.add(tid)
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return ids

    def encode(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        add_generation_prompt: bool = False,
    ) -> Encoded:
        """Token ids + labels. Trained: every assistant body up to and including its end-of-turn token."""
        eot = self.end_of_turn_ids
        input_ids: list[int] = []
        labels: list[int] = []
        prefix_len = 0
        decisions: list[int] = []
        segs = self.segments(messages, tools, add_generation_prompt=add_generation_prompt)
        for k, (text, trained) in enumerate(segs):
            if trained:  # one tokenisation gives the ids and the decision tokens
                ids, dec = self._trained_ids(text)
                decisions += [len(input_ids) + j for j in dec]
            else:
                ids = self._ids(text)
            if trained:
                # train through the end-of-turn token, not the template's trailing newline after it
                last = max((j for j, t in enumerate(ids) if t in eot), default=len(ids) - 1)
                lab = [t if j <= last else IGNORE_INDEX for j, t in enumerate(ids)]
            else:
                lab = [IGNORE_INDEX] * len(ids)
            input_ids += ids
            labels += lab
            if k == 0:
                prefix_len = len(ids)
        n_train = sum(1 for x in labels if x != IGNORE_INDEX)
        decisions = [d for d in decisions if labels[d] != IGNORE_INDEX]
        return Encoded(input_ids, labels, prefix_len, n_train, segs, decisions)

    def _trained_ids(self, text: str) -> tuple[list[int], list[int]]:
        """Ids of an assistant body (as ``_ids`` gives them) and the indices of its decision tokens
        (``decision_chars``). Tokenizers without offsets give no decisions: weighting is then a no-op."""
        try:
            enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
        except (NotImplementedError, KeyError, TypeError, ValueError):
            return self._ids(text), []
        out, k = [], 0
        for c in decision_chars(text):
            while k < len(offsets) and offsets[k][1] <= c:
                k += 1
            if k < len(offsets):
                out.append(k)
        return ids, sorted(set(out))

    def encode_prompt(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> Encoded:
        """Ids of the generation prompt (ends with the assistant header)."""
        return self.encode(messages, tools, add_generation_prompt=True)
