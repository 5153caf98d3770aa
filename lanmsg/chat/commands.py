"""What a line typed into ``lanmsg chat`` means: a message, or a slash command.

Pure: ``parse(line)`` returns one of the command classes below.  Commands are
case-insensitive and any unique prefix works (``/t BOB`` is ``/to BOB``); a line
that starts with ``//`` is a message that starts with one ``/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import protocol as P

NEVER_FITS = 1 << 30  # the size a text counts as when the encoding cannot carry it


@dataclass(frozen=True)
class Say:
    """A message to the current target."""

    text: str


@dataclass(frozen=True)
class SetTarget:
    """``/to NAME`` or ``/to *``."""

    name: str


@dataclass(frozen=True)
class MsgOnce:
    """``/msg NAME TEXT``: one message, the target stays."""

    name: str
    text: str


@dataclass(frozen=True)
class Reply:
    """``/reply [TEXT]``: target the last sender (and send TEXT to them)."""

    text: str


@dataclass(frozen=True)
class Who:
    pass


@dataclass(frozen=True)
class Refresh:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Empty:
    """A blank line: nothing to do."""


@dataclass(frozen=True)
class CommandError:
    message: str


Command = Say | SetTarget | MsgOnce | Reply | Who | Refresh | Help | Quit | Empty | CommandError

# name: (usage, what it does); the order is the order of /help
COMMANDS: dict[str, tuple[str, str]] = {
    "to": ("/to NAME | /to *", "send the following lines to NAME, or to everyone"),
    "msg": ("/msg NAME TEXT", "send one message to NAME; the target stays"),
    "reply": ("/reply [TEXT]", "target the last peer who sent you a message"),
    "who": ("/who", "list the peers online, with their addresses"),
    "refresh": ("/refresh", "ask everyone who is online (DETECT)"),
    "help": ("/help", "this list"),
    "quit": ("/quit", "leave the group (OFFLINE) and exit"),
}
COMMAND_WORDS = ["/" + name for name in COMMANDS]


def help_lines() -> list[str]:
    width = max(len(u) for u, _ in COMMANDS.values())
    lines = [f"{usage.ljust(width)}  {what}" for usage, what in COMMANDS.values()]
    lines.append(f"{'//TEXT'.ljust(width)}  send TEXT starting with one /")
    lines.append("unique prefixes work (/t = /to); Tab completes names, Up/Down walk the history")
    return lines


def resolve_command(word: str) -> str | list[str]:
    """The command ``word`` (without "/") stands for, or the list of candidates (empty: none)."""
    w = word.lower()
    if w in COMMANDS:
        return w
    found = [name for name in COMMANDS if name.startswith(w)]
    return found[0] if len(found) == 1 else found


def parse(line: str) -> Command:
    line = line.rstrip("\r\n")
    if not line.strip():
        return Empty()
    if line.startswith("//"):
        return Say(line[1:])
    if not line.startswith("/"):
        return Say(line)
    word, _, rest = line[1:].partition(" ")
    rest = rest.strip()
    if not word:
        return CommandError("a command follows the / (/help lists them; // sends a /)")
    name = resolve_command(word)
    if isinstance(name, list):
        if name:
            return CommandError(f"/{word} is ambiguous: " + ", ".join("/" + n for n in name))
        return CommandError(f"unknown command /{word} (/help lists them; // sends a line starting with /)")
    if name == "to":
        if not rest or " " in rest:
            return CommandError("usage: /to NAME or /to *")
        return SetTarget(rest)
    if name == "msg":
        who, _, text = rest.partition(" ")
        if not who or not text.strip():
            return CommandError("usage: /msg NAME TEXT")
        return MsgOnce(who, text.lstrip(" "))
    if name == "reply":
        return Reply(rest)
    if rest:
        return CommandError(f"/{name} takes no arguments")
    simple: dict[str, Command] = {"who": Who(), "refresh": Refresh(), "help": Help(), "quit": Quit()}
    return simple[name]


def payload(line: str) -> str | None:
    """The text ``line`` would send (for the byte count), or None when it sends nothing."""
    cmd = parse(line)
    if isinstance(cmd, (Say, MsgOnce, Reply)):
        return cmd.text
    if isinstance(cmd, Empty):
        return ""
    if isinstance(cmd, CommandError) and line.startswith("/") and resolve_command(line[1:].partition(" ")[0]) == "msg":
        return ""  # /msg NAME, the text still to come
    return None


def bytes_left(text: str, encoding: str, max_frame: int) -> int:
    """Bytes of the frame's text still free after ``text`` (negative: too long).  212 bytes
    without a key, 168 with one (``Settings.max_frame``), counted in the text encoding; a text the
    encoding cannot carry never fits."""
    try:
        return P.text_room(text, encoding, max_frame)
    except P.FrameError:
        return P.max_text_bytes(max_frame) - NEVER_FITS
