"""The checkers run at the same versions everywhere: pyproject.toml's extras (nox, CI, a
contributor's `pip install -e '.[dev]'`) and .pre-commit-config.yaml pin the same ruff and mypy."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PIN = re.compile(r"""["'](ruff|mypy)==([0-9][^"']*)["']""")


def _pins(path: pathlib.Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for tool, version in PIN.findall(path.read_text(encoding="utf-8")):
        found.setdefault(tool, set()).add(version)
    return found


def test_pre_commit_and_pyproject_pin_the_same_checkers():
    pyproject = _pins(ROOT / "pyproject.toml")
    pre_commit = _pins(ROOT / ".pre-commit-config.yaml")
    assert set(pyproject) == {"ruff", "mypy"}, pyproject
    assert all(len(v) == 1 for v in pyproject.values()), f"one version of each tool in pyproject.toml: {pyproject}"
    assert pre_commit == pyproject


def test_every_tool_of_the_checks_is_pinned():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for tool in ("ruff", "mypy", "nox", "build", "pre-commit"):
        assert re.search(rf'"{tool}==[0-9]', text), f"{tool} is not pinned in pyproject.toml"
