"""Help that teaches: each command's --help lists its own arguments first (units and defaults in
numbers), the shared options under their headings, then examples and the exit codes that command
can return; metavariables are the same words everywhere.  The same for ``python -m mailslot``."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest
from lanmsg_proc import ROOT
from test_cli_failures import CASES

import mailslot
from lanmsg.cli import COMMANDS, build_parser
from lanmsg.completion import options, positionals, subcommands

# every value an option takes is one of these words (or its choices)
METAVARS = {"SECONDS", "N", "FILE", "NAME", "ADDRESS", "SLOT", "CODEC", "CODEPAGE", "UDP_PORT", "HEX"}
TIME_OPTIONS = {"--timeout", "--wait", "--interval", "--auth-window", "--stats-interval"}


def help_text(tool: str, *args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", tool, *args, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin", "PYTHONPATH": ROOT},
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout


def exit_codes(text: str) -> set[int]:
    section = text[text.index("exit codes:") :]
    return {int(m) for m in re.findall(r"^  ([0-3])  ", section, re.M)}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_command_help_reads_own_arguments_shared_options_examples_exit_codes(command):
    text = help_text("lanmsg", command)
    parser = {n: p for n, _, p in subcommands(build_parser())}[command]
    own = [a for a in options(parser) if a.dest != "help" and a not in parser.shared] + positionals(parser)
    own_at = max(text.index(str(a.metavar) if not a.option_strings else a.option_strings[0] + " ") for a in own)
    headings = [h for h in ("messenger options:", "discovery options:", "transport options:") if h in text]
    if command != "keygen":
        assert "transport options:" in headings and len(headings) == 2, headings
        assert all(own_at < text.index(h) for h in headings), "own arguments come first"
        usage = text[: text.index("\n\n")]
        assert "[OPTIONS]" in usage and "--wins" not in usage, usage  # the shared ones by their heading
    examples = text[text.index("examples:\n") : text.index("exit codes:")].strip().splitlines()[1:]
    assert 2 <= len([e for e in examples if e.startswith(f"  lanmsg {command}") or "| lanmsg" in e]) <= 3, examples
    # the exit codes it can return: the failures table's for this command are among them
    codes = exit_codes(text)
    assert {0, 2} <= codes
    assert {c.code for c in CASES if c.tool == "lanmsg" and c.argv[:1] == [command]} <= codes
    if command in ("keygen", "listen", "announce"):
        assert 1 not in codes  # they never return 1


def test_keygen_lists_no_exit_code_it_cannot_return():
    assert exit_codes(help_text("lanmsg", "keygen")) == {0, 2, 3}


@pytest.mark.parametrize("tool", ["lanmsg", "mailslot"])
def test_metavariables_are_the_same_words_everywhere_and_numbers_have_defaults(tool):
    top = build_parser() if tool == "lanmsg" else mailslot.cli_parser()
    for name, _, parser in subcommands(top):
        for a in options(parser):
            if a.nargs == 0 or a.choices is not None:
                continue
            assert a.metavar in METAVARS, (name, a.option_strings, a.metavar)
            if a.option_strings[0] in TIME_OPTIONS:
                assert a.metavar == "SECONDS", (name, a.option_strings)
            if tool == "lanmsg" and a.type in (int, float):
                assert re.search(r"default[^)]*?\d", a.help or ""), (name, a.option_strings, a.help)
        for a in positionals(parser):
            assert a.help, (name, a.metavar)
            assert a.metavar not in {a2.metavar for a2 in options(parser)}, (name, a.metavar)  # no NAME and --name NAME


def test_send_timeout_says_its_number_and_announce_tells_its_two_ports_apart():
    send = help_text("lanmsg", "send")
    assert re.search(r"--timeout SECONDS\s+wait at most this long for the confirmation\s+\(default\s+3:", send)
    announce = help_text("lanmsg", "announce")
    assert "TCP_PORT" in announce and "--port UDP_PORT" in announce
    assert "the TCP port clients connect to" in announce and "--port is the UDP port" in " ".join(announce.split())


@pytest.mark.parametrize("command", list(mailslot.CLI_COMMANDS))
def test_mailslot_command_help_has_its_description_examples_and_exit_codes(command):
    text = help_text("mailslot", command)
    summary = mailslot.CLI_COMMANDS[command][0]
    assert summary[:1].upper() + summary[1:] in " ".join(text.split())
    assert f"  python -m mailslot {command}" in text[text.index("examples:") :]
    codes = exit_codes(text)
    assert {c.code for c in CASES if c.tool == "mailslot" and c.argv[:1] == [command]} <= codes
    assert text.index("positional arguments:") < text.index("transport options:")


def test_the_parsers_take_the_options_the_helps_show():
    # the helps are argparse's own formatting of these parsers: what a user types is what they list
    for top in (build_parser(), mailslot.cli_parser()):
        for _, _, parser in subcommands(top):
            assert isinstance(parser, argparse.ArgumentParser)
            text = parser.format_help()
            for a in options(parser):
                assert a.option_strings[-1] in text
