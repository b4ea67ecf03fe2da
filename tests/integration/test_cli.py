"""The command line a newcomer meets first (issue 19, item 18): help that says what each command
does, its options with their defaults and an example; and failures a person can act on, in one
line on stderr with a non-zero status, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from school_payments.cli import _parser

CLI = Path(sys.executable).with_name("school-payments")
COMMANDS = {
    # command: words its help must use to say what it does
    "migrate": "to the schema this version needs",
    "serve": "Serves the HTTP API",
    "seed": "demo",
    "reconcile": "Checks every invariant",
    "worker": "Delivers webhooks",
}
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/school_payments"  # nothing listens on port 1
TIMEOUT = 60  # a hang guard


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [str(CLI), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _options(command: str) -> list[tuple[str, object]]:
    """(flag, default) of every option of `command`, as the parser declares them."""
    subparsers = next(a for a in _parser()._actions if a.dest == "command")
    parser = subparsers.choices[command]  # type: ignore[index]
    return [
        (action.option_strings[-1], action.default)
        for action in parser._actions
        if action.option_strings and action.dest != "help"
    ]


def test_the_top_level_help_lists_every_command_and_shows_an_example() -> None:
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command in result.stdout
    assert "example:" in result.stdout
    assert "DATABASE_URL" in result.stdout


def test_every_command_is_held_to_the_same_standard() -> None:
    # A new command joins COMMANDS above, and its help is checked like the others'.
    subparsers = next(a for a in _parser()._actions if a.dest == "command")
    assert set(subparsers.choices) == set(COMMANDS)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_commands_help_says_what_it_does_lists_its_options_with_defaults_and_an_example(
    command: str,
) -> None:
    result = _run(command, "--help")
    assert result.returncode == 0, result.stderr
    # argparse wraps lines, at spaces and after hyphens
    text = re.sub(r"-\s+", "-", " ".join(result.stdout.split()))
    assert COMMANDS[command] in text
    assert "example: " in text
    assert "school-payments " + command in text
    for flag, default in _options(command):
        assert flag in text, f"{command} --help does not list {flag}"
        assert f"(default: {default})" in text, f"{command} --help: no default for {flag}"


@pytest.mark.parametrize("command", ["seed", "reconcile"])
def test_against_an_unmigrated_database_the_command_fails_in_one_line(
    command: str, tmp_path: Path
) -> None:
    result = _run(command, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "not migrated" in lines[0]
    assert "school-payments migrate" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["seed", "reconcile", "worker"])
def test_against_an_unreachable_database_the_command_fails_in_one_line(command: str) -> None:
    result = _run(command, env={"DATABASE_URL": UNREACHABLE})
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "unreachable" in lines[0]
    assert "DATABASE_URL" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
