"""lanmsg's checks, run by nox: ``python3 -m nox`` runs every one, ``python3 -m nox -l`` lists them.

* ``lint``: ruff check and ruff format --check;
* ``typecheck``: mypy --strict on mailslot.py and lanmsg/ (settings in pyproject.toml);
* ``dist``: builds the sdist and the wheel and runs the installed wheel (scripts/check-dist.sh);
* ``tests-3.10`` ... ``tests-3.13``: the test suite on every supported CPython. ``tests-3.11``
  runs all of it; the others all but the lab tests (network namespaces, root; about 7 of the 8
  minutes a run takes) and the Wine tests (they test Windows' own CPython 3.11.9, whatever Python
  drives them): four whole runs would not fit CI's 30 minutes. LANMSG_MATRIX_LAB=all runs the lab
  tests on every Python too (a nightly run); LANMSG_MATRIX_LAB=none on none (as root, a run of about
  1-2 minutes per Python instead of 13-15 in all).

The tools' versions are pinned in pyproject.toml (the ``lint`` and ``dist`` extras). An
interpreter that is missing here is skipped, and nox says so ("Python interpreter 3.10 not
found"); see docs/testing.md for where the interpreters are looked for.
"""

from __future__ import annotations

import glob
import os
import pathlib
import re
import shutil
import subprocess

import nox

ROOT = pathlib.Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
# nox itself and what builds the sdist (build, and the backend of pyproject.toml's build-system)
CHECK_TOOLS = [
    *(r for r in EXTRAS["dev"] if r.startswith("nox==")),
    *EXTRAS["dist"],
    *PYPROJECT["build-system"]["requires"],
]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]  # requires-python >= 3.10: every CPython released since
FULL_PYTHON = "3.11"  # the matrix entry that also runs the lab and Wine tests (the default Python)

nox.options.sessions = ["interpreters", "lint", "typecheck", "dist", "tests"]
nox.options.error_on_missing_interpreters = False  # a missing Python: skipped, with nox's message
nox.options.reuse_venv = "yes"


def _version_key(path: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", path)]


def _runs_as(path: str, version: str) -> bool:
    try:
        out = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def _find_python(version: str) -> str | None:
    """pythonX.Y on PATH, else pyenv's newest X.Y.* (a pyenv shim that is not selected only fails)."""
    name = f"python{version}"
    on_path = shutil.which(name)
    candidates = [on_path] if on_path else []
    pyenv_roots = {os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")}
    for pyenv_root in filter(None, pyenv_roots):
        pattern = os.path.join(pyenv_root, "versions", f"{version}.*", "bin", name)
        candidates += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    return next((c for c in candidates if _runs_as(c, version)), None)


def _expose_interpreters() -> None:
    """Put a working pythonX.Y for each version first on PATH (links in .nox/interpreters), where
    nox looks for them; a version found nowhere is left to nox, which skips it and says so."""
    links = ROOT / ".nox" / "interpreters"
    links.mkdir(parents=True, exist_ok=True)
    for version in PYTHONS:
        link = links / f"python{version}"
        if link.is_symlink() or link.exists():
            link.unlink()
        found = _find_python(version)
        if found is not None:
            link.symlink_to(found)
    os.environ["PATH"] = f"{links}{os.pathsep}{os.environ.get('PATH', '')}"


_expose_interpreters()


@nox.session(python=False)
def interpreters(session: nox.Session) -> None:
    """Which Python runs each tests-X.Y session, or that it is missing (and skipped)."""
    for version in PYTHONS:
        found = shutil.which(f"python{version}")
        session.log(
            f"Python {version}: {os.path.realpath(found) if found else 'not found: tests-' + version + ' skips'}"
        )


@nox.session  # on the Python that runs nox
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check (rules in pyproject.toml)."""
    session.install(*[r for r in EXTRAS["lint"] if r.startswith("ruff")])
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on mailslot.py and lanmsg/ (the [tool.mypy] settings in pyproject.toml)."""
    session.install(*[r for r in EXTRAS["lint"] if r.startswith("mypy")])
    session.run("mypy")


@nox.session
def dist(session: nox.Session) -> None:
    """python -m build, then the wheel installed in a fresh venv: lanmsg --version, python -m mailslot
    --help and scripts/demo.sh; the sdist holds tests/ and docs/, the wheel no test file."""
    session.install(*EXTRAS["dist"])
    session.run("bash", "scripts/check-dist.sh", external=True, env={"PYTHON": session.virtualenv.bin + "/python"})


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite (pytest arguments after --, e.g. nox -s tests-3.13 -- -m 'not lab')."""
    session.install(*EXTRAS["test"])
    if session.python == FULL_PYTHON:
        # The tests of this file and of the sdist's man pages need nox, build and the build
        # backend; without them they skip.  Here, where the whole suite runs, they run.
        session.install(*CHECK_TOOLS)
    args = list(session.posargs) or ["-q"]
    lab = os.environ.get("LANMSG_MATRIX_LAB", "")  # "all": on every Python; "none": on none
    if lab not in ("", "all", "none"):
        session.error(f"LANMSG_MATRIX_LAB={lab!r}: 'all', 'none' or unset")
    not_here = []
    if lab == "none" or (lab != "all" and session.python != FULL_PYTHON):
        not_here.append("not lab")
    if session.python != FULL_PYTHON:
        not_here.append("not wine")
    if not_here:
        leave_out = " and ".join(not_here)
        if "-m" in args:  # the caller's marker expression, less what this Python leaves out
            i = args.index("-m") + 1
            args[i] = f"({args[i]}) and {leave_out}"
        else:
            args += ["-m", leave_out]
        why = "LANMSG_MATRIX_LAB=none" if lab == "none" else f"the lab and Wine tests run on {FULL_PYTHON}"
        session.log(f"Python {session.python}: {leave_out} ({why})")
    session.run("python", "-m", "pytest", *args)
