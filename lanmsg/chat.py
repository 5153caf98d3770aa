"""``lanmsg chat``: listen plus a person.

A ChatSession joins the lanmsg.listener engine (the one ``listen`` runs on) to
the pure chat model (lanmsg.chatmodel) and the command parser (lanmsg.chatcmd).
Three front ends drive it: full screen with curses (lanmsg.chatscreen), a line
mode with lanmsg's own line editor (lanmsg.chatline), and, when standard input
is not a terminal, the stdin mode here (lines in, listen's lines or JSON out).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from queue import Empty as QueueEmpty
from queue import Queue
from typing import Any

import mailslot

from . import chatcmd as C
from .chatmodel import CONFIRMED, FAILED, ChatModel, Outgoing
from .listener import (
    Confirmed,
    Event,
    Listener,
    Message,
    NotDelivered,
    Offline,
    Online,
    Relayed,
    show_listening,
    show_message,
    show_presence,
)
from .node import is_ipv4
from .output import Printer, read_log, safe_text
from .settings import EXIT_NONE, EXIT_OK, EXIT_USAGE, LISTEN_POLL_S, RESOLVE_TIMEOUT_S, LanmsgError, Settings, now
from .signals import StopRequested, StopSignals

REFRESH_WINDOW_S = 2.5  # /refresh waits this long for ONLINE answers (peers answer within 1.028 s)


class ChatSession:
    """One chat: the listener (joined on creation), the model, and what commands do.

    ``on_event(event)`` sees each listener event after the model took it (stdin mode
    prints them as listen does).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        log_path: str | None = None,
        target: str = "*",
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.settings = settings
        self.model = ChatModel(settings.name, settings.slot, target=target, key_id=settings.key_id)
        if log_path and os.path.exists(log_path):
            try:
                self.model.history(read_log(log_path), os.path.basename(log_path))
            except OSError as e:
                self.model.error(f"cannot read the log {log_path}: {e.strerror or e}")
        self.on_event = on_event
        self.on_sent: Callable[[Outgoing], None] | None = None
        self.on_refused: Callable[[str, str], None] | None = None
        self.listener = Listener(settings, log_path=log_path)
        self.quit = False
        self._refresh: tuple[float, set[str]] | None = None  # /refresh: until when, who answered

    # -- the loop ---------------------------------------------------------------

    def pump(self, timeout: float = LISTEN_POLL_S, wake_fds: list[int] | None = None) -> None:
        """Wait at most ``timeout`` s for the network (or ``wake_fds``); apply what came."""
        for ev in self.listener.poll(timeout, wake_fds):
            self.apply(ev)
        if self._refresh is not None and now() >= self._refresh[0]:
            answered = self._refresh[1]
            self._refresh = None
            silent = [name for name, _ in self.model.sorted_online() if name.upper() not in answered]
            for name in silent:
                self.model.peer_silent(name, time.time())
            self.model.info(f"refresh: {len(answered)} answered" + (f", {len(silent)} did not" if silent else ""))

    def apply(self, ev: Event) -> None:
        m = self.model
        if isinstance(ev, Message):
            m.received(ev.sender, ev.address, ev.text, ev.time)
        elif isinstance(ev, Online):
            if self._refresh is not None:
                self._refresh[1].add(ev.name.upper())
            for out in m.peer_online(ev.name, ev.address, ev.again, ev.time):
                self._send_again(out)
        elif isinstance(ev, Offline):
            m.peer_offline(ev.name, ev.address, ev.time)
        elif isinstance(ev, Confirmed):
            m.confirmed(ev.msg_id, ev.by, ev.address, ev.time)
        elif isinstance(ev, NotDelivered):
            m.not_delivered(ev.msg_id, ev.time)
        elif isinstance(ev, Relayed):
            m.relayed(ev.to, ev.text, ev.msg_id, ev.time)
        if self.on_event is not None:
            self.on_event(ev)

    def close(self) -> None:
        """Leave the group (OFFLINE) and free the slot."""
        self.listener.close()

    # -- input ------------------------------------------------------------------

    def submit(self, line: str) -> None:
        """A line the user entered."""
        cmd = C.parse(line)
        m = self.model
        if isinstance(cmd, C.Say):
            self.send(m.target, cmd.text)
        elif isinstance(cmd, C.SetTarget):
            self.set_target(cmd.name)
        elif isinstance(cmd, C.MsgOnce):
            self.send(self.known_spelling(cmd.name), cmd.text)
        elif isinstance(cmd, C.Reply):
            if m.last_sender is None:
                m.error("nobody has sent you a message yet")
                return
            self.set_target(m.last_sender)
            if cmd.text:
                self.send(m.target, cmd.text)
        elif isinstance(cmd, C.Who):
            self.who()
        elif isinstance(cmd, C.Refresh):
            self.refresh()
        elif isinstance(cmd, C.Help):
            for text in C.help_lines():
                m.info(text)
        elif isinstance(cmd, C.Quit):
            self.quit = True
        elif isinstance(cmd, C.CommandError):
            m.error(cmd.message)

    def refresh(self) -> None:
        """The seed's Refresh: DETECT to everyone; peers that do not answer within
        REFRESH_WINDOW_S leave the list (a peer that crashed never sent OFFLINE)."""
        self.listener.detect()
        self._refresh = (now() + REFRESH_WINDOW_S, set())
        self.model.info("asked who is online (DETECT); answers come within about a second")

    def known_spelling(self, name: str) -> str:
        """``name`` as the peer spells it, when it is known online."""
        known = self.model.online.get(name.upper())
        return known[0] if known else name

    def set_target(self, name: str) -> None:
        m = self.model
        name = self.known_spelling(name.strip())
        m.target = name
        if name == "*":
            m.info("messages now go to everyone (*)")
        elif name.upper() in m.online or name == "." or is_ipv4(name):
            m.info(f"messages now go to {name}")
        else:
            m.info(f"messages now go to {name} (not seen online: it is looked up when you send)")

    def resolve(self, name: str, timeout: float = RESOLVE_TIMEOUT_S) -> bool:
        """Whether ``name`` can be reached: "*", ".", an address, a peer known online, or one
        found as ``lanmsg send NAME`` finds it: an answer to a DETECT within ``timeout`` seconds,
        or the NetBIOS name service."""
        if name in ("*", ".") or is_ipv4(name) or name.upper() in self.model.online:
            return True
        if self.settings.transport == "native" or "." in name or mailslot.learned_address(name):
            return True
        config = self.settings.config
        lookup = mailslot.NameLookup(name, config, dns=False) if getattr(config, "ns_port", None) else None
        self.listener.detect()
        end = now() + timeout
        try:
            while True:
                if name.upper() in self.model.online or (lookup is not None and lookup.done and lookup.addresses):
                    return True
                if now() >= end and (lookup is None or lookup.done):
                    return False
                self.pump(0.1)
        finally:
            if lookup is not None:
                lookup.cancel()

    def who(self) -> None:
        m = self.model
        peers = m.sorted_online()
        if not peers:
            m.info("nobody is known online (/refresh asks everyone)")
            return
        m.info(f"{len(peers)} online:")
        for name, address in peers:
            m.info(f"  {name}  {address or '-'}")

    def bytes_left(self, line: str) -> int | None:
        """Bytes left in the frame for what ``line`` would send (None: it sends nothing)."""
        text = C.payload(line)
        if text is None:
            return None
        return C.bytes_left(text, self.settings.encoding, self.settings.max_frame)

    def send(self, to: str, text: str) -> Outgoing | None:
        """Send ``text`` to ``to``; its line shows the state.  A text that does not fit a frame
        is refused before anything is sent (None)."""
        m = self.model
        left = C.bytes_left(text, self.settings.encoding, self.settings.max_frame)
        if left < 0:
            limit = C.bytes_left("", self.settings.encoding, self.settings.max_frame)
            m.error(f"not sent: the message is {limit - left} bytes, at most {limit} fit in a frame")
            if self.on_refused is not None:
                self.on_refused(to, text)
            return None
        out = m.outgoing(to, text)
        try:
            msg_id = self.listener.send(to, text)
        except LanmsgError as e:
            m.failed(out, time.time(), reason="too long" if e.exit_code == EXIT_USAGE else str(e))
            if self.on_sent is not None:
                self.on_sent(out)
            return out
        m.sent(out, msg_id)
        if self.on_sent is not None:
            self.on_sent(out)
        return out

    def _send_again(self, out: Outgoing) -> None:
        try:
            msg_id = self.listener.send(out.to, out.text)
        except LanmsgError as e:
            self.model.failed(out, time.time(), reason=str(e))
            return
        self.model.sent_again(out, msg_id, time.time())
        if self.on_sent is not None:
            self.on_sent(out)


# --------------------------------------------------------------------------
# stdin mode: lines in, listen's output out
# --------------------------------------------------------------------------


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
    events print as listen prints them.  At the end of input, wait for the pending
    confirmations: exit 0 when all were confirmed, 1 when any was not delivered."""
    clk = _clock

    def show(ev: Event) -> None:
        if isinstance(ev, Message):
            show_message(printer, ev.sender, ev.address, ev.msg_id, ev.text)
        elif isinstance(ev, Online) and not ev.again:
            show_presence(printer, ev.name, ev.address, True)
        elif isinstance(ev, Offline):
            show_presence(printer, ev.name, ev.address, False)
        elif isinstance(ev, Confirmed) and ev.msg_id in sent_ids:
            where = f" ({ev.address})" if ev.address else ""
            printer.event(
                "confirmed",
                f"{clk()} confirmed by {safe_text(ev.by)}{where}",
                id=ev.msg_id,
                by=ev.by,
                address=ev.address,
            )
        elif isinstance(ev, NotDelivered) and ev.msg_id in sent_ids:
            printer.event(
                "failed",
                f"{clk()} not delivered to {safe_text(ev.to)} after {ev.attempts} attempts",
                id=ev.msg_id,
                to=ev.to,
                attempts=ev.attempts,
            )

    sent_ids: set[int] = set()
    outs: list[Outgoing] = []
    session = ChatSession(settings, log_path=log_path, target=target)
    refused = 0

    def on_sent(out: Outgoing) -> None:
        if not any(o is out for o in outs):
            outs.append(out)
        if out.state != FAILED and out.msg_id is not None:
            sent_ids.add(out.msg_id)
            printer.event(
                "sent", f"{clk()} sent to {safe_text(out.to)}: {safe_text(out.text)}", id=out.msg_id, to=out.to
            )
        else:
            printer.event(
                "failed",
                f"{clk()} not sent to {safe_text(out.to)}: {safe_text(out.reason)}",
                to=out.to,
                text=out.text,
                message=out.reason,
            )

    def on_refused(to: str, text: str) -> None:
        nonlocal refused
        refused += 1
        limit = C.bytes_left("", settings.encoding, settings.max_frame)
        size = limit - C.bytes_left(text, settings.encoding, settings.max_frame)
        printer.event(
            "refused",
            f"{clk()} not sent (too long: {size} bytes, at most {limit}): {safe_text(text[:40])}",
            to=to,
            bytes=size,
            limit=limit,
        )

    session.on_event = show
    session.on_sent = on_sent
    session.on_refused = on_refused
    stop = stop or StopSignals()
    lines = StdinLines(sys.stdin)
    try:
        with stop:
            show_listening(printer, settings, "chat", "reading lines from standard input")
            while not stop.stopping.is_set() and not lines.eof and not session.quit:
                session.pump(LISTEN_POLL_S, lines.fds())
                for line in lines.read():
                    cmd = C.parse(line)
                    if isinstance(cmd, C.SetTarget):
                        name = cmd.name
                        if not session.resolve(name):
                            printer.event(
                                "error",
                                None,
                                message=f"no peer named {name!r} answered on mailslot {settings.slot!r}",
                            )
                            sys.stderr.write(
                                f"lanmsg: no peer named {safe_text(name)!r} answered on mailslot {settings.slot!r}\n"
                            )
                        session.model.target = session.known_spelling(name)
                        continue
                    before = len(session.model.lines)
                    session.submit(line)
                    for entry in session.model.lines[before:]:
                        if entry.kind in ("info", "error"):
                            printer.event(entry.kind, f"{clk()} -- {safe_text(entry.text)}", message=entry.text)
                    if session.quit:
                        break
            # the end of input: wait for the confirmations still due
            while not stop.stopping.is_set() and session.model.pending():
                session.pump(LISTEN_POLL_S)
    except (KeyboardInterrupt, StopRequested):
        pass
    finally:
        session.close()
        stop.finished.set()
        printer.event("stopped", f"{clk()} left the group (OFFLINE sent)")
    bad = refused + sum(1 for o in outs if o.state != CONFIRMED)
    return EXIT_OK if bad == 0 else EXIT_NONE


def _clock() -> str:
    return time.strftime("%H:%M:%S")


# --------------------------------------------------------------------------
# Choosing the front end
# --------------------------------------------------------------------------


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
        from .chatscreen import run_screen

        return run_screen(settings, log_path=log_path, target=target, bell=bell)
    from .chatline import run_line

    return run_line(settings, log_path=log_path, target=target, bell=bell)
