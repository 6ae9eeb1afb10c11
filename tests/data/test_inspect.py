"""inspect: what is shown as trained is exactly what the labels train."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from punie.data import create_read_file_example
from punie.data.inspect import render_html, render_terminal, token_runs


def test_runs_follow_labels(builder: Any) -> None:
    conv = create_read_file_example("src/app.py", "print('hi')")
    runs, enc = token_runs(builder, conv)
    assert sum(n for _, _, n in runs) == len(enc.input_ids)
    assert sum(n for _, trained, n in runs if trained) == enc.n_trainable > 0
    trained_text = "".join(t for t, trained, _ in runs if trained)
    masked_text = "".join(t for t, trained, _ in runs if not trained)
    assert '"read_file"' in trained_text and "`src/app.py` has 1 line" in trained_text
    assert "Show me src/app.py" in masked_text and "print('hi')" in masked_text  # user turn and tool result
    assert "You can call tools" in masked_text  # the shared system prompt


def test_html_marks_trained_and_masked(builder: Any) -> None:
    conv = create_read_file_example("src/app.py", "print('<b>hi</b>')")
    page = render_html([("example", conv)], builder, "smollm2-135m")
    trained = [unescape(s) for s in re.findall(r"<span class='trained'[^>]*>(.*?)</span>", page, re.S)]
    masked = [unescape(s) for s in re.findall(r"<span class='masked'[^>]*>(.*?)</span>", page, re.S)]
    assert any("read_file" in s for s in trained)
    assert any("Show me src/app.py" in s for s in masked)
    assert "<b>hi</b>" not in page  # tool output is escaped, not rendered
    assert "trained tokens" in page


def test_terminal_view_styles(builder: Any) -> None:
    text = render_terminal(create_read_file_example("a.py", "x"), builder)
    styles = {str(span.style) for span in text.spans}
    assert "dim" in styles and any("green" in s for s in styles)
