"""lanmsg command line: listen | send | broadcast | detect | announce | discover | keygen."""

from __future__ import annotations

import argparse
import math
import os
import sys

import mailslot

from . import __version__, auth
from . import protocol as P
from .output import Printer, error, note, safe_text
from .settings import (
    DETECT_TIMEOUT_S,
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

    from .settings import Emit, Record

DISCOVER_TIMEOUT_S = 3.0

EXIT_CODES = """exit codes:
  0  success (confirmed, found, sent)
  1  nothing confirmed or found in time
  2  bad usage or input (nothing was sent)
  3  transport or system error"""


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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"lanmsg: error: {message}\n")
        sys.exit(EXIT_USAGE)


def _common(p: argparse.ArgumentParser, slot: str) -> None:
    p.add_argument("--slot", default=slot, help=f"mailslot name (default {slot})")
    mailslot.add_transport_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per event")
    p.add_argument(
        "--key-file",
        metavar="FILE",
        help="authenticate every frame with the group's shared key "
        "(made by `lanmsg keygen`; default $LANMSG_KEY_FILE; see docs/security.md)",
    )
    p.add_argument(
        "--auth-window",
        type=float,
        metavar="SECONDS",
        help=f"with a key: accept frames stamped at most this far from this machine's clock "
        f"(default $LANMSG_AUTH_WINDOW or {auth.DEFAULT_WINDOW_S:g})",
    )
    if slot == P.DEFAULT_SLOT:
        p.add_argument(
            "--encoding",
            default=P.DEFAULT_ENCODING,
            help="text encoding of outgoing messages (default utf-8; cp1252 for old peers)",
        )


def _listen_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log",
        metavar="FILE",
        help="append every message sent and received as JSON lines (fsynced before the confirmation goes out)",
    )
    p.add_argument(
        "--stats-interval",
        type=float,
        default=STATS_INTERVAL_S,
        metavar="S",
        help=f'with --json: a "stats" event (counts of shown and dropped frames) every S seconds '
        f"(default {STATS_INTERVAL_S:g}; 0: none)",
    )


def _chat_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log",
        metavar="FILE",
        help="append every message sent and received as JSON lines; its last 50 are shown on start",
    )
    p.add_argument("--to", metavar="NAME", default="*", help="whom lines go to at first (default *: everyone)")
    p.add_argument("--plain", action="store_true", help="line mode instead of full screen")
    p.add_argument("--bell", action="store_true", help="ring the terminal bell on incoming messages")


def _send_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", metavar="HOST", help="peer's messenger name, DNS name or IPv4 address; '.' = this machine")
    p.add_argument("text", metavar="TEXT", nargs="+", help="the message; '-' reads it from standard input")
    p.add_argument(
        "--timeout",
        type=float,
        help="seconds to wait for the confirmation (default: until the last resend has had its interval)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=P.RESENDS,
        help=f"resends of the same message every {P.RESEND_INTERVAL_S * 1000:.0f} ms (default {P.RESENDS})",
    )
    p.add_argument("--no-wait", action="store_true", help="send once and exit without waiting")


def _broadcast_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", metavar="TEXT", nargs="+", help="the message; '-' reads it from standard input")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="collect confirmations for S seconds and list who confirmed",
    )


def _detect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=float,
        default=DETECT_TIMEOUT_S,
        help=f"seconds to collect answers (default {DETECT_TIMEOUT_S})",
    )


def _announce_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("tcp_port", metavar="PORT", type=int, help="the TCP port clients should connect to")
    p.add_argument("--ip", help="announce this address (default: the address of each interface broadcast on)")
    p.add_argument(
        "--interval",
        type=float,
        default=P.ANNOUNCE_INTERVAL_S,
        help=f"seconds between broadcasts (default {P.ANNOUNCE_INTERVAL_S:g}, as msserver)",
    )


def _discover_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout", type=float, default=DISCOVER_TIMEOUT_S, help=f"seconds to look (default {DISCOVER_TIMEOUT_S:g})"
    )
    p.add_argument("--all", action="store_true", help="every distinct server found within the timeout")
    p.add_argument("--check", action="store_true", help="only servers that accept a TCP connection")


def _keygen_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="where to write the key; '-' prints it")
    p.add_argument("--force", action="store_true", help="replace an existing file")


# name: (help, mailslot the command uses or None, its own arguments)
COMMANDS = {
    "listen": (
        "join the group: show messages and presence, confirm and answer until Ctrl-C",
        P.DEFAULT_SLOT,
        _listen_arguments,
    ),
    "chat": (
        "join the group and talk: full screen, line mode (--plain), or lines from standard input",
        P.DEFAULT_SLOT,
        _chat_arguments,
    ),
    "send": ("send a message to one peer and wait for its confirmation", P.DEFAULT_SLOT, _send_arguments),
    "broadcast": ("send a message to everyone in the workgroup", P.DEFAULT_SLOT, _broadcast_arguments),
    "detect": ("list the peers that are online", P.DEFAULT_SLOT, _detect_arguments),
    "announce": (
        "broadcast this server's IP and TCP port every interval (msserver) and answer discover queries at once",
        P.MS_SLOT,
        _announce_arguments,
    ),
    "discover": ("find a server's IP:PORT (lanmsg announce or the original msserver)", P.MS_SLOT, _discover_arguments),
    "keygen": ("create a shared key for --key-file", None, _keygen_arguments),
}
KEYGEN_DESCRIPTION = (
    "Create a random 256-bit key for a group's --key-file, readable by its owner only.  "
    "Copy it to every member over a channel you trust."
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``only``, the other commands get no arguments.

    Building every command's ~80 arguments takes several milliseconds of each run
    (argparse formats and translates as it goes); a run needs only its own command's.
    """
    parser = _Parser(
        prog="lanmsg",
        description="Windows mailslots on every machine of a LAN: a serverless "
        "messenger (compatible with the FoxPro LAN Messenger) and zero-configuration server "
        "discovery (compatible with msserver/msclient).",
        epilog=EXIT_CODES,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"lanmsg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, slot, add_arguments) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=KEYGEN_DESCRIPTION if slot is None else help_text,
            epilog=EXIT_CODES,
            formatter_class=_Formatter,
        )
        if only is not None and only != name:
            continue
        if slot is not None:
            _common(p, slot)
        add_arguments(p)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command named in ``argv`` (its first word that is not an option), if it is one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def _text(parts: list[str]) -> str:
    if parts == ["-"]:
        text = sys.stdin.read()
        return text[:-1] if text.endswith("\n") else text
    return " ".join(parts)


def _settings(args: argparse.Namespace, key: bytes | None, window: float) -> Settings:
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
    return auth.group_key(args.key_file, args.auth_window, os.environ)


def keygen(path: str, force: bool) -> int:
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


def _reporter(printer: Printer, command: str) -> Emit:
    def report(rec: Record) -> None:
        kind = rec.get("event")
        fields = {k: v for k, v in rec.items() if k not in ("event", "time")}
        if kind == "done":
            return
        if kind == "error":
            error(rec.get("message", "error"))
            if printer.json_mode:
                printer.event("error", None, **fields)
            return
        where = f" ({rec['address']})" if rec.get("address") else ""
        human = None
        if kind == "confirmed":
            human = (
                f"{safe_text(rec['by'])} {rec.get('address') or '-'}"
                if command == "broadcast"
                else f"confirmed by {safe_text(rec['by'])}{where}"
            )
        elif kind == "peer":
            human = f"{safe_text(rec['name'])} {rec.get('address') or '-'}"
        elif kind == "failed":
            sys.stderr.write(f"lanmsg: no confirmation from {safe_text(rec['to'])} after {rec['attempts']} attempts\n")
        printer.event(kind, human, **fields)  # type: ignore[arg-type]  # every record has its "event"

    return report


def _name_reporter(printer: Printer) -> Callable[[str, str], None]:
    """How the name service's news reach the user: a note on stderr (and an event with --json).
    A conflict reaches a long-running command as its exit (3), a one-shot one as a note."""

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
                if args.interval <= 0:
                    raise ValueError("--interval must be positive")
                return discovery.announce(args.tcp_port, ip=args.ip, interval=args.interval, **common)
            return discovery.discover(timeout=max(0.0, args.timeout), find_all=args.all, check=args.check, **common)
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

            return run_chat(settings, printer, log_path=args.log, target=args.to, plain=args.plain, bell=args.bell)
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

        return run_operation(settings, req, printer, _reporter(printer, args.command))
    except LanmsgError as e:
        error(e)
        return e.exit_code
    except KeyboardInterrupt:
        return EXIT_NONE
    except (ValueError, LookupError, P.FrameError) as e:
        error(e)
        return EXIT_USAGE
    except OSError as e:
        error(e.strerror or e)
        return EXIT_SYSTEM


if __name__ == "__main__":
    sys.exit(main())
