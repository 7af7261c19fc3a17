"""`patchwatch --help` and every subcommand's `--help` match the README's CLI reference, both ways."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from console.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {" ".join(prefix): parser}
    if prefix and not subs[0].required:
        # A command whose actions are optional (`alarms` lists, `alarms show` shows) is a command itself too.
        found[" ".join(prefix)] = parser
    for name, sub in subs[0].choices.items():
        found.update(leaf_commands(sub, (*prefix, name)))
    return found


def reference_rows() -> dict[str, str]:
    """README CLI reference: each command path (e.g. "task enable") -> the text of its row."""
    text = README.read_text()
    section = text[text.index("## CLI reference"):text.index("## Benchmarks")]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| `patchwatch"):
            continue
        for usage in re.findall(r"`(patchwatch[^`]*)`", line.split(" | ")[0]):
            words = usage.replace("\\|", "|").split()[1:]
            path: list[str] = []
            for word in words:
                if not re.fullmatch(r"[a-z|]+", word):
                    break
                path.append(word)
            alternatives = [p.split("|") for p in path]
            combos = [[]]
            for options in alternatives:
                combos = [c + [o] for c in combos for o in options]
            for combo in combos:
                rows[" ".join(combo)] = line
    return rows


def test_every_command_is_in_the_readme_with_all_its_options_and_nothing_extra():
    commands = leaf_commands(build_parser())
    rows = reference_rows()
    missing = sorted(set(commands) - set(rows))
    assert not missing, f"commands missing from the README's CLI reference: {missing}"
    unknown = sorted(set(rows) - set(commands) - {""})
    assert not unknown, f"README documents commands that do not exist: {unknown}"
    for name, sub in commands.items():
        row = rows[name]
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in row, f"`patchwatch {name}`: option {option} is not in the README row"
        help_text = sub.format_help()
        assert "usage: patchwatch" in help_text and (sub.description or sub.format_usage())


def test_global_options_are_documented():
    text = README.read_text()
    for option in ("--data-dir", "PATCHWATCH_DATA", "PATCHWATCH_CHANNELS", "--version"):
        assert option in text, option


def _two_commands() -> tuple[str, str]:
    """The README's Start and Test commands: the first ```sh block after each label."""
    text = README.read_text()
    found = []
    for label in ("Start:", "Test:"):
        after = text[text.index(label):]
        block = after[after.index("```sh\n") + len("```sh\n"):]
        found.append(block[:block.index("```")].strip())
    return found[0], found[1]


def test_the_two_commands_work_with_a_system_python_that_refuses_pip():
    """Debian's and Ubuntu's python3 refuse `pip install` outside a virtual environment
    (externally-managed-environment): both commands make one and use its programs, never the system pip."""
    for command in _two_commands():
        assert command.startswith("python3 -m venv .venv && "), command
        steps = command.split(" && ")
        assert not any(s.startswith(("python3 -m pip", "pip ")) for s in steps), command
        assert all(s.startswith(("python3 -m venv", ".venv/bin/")) for s in steps), command


def test_ci_runs_exactly_the_test_command_after_provisioning():
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    _, test = _two_commands()
    body = [line for line in ci if line and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert body == ["python3 tests/provision.py", test]
