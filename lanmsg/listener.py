"""The listener engine, and a listener for Python programs.

``Engine`` is what ``lanmsg listen`` and ``lanmsg chat`` run on: it owns the
messenger slot and the local control mailslot, joins the group (DETECT, ONLINE),
answers DETECT, confirms and de-duplicates messages, logs them (fsynced before the
confirmation goes out), carries out the requests of local one-shot commands
(``lanmsg send`` from another shell) and leaves with OFFLINE.  One call of
``step`` is one turn of the loop; whoever owns the loop decides what else it waits
for (signals, a keyboard).

``Listener`` puts typed, immutable events on top of it::

    from lanmsg.listener import Listener, Message

    with Listener(name="PINGBOT") as lst:          # DETECT + ONLINE now, OFFLINE at the end
        for ev in lst:                             # Message, Online, Offline, Confirmed, NotDelivered, ...
            if isinstance(ev, Message) and ev.text == "ping":
                lst.send(ev.sender, "pong")        # send while listening

Single-threaded: use a Listener from the thread that made it.

``run_listen`` is the ``lanmsg listen`` command: the engine, printing what it sees.
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import mailslot

from . import control
from . import protocol as P
from .messenger import BroadcastOp, Operation, SendOp, operation_from_request
from .node import Node, open_slot
from .output import MessageLog, Printer, clock, safe_text
from .settings import (
    EXIT_NONE,
    EXIT_OK,
    EXIT_SYSTEM,
    LISTEN_POLL_S,
    STATS_INTERVAL_S,
    LanmsgError,
    Settings,
    check_retries,
    library_settings,
    now,
)
from .signals import LibraryStop, StopRequested, StopSignals

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .settings import LibraryOptions

RawEvent = Any  # one of lanmsg.protocol's event tuples (MessageReceived, PresenceChanged, ...)

RELAYED_IDS_KEPT = 1024  # ids of messages sent for local one-shot commands, remembered to mark their copies
# Messages handled together: shown, logged with one fsync, then confirmed.  A batch is what
# arrived while the one before was handled; the cap bounds how long its first CONF waits.
BATCH_MAX = 256


# --------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------


class Engine:
    """The listener's loop state.  ``on_event(ev)`` sees every protocol event except
    duplicate messages (those are counted and confirmed again, never shown twice);
    ``on_sent(op)`` sees every message sent through the engine once its id is known
    (``op.msg_id``, ``op.to``, ``op.text``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        log_path: str | None = None,
        rng: random.Random | None = None,
        on_event: Callable[[RawEvent], None] | None = None,
        on_sent: Callable[[Operation], None] | None = None,
        before_confirm: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        try:
            self.slot = open_slot(settings, settings.slot)
        except mailslot.MailslotExistsError:
            raise LanmsgError(
                f"mailslot {settings.slot!r} already exists on this machine: another lanmsg listen or chat "
                "(or another messenger) owns it; lanmsg send, broadcast and detect go through it; a second "
                "chat on this machine needs a port of its own and the other's as LANMSG_PEER_PORT (docs/chat.md, "
                '"One machine, two peers"), or another --slot for a group of its own',
                EXIT_SYSTEM,
            ) from None
        try:
            self.control = open_slot(settings, settings.control_slot())
        except BaseException:
            self.slot.close()
            raise
        try:
            self.log = MessageLog(log_path) if log_path else None
        except BaseException:
            self.control.close()
            self.slot.close()
            raise
        self.peer = P.Peer(settings.name, encoding=settings.encoding, max_frame=settings.max_frame, rng=rng)
        self.node = Node(settings, self.slot, self.peer)
        self._committer = _Committer(self.log, self.node.transmit) if self.log is not None else None
        self.ops: list[Operation] = []
        self._announced: set[int] = set()  # id() of ops whose "sent" was logged and reported
        self._from_control: set[int] = set()  # id() of ops asked for by local one-shot commands
        self._relayed_ids: dict[int, None] = {}  # message ids sent for them, oldest first (bounded)
        self.on_event = on_event
        self.on_sent = on_sent
        self.before_confirm = before_confirm
        self.shown = 0
        self.duplicates = 0
        self.started = False
        self.left = False

    # -- events ---------------------------------------------------------------

    def _handle(self, ev: RawEvent) -> None:
        if isinstance(ev, P.MessageReceived):
            if ev.duplicate:
                self.duplicates += 1
            else:
                self.shown += 1
                if self.log is not None:  # written with its batch, fsynced before any CONF goes out
                    record = {
                        "dir": "in",
                        "time": time.time(),
                        "from": ev.sender,
                        "address": ev.address,
                        "id": ev.msg_id,
                        "text": ev.text,
                    }
                    self.log.add({**record, "via": "listener"} if self.relayed(ev) else record)
                if self.on_event is not None:
                    self.on_event(ev)
        elif self.on_event is not None:
            self.on_event(ev)
        for op in self.ops:
            op.on_event(self.node, ev, now())

    def process(self, items: Iterable[Any]) -> None:
        """Send the actions, handle the events, in order (a message is logged before its CONF goes out)."""
        self.node.run_actions(items, on_event=self._handle_now)
        self._report_sent()

    def _handle_now(self, ev: RawEvent) -> None:
        self._handle(ev)
        self._commit()

    def _commit(self, confirmations: list[P.Transmit] | None = None) -> None:
        """Show what was shown (one write); then, once what was logged is on disk (one fsync, on
        the log's own thread), send ``confirmations``."""
        if self.before_confirm is not None:
            self.before_confirm()
        if self._committer is not None:
            if confirmations or (self.log is not None and self.log.waiting()):
                self._committer.submit(confirmations or [])
            return
        for t in confirmations or ():
            self.node.transmit(t)

    def receive_batch(self, first: mailslot.Message) -> None:
        """``first`` and the messages already queued behind it (at most BATCH_MAX): each is
        handled and shown, the batch is logged with one fsync (group commit), then every
        confirmation of the batch goes out.  With a log the fsync and the confirmations happen
        on the log's thread while this one reads the next batch."""
        batch = [first]
        while len(batch) < BATCH_MAX:
            msg = self.slot.try_read()
            if msg is None:
                break
            batch.append(msg)
        confirmations: list[P.Transmit] = []
        for msg in batch:
            for item in self.node.receive(msg):
                if isinstance(item, P.Transmit):
                    confirmations.append(item)
                    continue
                if isinstance(item, P.Dropped):
                    self.node.count_drop(item.reason)
                self._handle(item)
        self._commit(confirmations)
        self._report_sent()

    # -- life -----------------------------------------------------------------

    def start(self) -> None:
        """Join the group: DETECT, then ONLINE."""
        self.started = True
        self.process(self.peer.start(now()))

    def step(self, max_wait: float = LISTEN_POLL_S, wake_fds: list[int] | None = None) -> bool:
        """One turn: wait at most ``max_wait`` s for a frame or a control request (or for one of
        ``wake_fds`` to become readable), handle it, then what is due.  True when a datagram was read."""
        if self._committer is not None:
            self._committer.check()
        deadline = self.peer.next_deadline()
        wait = max_wait if deadline is None else max(0.0, min(max_wait, deadline - now()))
        which, msg = self._read(wait, wake_fds)
        if which is self.slot and msg is not None:
            self.receive_batch(msg)
        elif which is self.control and msg is not None:
            self._on_control(msg)
        due = self.peer.tick(now())
        if due:
            self.process(due)
        if self.ops:  # what the operations run here want now; then forget the finished ones
            for op in self.ops:
                op.tick(self.node, now())
            self._report_sent()
            self.ops[:] = [op for op in self.ops if not op.done]
            self._announced.intersection_update(id(op) for op in self.ops)
            self._from_control.intersection_update(id(op) for op in self.ops)
        return msg is not None

    def _read(self, wait: float, wake_fds: list[int] | None) -> tuple[mailslot.Mailslot | None, Any]:
        slots = [self.slot, self.control]
        if not wake_fds:
            try:
                return mailslot.read_any(slots, wait)
            except TimeoutError:
                return None, None
        for s in slots:
            m = s.try_read()
            if m is not None:
                return s, m
        fds = [s.fileno_list() for s in slots]
        if all(f is not None for f in fds):
            try:
                mailslot.wait_readable([fd for f in fds if f for fd in f] + list(wake_fds), wait)
            except (OSError, ValueError):
                pass
        else:
            time.sleep(min(wait, mailslot.NATIVE_POLL_INTERVAL_S))
        for s in slots:
            m = s.try_read()
            if m is not None:
                return s, m
        return None, None

    def leave(self) -> None:
        """Send OFFLINE (once, and only after joining), after the confirmations still waiting
        for the log."""
        if self._committer is not None:
            self._committer.drain()
        if self.started and not self.left:
            self.left = True
            for t in self.peer.stop(now()):
                self.node.transmit(t)

    def close(self) -> None:
        """Close the slots and the log (``leave`` first to say goodbye)."""
        if self._committer is not None:
            self._committer.close()
            self._committer = None
        self.control.close()
        self.slot.close()
        if self.log is not None:
            self.log.close()
            self.log = None

    def counts(self) -> dict[str, Any]:
        return {
            "shown": self.shown,
            "duplicates": self.duplicates,
            "frames_dropped": dict(self.node.frames_dropped),
            "datagrams": self.slot.stats if not self.slot.closed else {},
            "send_errors": self.node.send_errors,
        }

    # -- operations -------------------------------------------------------------

    def add_op(self, op: Operation) -> None:
        """Start ``op`` (a send, broadcast or detect) here; it runs until done."""
        self.ops.append(op)
        op.start(self.node, now())
        self._report_sent()

    def _report_sent(self) -> None:
        for op in self.ops:
            if op.msg_id is not None and id(op) not in self._announced:
                self._announced.add(id(op))
                relayed = id(op) in self._from_control
                if relayed:
                    self._relayed_ids[op.msg_id] = None
                    if len(self._relayed_ids) > RELAYED_IDS_KEPT:
                        del self._relayed_ids[next(iter(self._relayed_ids))]
                if self.log is not None:
                    record = {"dir": "out", "time": time.time(), "to": op.to, "id": op.msg_id, "text": op.text}
                    self.log.add({**record, "via": "listener"} if relayed else record)
                    if self._committer is not None:
                        self._committer.submit([])
                if self.on_sent is not None:
                    self.on_sent(op)

    def _on_control(self, msg: mailslot.Message) -> None:
        """A local one-shot command's request (lanmsg.control): run its operation here."""
        accepted = control.accept(self.node, msg)
        if accepted is None:
            return
        req, reply = accepted
        try:
            op = operation_from_request(req, reply)
        except (ValueError, KeyError, TypeError) as e:
            control.refuse(reply, f"bad request: {e}")
            return
        self._from_control.add(id(op))
        self.add_op(op)

    def from_control(self, op: Operation) -> bool:
        """Whether ``op`` is the request of a local one-shot command (``lanmsg send`` in another shell)."""
        return id(op) in self._from_control

    def relayed(self, ev: RawEvent) -> bool:
        """Whether ``ev`` is a message this listener sent for a local one-shot command, arriving
        here (``lanmsg send . TEXT``): our name, and an id we sent for one."""
        return (
            isinstance(ev, P.MessageReceived)
            and ev.msg_id in self._relayed_ids
            and ev.sender.upper() == self.peer.name.upper()
        )

    def delivers_here(self, to: str) -> bool:
        """Whether a message to ``to`` comes back to this listener: "." , ``localhost`` or its own
        name (mailslot.classify_target says "local")."""
        try:
            return mailslot.classify_target(to, self.settings.config).kind == "local"
        except ValueError:
            return False


class _Committer:
    """The message log's thread: it writes and fsyncs what the listener added (all of it at
    once: group commit), then sends the confirmations of those messages, while the listener reads
    and shows the next ones.  Batches are confirmed in the order they were handed over, each
    only once every record added before it is on disk.  A failed write stops all confirmations;
    the listener raises that error at its next step."""

    def __init__(self, log: MessageLog, transmit: Callable[[P.Transmit], object]) -> None:
        self.log, self.transmit = log, transmit
        self._queue: deque[list[P.Transmit]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="lanmsg-log", daemon=True)
        self._thread.start()

    def submit(self, confirmations: list[P.Transmit]) -> None:
        """Send ``confirmations`` once everything added to the log so far is on disk."""
        with self._cond:
            self._queue.append(confirmations)
            self._cond.notify()

    def check(self) -> None:
        """Raise the error that stopped the log, if one did."""
        if self.error is not None:
            raise self.error

    def drain(self) -> None:
        """Wait until everything handed over is on disk and confirmed (or the log failed)."""
        with self._cond:
            while (self._queue or self._busy) and self.error is None and self._thread.is_alive():
                self._cond.wait(COMMIT_WAIT_S)

    def close(self) -> None:
        self.drain()
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(COMMIT_WAIT_S)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batches = list(self._queue)
                self._queue.clear()
                self._busy = True
            try:
                self.log.commit()  # every record added before these batches were handed over
            except OSError as e:
                with self._cond:
                    self.error, self._busy = e, False
                    self._cond.notify_all()
                return
            for confirmations in batches:
                for t in confirmations:
                    self.transmit(t)
            with self._cond:
                self._busy = False
                self._cond.notify_all()


COMMIT_WAIT_S = 30.0  # the longest a stopping listener waits for the disk


# --------------------------------------------------------------------------
# Typed events
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Relayed:
    """A local one-shot command (``lanmsg send`` or ``broadcast`` in another shell) sent
    message ``msg_id`` to ``to`` through this listener; its Confirmed or NotDelivered follows."""

    msg_id: int
    to: str
    text: str
    time: float


@dataclass(frozen=True)
class Message:
    """A message from ``sender`` (shown once: repeats are confirmed, not delivered again).
    ``relayed``: it is this listener's own, sent for a local one-shot command (``lanmsg send .``
    in another shell: its Relayed event came first), not one from a peer of that name."""

    sender: str
    address: str | None
    msg_id: int
    text: str
    time: float  # seconds since the epoch, when it arrived
    relayed: bool = False


@dataclass(frozen=True)
class Online:
    """``name`` was heard online.  ``again``: it was already known online (it answered a
    DETECT, or came back after a crash without OFFLINE); listen shows only the first."""

    name: str
    address: str | None
    again: bool
    time: float


@dataclass(frozen=True)
class Offline:
    """``name`` left the group (it sent OFFLINE)."""

    name: str
    address: str | None
    time: float


@dataclass(frozen=True)
class Confirmed:
    """One of our messages was confirmed by ``by`` (a broadcast: once per confirming peer)."""

    msg_id: int
    by: str
    address: str | None
    time: float


@dataclass(frozen=True)
class NotDelivered:
    """Nobody confirmed message ``msg_id`` to ``to`` after ``attempts`` sends."""

    msg_id: int
    to: str
    attempts: int
    time: float


Event = Message | Online | Offline | Confirmed | NotDelivered | Relayed


def translate(ev: RawEvent, online: set[str]) -> Event | None:
    """The typed event for a protocol event, or None.  ``online``: upper-case names shown
    online so far (updated), which tells a first ONLINE from an ONLINE heard again."""
    t = time.time()
    if isinstance(ev, P.MessageReceived):
        return Message(ev.sender, ev.address, ev.msg_id, ev.text, t)
    if isinstance(ev, P.PeerAnswered):  # an ONLINE frame: comes before its PresenceChanged
        key = ev.name.upper()
        again = key in online
        online.add(key)
        return Online(ev.name, ev.address, again, t)
    if isinstance(ev, P.PresenceChanged):
        key = ev.name.upper()
        if ev.online:
            if key in online:
                return None  # its ONLINE frame was reported already
            online.add(key)
            return Online(ev.name, ev.address, False, t)
        online.discard(key)
        return Offline(ev.name, ev.address, t)
    if isinstance(ev, P.Confirmed):
        return Confirmed(ev.msg_id, ev.by, ev.address, t)
    if isinstance(ev, P.DeliveryFailed):
        return NotDelivered(ev.msg_id, ev.target, ev.attempts, t)
    return None


# --------------------------------------------------------------------------
# The library listener
# --------------------------------------------------------------------------


class Listener:
    """A peer of the group for as long as the ``with`` block lasts (or until ``close()``).

    Takes a ``lanmsg.settings.Settings`` or the options ``lanmsg.client.Messenger``
    takes (anything not given comes from the LANMSG_* environment variables), and
    ``log_path`` (JSON lines, as ``lanmsg listen --log``).  It owns the messenger slot
    like ``lanmsg listen``: one-shot ``lanmsg send`` commands on this machine go
    through it.  Iterate over it, or ``poll()`` it, for events; ``send`` while
    listening.

    Made in the main thread, it takes SIGTERM and SIGHUP where they would kill the process
    (lanmsg.signals.LibraryStop): they raise SystemExit(0), so the ``with`` block ends with
    OFFLINE, as Ctrl-C's KeyboardInterrupt does.  A handler the program set stays its own.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        log_path: str | None = None,
        rng: random.Random | None = None,
        **options: Unpack[LibraryOptions],
    ) -> None:
        self.settings = settings = library_settings(settings, **options)
        self._queue: deque[Event] = deque()
        self._online: set[str] = set()
        self.raw_observers: list[Callable[[RawEvent], None]] = []
        try:
            self.engine = Engine(settings, log_path=log_path, rng=rng, on_event=self._on_raw, on_sent=self._on_sent)
        except OSError as e:
            raise LanmsgError(str(e.strerror or e), EXIT_SYSTEM) from None
        self._closed = False
        self._stop = LibraryStop()  # from here on SIGTERM leaves with OFFLINE
        try:
            with self._stop:
                self.engine.start()
        except BaseException:
            self.close()
            raise

    # -- life -------------------------------------------------------------------

    def close(self) -> None:
        """Leave the group (OFFLINE) and release the slot (and SIGTERM, SIGHUP: LibraryStop)."""
        if not self._closed:
            self._closed = True
            try:
                with self._stop:
                    try:
                        self.engine.leave()
                    finally:
                        self.engine.close()
            finally:
                self._stop.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events -----------------------------------------------------------------

    def _on_raw(self, ev: RawEvent) -> None:
        for observe in self.raw_observers:
            observe(ev)
        typed = translate(ev, self._online)
        if isinstance(typed, Message) and self.engine.relayed(ev):
            typed = replace(typed, relayed=True)
        if typed is not None:
            self._queue.append(typed)

    def _on_sent(self, op: Operation) -> None:
        if self.engine.from_control(op) and op.msg_id is not None:
            self._queue.append(Relayed(op.msg_id, op.to, op.text, time.time()))

    def poll(self, timeout: float = LISTEN_POLL_S, wake_fds: list[int] | None = None) -> list[Event]:
        """The events that arrived within ``timeout`` seconds (possibly none)."""
        self._check_open()
        if not self._queue:
            end = now() + max(0.0, timeout)
            while True:
                self._step(max(0.0, min(LISTEN_POLL_S, end - now())), wake_fds)
                if self._queue or now() >= end:
                    break
                if wake_fds and _readable(wake_fds):
                    break
        else:
            self._step(0.0)
        out = list(self._queue)
        self._queue.clear()
        return out

    def _step(self, wait: float, wake_fds: list[int] | None = None) -> None:
        """One turn of the engine; a SIGTERM or SIGHUP meanwhile raises SystemExit at its end."""
        with self._stop:
            self.engine.step(wait, wake_fds)

    def events(self) -> Iterator[Event]:
        """Every event, as it comes, until ``close()``."""
        while not self._closed:
            yield from self.poll()

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def run(self, callback: Callable[[Event], object], *, until: Callable[[], bool] | None = None) -> None:
        """Call ``callback(event)`` for every event until ``until()`` is true or the listener is closed."""
        while not self._closed and not (until is not None and until()):
            for ev in self.poll():
                callback(ev)

    # -- sending ----------------------------------------------------------------

    def send(self, to: str, text: str, *, retries: int = P.RESENDS, resends: int | None = None) -> int:
        """Send ``text`` to ``to`` (a messenger name, an IPv4 address, "." or "*" for everyone);
        return the message's id at once.  Resent with the same id every 750 ms, ``retries``
        times, until confirmed (``Messenger.send`` and ``lanmsg send --retries`` take the same
        number); its fate comes as a Confirmed or NotDelivered event (after about 3 s with the
        defaults).  A name never heard before is looked up first, as ``lanmsg send`` does
        (DETECT and the NetBIOS name service; this call then waits up to 1.5 s, handling what
        arrives meanwhile).  ``resends``: the old name of ``retries`` (DeprecationWarning).
        Raises LanmsgError: exit code 2 when the text does not fit (nothing was sent), 1 when
        no peer of that name answered, 3 when the transport refused; ValueError for a negative
        ``retries``."""
        if resends is not None:
            warnings.warn(
                "Listener.send(resends=) is deprecated; use retries= (as Messenger.send does)",
                DeprecationWarning,
                stacklevel=2,
            )
            if retries != P.RESENDS:
                raise TypeError("give retries or resends (its deprecated name), not both")
            retries = resends
        check_retries(retries)
        self._check_open()
        records: list[dict[str, Any]] = []
        op: SendOp | BroadcastOp
        if to.strip() == "*":
            op = BroadcastOp(records.append, text, wait=P.RESEND_INTERVAL_S * (P.RESENDS + 1))
        else:
            op = SendOp(records.append, to, text, timeout=None, resends=retries, wait=True)
        with self._stop:
            self.engine.add_op(op)
        while op.msg_id is None and not op.done:
            self._step(LISTEN_POLL_S)
        if op.msg_id is None:
            err = next((r for r in records if r.get("event") == "error"), {})
            raise LanmsgError(str(err.get("message", "not sent")), int(err.get("exit", EXIT_NONE)))
        return op.msg_id

    def detect(self) -> None:
        """Ask everyone who is online (the messenger's Refresh); answers come as Online events."""
        self._check_open()
        with self._stop:
            self.engine.process(self.engine.peer.detect(now()))

    def peers(self) -> list[P.Presence]:
        """The peers known online, by name."""
        return self.engine.peer.online_peers()

    def fits(self, text: str) -> bool:
        """Whether ``text`` fits one frame (212 bytes, 168 with a key, in the text encoding)."""
        try:
            return P.text_room(text, self.settings.encoding, self.settings.max_frame) >= 0
        except P.FrameError:  # the encoding cannot carry it
            return False

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("this Listener is closed")


def _readable(fds: list[int]) -> bool:
    try:
        return bool(mailslot.wait_readable(fds, 0))
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------
# `lanmsg listen`
# --------------------------------------------------------------------------


VIA_LISTENER = "via listener"  # listen's mark on a message it sent for a local one-shot command


def show_message(
    printer: Printer, sender: str, address: str | None, msg_id: int, text: str, *, relayed: bool = False
) -> None:
    """A message as ``listen`` prints it (``lanmsg chat``'s stdin mode too).  ``relayed``: our own,
    sent for a local one-shot command (``lanmsg send .``), marked so as not to pass for a peer's."""
    mark = f" ({VIA_LISTENER})" if relayed else ""
    printer.event(
        "message",
        f"{clock()} {safe_text(sender)}{mark}: {safe_text(text)}",
        **{"from": sender, "address": address, "id": msg_id, "text": text},
        **({"via": "listener"} if relayed else {}),
    )


def show_relayed(printer: Printer, sender: str, to: str, msg_id: int, text: str) -> None:
    """A message this listener sent for a local one-shot command (``lanmsg send BOB``, ``lanmsg
    broadcast``), as ``listen`` prints it when it goes out."""
    printer.event(
        "relayed",
        f"{clock()} {safe_text(sender)} -> {safe_text(to)} ({VIA_LISTENER}): {safe_text(text)}",
        **{"from": sender, "to": to, "id": msg_id, "text": text, "via": "listener"},
    )


def show_presence(printer: Printer, name: str, address: str | None, online: bool) -> None:
    """A peer coming online or going offline, as ``listen`` prints it."""
    state = "online" if online else "offline"
    where = f" ({address})" if address else ""
    printer.event(state, f"{clock()} * {safe_text(name)} is {state}{where}", name=name, address=address)


def show_listening(printer: Printer, settings: Settings, role: str, hint: str, **fields: Any) -> None:
    """The first line of a command that joins the group (``listen``, the chat's stdin mode)."""
    about = {"name": settings.name, "slot": settings.slot, "transport": settings.transport, "key": settings.key_id}
    printer.event("listening", f"{clock()} {settings.headline(role)}; {hint}", **about, **fields)


def run_listen(
    settings: Settings,
    printer: Printer,
    *,
    log_path: str | None = None,
    rng: random.Random | None = None,
    stop: StopSignals | None = None,
    stats_interval: float | None = STATS_INTERVAL_S,
) -> int:
    """``lanmsg listen``: run the engine until stopped.  ``stats_interval``: seconds between "stats"
    events (JSON output only; None or 0: none), the counts the "stopped" event ends with."""

    def show(ev: RawEvent) -> None:
        if isinstance(ev, P.MessageReceived):
            show_message(printer, ev.sender, ev.address, ev.msg_id, ev.text, relayed=engine.relayed(ev))
        elif isinstance(ev, P.PresenceChanged):
            show_presence(printer, ev.name, ev.address, ev.online)

    def show_sent(op: Operation) -> None:
        # a local command's message: shown as it goes out, or (to this machine) as it arrives
        if engine.from_control(op) and op.msg_id is not None and not engine.delivers_here(op.to):
            show_relayed(printer, settings.name, op.to, op.msg_id, op.text)

    # what a batch of messages shows is written at once, before the batch's CONFs go out
    engine = Engine(
        settings, log_path=log_path, rng=rng, on_event=show, on_sent=show_sent, before_confirm=printer.flush
    )
    stop = stop or StopSignals()
    next_stats = now() + stats_interval if stats_interval else None
    try:
        with stop:
            # "listening" only once Ctrl-C and SIGTERM are ours: a script that signals as soon
            # as it reads the line must get the clean stop (OFFLINE, exit 0)
            extra = {"auth_window": settings.auth_window} if settings.key_id else {}
            mailslot.suspend_on_ctrl_z()  # Ctrl-Z leaves the host's unicasts to its other lanmsg processes
            show_listening(printer, settings, "listening", "Ctrl-C to leave", **extra)
            printer.hold()
            engine.start()
            while not stop.stopping.is_set():
                if next_stats is not None and now() >= next_stats:
                    printer.event("stats", None, **engine.counts())
                    next_stats = now() + (stats_interval or 0.0)  # not None here
                engine.step(LISTEN_POLL_S)
                printer.flush()
    except (KeyboardInterrupt, StopRequested):
        pass
    finally:
        printer.release()
        engine.started = True  # a stop before the join still says goodbye, as before
        engine.leave()
        stop.finished.set()
        printer.event("stopped", f"{clock()} left the group (OFFLINE sent)", **engine.counts())
        engine.close()
    return EXIT_OK
