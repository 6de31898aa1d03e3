"""The README's first screen holds the two set-up commands, and .ci/run runs the test one verbatim."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def get_first_screen_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:30]
    return [line for line in lines if line.startswith("python3 -m venv")]


def test_readme_first_screen_has_exactly_two_setup_commands() -> None:
    commands = get_first_screen_commands()
    assert len(commands) == 2
    assert "spacemesh " in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert get_first_screen_commands()[1] in ci_lines
