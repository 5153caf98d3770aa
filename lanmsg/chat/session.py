"""A chat session: the listener engine joined to the chat model and the commands, and its life
in a front end.

``ChatSession`` joins lanmsg.listener's Listener (the engine ``listen`` runs on) to the pure
chat model (lanmsg.chat.model) and the command parser (lanmsg.chat.commands): what a typed line
does, what arrives, what a refresh or a name lookup finds.  ``joined`` is the life of a chat in
any front end: join, take the stop signals, and at the end, however it ends, leave (OFFLINE)
and say goodbye; ``ctrl_z`` lets a front end give its terminal and the host's shared sockets
back while it is stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator

import mailslot

from .. import protocol as P
from ..listener import Confirmed, Event, Listener, Message, NotDelivered, Offline, Online, Relayed
from ..messenger import SendOp
from ..node import Node
from ..output import read_log
from ..settings import EXIT_NONE, EXIT_SYSTEM, EXIT_USAGE, LISTEN_POLL_S, RESOLVE_TIMEOUT_S, LanmsgError, Settings, now
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
        why = self.check_target(target)
        if why is not None:
            raise LanmsgError(f"--to {target}: {why}", EXIT_USAGE)
        self.model = ChatModel(settings.name, settings.slot, target=target, key_id=settings.key_id)
        if log_path and os.path.exists(log_path):
            try:
                self.model.history(read_log(log_path), os.path.basename(log_path))
            except OSError as e:
                self.model.error(f"cannot read the log {log_path}: {e.strerror or e}")
        self.on_event = on_event
        self.on_sent: Callable[[Outgoing], None] | None = None
        self.on_refused: Callable[[str, str, str], None] | None = None  # (to, text, why)
        self.listener = Listener(settings, log_path=log_path)
        self.quit = False
        self._quit_asked = False  # /quit was refused once because messages wait in the queue
        self._due: list[Outgoing] = []  # queued messages whose peer came online: sent by pump
        self._sending = False  # a send is under way (it pumps while it looks a name up)
        self._refresh: tuple[float, set[str]] | None = None  # /refresh: until when, who answered

    # -- the loop ---------------------------------------------------------------

    def pump(self, timeout: float = LISTEN_POLL_S, wake_fds: list[int] | None = None) -> None:
        """Wait at most ``timeout`` s for the network (or ``wake_fds``); apply what came, then send
        the queued messages whose peer came online (not while a send waits for a name: that
        wait pumps too, and one send at a time)."""
        for ev in self.listener.poll(timeout, wake_fds):
            self.apply(ev)
        if not self._sending:
            while self._due:
                self._deliver(self._due.pop(0), again=True)
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
            self._due += m.peer_online(ev.name, ev.address, ev.again, ev.time)
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

    def submit(self, line: str) -> bool:
        """A line the user entered.  False when chat refused it and nothing was done (a text too
        long for a frame, a target that is no computer's name or address): the front end leaves
        it in the input line, with the error above it, to be put right."""
        cmd = commands.parse(line)
        m = self.model
        asked, self._quit_asked = self._quit_asked, False
        if cmd.verb == "say":
            return self.send(m.target, cmd.text) is not None
        if cmd.verb == "to":
            return self.set_target(cmd.name)
        if cmd.verb == "msg":
            return self.send(self.known_spelling(cmd.name), cmd.text) is not None
        if cmd.verb == "reply":
            if m.last_sender is None:
                m.error("nobody has sent you a message yet")
                return True
            self.set_target(m.last_sender)
            return not cmd.text or self.send(m.target, cmd.text) is not None
        if cmd.verb == "who":
            self.who()
        elif cmd.verb == "refresh":
            self.refresh()
        elif cmd.verb == "help":
            for text in commands.help_lines():
                m.info(text)
        elif cmd.verb == "quit":
            self.ask_quit(asked)
        elif cmd.verb == "error":
            m.error(cmd.text)
        return True

    def request_quit(self) -> None:
        """Ctrl-D on an empty line: as /quit."""
        asked, self._quit_asked = self._quit_asked, False
        self.ask_quit(asked)

    def ask_quit(self, asked: bool = False) -> None:
        """/quit (or Ctrl-D on an empty line): leave, but when messages wait in the queue for
        absent peers, say so first and leave only when asked again (``asked``)."""
        queued = self.model.queue
        if queued and not asked:
            self._quit_asked = True
            n = len(queued)
            self.model.info(
                f"{n} message{'s' if n > 1 else ''} wait{'' if n > 1 else 's'} in the queue for "
                f"{self.model.queued_to()} and {'are' if n > 1 else 'is'} dropped if you leave now: "
                "/quit again (or Ctrl-D) leaves, anything else stays"
            )
            return
        self.quit = True

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

    def check_target(self, name: str) -> str | None:
        """Why a message cannot go to ``name`` (mailslot.classify_target refuses it: a typo'd
        address, a name too long...), or None: "*", ".", a NetBIOS or DNS name, an address, as
        ``lanmsg send`` takes them."""
        if name.strip() == "*":
            return None
        try:
            mailslot.classify_target(name, self.settings.config)
        except ValueError as e:
            return str(e)
        return None

    def set_target(self, name: str) -> bool:
        """/to NAME; False (an error line, the target stays) when NAME cannot be sent to."""
        m = self.model
        name = name.strip()
        why = self.check_target(name)
        if why is not None:
            m.error(f"not changed: {why}")
            return False
        name = self.known_spelling(name)
        m.target = name
        target = mailslot.classify_target(name, self.settings.config) if name != "*" else None
        if target is None or target.kind == "group":
            m.info(f"messages now go to everyone ({name})")
        elif target.kind == "local":
            m.info(f"messages now go to {name} (this machine: this chat)")
        elif name.upper() in m.online or target.address is not None:
            m.info(f"messages now go to {name}")
        else:
            m.info(f"messages now go to {name} (not seen online: it is looked up when you send)")
        return True

    def resolve(self, name: str, timeout: float = RESOLVE_TIMEOUT_S) -> str | None:
        """Where a message to ``name`` goes: "" when it needs no address ("*", ".", this machine,
        the workgroup, Windows' own transport), a computer's IPv4 address, or None when nobody of
        that name was found.  MailslotNameError for a target that is none (check_target).

        The order (docs/chat.md, "Who a name is"): an address as written.  With the NetBIOS name
        service on, mailslot.NameLookup (the hosts file, the name cache, WINS, a broadcast query,
        and last the address the name was heard from; a dotted name in DNS, whole) runs beside a
        DETECT, and a DETECT answer or a peer known online counts only once the lookup is done
        and found nothing: what a datagram says never overrides the name service.  With it off:
        the hosts file, then a peer known online, then a DETECT (``timeout`` seconds)."""
        config = self.settings.config
        target = mailslot.classify_target(name, config) if name.strip() != "*" else None
        if target is None or target.kind != "unique" or self.settings.transport == "native":
            return ""
        if target.address is not None:
            return target.address
        lookup = None
        if config.ns_port or target.lookup == "dns":
            lookup = mailslot.NameLookup(name, config, dns=True)
        else:
            found = mailslot.hosts_file_addresses(name)
            if found:
                return found[0]
        if target.lookup != "dns" and self._online_address(name) is None:
            self.listener.detect()
        end = now() + timeout
        try:
            while True:
                if lookup is not None and lookup.done:
                    if lookup.addresses or target.lookup == "dns":
                        return lookup.addresses[0] if lookup.addresses else None
                    lookup = None  # the name service found nothing: a DETECT answer may tell
                if lookup is None:
                    address = self._online_address(name)
                    if address is not None or now() >= end:
                        return address
                self.pump(0.1)
        finally:
            if lookup is not None:
                lookup.cancel()

    def _online_address(self, name: str) -> str | None:
        known = self.model.online.get(name.upper())
        return known[1] if known is not None and known[1] else None

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
        """Send ``text`` to ``to``; its line shows the state.  A text that does not fit a frame,
        or a target that is no computer's name or address, is refused before anything is sent
        (None, an error line, and ``on_refused``)."""
        m = self.model
        left = commands.bytes_left(text, self.settings.encoding, self.settings.max_frame)
        if left < 0:
            limit = commands.bytes_left("", self.settings.encoding, self.settings.max_frame)
            m.error(
                f"not sent: the message is {limit - left} bytes, at most {limit} fit in a frame; "
                "it stays in the input line (shorten it, or Ctrl-U clears it)"
            )
            if self.on_refused is not None:
                self.on_refused(to, text, "too long")
            return None
        why = self.check_target(to)
        if why is not None:
            m.error(f"not sent: {why}")
            if self.on_refused is not None:
                self.on_refused(to, text, why)
            return None
        out = m.outgoing(to, text)
        self._deliver(out)
        return out

    def _deliver(self, out: Outgoing, again: bool = False) -> None:
        """Find ``out.to`` (resolve) and hand the message to the listener; its line shows the
        state.  ``again``: a queued message going out again (with a new id)."""
        self._sending = True
        try:
            msg_id = self._transmit(out.to, out.text)
        except LanmsgError as e:
            self.model.failed(out, time.time(), reason="too long" if e.exit_code == EXIT_USAGE else str(e))
            if self.on_sent is not None:
                self.on_sent(out)
            return
        finally:
            self._sending = False
        if again:
            self.model.sent_again(out, msg_id, time.time())
        else:
            self.model.sent(out, msg_id)
        if self.on_sent is not None:
            self.on_sent(out)

    def _transmit(self, to: str, text: str) -> int:
        """Send through the listener to where ``resolve`` finds ``to``; the message's id.
        LanmsgError: exit 1 when nobody of that name was found, 2 or 3 when it could not be sent."""
        address = self.resolve(to)
        if address is None:
            raise LanmsgError(f"no peer named {to!r} answered on mailslot {self.settings.slot!r}", EXIT_NONE)
        if not address:
            return self.listener.send(to, text)
        records: list[dict[str, object]] = []
        op = _SendTo(records.append, to, address, text)
        engine = self.listener.engine
        engine.add_op(op)
        while op.msg_id is None and not op.done:
            engine.step(LISTEN_POLL_S)
        if op.msg_id is None:
            err = next((r for r in records if r.get("event") == "error"), {})
            code = err.get("exit", EXIT_SYSTEM)
            raise LanmsgError(str(err.get("message", "not sent")), code if isinstance(code, int) else EXIT_SYSTEM)
        return op.msg_id


class _SendTo(SendOp):
    """A send whose computer the chat has found already (ChatSession.resolve): the message goes
    to that address under the name it was sent to, with no second lookup."""

    def __init__(self, emit: Callable[[dict[str, object]], None], name: str, address: str, text: str) -> None:
        super().__init__(emit, name, text, timeout=None, resends=P.RESENDS, wait=True)
        self.address = address

    def start(self, node: Node, t: float) -> None:
        if self.text_fits(node, self.text):
            self.msg_id = self.send_user_text(
                node, t, self.host.strip(), self.address, self.text, track=True, timeout=None, resends=self.resends
            )


@contextlib.contextmanager
def ctrl_z(before: Callable[[], object], after: Callable[[], object]) -> Iterator[None]:
    """``with ctrl_z(before, after):`` Ctrl-Z (SIGTSTP) runs ``before`` (give the terminal back),
    gives up this process's shared UDP sockets (mailslot.suspend_on_ctrl_z: the host's other
    lanmsg processes get their unicasts meanwhile) and stops; on SIGCONT it takes the sockets back
    and runs ``after`` (take the terminal again, redraw).  SIGTSTP's handler before is restored
    after the block.  Main thread, POSIX; elsewhere nothing happens."""
    tstp = getattr(signal, "SIGTSTP", None)
    try:
        previous = signal.getsignal(tstp) if tstp is not None else None
    except ValueError:
        previous = None
    mailslot.suspend_on_ctrl_z(before=before, after=after)
    try:
        yield
    finally:
        if tstp is not None and previous is not None:
            try:
                signal.signal(tstp, previous)
            except (ValueError, OSError):
                pass


def goodbye(session: ChatSession) -> str:
    """The last line of an interactive chat: it left, and what leaving gave up."""
    dropped = session.model.dropped_words()
    return "left the group (OFFLINE sent)" + (f"; {dropped}" if dropped else "")


@contextlib.contextmanager
def joined(
    settings: Settings,
    *,
    log_path: str | None,
    target: str,
    farewell: Callable[[ChatSession], object],
    stop: StopSignals | None = None,
    welcome: bool = False,
) -> Iterator[tuple[ChatSession, StopSignals]]:
    """The life of a chat in a front end.  ``with joined(...) as (session, stop):`` joins the group
    (the session's listener sends DETECT and ONLINE) and takes Ctrl-C, SIGTERM and the closing of
    a Windows console (``stop.stopping`` is set when one came).  However the block ends (/quit,
    a signal, an error), the session leaves the group (OFFLINE), a closing console is let go,
    and ``farewell(session)`` says so.  ``welcome``: the scrollback starts with what this chat is and
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
        farewell(session)
