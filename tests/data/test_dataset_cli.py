"""``punie dataset ...`` end to end through punie's CLI entry: outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from punie.cli import main
from punie.data import check_leakage, generate_split, heldout_suite_cases, read_dataset


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # validate / check-leakage exit 1 this way
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "ds"
    assert run(["dataset", "generate", str(out), "--seed", "1", "--size", "300",
                "--suite", str(out.parent / "suite.jsonl"), "--suite-size", "120"]) == 0
    return out


def test_generate_writes_splits_and_suite(ds: Path) -> None:
    d = read_dataset(ds)
    assert (len(d.train), len(d.valid), len(d.test)) == (300, 50, 50)
    assert json.loads((ds / "punie_dataset.json").read_text())["seed"] == 1
    lines = (ds.parent / "suite.jsonl").read_text().splitlines()
    assert len(lines) == 120 and json.loads(lines[0])["category"] in ("tool_call", "no_call")


def test_validate_exit_codes(ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["dataset", "validate", str(ds)]) == 0
    assert "valid: 400 examples" in capsys.readouterr().out
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.jsonl").write_text('{"messages": [{"role": "user", "content": "x"}]}\n{oops\n')
    (bad / "valid.jsonl").write_text((ds / "valid.jsonl").read_text())
    assert run(["dataset", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "train.jsonl:1: message 0: conversation ends with a user turn" in out
    assert "train.jsonl:2: invalid JSON" in out
    assert "INVALID" in out.splitlines()[-1]
    assert run(["dataset", "validate", str(bad), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["dataset", "validate", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no train.jsonl" in err and "Traceback" not in err
    (empty / "train.jsonl").write_bytes(b'{"text": "\xff"}\n')
    (empty / "valid.jsonl").write_text('{"text": "x"}\n')
    assert run(["dataset", "stats", str(empty)]) == 2
    assert "train.jsonl:1: not valid UTF-8" in capsys.readouterr().err
    out = tmp_path / "out"
    assert run(["dataset", "filter", str(empty), "-o", str(out)]) == 2
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_stats_json(ds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["dataset", "stats", str(ds), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["train"]["examples"] == 300 and stats["train"]["no_call_share"] >= 0.2
    assert stats["train"]["tool_calls"]["read_file"] > 0


def test_filter_merge_split_dedupe(ds: Path, tmp_path: Path) -> None:
    assert run(["dataset", "filter", str(ds), "-o", str(tmp_path / "f"), "--calls", "none"]) == 0
    f = read_dataset(tmp_path / "f")
    assert f.train and all(not m.get("tool_calls") for c in f for m in c["messages"])
    assert run(["dataset", "filter", str(ds), "-o", str(tmp_path / "k"), "--tool", "kill_terminal"]) == 0
    assert all(any(m.get("tool_calls") for m in c["messages"]) for c in read_dataset(tmp_path / "k"))
    assert run(["dataset", "merge", str(ds), str(tmp_path / "f"), "-o", str(tmp_path / "m")]) == 0
    assert len(read_dataset(tmp_path / "m").train) == 300 + len(f.train)
    assert run(["dataset", "split", str(ds), "-o", str(tmp_path / "s"),
                "--ratios", "0.5,0.25,0.25", "--seed", "2"]) == 0
    s = read_dataset(tmp_path / "s")
    assert (len(s.train), len(s.valid), len(s.test)) == (200, 100, 100)
    assert run(["dataset", "split", str(ds), "-o", str(tmp_path / "s2"),
                "--ratios", "0.5,0.25,0.25", "--seed", "2"]) == 0
    assert (tmp_path / "s" / "train.jsonl").read_text() == (tmp_path / "s2" / "train.jsonl").read_text()
    assert run(["dataset", "split", str(ds), "-o", str(tmp_path / "s3"), "--ratios", "a,b"]) == 2
    assert run(["dataset", "dedupe", str(tmp_path / "m"), "-o", str(tmp_path / "d")]) == 0
    assert len(read_dataset(tmp_path / "d").train) < len(read_dataset(tmp_path / "m").train)


def test_dedupe_normalises_case_and_whitespace(tmp_path: Path) -> None:
    def conv(p: str) -> str:
        return json.dumps({"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "a"}]})

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.jsonl").write_text("\n".join([conv("Hello  World"), conv("hello world"), conv("other")]) + "\n")
    (src / "valid.jsonl").write_text(conv("OTHER") + "\n")
    assert run(["dataset", "dedupe", str(src), "-o", str(tmp_path / "n")]) == 0
    n = read_dataset(tmp_path / "n")
    assert [c["messages"][0]["content"] for c in n.train] == ["Hello  World"]
    assert len(n.valid) == 1  # the held-out copy is the one kept
    assert run(["dataset", "dedupe", str(src), "-o", str(tmp_path / "e"), "--mode", "exact"]) == 0
    assert len(read_dataset(tmp_path / "e").train) == 3


def test_check_leakage_exit_codes(ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["dataset", "check-leakage", str(ds), str(ds.parent / "suite.jsonl")]) == 0
    assert "ok: 0 of 120" in capsys.readouterr().out
    leaky = tmp_path / "leaky.jsonl"
    train = read_dataset(ds).train
    cases = heldout_suite_cases(20, seed=5)
    # near copies: a training prompt with a word changed, and an exact one
    cases[0]["messages"] = [{"role": "user", "content": train[0]["messages"][0]["content"].upper()}]
    cases[1]["messages"] = [{"role": "user", "content": train[1]["messages"][0]["content"] + " please"}]
    leaky.write_text("".join(json.dumps(c) + "\n" for c in cases))
    # at 0.6 an untouched case may share a short frame ("question: what is a ...") with a train prompt
    already = len({leak.case_id for leak in check_leakage(train, cases[2:], threshold=0.6).leaks})
    assert run(["dataset", "check-leakage", str(ds), str(leaky), "--threshold", "0.6"]) == 1
    assert f"LEAKAGE: {2 + already} of 20" in capsys.readouterr().out
    assert run(["dataset", "check-leakage", str(ds), str(leaky), "--max-share", "0.2"]) == 0


def test_inspect_terminal_and_html(ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  tokenizer: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import punie.models

    # the session's tokenizer instead of a second ~10 s load; the CLI path is otherwise unchanged
    monkeypatch.setattr(punie.models, "load_tokenizer", lambda name=None: tokenizer)
    assert run(["dataset", "inspect", str(ds), "--index", "3"]) == 0
    assert "trained" in capsys.readouterr().out
    page = tmp_path / "i.html"
    assert run(["dataset", "inspect", str(ds), "--html", str(page), "-n", "2", "--model", "smollm2-135m"]) == 0
    text = page.read_text()
    assert text.count("<h2>") == 2 and "class='trained'" in text and "class='masked'" in text
    assert run(["dataset", "inspect", str(ds), "--index", "9999"]) == 2


def test_generated_train_prompts_do_not_overlap_suite() -> None:
    assert not {m["content"] for c in generate_split("train", 500, 0) for m in c["messages"] if m["role"] == "user"} & {
        m["content"] for c in heldout_suite_cases(100, 0) for m in c["messages"] if m["role"] == "user"}


def test_help_and_usage_errors_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["dataset", "validate", "--help"]) == 0
    assert "--max-seq-length" in capsys.readouterr().out
    assert run(["dataset", "validate"]) == 2
    err = capsys.readouterr().err
    assert "Missing argument" in err and "Traceback" not in err
    assert run(["dataset", "generate", "x", "--size", "many"]) == 2
    assert run(["dataset", "generate", "x", "--size", "0"]) == 2


def test_generate_mix_changes_the_kinds_and_refuses_bad_weights(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from punie.data.dataset import calls_of

    out = tmp_path / "mix"
    # only background jobs picked by description: every conversation starts several jobs at once
    assert run(["dataset", "generate", str(out), "--size", "40", "--mix",
                ",".join(f"{k}=0" for k in _kinds() if k != "bg_pick") + ",bg_pick=3"]) == 0
    d = read_dataset(out)
    for conv in d.train:
        first = next(m for m in conv["messages"] if m.get("tool_calls"))
        assert len(calls_of(first)) >= 2 and all(c["arguments"].get("background") for c in calls_of(first))
    assert json.loads((out / "punie_dataset.json").read_text())["mix"] == {"bg_pick": 3.0}
    capsys.readouterr()
    for bad, says in [("nope=1", "'nope=1' is not KIND=WEIGHT"), ("clarify=-2", "must be a number ≥ 0"),
                      ("clarify=inf", "must be a number ≥ 0"), (",".join(f"{k}=0" for k in _kinds()), "weight 0")]:
        target = tmp_path / "never"
        assert run(["dataset", "generate", str(target), "--size", "10", "--mix", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("punie: error: --mix: ") and says in err and "\n" not in err, err
        assert not target.exists()


def _kinds() -> list[str]:
    from punie.data.generator import WEIGHTS

    return list(WEIGHTS)
