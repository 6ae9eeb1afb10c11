"""The command table: every command imports, shows --help, and usage errors exit 2 without a traceback."""

from __future__ import annotations

import pytest

from punie.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    out = capsys.readouterr()
    assert "Usage" in out.out and "Traceback" not in out.err


def test_root_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_unknown_option_and_command_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--no-such-flag"]) == 2
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No such" in err


def test_cli_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, punie.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
