"""What a newcomer runs: the README's first two commands, and CI (.ci/run) running exactly those."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README_COMMANDS = ["bash scripts/demo.sh", "bash scripts/test.sh"]


def _readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README has no bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_starts_with_the_demo_and_the_tests() -> None:
    assert _readme_commands()[:2] == README_COMMANDS


def test_ci_runs_the_readme_commands_each_in_a_fresh_venv() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    for command in README_COMMANDS:
        assert any(line.endswith(command) for line in lines), f".ci/run does not run {command!r}"
    assert ci.count("-m venv") >= 1 and ci.count("fresh_venv \"$WORK/venv-") == 3
    assert "tests/smoke_installed.py" in ci and "ruff check ." in ci


def test_the_scripts_install_the_extras_the_readme_promises() -> None:
    assert 'pip install -q -e ".[all]"' in (ROOT / "scripts" / "demo.sh").read_text()
    assert 'pip install -q -e ".[dev]"' in (ROOT / "scripts" / "test.sh").read_text()
