"""A chat session: the listener engine joined to the chat model and the commands, and its life
in a front end.

``ChatSession`` joins lanmsg.listener's Listener (the engine ``listen`` runs on) to the pure
chat model (lanmsg.chat.model) and the command parser (lanmsg.chat.commands): what a typed line
does, what arrives, what a refresh or a name lookup finds.  ``joined`` is the life of a chat in
any front end: join, take the stop signals, and at the end, however it ends, leave (OFFLINE)
and say goodbye.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator

import mailslot

from ..listener import Confirmed, Event, Listener, Message, NotDelivered, Offline, Online, Relayed
from ..node import is_ipv4
from ..output import read_log
from ..settings import EXIT_USAGE, LISTEN_POLL_S, RESOLVE_TIMEOUT_S, LanmsgError, Settings, now
from ..signals import StopRequested, StopSignals
from . import commands
from .model import ChatModel, Outgoing

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
        cmd = commands.parse(line)
        m = self.model
        if cmd.verb == "say":
            self.send(m.target, cmd.text)
        elif cmd.verb == "to":
            self.set_target(cmd.name)
        elif cmd.verb == "msg":
            self.send(self.known_spelling(cmd.name), cmd.text)
        elif cmd.verb == "reply":
            if m.last_sender is None:
                m.error("nobody has sent you a message yet")
                return
            self.set_target(m.last_sender)
            if cmd.text:
                self.send(m.target, cmd.text)
        elif cmd.verb == "who":
            self.who()
        elif cmd.verb == "refresh":
            self.refresh()
        elif cmd.verb == "help":
            for text in commands.help_lines():
                m.info(text)
        elif cmd.verb == "quit":
            self.quit = True
        elif cmd.verb == "error":
            m.error(cmd.text)

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
        text = commands.payload(line)
        if text is None:
            return None
        return commands.bytes_left(text, self.settings.encoding, self.settings.max_frame)

    def send(self, to: str, text: str) -> Outgoing | None:
        """Send ``text`` to ``to``; its line shows the state.  A text that does not fit a frame
        is refused before anything is sent (None)."""
        m = self.model
        left = commands.bytes_left(text, self.settings.encoding, self.settings.max_frame)
        if left < 0:
            limit = commands.bytes_left("", self.settings.encoding, self.settings.max_frame)
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


@contextlib.contextmanager
def joined(
    settings: Settings,
    *,
    log_path: str | None,
    target: str,
    farewell: Callable[[], object],
    stop: StopSignals | None = None,
    welcome: bool = False,
) -> Iterator[tuple[ChatSession, StopSignals]]:
    """The life of a chat in a front end.  ``with joined(...) as (session, stop):`` joins the group
    (the session's listener sends DETECT and ONLINE) and takes Ctrl-C, SIGTERM and the closing of
    a Windows console (``stop.stopping`` is set when one came).  However the block ends (/quit,
    a signal, an error), the session leaves the group (OFFLINE), a closing console is let go,
    and ``farewell()`` says so.  ``welcome``: the scrollback starts with what this chat is and
    how to get help (the interactive front ends)."""
    session = ChatSession(settings, log_path=log_path, target=target)
    if welcome:
        session.model.info(f"{settings.headline('chat')}; /help lists the commands, /quit leaves")
    stop = stop or StopSignals()
    try:
        with stop:
            yield session, stop
    except (KeyboardInterrupt, StopRequested):
        pass
    finally:
        session.close()
        stop.finished.set()
        farewell()
