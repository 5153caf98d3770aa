"""The messenger's operations, and the one-shot runner that carries one out.

``send``, ``broadcast`` and ``detect`` are *operations*: an Operation object fed the
node's events and the passing time until it is done, reporting through ``emit(dict)``.
A one-shot command (``run_operation``) takes the messenger slot for its short life
when no listener runs on this machine; when one runs (the slot is taken, as on
Windows) it hands the operation to it through the control channel (lanmsg.control)
and reads the outcome back.  The same Operation classes run in both places, on both
transports: a listener (lanmsg.listener.Engine) runs them too.

With a key (``Settings(key=...)``) every frame is sealed as it is written and
opened as it is read (lanmsg.node.FrameGuard): each resend and each CONF gets its
own timestamp and tag.
"""

from __future__ import annotations

import random
import time

import mailslot

from . import protocol as P
from .control import NoListener, via_listener
from .node import Node, auth_hint, open_slot
from .output import Printer, note
from .settings import (
    DETECT_TIMEOUT_S,
    EXIT_NONE,
    EXIT_OK,
    EXIT_SYSTEM,
    EXIT_USAGE,
    NAME_LOOKUP_MAX_S,
    OPERATION_POLL_S,
    REPLY_GRACE_S,
    RESOLVE_TIMEOUT_S,
    SLOT_BUSY_RETRY_S,
    LanmsgError,
    Settings,
    now,
)

# The operations and the runner, and, re-exported, names that lived here before lanmsg.settings and
# lanmsg.node took them: programs import them from here (docs/library.md: Settings, LanmsgError).
__all__ = [
    "DETECT_TIMEOUT_S",
    "EXIT_NONE",
    "EXIT_OK",
    "EXIT_SYSTEM",
    "EXIT_USAGE",
    "BroadcastOp",
    "DetectOp",
    "LanmsgError",
    "Node",
    "Operation",
    "SendOp",
    "Settings",
    "check_request",
    "operation_from_request",
    "operation_timeout",
    "run_on_node",
    "run_operation",
]

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    from typing import Any

    from .settings import Emit, Record


# --------------------------------------------------------------------------
# Operations: send, broadcast, detect
# --------------------------------------------------------------------------


class Operation:
    """One user request; reports through ``emit(dict)``; ``exit_code`` set when done.

    An operation that sends a message (send, broadcast) says what and to whom in ``to`` and
    ``text``, and its id in ``msg_id`` once it is sent; one that sends none (detect) leaves
    ``msg_id`` None.  ``ends_at``: when its window closes (broadcast's wait, detect's timeout).
    Whoever runs it calls ``start`` once, ``on_event`` with each event of the node, and ``tick``
    at the latest when ``deadline()`` comes.
    """

    kind = "operation"

    def __init__(self, emit: Emit, *, to: str = "", text: str = ""):
        self.emit = emit
        self.exit_code: int | None = None
        self.to, self.text = to, text
        self.msg_id: int | None = None
        self.ends_at: float | None = None

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    def finish(self, code: int, **fields: Any) -> None:
        if not self.done:
            self.exit_code = code
            self.emit({"event": "done", "exit": code, **fields})

    def fail(self, message: str, code: int) -> None:
        self.emit({"event": "error", "message": message, "exit": code})
        self.finish(code)

    def text_fits(self, node: Node, text: str) -> bool:
        """Fail (exit 2) when ``text`` does not fit a frame; the error names both limits when keyed."""
        s = node.settings
        try:
            room = P.text_room(text, s.encoding, s.max_frame)
        except P.FrameError as e:
            self.fail(str(e), EXIT_USAGE)
            return False
        if room < 0:
            self.fail(s.text_too_long(P.max_text_bytes(s.max_frame) - room), EXIT_USAGE)
        return room >= 0

    def send_user_text(
        self, node: Node, t: float, target: str, address: str | None, text: str, **kw: Any
    ) -> int | None:
        """Send a user message through the peer (its frame is encoded once, there); report "sent"
        or fail.  Returns its id."""
        try:
            msg_id, actions = node.peer.send_text(t, target, address, text, **kw)
        except P.TextTooLong as e:
            self.fail(node.settings.text_too_long(e.size), EXIT_USAGE)
            return None
        except P.FrameError as e:
            self.fail(str(e), EXIT_USAGE)
            return None
        err = node.transmit(actions[0])
        if err is not None:
            self.fail_to_send(err)
            return None
        self.emit({"event": "sent", "id": msg_id, "to": target, "address": address})
        return msg_id

    def fail_to_send(self, err: Exception) -> None:
        """A transport refused the message: bad input (exit 2) or a system error (exit 3)."""
        text = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        self.fail(str(text), EXIT_USAGE if isinstance(err, ValueError) else EXIT_SYSTEM)

    def deadline(self) -> float | None:
        """When the operation itself wants to be ticked (its window closes, a name lookup gives up);
        None: only when something happens."""
        return self.ends_at

    def window_closed(self, t: float) -> bool:
        return not self.done and self.ends_at is not None and t >= self.ends_at

    def start(self, node: Node, t: float) -> None: ...
    def on_event(self, node: Node, event: P.Event, t: float) -> None: ...
    def tick(self, node: Node, t: float) -> None: ...


class SendOp(Operation):
    """Send one message to one computer (or ``.``, ``*``), and wait for its confirmation.

    The target is classified once (mailslot.classify_target: a typo'd address fails here, exit 2,
    before anything is sent).  How a name is found (docs/names.md, "The order for a NetBIOS
    name"): an address as given; a DNS name looked up whole; a NetBIOS name through
    mailslot.NameLookup (hosts file, name cache, WINS, broadcast, the address it was heard from)
    beside a DETECT, whose answer (and the presence table) is used only when the lookup finds
    nothing: a datagram's word never overrides the name service.  With the name service off,
    the hosts file, then presence and DETECT.
    """

    kind = "send"

    def __init__(self, emit: Emit, host: str, text: str, *, timeout: float | None, resends: int, wait: bool = True):
        super().__init__(emit, to=host, text=text)
        self.host, self.timeout, self.resends, self.wait = host, timeout, resends, wait
        self.resolve_deadline: float | None = None
        self.lookup: mailslot.NameLookup | None = None
        self.fallback: tuple[str, str] | None = None  # (name, address) a DETECT answer or presence gave

    def deadline(self) -> float | None:
        return self.resolve_deadline

    def start(self, node: Node, t: float) -> None:
        if not self.text_fits(node, self.text):
            return
        s = node.settings
        host = self.host.strip()
        try:
            target = mailslot.classify_target(host, s.config)
        except ValueError as e:
            self.fail(str(e), EXIT_USAGE)
            return
        if target.kind != "unique" or s.transport == "native":
            self._send(node, t, host, None)  # this machine, the group, or Windows finds it
            return
        if target.address is not None:
            self._send(node, t, host, target.address)
            return
        self.resolve_deadline = t + min(RESOLVE_TIMEOUT_S, self.timeout or RESOLVE_TIMEOUT_S)
        if target.lookup == "dns" or s.config.ns_port:
            self.lookup = mailslot.NameLookup(host, s.config)
        if target.lookup == "dns":
            return  # a DNS name is no messenger's name: no DETECT
        known = node.peer.presence.get(host.upper())
        if known is not None and known.address:
            self.fallback = (known.name, known.address)
        if self.lookup is None:
            found = mailslot.hosts_file_addresses(host)
            if found:
                self._send(node, t, found[0], found[0])
                return
            if self.fallback is not None:
                self._send(node, t, *self.fallback)
                return
        node.run_actions(node.peer.detect(t))

    def _send(self, node: Node, t: float, target: str, address: str | None) -> None:
        self.resolve_deadline = None
        if self.lookup is not None:
            self.lookup.cancel()
            self.lookup = None
        self.msg_id = self.send_user_text(
            node, t, target, address, self.text, track=self.wait, timeout=self.timeout, resends=self.resends
        )
        if self.msg_id is not None and not self.wait:
            self.finish(EXIT_OK)

    def on_event(self, node: Node, event: P.Event, t: float) -> None:
        if (
            self.resolve_deadline is not None
            and isinstance(event, P.PeerAnswered)
            and event.name.upper() == self.host.strip().upper()
        ):
            self.fallback = (event.name, event.address)
            if self.lookup is None:
                self._send(node, t, event.name, event.address)
        elif isinstance(event, P.Confirmed) and event.msg_id == self.msg_id:
            self.emit({"event": "confirmed", "id": event.msg_id, "by": event.by, "address": event.address})
            self.finish(EXIT_OK)
        elif isinstance(event, P.DeliveryFailed) and event.msg_id == self.msg_id:
            self.emit({"event": "failed", "id": event.msg_id, "to": self.host, "attempts": event.attempts})
            self.finish(EXIT_NONE)

    def tick(self, node: Node, t: float) -> None:
        if self.resolve_deadline is None:
            return
        lookup = self.lookup
        if lookup is not None and not lookup.done:
            return
        if lookup is not None and lookup.addresses:
            address = lookup.addresses[0]
            # a hosts-file name need not be the computer's NetBIOS name: write to its address
            self._send(node, t, address if lookup.source == "hosts" else self.host.strip(), address)
        elif self.fallback is not None:
            self._send(node, t, *self.fallback)
        elif t >= self.resolve_deadline:
            why = f"{lookup.error}; " if lookup is not None and lookup.error else ""
            self.fail(
                f"cannot find computer {self.host.strip()!r}: {why}no lanmsg peer of that name answered "
                f"on mailslot {node.settings.slot!r}",
                EXIT_NONE,
            )


class BroadcastOp(Operation):
    kind = "broadcast"

    def __init__(self, emit: Emit, text: str, *, wait: float):
        super().__init__(emit, to="*", text=text)
        self.wait = wait
        self.confirmed: dict[str, str | None] = {}

    def start(self, node: Node, t: float) -> None:
        self.msg_id = self.send_user_text(node, t, "*", None, self.text, track=self.wait > 0, timeout=self.wait)
        if self.msg_id is None:
            return
        self.ends_at = t + self.wait
        if self.wait <= 0:
            self.finish(EXIT_OK)

    def on_event(self, node: Node, event: P.Event, t: float) -> None:
        if isinstance(event, P.Confirmed) and event.msg_id == self.msg_id and event.by.upper() not in self.confirmed:
            self.confirmed[event.by.upper()] = event.address
            self.emit({"event": "confirmed", "id": event.msg_id, "by": event.by, "address": event.address})

    def tick(self, node: Node, t: float) -> None:
        if self.window_closed(t):
            self.finish(EXIT_OK if self.confirmed else EXIT_NONE, confirmed=len(self.confirmed))


class DetectOp(Operation):
    kind = "detect"

    def __init__(self, emit: Emit, timeout: float):
        super().__init__(emit)
        self.timeout = timeout
        self.found: dict[str, str | None] = {}

    def start(self, node: Node, t: float) -> None:
        self.ends_at = t + self.timeout
        errors_before = node.send_errors
        node.run_actions(node.peer.detect(t))
        if node.send_errors > errors_before and node.last_send_error is not None:
            self.fail_to_send(node.last_send_error)

    def on_event(self, node: Node, event: P.Event, t: float) -> None:
        if (
            isinstance(event, P.PeerAnswered)
            and event.name.upper() != node.peer.name.upper()
            and event.name.upper() not in self.found
        ):
            self.found[event.name.upper()] = event.address
            self.emit({"event": "peer", "name": event.name, "address": event.address})

    def tick(self, node: Node, t: float) -> None:
        if self.window_closed(t):
            self.finish(EXIT_OK if self.found else EXIT_NONE, peers=len(self.found))


def operation_from_request(req: Record, emit: Emit) -> Operation:
    """Build an operation from a control request (JSON from a local client)."""
    op = req.get("op")
    if op == "send":
        return SendOp(
            emit,
            str(req["host"]),
            str(req["text"]),
            timeout=_opt_float(req.get("timeout")),
            resends=int(req.get("resends", P.RESENDS)),
            wait=bool(req.get("wait", True)),
        )
    if op == "broadcast":
        return BroadcastOp(emit, str(req["text"]), wait=float(req.get("wait", 0)))
    if op == "detect":
        return DetectOp(emit, float(req.get("timeout", DETECT_TIMEOUT_S)))
    raise ValueError(f"unknown operation {op!r}")


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def operation_timeout(req: Record) -> float:
    """The longest an operation may take (a client waits this plus REPLY_GRACE_S)."""
    if req["op"] == "send":
        t = req.get("timeout")
        base = t if t is not None else (int(req.get("resends", P.RESENDS)) + 1) * P.RESEND_INTERVAL_S
        return base + max(RESOLVE_TIMEOUT_S, NAME_LOOKUP_MAX_S)
    if req["op"] == "broadcast":
        return float(req.get("wait", 0))
    return float(req.get("timeout", DETECT_TIMEOUT_S))


# --------------------------------------------------------------------------
# One-shot commands: run an operation here, or hand it to the local listener
# --------------------------------------------------------------------------


def run_operation(settings: Settings, req: Record, printer: Printer, report: Emit) -> int:
    """Run ``req`` ({"op": ...}) to completion; ``report(record)`` shows each event.

    Here when the messenger slot is free; through the local listener when one
    owns it.  When another one-shot command holds it, wait for it to finish.  A send to this
    machine with no listener here fails at once (exit 1).  Besides the operation's events,
    ``report`` may get ``{"event": "hint", "message": ...}``: why it may have heard nothing.
    """
    check_request(settings, req)
    give_up = now() + operation_timeout(req) + REPLY_GRACE_S
    while True:
        try:
            slot = open_slot(settings, settings.slot)
            break
        except mailslot.MailslotExistsError:
            try:
                return via_listener(settings, req, report, operation_timeout(req))
            except NoListener:
                if now() > give_up:
                    raise LanmsgError(
                        f"mailslot {settings.slot!r} on this machine belongs to a program that is "
                        "not a lanmsg listener; stop it, or run this command there",
                        EXIT_SYSTEM,
                    ) from None
                time.sleep(random.uniform(*SLOT_BUSY_RETRY_S))
    with slot:
        nobody = _nobody_here(settings, req)
        if nobody is not None:
            report({"event": "error", "message": nobody, "exit": EXIT_NONE})
            return EXIT_NONE
        peer = P.Peer(settings.name, encoding=settings.encoding, max_frame=settings.max_frame, responsive=False)
        node = Node(settings, slot, peer)
        code = run_on_node(node, req, report)
        hint = auth_hint(node.frames_dropped)
        if code != EXIT_OK and hint:
            report({"event": "hint", "message": hint})  # why it may have heard nothing
        return code


def check_request(settings: Settings, req: Record) -> None:
    """Refuse a request whose input is bad before anything opens or sends (exit 2): a send's
    target must be one of the forms docs/names.md lists; a typo'd address never reaches the wire."""
    if req.get("op") == "send":
        try:
            mailslot.classify_target(str(req["host"]), settings.config)
        except ValueError as e:
            raise LanmsgError(str(e), EXIT_USAGE) from None


def _nobody_here(settings: Settings, req: Record) -> str | None:
    """Why a send to this machine cannot arrive, when the one-shot command itself owns the
    messenger slot (so no listener runs here): nothing would read it; None otherwise, or when the
    operation will refuse the request anyway (a bad target, a text that does not fit)."""
    if req.get("op") != "send":
        return None
    try:
        target = mailslot.classify_target(str(req.get("host", "")), settings.config)
        fits = P.text_room(str(req.get("text", "")), settings.encoding, settings.max_frame) >= 0
    except (ValueError, P.FrameError):
        return None
    if target.kind != "local" or not fits:
        return None
    return (
        f"nothing on this machine listens on mailslot {settings.slot!r} ({settings.describe()}): "
        f"start 'lanmsg listen' or 'lanmsg chat' here first (with the same --port and --slot); nothing was sent"
    )


def run_on_node(node: Node, req: Record, report: Emit) -> int:
    """Carry out ``req`` on ``node`` (which owns its slot) to the end; return the exit code."""
    peer, slot = node.peer, node.slot
    op = operation_from_request(req, report)
    try:
        op.start(node, now())
    except OSError as e:
        op.fail(str(e.strerror or e), EXIT_SYSTEM)
    hard_deadline = now() + operation_timeout(req) + REPLY_GRACE_S
    while not op.done:
        t = now()
        if t > hard_deadline:
            op.fail("operation did not finish in time", EXIT_SYSTEM)
            break
        wake = [d for d in (peer.next_deadline(), op.deadline()) if d is not None]
        wait = max(0.0, min([OPERATION_POLL_S] + [d - t for d in wake]))
        try:
            events = node.run_actions(node.receive(slot.read(wait)))
        except TimeoutError:
            events = []
        except mailslot.NameConflictError as e:  # one-shot: say it, and go on with the operation
            note(e.strerror)
            events = []
        events += node.run_actions(peer.tick(now()))
        for ev in events:
            op.on_event(node, ev, now())
        op.tick(node, now())
    assert op.exit_code is not None  # op.done
    return op.exit_code
