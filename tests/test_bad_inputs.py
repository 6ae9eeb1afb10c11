"""The bad-input table: each kind ends in one error line naming where (file or flag), exit 2, no
traceback, and the inputs (and anything at the output path) left exactly as they were.

The first ten rows are the kinds issue 17 found ending in a traceback (or exit 0 on an empty input);
the rest are their neighbours (the same file corrupt rather than missing, an ancestor that is a file, a
filter that keeps nothing).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from punie.cli import main

sys.path.insert(0, str(Path(__file__).parent / "train"))
from train_helpers import write_dataset  # noqa: E402

Setup = Callable[[Path, str], list[str]]


def _binary_config(tmp: Path, tiny: str) -> list[str]:
    (tmp / "bin.toml").write_bytes(b"\xff\xfe\x00\x89PNG binary\x00")
    return ["train", str(write_dataset(tmp / "ds")), "--model", tiny, "--config", str(tmp / "bin.toml")]


def _resumable_run(tmp: Path, tiny: str) -> tuple[Path, Path]:
    """A real run folder: one step of the tiny model, checkpointed (a few seconds)."""
    data, run = write_dataset(tmp / "ds"), tmp / "run"
    assert main(["train", str(data), "--model", tiny, "-o", str(run), "--iters", "1", "--save-every", "1",
                 "--eval-every", "0"]) == 0
    assert (run / "checkpoint" / "state.pt").is_file()
    return data, run


def _truncated_state(tmp: Path, tiny: str) -> list[str]:
    data, run = _resumable_run(tmp, tiny)
    state = run / "checkpoint" / "state.pt"
    state.write_bytes(state.read_bytes()[:2000])
    return ["train", str(data), "--model", tiny, "-o", str(run), "--resume", "--iters", "2"]


def _missing_run_config(tmp: Path, tiny: str) -> list[str]:
    data, run = _resumable_run(tmp, tiny)
    (run / "config.json").unlink()
    return ["train", str(data), "--model", tiny, "-o", str(run), "--resume", "--iters", "2"]


def _train_output_is_a_file(tmp: Path, tiny: str) -> list[str]:
    (tmp / "out").write_text("a file, not a run folder\n")
    return ["train", str(write_dataset(tmp / "ds")), "--model", tiny, "-o", str(tmp / "out"), "--iters", "1"]


def _fuse_output_is_a_file(tmp: Path, tiny: str) -> list[str]:
    (tmp / "out").write_text("a file, not a model folder\n")
    (tmp / "adapter").mkdir()
    return ["fuse", "-a", str(tmp / "adapter"), "--model", tiny, "-o", str(tmp / "out")]


def _report(tmp: Path, name: str, body: object) -> Path:
    (tmp / name).write_text(json.dumps(body))
    return tmp / name


def _compare_wrong_shape(tmp: Path, tiny: str) -> list[str]:
    bad = _report(tmp, "bad.json", {"overall": 1, "cases": "none"})
    return ["compare", str(bad), str(bad)]


def _baseline_wrong_shape(tmp: Path, tiny: str) -> list[str]:
    bad = _report(tmp, "bad.json", {"overall": {"accuracy": "high"}, "cases": [1, 2]})
    # an unreachable server: if the baseline were not checked first, the eval would start (and fail later)
    return ["eval", "--base-url", "http://127.0.0.1:9/v1", "--suite", "punie-tools", "--limit", "1",
            "--baseline", str(bad), "-o", str(tmp / "report.html"), "--no-progress"]


def _corrupt_registry(tmp: Path, tiny: str) -> list[str]:
    import os

    db = Path(os.environ["PUNIE_HOME"]) / "runs.db"
    db.write_bytes(b"not a sqlite file " * 64)
    return ["runs", "list"]


def _filter_empty(tmp: Path, tiny: str) -> list[str]:
    (tmp / "empty.jsonl").write_text("")
    return ["dataset", "filter", str(tmp / "empty.jsonl"), "-o", str(tmp / "filtered")]


def _dedupe_empty(tmp: Path, tiny: str) -> list[str]:
    (tmp / "empty.jsonl").write_text("")
    return ["dataset", "dedupe", str(tmp / "empty.jsonl"), "-o", str(tmp / "deduped")]


def _corrupt_run_config(tmp: Path, tiny: str) -> list[str]:
    data, run = _resumable_run(tmp, tiny)
    (run / "config.json").write_bytes(b"\x00{not json")
    return ["train", str(data), "--model", tiny, "-o", str(run), "--resume", "--iters", "2"]


def _missing_fingerprint(tmp: Path, tiny: str) -> list[str]:
    data, run = _resumable_run(tmp, tiny)
    (run / "data_fingerprint.json").unlink()
    return ["train", str(data), "--model", tiny, "-o", str(run), "--resume", "--iters", "2"]


def _train_output_inside_a_file(tmp: Path, tiny: str) -> list[str]:
    (tmp / "out").write_text("a file\n")
    return ["train", str(write_dataset(tmp / "ds")), "--model", tiny, "-o", str(tmp / "out" / "run"), "--iters", "1"]


def _filter_matches_nothing(tmp: Path, tiny: str) -> list[str]:
    data = write_dataset(tmp / "ds")
    return ["dataset", "filter", str(data), "--contains", "no prompt says x7q9z3", "-o", str(tmp / "filtered")]


def _split_empty(tmp: Path, tiny: str) -> list[str]:
    (tmp / "empty.jsonl").write_text("")
    return ["dataset", "split", str(tmp / "empty.jsonl"), "-o", str(tmp / "parts")]


KINDS = [
    pytest.param(_binary_config, "bin.toml", id="binary --config"),
    pytest.param(_truncated_state, "--resume", id="truncated state.pt"),
    pytest.param(_missing_run_config, "config.json", id="missing config.json on resume"),
    pytest.param(_train_output_is_a_file, "-o", id="train -o at a file"),
    pytest.param(_fuse_output_is_a_file, "-o", id="fuse -o at a file"),
    pytest.param(_compare_wrong_shape, "bad.json", id="compare a report of the wrong shape"),
    pytest.param(_baseline_wrong_shape, "bad.json", id="eval --baseline of the wrong shape"),
    pytest.param(_corrupt_registry, "runs.db", id="corrupt runs.db"),
    pytest.param(_filter_empty, "empty.jsonl", id="filter an empty file"),
    pytest.param(_dedupe_empty, "empty.jsonl", id="dedupe an empty file"),
    # neighbours of the ten above
    pytest.param(_corrupt_run_config, "config.json", id="corrupt config.json on resume"),
    pytest.param(_missing_fingerprint, "data_fingerprint.json", id="missing data_fingerprint.json on resume"),
    pytest.param(_train_output_inside_a_file, "-o", id="train -o inside a file"),
    pytest.param(_filter_matches_nothing, "filtered", id="filter that matches nothing"),
    pytest.param(_split_empty, "empty.jsonl", id="split an empty file"),
]


def _snapshot(*roots: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("setup", "where"), KINDS)
def test_bad_input_is_one_line_exit_2_and_loses_nothing(  # type: ignore[no-untyped-def]
    setup: Setup, where: str, tmp_path: Path, tiny_model_dir: str, punie_home: Path, capsys
) -> None:
    import os

    home = tmp_path / "home"
    home.mkdir()
    os.environ["PUNIE_HOME"] = str(home)  # a registry of this test's own
    (home / "models").symlink_to(punie_home / "models", target_is_directory=True)
    try:
        argv = setup(tmp_path, tiny_model_dir)
        before = _snapshot(tmp_path)
        capsys.readouterr()
        rc = main(argv)
        err = capsys.readouterr().err.strip()
    finally:
        os.environ["PUNIE_HOME"] = str(punie_home)
    assert rc == 2, err
    errors = [line for line in err.splitlines() if line.startswith("punie: error: ")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0] and "Traceback" not in err, err
    assert where in errors[0], err  # progress lines of a training may come before it
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing overwritten or lost
    assert not set(after) - set(before), sorted(set(after) - set(before))  # and nothing half-made
