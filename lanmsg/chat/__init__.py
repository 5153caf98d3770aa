"""``lanmsg chat``: listen plus a person.

This module chooses the front end; each is imported only when chosen:

* full screen with curses (lanmsg.chat.screen), when standard input and output are a
  terminal curses knows;
* the line mode (lanmsg.chat.line): lanmsg's own line editor, for other terminals or ``--plain``;
* the stdin mode (lanmsg.chat.stdin), when standard input is not a terminal (scripts).

All three drive a ChatSession (lanmsg.chat.session): the listener engine, the pure model
(lanmsg.chat.model) and the commands (lanmsg.chat.commands).  The keyboard is read by
lanmsg.chat.terminal and decoded by lanmsg.chat.keys; lanmsg.chat.lineedit is the input line,
lanmsg.chat.input turns keys into edits and commands, lanmsg.chat.textwidth measures text in
terminal cells.
"""

from __future__ import annotations

import os
import sys

from ..output import Printer
from ..settings import EXIT_USAGE, LanmsgError, Settings


def run_chat(
    settings: Settings,
    printer: Printer,
    *,
    log_path: str | None = None,
    target: str = "*",
    plain: bool = False,
    bell: bool = False,
) -> int:
    """``lanmsg chat``: stdin mode when standard input is not a terminal, else full screen
    (curses, when it imports and the terminal can do it) or the line mode."""
    if not sys.stdin.isatty():
        from .stdin import run_stdin

        return run_stdin(settings, printer, log_path=log_path, target=target)
    if printer.json_mode:
        raise LanmsgError("--json is for the stdin mode (standard input not a terminal)", EXIT_USAGE)
    use_curses = not plain and sys.stdout.isatty() and os.environ.get("TERM", "") not in ("", "dumb")
    if use_curses:
        try:
            import curses
        except ImportError:
            use_curses = False
        else:
            try:
                curses.setupterm()  # a terminal curses knows, or the line mode
            except (curses.error, OSError):
                use_curses = False
    if use_curses:
        from .screen import run_screen

        return run_screen(settings, log_path=log_path, target=target, bell=bell)
    from .line import run_line

    return run_line(settings, log_path=log_path, target=target, bell=bell)
