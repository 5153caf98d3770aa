#!/usr/bin/env python3
"""Write the man pages lanmsg.1 and mailslot.1 from the command-line parsers themselves.

    python3 scripts/manpage.py OUTDIR        # writes OUTDIR/lanmsg.1 and OUTDIR/mailslot.1
    man -l OUTDIR/lanmsg.1

The sdist gets them at build time (setup.py's sdist hook writes them into man/ of the release
tree); nothing generated is kept in the repository, so a page can never disagree with --help.
Each command's section has its usage, its own arguments, examples and exit codes as --help
shows them; the options several commands share are described once.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import mailslot  # noqa: E402  (after the path is set)
from lanmsg import __version__, cli  # noqa: E402
from lanmsg.completion import subcommands  # noqa: E402


def roff(text: str) -> str:
    """``text`` safe in a roff line: backslashes and hyphens escaped, no leading control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def _flags(action: argparse.Action) -> str:
    value = ""
    if action.nargs != 0 and action.option_strings:
        value = " " + (
            str(action.metavar)
            if action.metavar
            else "{" + ",".join(map(str, action.choices)) + "}"
            if action.choices
            else action.dest.upper()
        )
    names = ", ".join(action.option_strings) if action.option_strings else str(action.metavar or action.dest)
    return roff(names + value)


def _items(actions: list[argparse.Action]) -> list[str]:
    out = []
    for a in actions:
        if a.help == argparse.SUPPRESS or isinstance(a, argparse._HelpAction):
            continue
        out += [".TP", f".B {_flags(a)}", roff(a.help or "")]
    return out


def _block(text: str) -> list[str]:
    """Preformatted lines (examples, exit codes)."""
    return [".PP", ".nf", *(roff(line) if line.strip() else "" for line in text.splitlines()), ".fi"]


def _own_and_shared(
    parser: argparse.ArgumentParser,
) -> tuple[list[argparse.Action], list[tuple[str, str, list[argparse.Action]]]]:
    own: list[argparse.Action] = []
    shared = []
    for group in parser._action_groups:
        if group.title in ("positional arguments", "options", "optional arguments"):
            own += group._group_actions
        elif group._group_actions:
            shared.append((group.title or "", group.description or "", group._group_actions))
    return own, shared


def page(parser: argparse.ArgumentParser, name: str, summary: str, see_also: str) -> str:
    date = time.strftime("%Y-%m-%d", time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))))
    lines = [
        f'.TH {name.upper()} 1 "{date}" "lanmsg {__version__}" "User Commands"',
        ".SH NAME",
        f"{name} \\- {roff(summary)}",
        ".SH SYNOPSIS",
    ]
    commands = list(subcommands(parser))
    for _, _, sub in commands:
        lines += [".PP", roff(sub.format_usage().removeprefix("usage: ").strip().replace("\n", " "))]
    lines += [".SH DESCRIPTION", roff((parser.description or "").replace("\n", " "))]
    lines += _block(parser.epilog or "")  # what to try first, the exit codes
    shared_seen: dict[str, tuple[str, list[argparse.Action]]] = {}
    lines.append(".SH COMMANDS")
    for cmd, _, sub in commands:
        own, shared = _own_and_shared(sub)
        lines += [f'.SS "{roff(cmd)}"', roff(sub.description or "")]
        lines += _items(own)
        for title, description, actions in shared:
            shared_seen.setdefault(title, (description, actions))
        if shared:
            lines += [".PP", roff("Also the " + " and ".join(t for t, _, _ in shared) + " below.")]
        lines += _block(sub.epilog or "")
    for title, (description, actions) in shared_seen.items():
        lines += [f".SH {roff(title.upper())}", roff(description[:1].upper() + description[1:] + ".")]
        lines += _items(actions)
    variables: dict[str, str] = {}  # LANMSG_X: the option it is the default of
    for action in [a for _, _, sub in commands for a in sub._actions]:
        for v in re.findall(r"LANMSG_[A-Z_]+", action.help or ""):
            variables.setdefault(v, action.option_strings[0] if action.option_strings else str(action.metavar))
    if variables:
        lines += [".SH ENVIRONMENT", "Where an option is not given, its default comes from:"]
        for v, option in sorted(variables.items()):
            lines += [".TP", f".B {roff(v)}", roff(f"the default of {option}")]
    lines += [".SH SEE ALSO", roff(see_also), ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = argv[0]
    os.environ["COLUMNS"] = "1000"  # usage lines unwrapped: roff fills them
    os.makedirs(out, exist_ok=True)
    pages = {
        "lanmsg": page(
            cli.build_parser(),
            "lanmsg",
            "a serverless LAN messenger and zero-configuration server discovery over Windows mailslots",
            "mailslot(1); the guides in the docs/ directory of the sdist: messenger.md, chat.md, discovery.md, "
            "names.md, security.md, mailslot.md; lanmsg --completion bash|zsh",
        ),
        "mailslot": page(
            mailslot.cli_parser(),
            "mailslot",
            "watch and write Windows mailslots on any OS (python -m mailslot)",
            "lanmsg(1); docs/mailslot.md in the sdist",
        ),
    }
    for name, text in pages.items():
        with open(os.path.join(out, f"{name}.1"), "w", encoding="utf-8") as f:
            f.write(text)
    print(f"manpage: wrote {', '.join(f'{n}.1' for n in pages)} in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
