"""The README's two commands are what .ci/run runs, and its way to leave the lab out works."""

from __future__ import annotations

import pathlib
import re
import subprocess
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def readme_command(name: str) -> str:
    """What .ci/run takes from README.md between <!-- NAME --> and <!-- /NAME --> (its own sed)."""
    program = f'sed -n "/<!-- {name} -->/,/<!-- \\\\/{name} -->/{{/^[^<\\`]/p}}" README.md'
    return subprocess.run(["bash", "-c", program], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_ci_runs_both_readme_commands_as_written():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_command install-command" in ci and "readme_command test-command" in ci
    install = readme_command("install-command").strip()
    test = readme_command("test-command").strip()
    # a venv first (PEP 668), then the install and the demo; the tests through nox
    assert re.match(r"python3 -m venv \.venv && \. \.venv/bin/activate && ", install), install
    assert install.endswith("python3 -m pip install . && sh scripts/demo.sh"), install
    assert test.startswith("python3 -m venv .venv && ") and test.endswith("python3 -m nox"), test
    readme = (ROOT / "README.md").read_text()
    assert "LANMSG_MATRIX_LAB=none python3 -m nox" in readme and "minutes" in readme


class FakeSession:
    def __init__(self, python: str, posargs: list[str]):
        self.python, self.posargs, self.ran = python, posargs, []

    def install(self, *args: str) -> None:
        pass

    def log(self, *args: object) -> None:
        pass

    def error(self, message: str) -> None:
        raise AssertionError(message)

    def run(self, *args: str) -> None:
        self.ran.append(list(args))


@pytest.fixture(scope="module")
def noxfile():
    pytest.importorskip("nox")
    source = (ROOT / "noxfile.py").read_text().replace("\n_expose_interpreters()\n", "\n")  # no links made
    module = types.ModuleType("noxfile_under_test")
    module.__file__ = str(ROOT / "noxfile.py")
    exec(compile(source, "noxfile.py", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize(
    "lab, python, posargs, marker",
    [
        ("", "3.11", [], None),
        ("", "3.12", [], "not lab and not wine"),
        ("none", "3.11", [], "not lab"),
        ("none", "3.12", [], "not lab and not wine"),
        ("none", "3.11", ["-m", "tshark"], "(tshark) and not lab"),
        ("all", "3.12", [], "not wine"),
    ],
)
def test_the_noxfile_leaves_the_lab_out_when_asked(noxfile, monkeypatch, lab, python, posargs, marker):
    monkeypatch.setenv("LANMSG_MATRIX_LAB", lab)
    session = FakeSession(python, posargs)
    noxfile.tests(session)
    (args,) = session.ran
    assert args[:3] == ["python", "-m", "pytest"]
    if marker is None:
        assert "-m" not in args[3:]
    else:
        assert args[args.index("-m", 3) + 1] == marker
