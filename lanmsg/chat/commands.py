"""What a line typed into ``lanmsg chat`` means: a message, or a slash command.

Pure: ``parse(line)`` returns a Command.  Commands are case-insensitive and any unique
prefix works (``/t BOB`` is ``/to BOB``); a line that starts with ``//`` is a message that
starts with one ``/``.  A new command: its usage in COMMANDS, its arguments in ``parse``,
what it does in lanmsg.chat.session.ChatSession.submit.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import protocol as P

NEVER_FITS = 1 << 30  # the size a text counts as when the encoding cannot carry it


@dataclass(frozen=True)
class Command:
    """What a typed line means.

    ``verb``: one of COMMANDS (to, msg, reply, who, refresh, help, quit: the slash commands),
    "say" (a message to the current target), "empty" (a blank line: nothing to do) or "error"
    (a slash command that cannot be run; ``text`` says why).  ``name``: the peer of /to and
    /msg; ``text``: what say, /msg and /reply send.
    """

    verb: str
    name: str = ""
    text: str = ""


def _error(message: str) -> Command:
    return Command("error", text=message)


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
        return Command("empty")
    if line.startswith("//"):
        return Command("say", text=line[1:])
    if not line.startswith("/"):
        return Command("say", text=line)
    word, _, rest = line[1:].partition(" ")
    rest = rest.strip()
    if not word:
        return _error("a command follows the / (/help lists them; // sends a /)")
    name = resolve_command(word)
    if isinstance(name, list):
        if name:
            return _error(f"/{word} is ambiguous: " + ", ".join("/" + n for n in name))
        return _error(f"unknown command /{word} (/help lists them; // sends a line starting with /)")
    if name == "to":
        if not rest or " " in rest:
            return _error("usage: /to NAME or /to *")
        return Command("to", name=rest)
    if name == "msg":
        who, _, text = rest.partition(" ")
        if not who or not text.strip():
            return _error("usage: /msg NAME TEXT")
        return Command("msg", name=who, text=text.lstrip(" "))
    if name == "reply":
        return Command("reply", text=rest)
    if rest:
        return _error(f"/{name} takes no arguments")
    return Command(name)


def payload(line: str) -> str | None:
    """The text ``line`` would send (for the byte count), or None when it sends nothing."""
    cmd = parse(line)
    if cmd.verb in ("say", "msg", "reply"):
        return cmd.text
    if cmd.verb == "empty":
        return ""
    if cmd.verb == "error" and line.startswith("/") and resolve_command(line[1:].partition(" ")[0]) == "msg":
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
