"""``punie dataset inspect``: an example as the model sees it, trained tokens told apart from masked.

Both views come from ``PromptBuilder.encode`` (the ids and labels training uses), grouped into runs
of equally-masked tokens and decoded run by run, so what is shown is exactly what is trained.
"""

from __future__ import annotations

import html
from typing import Any

from punie.data.dataset import Conversation
from punie.models.prompt import IGNORE_INDEX


def token_runs(builder: Any, conv: Conversation) -> tuple[list[tuple[str, bool, int]], Any]:
    """[(text, trained, n_tokens)] in order, and the Encoded value."""
    enc = builder.encode(conv["messages"], conv.get("tools"))
    runs: list[tuple[str, bool, int]] = []
    start = 0
    ids, labels = enc.input_ids, enc.labels
    for i in range(1, len(ids) + 1):
        if i == len(ids) or (labels[i] != IGNORE_INDEX) != (labels[start] != IGNORE_INDEX):
            text = builder.tokenizer.decode(ids[start:i], skip_special_tokens=False)
            runs.append((text, labels[start] != IGNORE_INDEX, i - start))
            start = i
    return runs, enc


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; }
pre { white-space: pre-wrap; word-break: break-word; font: 13px/1.5 ui-monospace, monospace;
      border: 1px solid #ccc; padding: 1rem; border-radius: 6px; }
.trained { background: #c8f7c5; color: #0b3d0b; border-bottom: 2px solid #2e9e2e; }
.masked { color: #777; }
.legend span { padding: 0 .4rem; margin-right: 1rem; }
table { border-collapse: collapse; } td { padding: .1rem .8rem .1rem 0; }
"""


def render_html(examples: list[tuple[str, Conversation]], builder: Any, model_name: str = "") -> str:
    """A self-contained page; each example is (title, conversation)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>punie dataset inspect</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>punie dataset inspect</h1><p>model: <code>{html.escape(model_name)}</code></p>",
        "<p class='legend'><span class='trained'>trained (label = token)</span>"
        "<span class='masked'>masked (label = -100)</span></p>",
    ]
    for title, conv in examples:
        runs, enc = token_runs(builder, conv)
        total = len(enc.input_ids)
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(
            "<table>"
            f"<tr><td>tokens</td><td>{total}</td></tr>"
            f"<tr><td>trained tokens</td><td>{enc.n_trainable} ({enc.n_trainable / max(1, total):.1%})</td></tr>"
            f"<tr><td>shared prefix (system + tools)</td><td>{enc.prefix_len} tokens</td></tr>"
            "</table>"
        )
        spans = [
            f"<span class='{'trained' if trained else 'masked'}' title='{n} tokens'>{html.escape(text)}</span>"
            for text, trained, n in runs
        ]
        parts.append("<pre>" + "".join(spans) + "</pre>")
    parts.append("</body></html>")
    return "".join(parts)


def render_terminal(conv: Conversation, builder: Any) -> Any:
    """A rich Text: trained tokens bold green on a dark background, masked tokens dim."""
    from rich.text import Text

    runs, enc = token_runs(builder, conv)
    text = Text()
    for chunk, trained, _ in runs:
        text.append(chunk, style="bold green on grey15" if trained else "dim")
    total = len(enc.input_ids)
    text.append(
        f"\n\n{total} tokens, {enc.n_trainable} trained ({enc.n_trainable / max(1, total):.1%}), "
        f"shared prefix {enc.prefix_len} tokens",
        style="italic",
    )
    return text
