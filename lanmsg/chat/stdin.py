"""``lanmsg chat`` when standard input is not a terminal: lines in, listen's lines (or JSON) out.

Every line goes to the current target (``/to NAME`` first resolves NAME as ``lanmsg send``
does); events print as ``listen`` prints them.  At the end of input the command waits for
the confirmations still due: exit 0 when every message was confirmed, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import threading
from queue import Empty as QueueEmpty
from queue import Queue
from typing import Any

from ..listener import (
    Confirmed,
    Event,
    Message,
    NotDelivered,
    Offline,
    Online,
    show_listening,
)
from ..output import Printer, clock, note
from ..settings import EXIT_NONE, EXIT_OK, EXIT_USAGE, LISTEN_POLL_S, LanmsgError, Settings
from ..signals import StopSignals
from . import commands
from .graphemes import prev_boundary, safe_display
from .model import CONFIRMED, FAILED, Outgoing
from .session import ChatSession, joined


class StdinLines:
    """Lines of a non-terminal standard input, without blocking the loop: select() on POSIX,
    a reader thread elsewhere (Windows select() takes sockets only)."""

    def __init__(self, stream: Any) -> None:
        self.eof = False
        self._partial = b""
        self._fd: int | None = None
        self._queue: Queue[str | None] = Queue()
        if sys.platform != "win32":
            try:
                self._fd = stream.fileno()
            except (AttributeError, OSError, ValueError):
                self._fd = None
        if self._fd is None:
            threading.Thread(target=self._reader, args=(stream,), daemon=True).start()

    def _reader(self, stream: Any) -> None:
        try:
            for line in stream:
                self._queue.put(line)
        except (OSError, ValueError):
            pass
        self._queue.put(None)

    def fds(self) -> list[int] | None:
        return [self._fd] if self._fd is not None and not self.eof else None

    def read(self) -> list[str]:
        """The complete lines available now (sets ``eof`` at the end of input)."""
        if self.eof:
            return []
        lines: list[str] = []
        if self._fd is not None:
            import select

            while not self.eof and select.select([self._fd], [], [], 0)[0]:
                data = os.read(self._fd, 65536)
                if not data:
                    self.eof = True
                    if self._partial:
                        lines.append(self._partial.decode("utf-8", "replace"))
                    break
                self._partial += data
                *whole, self._partial = self._partial.split(b"\n")
                lines += [w.decode("utf-8", "replace") for w in whole]
            return [line.rstrip("\r") for line in lines]
        while True:
            try:
                item = self._queue.get_nowait()
            except QueueEmpty:
                return lines
            if item is None:
                self.eof = True
                return lines
            lines.append(item.rstrip("\r\n"))


def run_stdin(
    settings: Settings, printer: Printer, *, log_path: str | None, target: str, stop: StopSignals | None = None
) -> int:
    """stdin mode: every line goes to the current target, ``/to NAME`` resolves as send does;
    events print as listen prints them (but with emoji sequences whole).  At the end of input, wait for the pending
    confirmations: exit 0 when all were confirmed, 1 when any was not delivered."""
    sent_ids: set[int] = set()
    outs: list[Outgoing] = []
    refused = 0
    bad_input: list[str] = []  # a line whose target is no computer's name or address (exit 2)

    def show(ev: Event) -> None:
        # listen's lines (lanmsg.listener.show_message, show_presence), with emoji sequences whole
        if isinstance(ev, Message):
            text = f"{clock()} {safe_display(ev.sender)}: {safe_display(ev.text)}"
            printer.event(
                "message", text, **{"from": ev.sender, "address": ev.address, "id": ev.msg_id, "text": ev.text}
            )
        elif isinstance(ev, (Online, Offline)) and not (isinstance(ev, Online) and ev.again):
            state = "online" if isinstance(ev, Online) else "offline"
            where = f" ({ev.address})" if ev.address else ""
            text = f"{clock()} * {safe_display(ev.name)} is {state}{where}"
            printer.event(state, text, name=ev.name, address=ev.address)
        elif isinstance(ev, Confirmed) and ev.msg_id in sent_ids:
            where = f" ({ev.address})" if ev.address else ""
            text = f"{clock()} confirmed by {safe_display(ev.by)}{where}"
            printer.event("confirmed", text, id=ev.msg_id, by=ev.by, address=ev.address)
        elif isinstance(ev, NotDelivered) and ev.msg_id in sent_ids:
            text = f"{clock()} not delivered to {safe_display(ev.to)} after {ev.attempts} attempts"
            printer.event("failed", text, id=ev.msg_id, to=ev.to, attempts=ev.attempts)

    def on_sent(out: Outgoing) -> None:
        if not any(o is out for o in outs):
            outs.append(out)
        if out.state != FAILED and out.msg_id is not None:
            sent_ids.add(out.msg_id)
            text = f"{clock()} sent to {safe_display(out.to)}: {safe_display(out.text)}"
            printer.event("sent", text, id=out.msg_id, to=out.to)
        else:
            text = f"{clock()} not sent to {safe_display(out.to)}: {safe_display(out.reason)}"
            printer.event("failed", text, to=out.to, text=out.text, message=out.reason)

    def on_refused(to: str, text: str, why: str) -> None:
        nonlocal refused
        if why != "too long":  # no computer's name or address: bad input, exit 2
            bad_input.append(why)
            return
        refused += 1
        limit = commands.bytes_left("", settings.encoding, settings.max_frame)
        size = limit - commands.bytes_left(text, settings.encoding, settings.max_frame)
        human = f"{clock()} not sent (too long: {size} bytes, at most {limit}): {safe_display(text[: prev_boundary(text, 41)])}"
        printer.event("refused", human, to=to, bytes=size, limit=limit)

    def farewell(session: ChatSession) -> None:
        dropped = session.model.dropped_words()
        text = f"{clock()} left the group (OFFLINE sent)" + (f"; {dropped}" if dropped else "")
        printer.event("stopped", text, queued_dropped=len(session.model.queue))

    with joined(settings, log_path=log_path, target=target, stop=stop, farewell=farewell) as (session, signals):
        session.on_event, session.on_sent, session.on_refused = show, on_sent, on_refused
        lines = StdinLines(sys.stdin)
        show_listening(printer, settings, "chat", "reading lines from standard input")
        while not signals.stopping.is_set() and not lines.eof and not session.quit and not bad_input:
            session.pump(LISTEN_POLL_S, lines.fds())
            for line in lines.read():
                _take(session, printer, line, bad_input)
                if session.quit or bad_input:
                    break
        # the end of input: wait for the confirmations still due
        while not signals.stopping.is_set() and session.model.pending():
            session.pump(LISTEN_POLL_S)
    if bad_input:  # nothing after the bad line was read, nor sent
        raise LanmsgError(bad_input[0], EXIT_USAGE)
    bad = refused + sum(1 for o in outs if o.state != CONFIRMED)
    return EXIT_OK if bad == 0 else EXIT_NONE


def _take(session: ChatSession, printer: Printer, line: str, bad_input: list[str]) -> None:
    """One line of input: ``/to NAME`` (NAME looked up first, as send does), ``/quit`` (no
    question: a script means it), else what the chat does."""
    cmd = commands.parse(line)
    if cmd.verb == "to":
        name, slot = cmd.name, session.settings.slot
        why = session.check_target(name)
        if why is not None:
            bad_input.append(f"/to {name}: {why}")
            return
        if session.resolve(name) is None:
            printer.event("error", None, message=f"no peer named {name!r} answered on mailslot {slot!r}")
            note(f"no peer named {safe_display(name)!r} answered on mailslot {slot!r}: lines to it are not delivered")
        session.model.target = session.known_spelling(name)
        return
    if cmd.verb == "quit":
        session.quit = True
        return
    before = len(session.model.lines)
    session.submit(line)
    for entry in session.model.lines[before:]:
        if entry.kind == "info" or (entry.kind == "error" and not bad_input):
            printer.event(entry.kind, f"{clock()} -- {safe_display(entry.text)}", message=entry.text)
