"""What ``python -m lanmsg --help``, ``lanmsg send`` and ``lanmsg discover`` import at start-up.

Each command runs with ``-X importtime`` (and ``-S``, so that site-packages import nothing of
their own) and the modules it imports, less those the interpreter and runpy import for an empty
module, must be on the allowed lists below. A module that is not fails the test: for example json,
ipaddress, hashlib, typing, dataclasses or shutil on the ``--help`` path, or the listener engine on
the path of a one-shot command. Each costs milliseconds of every run of the command.

The lists hold the union of what CPython 3.10 to 3.13 import for the same code (``sre_*`` on
3.10, ``_sha2`` from 3.12, and so on).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The standard library any command may import: argparse and what it needs, mailslot.py's
# sockets, and what these import in their turn.
STDLIB = {
    "__future__",
    "_bisect",
    "_collections",
    "_functools",
    "_heapq",
    "_locale",
    "_operator",
    "_random",
    "_sha2",
    "_sha512",
    "_socket",
    "_sre",
    "_struct",
    "_weakrefset",
    "argparse",
    "array",
    "bisect",
    "collections",
    "collections.abc",
    "copyreg",
    "enum",
    "errno",
    "functools",
    "gettext",
    "heapq",
    "itertools",
    "keyword",
    "locale",
    "math",
    "operator",
    "random",
    "re",
    "re._casefix",
    "re._compiler",
    "re._constants",
    "re._parser",
    "reprlib",
    "select",
    "selectors",
    "socket",
    "sre_compile",
    "sre_constants",
    "sre_parse",
    "struct",
    "textwrap",
    "threading",
    "warnings",
    "zlib",
}
# What `lanmsg --help` may import of the standard library: argparse and what it needs (no sockets).
HELP_STDLIB = {
    "__future__", "_collections", "_functools", "_locale", "_operator", "_sre", "argparse", "collections",
    "collections.abc", "copyreg", "enum", "errno", "functools", "gettext", "itertools", "keyword", "locale", "math",
    "operator",
    "re", "re._casefix", "re._compiler", "re._constants", "re._parser", "reprlib", "sre_compile", "sre_constants",
    "sre_parse", "textwrap", "warnings",
}  # fmt: skip
# The command line and what every messenger command's settings need.
LANMSG_BASE = {"lanmsg", "lanmsg.cli", "lanmsg.settings", "lanmsg.protocol", "lanmsg.auth", "lanmsg.output", "mailslot"}
# A command that sends: mailslot.py reads the interfaces (fcntl).
SENDS = {"fcntl"}

COMMANDS = {
    "help": (["--help"], HELP_STDLIB | {"lanmsg", "lanmsg.cli", "lanmsg.settings"}),
    "send": (
        ["send", "--no-wait", "127.0.0.1", "start-up imports"],
        STDLIB | LANMSG_BASE | SENDS | {"lanmsg.messenger", "lanmsg.node", "lanmsg.control"},
    ),
    "discover": (
        ["discover", "--timeout", "0"],
        STDLIB | LANMSG_BASE | SENDS | {"lanmsg.discovery", "lanmsg.node", "lanmsg.signals", "signal"},
    ),
}


def imported(argv: list[str], env: dict[str, str]) -> set[str]:
    """The modules ``python -S -X importtime ARGV`` imports (stderr's importtime lines)."""
    r = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode in (0, 1), r.stderr[-2000:]
    return {
        line.split("|")[2].strip()
        for line in r.stderr.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    }


@pytest.fixture
def env(port, tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    e["PYTHONPATH"] = ROOT
    e["LANMSG_PORT"] = str(port)
    assert e["LANMSG_BROADCAST"] == "127.255.255.255"
    return e


@pytest.fixture
def interpreter_imports(env, tmp_path):
    """What the interpreter and runpy import to run an empty module with ``-m``."""
    (tmp_path / "startup_empty.py").write_text("")
    return imported(["-m", "startup_empty"], dict(env, PYTHONPATH=str(tmp_path)))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_start_up_imports_only_what_the_command_needs(command, env, interpreter_imports):
    args, allowed = COMMANDS[command]
    found = imported(["-m", "lanmsg", *args], env) - interpreter_imports
    assert "lanmsg.cli" in found and ("mailslot" in found) == (command != "help"), sorted(found)
    outside = sorted(found - allowed)
    assert not outside, f"`lanmsg {' '.join(args)}` imports {outside}; all it imports: {sorted(found)}"


def test_the_lists_keep_out_what_start_up_must_not_pay_for():
    for args, allowed in COMMANDS.values():
        assert not allowed & {"json", "typing", "dataclasses", "hashlib", "shutil", "ipaddress", "lanmsg.listener"}, (
            args
        )
    assert not COMMANDS["help"][1] & {"mailslot", "socket", "lanmsg.protocol", "lanmsg.auth"}
