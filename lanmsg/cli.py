"""lanmsg command line: listen | chat | send | broadcast | detect | announce | discover | keygen.

Each command's help lists its own arguments first, then the options it shares with other commands
under a heading, then examples and the exit codes that command can return.  A failure prints one
line on stderr (``lanmsg: error: ...``: what happened and what to try) and exits 1, 2 or 3; stdout
carries only results.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from . import __version__
from .settings import (
    CHECK_CONNECT_TIMEOUT_S,
    DETECT_TIMEOUT_S,
    DISCOVER_TIMEOUT_S,
    EXIT_NONE,
    EXIT_OK,
    EXIT_SYSTEM,
    EXIT_USAGE,
    STATS_INTERVAL_S,
    LanmsgError,
    Settings,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

    from .output import Printer
    from .settings import Record

SHELLS = ("bash", "zsh")  # lanmsg --completion SHELL

# The exit codes, for scripts (docs/messenger.md); each command lists those it can return.
EXIT_USAGE_TEXT = "bad usage or input: nothing was sent or changed"
EXIT_SYSTEM_TEXT = "transport or system error"
EXIT_CODES = f"""exit codes:
  0  success (confirmed, found, sent)
  1  nothing confirmed or found in time
  2  {EXIT_USAGE_TEXT}
  3  {EXIT_SYSTEM_TEXT} (port privilege, mailslot taken, remote mailslots disabled)"""

TRY_FIRST = """try first, in two terminals on this machine:
  lanmsg listen                join the group: messages and who is online, until Ctrl-C
  lanmsg send HOST TEXT        send TEXT to HOST ('.' is this machine) and wait for its confirmation
then:
  lanmsg chat                  talk in a full-screen window
  lanmsg detect                list who is online"""


def _terminal_columns() -> int:
    """What shutil.get_terminal_size() gives, without importing shutil (see _Formatter)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]  # None: caught
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, minus the ``import shutil`` and terminal query it makes for every
    parser and argument it checks (about 2 ms of each run; help is printed in few of them)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        super().__init__(
            prog, indent_increment, max_help_position, width=(_terminal_columns() - 2) if width is None else width
        )


def usage_word(action: argparse.Action) -> str:
    """How ``action`` reads in a usage line: ``[--timeout SECONDS]``, ``HOST``, ``TEXT...``."""
    if action.option_strings:
        flag = action.option_strings[0]
        if action.nargs == 0:
            return f"[{flag}]"
        if action.metavar is not None:
            value = str(action.metavar)
        elif action.choices is not None:
            value = "{" + ",".join(str(c) for c in action.choices) + "}"
        else:
            value = action.dest.upper()
        return f"[{flag} {value}]"
    word = str(action.metavar or action.dest)
    if action.nargs == "+":
        return word + "..."
    if action.nargs in ("?", "*"):
        return f"[{word}]"
    return word


def usage_line(prog: str, own: list[argparse.Action], shared_heading: str | None, width: int) -> str:
    """``PROG [--own OPTIONS] [SHARED] POSITIONALS``, wrapped under PROG: the shared options are
    named by their heading, not listed (``--help`` lists them under it)."""
    words = [usage_word(a) for a in own if a.option_strings and a.help != argparse.SUPPRESS and a.dest != "help"]
    if shared_heading:
        words.append(f"[{shared_heading}]")
    words += [usage_word(a) for a in own if not a.option_strings]
    avail = width - len("usage: ")
    lines, line = [], prog
    for word in words:
        if len(line) + 1 + len(word) > avail and len(line) > len(prog):
            lines.append(line)
            line = " " * len(prog) + " " + word
        else:
            line += " " + word
    lines.append(line)
    return ("\n" + " " * len("usage: ")).join(lines)


class _Parser(argparse.ArgumentParser):
    """One line for a usage error, with where to look next; a usage line that names the shared
    options by their heading instead of listing them all."""

    shared: list[argparse.Action] | None = None  # set on a command's parser: the options it shares
    shared_heading: str | None = None

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"lanmsg: error: {message}; '{self.prog} --help' shows the usage\n")
        sys.exit(EXIT_USAGE)

    def _short_usage(self) -> None:
        if self.usage is None and self.shared is not None:
            own = [a for a in self._actions if a not in self.shared]
            self.usage = usage_line(self.prog, own, self.shared_heading, _terminal_columns() - 2)

    def format_usage(self) -> str:
        self._short_usage()
        return super().format_usage()

    def format_help(self) -> str:
        self._short_usage()
        return super().format_help()


# --------------------------------------------------------------------------
# Arguments: each command's own, then the groups of options commands share
# --------------------------------------------------------------------------


def _seconds_option(
    p: argparse.ArgumentParser | argparse._ArgumentGroup, flag: str, default: float | None, help: str
) -> None:
    """A duration option: every one takes a number of seconds, written SECONDS in the help."""
    p.add_argument(flag, type=float, default=default, metavar="SECONDS", help=help)


def _messenger_options(g: argparse._ArgumentGroup, group: str) -> None:
    """The options of the commands that talk to a group (the messenger's, or discovery's)."""
    from . import auth
    from . import protocol as P

    slot = P.DEFAULT_SLOT if group == "messenger" else P.MS_SLOT
    g.add_argument("--slot", default=slot, metavar="SLOT", help=f"the group's mailslot name (default {slot})")
    if group == "messenger":
        g.add_argument(
            "--encoding",
            default=P.DEFAULT_ENCODING,
            metavar="CODEC",
            help=f"text encoding of outgoing messages (default {P.DEFAULT_ENCODING}; cp1252 for old Windows peers)",
        )
    g.add_argument("--json", action="store_true", help="print one JSON object per event (UTF-8) instead of lines")
    g.add_argument(
        "--key-file",
        metavar="FILE",
        help="authenticate every frame with the group's shared key "
        "(made by 'lanmsg keygen'; default $LANMSG_KEY_FILE; docs/security.md)",
    )
    _seconds_option(
        g,
        "--auth-window",
        None,
        f"with a key: accept frames stamped at most this far from this machine's clock "
        f"(default $LANMSG_AUTH_WINDOW or {auth.DEFAULT_WINDOW_S:g})",
    )


def _listen_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log",
        metavar="FILE",
        help="append every message sent and received to FILE as JSON lines (fsynced before the confirmation goes out)",
    )
    _seconds_option(
        p,
        "--stats-interval",
        STATS_INTERVAL_S,
        f'with --json: a "stats" event (counts of shown and dropped frames) every SECONDS '
        f"(default {STATS_INTERVAL_S:g}; 0: none)",
    )


def _chat_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to", metavar="NAME", default="*", help="whom your lines go to at first (default *: everyone; /to changes it)"
    )
    p.add_argument("--plain", action="store_true", help="line mode instead of full screen")
    p.add_argument("--bell", action="store_true", help="ring the terminal bell on each incoming message")
    p.add_argument(
        "--log",
        metavar="FILE",
        help="append every message sent and received to FILE as JSON lines; its last 50 are shown on start",
    )


def _text_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "text",
        metavar="TEXT",
        nargs="+",
        help="the message (words are joined by spaces; not empty); '-' reads it from standard input",
    )


def _send_arguments(p: argparse.ArgumentParser) -> None:
    from . import protocol as P

    send_timeout_s = (P.RESENDS + 1) * P.RESEND_INTERVAL_S  # the last resend's interval
    p.add_argument(
        "host",
        metavar="HOST",
        help="the peer: its messenger name, a DNS name or an IPv4 address; '.' is this machine's lanmsg listen",
    )
    _text_argument(p)
    _seconds_option(
        p,
        "--timeout",
        None,
        f"wait at most this long for the confirmation (default {send_timeout_s:g}: "
        f"until {P.RESEND_INTERVAL_S:g} s after the last resend)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=P.RESENDS,
        metavar="N",
        help=f"resend an unconfirmed message N times, every {P.RESEND_INTERVAL_S * 1000:.0f} ms (default {P.RESENDS})",
    )
    p.add_argument("--no-wait", action="store_true", help="send once and exit 0 without waiting for the confirmation")


def _broadcast_arguments(p: argparse.ArgumentParser) -> None:
    _text_argument(p)
    _seconds_option(
        p,
        "--wait",
        0.0,
        "collect confirmations for SECONDS and print who confirmed (default 0: send and exit)",
    )


def _detect_arguments(p: argparse.ArgumentParser) -> None:
    _seconds_option(
        p,
        "--timeout",
        DETECT_TIMEOUT_S,
        f"collect answers for SECONDS (default {DETECT_TIMEOUT_S:g}; peers answer within 1.03)",
    )


def _announce_arguments(p: argparse.ArgumentParser) -> None:
    from . import protocol as P

    p.add_argument(
        "tcp_port",
        metavar="TCP_PORT",
        type=int,
        help="the TCP port clients connect to (1-65535); --port is the UDP port lanmsg itself uses",
    )
    p.add_argument(
        "--ip",
        metavar="ADDRESS",
        help="announce this IPv4 address (default: each interface's own address, on its broadcast)",
    )
    _seconds_option(
        p,
        "--interval",
        P.ANNOUNCE_INTERVAL_S,
        f"seconds between broadcasts (default {P.ANNOUNCE_INTERVAL_S:g}, as msserver)",
    )


def _discover_arguments(p: argparse.ArgumentParser) -> None:
    _seconds_option(
        p,
        "--timeout",
        DISCOVER_TIMEOUT_S,
        f"look for SECONDS at most (default {DISCOVER_TIMEOUT_S:g}); the first server found ends it",
    )
    p.add_argument("--all", action="store_true", help="print every distinct server found within the timeout")
    p.add_argument(
        "--check",
        action="store_true",
        help=f"only servers that accept a TCP connection on their port ({CHECK_CONNECT_TIMEOUT_S:g} s each)",
    )


def _keygen_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="where to write the key (mode 0600); '-' prints it instead")
    p.add_argument("--force", action="store_true", help="replace an existing FILE")


# name: (summary, the group of options it shares ("messenger", "discovery") or None, its own
# arguments, examples, its exit codes).  Neither mailslot nor the protocol is imported to list
# them: `lanmsg --help` costs argparse and little more.
COMMANDS: dict[str, tuple[str, str | None, Callable[[argparse.ArgumentParser], None], str, str]] = {
    "listen": (
        "join the group: show messages and presence, confirm and answer, until Ctrl-C",
        "messenger",
        _listen_arguments,
        """  lanmsg listen                          join the group "foxapp" until Ctrl-C
  lanmsg listen --json --log msgs.jsonl  one JSON object per event; every message kept on disk
  lanmsg listen --port 41138             a private group: every member uses the same UDP port""",
        "0 stopped (Ctrl-C, SIGTERM); 2; 3 (e.g. another listen or chat already runs here)",
    ),
    "chat": (
        "join the group and talk: full screen, line mode (--plain), or lines from standard input",
        "messenger",
        _chat_arguments,
        """  lanmsg chat                            full screen; /help lists the commands
  lanmsg chat --plain --to BOB           line mode, your lines to BOB
  echo "backup done" | lanmsg chat --to BOB   each line of standard input is sent""",
        "0 left (or, reading standard input, every line confirmed); 1 a line was not confirmed; 2; 3",
    ),
    "send": (
        "send a message to one peer and wait for its confirmation",
        "messenger",
        _send_arguments,
        """  lanmsg send BOB "lunch at 12?"         to BOB; exit 0 once BOB confirmed
  lanmsg send . "hello"                  to the lanmsg listen (or chat) of this machine
  df -h | lanmsg send --timeout 10 10.0.0.7 -   the text from standard input""",
        "0 confirmed (--no-wait: sent); 1 no confirmation in time, or no peer of that name answered; 2; 3",
    ),
    "broadcast": (
        "send a message to everyone in the workgroup",
        "messenger",
        _broadcast_arguments,
        """  lanmsg broadcast "fire drill at 3"     send and exit
  lanmsg broadcast --wait 2 "fire drill at 3"   and print who confirmed within 2 s""",
        "0 sent (--wait: at least one peer confirmed); 1 with --wait, nobody confirmed; 2; 3",
    ),
    "detect": (
        "list the peers that are online",
        "messenger",
        _detect_arguments,
        """  lanmsg detect                          one "NAME ADDRESS" line per peer
  lanmsg detect --timeout 3 --json       one JSON object per peer""",
        "0 at least one peer answered; 1 none answered in time; 2; 3",
    ),
    "announce": (
        "broadcast this server's IP and TCP port every interval (msserver) and answer discover at once",
        "discovery",
        _announce_arguments,
        """  lanmsg announce 5000                   on the server: clients find it at ADDRESS:5000
  lanmsg announce 5000 --ip 10.0.0.2 --interval 5""",
        "0 stopped (Ctrl-C, SIGTERM); 2; 3",
    ),
    "discover": (
        "find a server's IP:PORT (lanmsg announce or the original msserver)",
        "discovery",
        _discover_arguments,
        """  lanmsg discover                        prints 10.0.0.2:5000 (the first server found)
  server=$(lanmsg discover --check) && my-client --connect "$server"
  lanmsg discover --all --timeout 5 --json""",
        "0 found; 1 no server found in time (--check: none accepted a connection); 2; 3",
    ),
    "keygen": (
        "create a shared key for a group's --key-file",
        None,
        _keygen_arguments,
        """  lanmsg keygen group.key                then copy group.key to every member
  lanmsg keygen --force group.key        a new key: every member then needs it""",
        "0 written; 2 (e.g. FILE exists and no --force); 3 system error: FILE cannot be written",
    ),
}
KEYGEN_DESCRIPTION = (
    "Create a random 256-bit key for a group's --key-file, readable by its owner only.  "
    "Copy it to every member over a channel you trust."
)
GROUPS = {
    # the options a command shares: (heading, description)
    "messenger": ("messenger options", "the same on listen, chat, send, broadcast and detect"),
    "discovery": ("discovery options", "the same on announce and discover"),
}
TRANSPORT_HEADING = ("transport options", "the same on every command but keygen; docs/mailslot.md")


def exit_codes(codes: str) -> str:
    """A command's exit codes, one line each, from its short form ("0 found; 1 ...; 2; 3")."""
    lines = ["exit codes:"]
    for part in codes.split("; "):
        code, _, text = part.partition(" ")
        if not text or text.startswith("("):  # the generic meaning, and maybe an example
            text = ({"2": EXIT_USAGE_TEXT, "3": EXIT_SYSTEM_TEXT}[code] + " " + text).strip()
        lines.append(f"  {code}  {text}")
    return "\n".join(lines)


def epilog(name: str) -> str:
    _, _, _, examples, codes = COMMANDS[name]
    return f"examples:\n{examples}\n\n{exit_codes(codes)}"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``only`` a command's name, that command alone; with ``only``
    "" (no command given), every command without its arguments.

    Building every command's ~80 arguments takes several milliseconds of each run
    (argparse formats and translates as it goes); a run needs only its own command's.
    """
    parser = _Parser(
        prog="lanmsg",
        usage="lanmsg [--version] [--completion {bash,zsh}] COMMAND [ARGUMENTS]",
        description="Windows mailslots on every machine of a LAN: a serverless messenger (compatible with\n"
        "the FoxPro LAN Messenger) and zero-configuration server discovery (msserver/msclient).",
        epilog=f"{TRY_FIRST}\n\n'lanmsg COMMAND --help' shows a command's options, examples and exit codes.\n\n{EXIT_CODES}",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"lanmsg {__version__}")
    parser.add_argument(
        "--completion",
        choices=SHELLS,
        help="print the completion script for a shell and exit "
        '(in ~/.bashrc: eval "$(lanmsg --completion bash)"; zsh: the same in ~/.zshrc)',
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands", prog="lanmsg", parser_class=_Parser
    )
    for name, (summary, slot, add_arguments, _, _) in COMMANDS.items():
        if only and only != name:
            continue  # a run of one command builds that command alone: each subparser costs argparse's set-up
        p = sub.add_parser(
            name,
            help=summary,
            description=KEYGEN_DESCRIPTION if slot is None else summary[:1].upper() + summary[1:] + ".",
            epilog=epilog(name),
            formatter_class=_Formatter,
        )
        if only is not None and only != name:
            continue  # the top-level help lists the commands; their arguments are not needed
        add_arguments(p)
        shared: list[argparse.Action] = []
        if slot is not None:
            g = p.add_argument_group(*GROUPS[slot])
            _messenger_options(g, slot)
            t = p.add_argument_group(*TRANSPORT_HEADING)
            import mailslot  # here: the top-level help lists the commands without it

            mailslot.add_transport_arguments(t)
            shared = g._group_actions + t._group_actions
        assert isinstance(p, _Parser)  # parser_class
        p.shared, p.shared_heading = shared, "OPTIONS" if shared else None
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command named in ``argv`` (its first word that is not an option), if it is one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def overview() -> str:
    """What ``lanmsg`` alone prints: what it is, what to try first, where to read on."""
    return (
        f"lanmsg {__version__}: a serverless messenger and server discovery for a LAN (Windows mailslots).\n\n"
        f"{TRY_FIRST}\n\n"
        f"commands: {', '.join(COMMANDS)}\n"
        "'lanmsg --help' and 'lanmsg COMMAND --help' say more; so does docs/messenger.md.\n"
    )


# --------------------------------------------------------------------------
# Running a command
# --------------------------------------------------------------------------


def _text(parts: list[str]) -> str:
    if parts == ["-"]:
        text = sys.stdin.read()
        text = text[:-1] if text.endswith("\n") else text
    else:
        text = " ".join(parts)
    if not text.strip():
        raise ValueError(
            "the message is empty: nothing was sent (give the text as the last argument, "
            "or '-' to read it from standard input)"
        )
    return text


def _settings(args: argparse.Namespace, key: bytes | None, window: float) -> Settings:
    import mailslot

    return Settings(
        slot=args.slot,
        transport=args.transport,
        config=mailslot.config_from_args(args),
        encoding=args.encoding,
        key=key,
        auth_window=window,
    )


def _key(args: argparse.Namespace) -> tuple[bytes | None, float]:
    """The group key (--key-file, else $LANMSG_KEY_FILE, else none) and the window in seconds."""
    from . import auth

    return auth.group_key(args.key_file, args.auth_window, os.environ)


def keygen(path: str, force: bool) -> int:
    from . import auth

    key = auth.generate_key()
    if path == "-":
        sys.stdout.write(auth.format_key(key))
        return EXIT_OK
    try:
        auth.write_key_file(path, key, force=force)
    except FileExistsError:
        raise ValueError(
            f"{path} already exists: not replaced (--force replaces it; every member of "
            "the group then needs the new key)"
        ) from None
    except OSError as e:
        raise LanmsgError(f"cannot write key file {path}: {e.strerror or e}", EXIT_SYSTEM) from None
    sys.stdout.write(f"wrote a new key to {path} (fingerprint {auth.fingerprint(key)})\n")
    return EXIT_OK


class _Outcome:
    """What a one-shot operation reports, shown as it comes; its failure, if any, becomes the one
    ``lanmsg: error:`` line printed at the end (with a hint, when frames of another key were heard)."""

    def __init__(self, printer: Printer, command: str):

        self.printer, self.command = printer, command
        self.failure: str | None = None
        self.hint: str | None = None

    def report(self, rec: Record) -> None:
        from .output import safe_text

        kind = rec.get("event")
        fields = {k: v for k, v in rec.items() if k not in ("event", "time")}
        if kind == "done":
            return
        if kind == "hint":
            self.hint = str(rec.get("message", ""))
            return
        if kind == "error":
            self.failure = self.failure or str(rec.get("message", "error"))
            if self.printer.json_mode:
                self.printer.event("error", None, **fields)
            return
        where = f" ({rec['address']})" if rec.get("address") else ""
        human = None
        if kind == "confirmed":
            human = (
                f"{safe_text(rec['by'])} {rec.get('address') or '-'}"
                if self.command == "broadcast"
                else f"confirmed by {safe_text(rec['by'])}{where}"
            )
        elif kind == "peer":
            human = f"{safe_text(rec['name'])} {rec.get('address') or '-'}"
        elif kind == "failed":
            self.failure = self.failure or (
                f"no confirmation from {safe_text(str(rec['to']))} after {rec['attempts']} attempt"
                + ("s" if rec["attempts"] != 1 else "")
                + "; "
                "check that it runs lanmsg listen or chat with the same --port and --slot "
                "('lanmsg detect' lists who answers), or give it longer (--retries N, --timeout SECONDS)"
            )
        printer_kind: str = kind  # type: ignore[assignment]  # every record has its "event"
        self.printer.event(printer_kind, human, **fields)

    def finish(self, code: int, settings: Settings, req: Record) -> int:
        """Print the one failure line (when ``code`` is not 0) and return ``code``."""
        from .output import error

        if code == EXIT_OK:
            return code
        if self.failure is None:  # broadcast or detect heard nobody: no event said so yet
            _fail(self.printer, _nothing_in_time(settings, req), code, self.hint)
        else:
            error(f"{self.failure}; also: {self.hint}" if self.hint else self.failure)
        return code


def _fail(printer: Printer, message: str, code: int, hint: str | None = None) -> None:
    """The failure line on stderr, and with --json an "error" event on stdout."""
    from .output import error

    message = f"{message}; also: {hint}" if hint else message
    error(message)
    if printer.json_mode:
        printer.event("error", None, message=message, exit=code)


def _where(settings: Settings) -> str:
    return f"mailslot {settings.slot}, {settings.describe()}"


def _nothing_in_time(settings: Settings, req: Record) -> str:
    """The failure line of a broadcast or detect that heard nobody in time."""
    same = "peers run lanmsg listen or chat with the same --port and --slot"
    if req["op"] == "broadcast":
        return (
            f"nobody confirmed within {req['wait']:g} s ({_where(settings)}); "
            f"'lanmsg detect' lists who is online: {same}"
        )
    return (
        f"no peer answered within {req['timeout']:g} s ({_where(settings)}; a lanmsg listen on this "
        f"machine does not count itself); {same}, or try a longer --timeout"
    )


def _name_reporter(printer: Printer) -> Callable[[str, str], None]:
    """How the name service's news reach the user: a note on stderr (and an event with --json).
    A conflict reaches a long-running command as its exit (3), a one-shot one as a note."""
    from .output import note

    def report(kind: str, message: str) -> None:
        if kind == "conflict":
            return
        note(message)
        if printer.json_mode:
            printer.event("name", None, kind=kind, message=message)

    return report


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command_in(argv) or "")
    args = parser.parse_args(argv)
    if args.completion:
        from .completion import script

        sys.stdout.write(script(args.completion, build_parser()))
        return EXIT_OK
    if args.command is None:
        sys.stderr.write(overview())
        return EXIT_USAGE
    # a command runs: now the modules it needs (help, usage errors and the overview needed none)
    import mailslot

    from . import protocol as P
    from .output import Printer, error, note

    try:
        if args.command == "keygen":
            return keygen(args.file, args.force)
        printer = Printer(args.json)
        mailslot.name_service_reporter = _name_reporter(printer)
        key, window = _key(args)
        if args.command in ("announce", "discover"):
            from . import discovery

            common: dict[str, Any] = {
                "slot": args.slot,
                "transport": args.transport,
                "config": mailslot.config_from_args(args),
                "printer": printer,
                "key": key,
                "auth_window": window,
            }
            if args.command == "announce":
                if not math.isfinite(args.interval) or args.interval <= 0:
                    raise ValueError("--interval must be a positive number of seconds")
                return discovery.announce(args.tcp_port, ip=args.ip, interval=args.interval, **common)
            failure: list[str] = []
            code = discovery.discover(
                timeout=max(0.0, args.timeout),
                find_all=args.all,
                check=args.check,
                on_nothing=failure.append,
                **common,
            )
            if code != EXIT_OK:
                _fail(printer, failure[0] if failure else "no server found", code)
            return code
        import codecs

        codecs.lookup(args.encoding)
        settings = _settings(args, key, window)
        if args.command == "listen":
            if not math.isfinite(args.stats_interval) or args.stats_interval < 0:
                raise ValueError("--stats-interval must be 0 or a positive number of seconds")
            from .listener import run_listen

            return run_listen(settings, printer, log_path=args.log, stats_interval=args.stats_interval)
        if args.command == "chat":
            from .chat import run_chat

            code = run_chat(settings, printer, log_path=args.log, target=args.to, plain=args.plain, bell=args.bell)
            if code == EXIT_NONE:
                error("not every line was confirmed: the 'not delivered' and 'not sent' lines say which")
            return code
        if args.command == "send":
            if args.retries < 0 or (args.timeout is not None and args.timeout < 0):
                raise ValueError("--retries and --timeout must not be negative")
            req = {
                "op": "send",
                "host": args.host,
                "text": _text(args.text),
                "timeout": args.timeout,
                "resends": args.retries,
                "wait": not args.no_wait,
            }
        elif args.command == "broadcast":
            req = {"op": "broadcast", "text": _text(args.text), "wait": max(0.0, args.wait)}
        elif args.command == "detect":
            req = {"op": "detect", "timeout": max(0.0, args.timeout)}
        else:  # pragma: no cover - argparse guards it
            parser.error(f"unknown command {args.command}")
        from .messenger import run_operation

        outcome = _Outcome(printer, args.command)
        return outcome.finish(run_operation(settings, req, printer, outcome.report), settings, req)
    except LanmsgError as e:
        error(e)
        return e.exit_code
    except KeyboardInterrupt:
        note("interrupted")
        return EXIT_NONE
    except (ValueError, LookupError, P.FrameError) as e:
        error(e)
        return EXIT_USAGE
    except OSError as e:
        error(e.strerror or e)
        return EXIT_SYSTEM


if __name__ == "__main__":
    sys.exit(main())
