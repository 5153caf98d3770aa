"""The docs and the parsers agree on every option of every command (``lanmsg`` and ``python -m mailslot``).

How the docs say which command an option belongs to (docs/testing.md, "Docs match the code"):

* **Option blocks.** ``<!-- options: lanmsg send broadcast -->`` ... ``<!-- /options -->`` (several
  tools: ``<!-- options: lanmsg listen; mailslot listen send -->``; a tool alone: its top-level
  options). Every ``--option`` inside belongs to each command named, except on a table row whose
  first cell is a command (`` `send HOST TEXT...` ``, `` `lanmsg send ...` ``,
  `` `python -m mailslot send ...` ``): that row's options belong to that command alone.
* **Command lines.** In code (inline spans and fenced blocks, but not blocks marked ``text``:
  output), ``lanmsg CMD ...`` and ``python -m mailslot CMD ...`` (``python3``, ``-m lanmsg`` too):
  the options written after the command belong to it (``--help`` is every command's).

The test checks both ways: each option the docs give a command exists in that command's parser,
and each option a parser has is in an option block for that command somewhere in docs/*.md.
"""

from __future__ import annotations

import pathlib
import re

import pytest

import mailslot
from lanmsg import cli
from lanmsg.completion import subcommands

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
BLOCK = re.compile(r"<!-- options: (?P<spec>[^>]*?) -->(?P<body>.*?)<!-- /options -->", re.S)
TOOLS = {"lanmsg": cli.build_parser, "mailslot": mailslot.cli_parser}
# "lanmsg send", "python3 -m lanmsg send", "python -m mailslot send": tool and command
COMMAND_LINE = re.compile(
    r"(?<![\w/.-])(?:python3? -m )?(?P<tool>lanmsg|mailslot) (?P<cmd>[a-z]+)(?P<rest>[^`|;&#\n]*)"
)
ROW_COMMAND = re.compile(r"^\|\s*`(?:(?:python3? -m )?(?:lanmsg|mailslot) )?(?P<cmd>[a-z]+)\b")


def parsers() -> dict[tuple[str, str], set[str]]:
    """(tool, command) -> its options; command "" is the tool's own (top-level) options."""
    out = {}
    for tool, build in TOOLS.items():
        top = build()
        out[(tool, "")] = {s for a in top._actions for s in a.option_strings if s.startswith("--")}
        for name, _, sub in subcommands(top):
            out[(tool, name)] = {s for a in sub._actions for s in a.option_strings if s.startswith("--")}
    for options in out.values():
        options.discard("--help")
    return out


PARSERS = parsers()


def _spec(spec: str) -> list[tuple[str, str]]:
    """``lanmsg send broadcast; mailslot listen`` -> [(lanmsg, send), (lanmsg, broadcast), (mailslot, listen)]."""
    named = []
    for part in spec.split(";"):
        tool, *commands = part.split()
        assert tool in TOOLS, f"unknown tool {tool!r} in <!-- options: {spec} -->"
        named += [(tool, c) for c in commands] or [(tool, "")]
    for key in named:
        assert key in PARSERS, f"<!-- options: {spec} -->: no command {key[1]!r} in {key[0]}"
    return named


def documented(docs: list[pathlib.Path] = DOCS) -> list[tuple[str, int, tuple[str, str], str]]:
    """Every (doc, line, (tool, command), --option) the docs attribute to a command."""
    found = []
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            named = _spec(m["spec"])
            first = text.count("\n", 0, m.start("body")) + 1
            for i, line in enumerate(m["body"].splitlines()):
                row = ROW_COMMAND.match(line.strip())
                owners = [(named[0][0], row["cmd"])] if row else named
                for option in OPTION.findall(line):
                    found += [(doc.name, first + i, owner, option) for owner in owners]
        for code in re.finditer(r"```.*?```|`[^`\n]+`", text, re.S):
            if code.group().startswith("```text"):
                continue  # output (error lines that quote commands), not command lines
            for m in COMMAND_LINE.finditer(code.group()):
                key = (m["tool"], m["cmd"])
                if key not in PARSERS:
                    continue  # "lanmsg is", a word that is no command
                line = text.count("\n", 0, code.start() + m.start()) + 1
                found += [(doc.name, line, key, o) for o in OPTION.findall(m["rest"]) if o != "--help"]
    return found


DOCUMENTED = documented()


def test_the_docs_have_option_blocks_for_every_command():
    in_blocks = {
        key for doc in DOCS for m in BLOCK.finditer(doc.read_text(encoding="utf-8")) for key in _spec(m["spec"])
    }
    assert len(in_blocks) > 5, in_blocks  # the blocks are there; the test below would pass on none


def test_every_option_the_docs_name_for_a_command_exists():
    wrong = [
        f"{doc}:{line}: {option} is no option of {tool} {cmd}".rstrip()
        for doc, line, (tool, cmd), option in DOCUMENTED
        if option not in PARSERS[(tool, cmd)]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("key", sorted(PARSERS), ids=[" ".join(k).strip() for k in sorted(PARSERS)])
def test_every_option_of_a_command_is_documented_for_it(key):
    in_docs = {option for _, _, owner, option in DOCUMENTED if owner == key}
    missing = sorted(PARSERS[key] - in_docs)
    assert not missing, f"{' '.join(key)}: {missing} are in no <!-- options --> block of docs/*.md for it"


def test_the_checker_sees_a_wrong_option(tmp_path):
    """A doc that gives send an option it lacks, or leaves one out, is caught (the test can fail)."""
    doc = tmp_path / "x.md"
    doc.write_text(
        "<!-- options: lanmsg -->\n| `send HOST TEXT` | `--wait SECONDS` |\n<!-- /options -->\n"
        "Run `lanmsg detect --retries 3`.\n",
        encoding="utf-8",
    )
    found = documented([doc])
    assert ("x.md", 2, ("lanmsg", "send"), "--wait") in found
    assert ("x.md", 4, ("lanmsg", "detect"), "--retries") in found
    assert "--wait" not in PARSERS[("lanmsg", "send")] and "--retries" not in PARSERS[("lanmsg", "detect")]
