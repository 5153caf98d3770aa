"""The messenger at run time: a protocol.Peer bound to mailslots.

``listen`` owns the messenger slot for as long as it runs.  ``send``,
``broadcast`` and ``detect`` are *operations*: when no listener runs on this
machine they take the slot themselves for their short life; when one runs
(the slot is taken, as on Windows) they hand the operation to it through its
local control mailslot and read the outcome from a reply mailslot private to
their process.  The same Operation classes run in both places, on both transports.

With a key (``Settings(key=...)``) every frame is sealed as it is written and
opened as it is read (lanmsg.auth), here in the transport layer: each resend
and each CONF gets its own timestamp and tag.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import sys
import threading
import time

import mailslot

from . import auth
from . import protocol as P
from .output import Printer, lazy_json, note, safe_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    import types
    from collections.abc import Callable, Iterable
    from typing import Any, Literal

    Record = dict[str, Any]  # one event of an operation, as JSON
    Emit = Callable[[Record], None]

EXIT_OK, EXIT_NONE, EXIT_USAGE, EXIT_SYSTEM = 0, 1, 2, 3

CONTROL_PREFIX = "LANMSG\\CONTROL\\"  # + slot name: the listener's control mailslot
REPLY_PREFIX = "LANMSG\\REPLY\\"  # + a per-process token
DETECT_TIMEOUT_S = 1.5  # default `detect` window (ONLINE answers come within 1.028 s)
RESOLVE_TIMEOUT_S = 1.5  # how long `send NAME` waits for NAME to answer a DETECT
REPLY_GRACE_S = 5.0  # a client waits this much longer than its operation for the listener
LISTEN_POLL_S = 0.25  # the listener's longest sleep (signals, control deadlines)
LOCAL_REQUEST_MAX = 60_000  # bytes of one control request or reply
STATS_INTERVAL_S = 60.0  # default period of `listen --json`'s "stats" event


class Settings:
    """What every messenger command runs with: slot, transport, config, text encoding, frame limit,
    and the group's key (None: unauthenticated, as the original messenger).

    ``datagram_max`` is what a peer's mailslot takes; ``max_frame`` the messenger
    frame within it: smaller by the authentication trailer when there is a key.
    """

    def __init__(
        self,
        slot: str = P.DEFAULT_SLOT,
        transport: str | None = None,
        config: mailslot.Config | None = None,
        encoding: str = P.DEFAULT_ENCODING,
        max_frame: int = P.MAX_FRAME,
        key: bytes | None = None,
        auth_window: float = auth.DEFAULT_WINDOW_S,
    ):
        self.slot = mailslot.normalize_mailslot_name(slot)
        self.transport = mailslot.resolve_transport(transport)
        self.config = config if config is not None else mailslot.Config.from_env()
        self.encoding = encoding
        self.key = bytes(key) if key is not None else None
        self.key_id = auth.fingerprint(self.key) if self.key is not None else None
        self.auth_window = auth_window
        if self.key is not None:
            auth.Verifier(self.key, window_s=auth_window)  # validates key and window now
        self.datagram_max = max_frame
        self.max_frame = max_frame - (auth.TRAILER_SIZE if self.key is not None else 0)

    @property
    def name(self) -> str:
        return self.config.name

    def control_slot(self) -> str:
        return CONTROL_PREFIX + self.slot.upper()

    def text_too_long(self, size: int) -> str:
        """Why a text of ``size`` bytes was not sent; with a key, both limits."""
        if self.key is None:
            return str(P.TextTooLong(size, self.encoding, self.max_frame))
        limit = P.max_text_bytes(self.max_frame)
        return (
            f"message text is {size} bytes as {self.encoding}; at most {limit} fit in a "
            f"{self.datagram_max}-byte frame with authentication ({P.HEADER_SIZE}-byte header, "
            f"the authentication tag takes {auth.TRAILER_SIZE} bytes; {limit + auth.TRAILER_SIZE} "
            "without a key); nothing was sent"
        )


class LanmsgError(Exception):
    """A failure with its exit code and a one-line explanation."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def now() -> float:
    return time.monotonic()


# --------------------------------------------------------------------------
# A node: a Peer plus the mailslot it reads and the transport it writes to
# --------------------------------------------------------------------------


class FrameGuard:
    """lanmsg.auth on the wall clock: seals what is written, opens what is read.

    Without a key it passes frames through, but refuses frames that end in an
    authentication trailer (a keyed group's frames are not shown as junk).
    """

    def __init__(
        self, key: bytes | None, window_s: float = auth.DEFAULT_WINDOW_S, *, wall_clock: Callable[[], float] = time.time
    ):
        self.key = key
        self.verifier = auth.Verifier(key, window_s=window_s) if key is not None else None
        self.wall_clock = wall_clock

    def seal(self, data: bytes, slot: str) -> bytes:
        """``data`` as written to ``slot``: with a fresh timestamp and tag when keyed."""
        if self.key is None:
            return data
        return auth.seal(self.key, data, slot=slot, now=self.wall_clock())

    def open(self, data: bytes, slot: str) -> bytes | str:
        """The payload of ``data`` read from ``slot``, or the reason (a str) to drop it."""
        if self.verifier is None:
            return "keyed-frame-without-key" if auth.looks_sealed(data) else data
        try:
            return self.verifier.open(data, slot=slot, now=self.wall_clock())
        except auth.AuthError as e:
            return "auth-" + e.reason


def auth_hint(frames_dropped: dict[str, int]) -> str | None:
    """Why a command may have heard nothing: frames of the other kind (keyed / unkeyed) were dropped."""
    keyed = frames_dropped.get("keyed-frame-without-key", 0)
    if keyed:
        return f"{keyed} authenticated frame(s) were ignored: this group uses a key (--key-file or LANMSG_KEY_FILE)"
    refused = {r: n for r, n in frames_dropped.items() if r.startswith("auth-")}
    if refused:
        counts = ", ".join(f"{n} {r[5:]}" for r, n in sorted(refused.items()))
        return (
            f"frames refused by authentication ({counts}): peers without this key, "
            "with another key, or with clocks more than the window apart"
        )
    return None


class Node:
    """``wall_clock``: seconds since the epoch, for authentication timestamps (the
    peer's timers run on the monotonic clock)."""

    def __init__(
        self, settings: Settings, slot: mailslot.Mailslot, peer: P.Peer, *, wall_clock: Callable[[], float] = time.time
    ):
        self.settings, self.slot, self.peer = settings, slot, peer
        self.frames_dropped: collections.Counter[str] = collections.Counter()
        self.send_errors = 0
        self.last_send_error: Exception | None = None
        self.guard = FrameGuard(settings.key, settings.auth_window, wall_clock=wall_clock)

    @property
    def verifier(self) -> auth.Verifier | None:
        return self.guard.verifier

    def count_drop(self, reason: str) -> None:
        self.frames_dropped[reason] += 1

    def seal(self, data: bytes, slot: str) -> bytes:
        return self.guard.seal(data, slot)

    def open(self, data: bytes, slot: str) -> bytes | str:
        return self.guard.open(data, slot)

    def transmit(self, t: P.Transmit) -> Exception | None:
        s = self.settings
        target = t.target
        if t.address is not None and not _plain_computer_name(target, s.config):
            # a reply goes back to where the frame came from: a sender *name* such as "*",
            # the workgroup or another IP address must not turn it into a broadcast or a
            # reflection to a third host
            target = t.address
        try:
            mailslot.write(
                target, s.slot, self.seal(t.data, s.slot), transport=s.transport, config=s.config, address=t.address
            )
            return None
        except (OSError, ValueError) as e:
            self.send_errors += 1
            self.last_send_error = e
            return e

    def run_actions(
        self, items: Iterable[P.Transmit | P.Event], on_event: Callable[[P.Event], None] | None = None
    ) -> list[P.Event]:
        """Send the Transmit actions in order; return the events.

        ``on_event`` sees each event before any later action is sent, so a
        message is logged and shown before its confirmation goes out.
        """
        events = []
        for item in items:
            if isinstance(item, P.Transmit):
                self.transmit(item)
                continue
            if isinstance(item, P.Dropped):
                self.count_drop(item.reason)
            if on_event is not None:
                on_event(item)
            events.append(item)
        return events

    def receive(self, msg: mailslot.Message) -> P.Output:
        payload = self.open(msg.data, self.settings.slot)
        if isinstance(payload, str):
            return [P.Dropped(payload, now())]
        return self.peer.receive(now(), payload, msg.source_ip)


# --------------------------------------------------------------------------
# Operations: send, broadcast, detect
# --------------------------------------------------------------------------


def _plain_computer_name(name: str, config: mailslot.Config) -> bool:
    """A name that means one computer: not '*', '.', the workgroup or an address."""
    if _ipv4(name):
        return False
    try:
        return mailslot.classify_target(name, config).kind != "group" and name.strip() != "."
    except ValueError:
        return False


def _ipv4(text: str) -> bool:
    try:
        mailslot.ipv4_address(text)
        return True
    except ValueError:
        return False


class Operation:
    """One user request; reports through ``emit(dict)``; ``exit_code`` set when done."""

    kind = "operation"

    def __init__(self, emit: Emit):
        self.emit = emit
        self.exit_code: int | None = None

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

    def start(self, node: Node, t: float) -> None: ...
    def on_event(self, node: Node, event: P.Event, t: float) -> None: ...
    def tick(self, node: Node, t: float) -> None: ...


class SendOp(Operation):
    kind = "send"

    def __init__(self, emit: Emit, host: str, text: str, *, timeout: float | None, resends: int, wait: bool = True):
        super().__init__(emit)
        self.host, self.text, self.timeout, self.resends, self.wait = host, text, timeout, resends, wait
        self.msg_id: int | None = None
        self.resolve_deadline: float | None = None
        self.lookup: mailslot.NameLookup | None = None

    def start(self, node: Node, t: float) -> None:
        if not self.text_fits(node, self.text):
            return
        host = self.host.strip()
        known = node.peer.presence.get(host.upper())
        if _ipv4(host):
            self._send(node, t, host, host)
        elif known is not None and known.address:
            self._send(node, t, known.name, known.address)
        elif (
            node.settings.transport == "native"
            or host == "."
            or host.upper() == node.peer.name.upper()
            or "." in host
            or mailslot.learned_address(host)
        ):
            self._send(node, t, host, None)  # Windows, this machine, DNS or a name heard before
        else:
            # a name on the netbios transport: ask the NetBIOS name service (WINS, broadcast) as
            # Windows would, and who answers a DETECT; the first answer wins
            self.resolve_deadline = t + min(RESOLVE_TIMEOUT_S, self.timeout or RESOLVE_TIMEOUT_S)
            if node.settings.config.ns_port:
                self.lookup = mailslot.NameLookup(host, node.settings.config, dns=False)
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
        if lookup is not None and lookup.done and lookup.addresses:
            self._send(node, t, self.host.strip(), lookup.addresses[0])
        elif t >= self.resolve_deadline and (lookup is None or lookup.done):
            also = ", nor a NetBIOS name query" if lookup is not None else ""
            self.fail(f"no peer named {self.host!r} answered on mailslot {node.settings.slot!r}{also}", EXIT_NONE)


class BroadcastOp(Operation):
    kind = "broadcast"

    def __init__(self, emit: Emit, text: str, *, wait: float):
        super().__init__(emit)
        self.text, self.wait = text, wait
        self.msg_id: int | None = None
        self.deadline = 0.0
        self.confirmed: dict[str, str | None] = {}

    def start(self, node: Node, t: float) -> None:
        self.msg_id = self.send_user_text(node, t, "*", None, self.text, track=self.wait > 0, timeout=self.wait)
        if self.msg_id is None:
            return
        self.deadline = t + self.wait
        if self.wait <= 0:
            self.finish(EXIT_OK)

    def on_event(self, node: Node, event: P.Event, t: float) -> None:
        if isinstance(event, P.Confirmed) and event.msg_id == self.msg_id and event.by.upper() not in self.confirmed:
            self.confirmed[event.by.upper()] = event.address
            self.emit({"event": "confirmed", "id": event.msg_id, "by": event.by, "address": event.address})

    def tick(self, node: Node, t: float) -> None:
        if not self.done and t >= self.deadline:
            self.finish(EXIT_OK if self.confirmed else EXIT_NONE, confirmed=len(self.confirmed))


class DetectOp(Operation):
    kind = "detect"

    def __init__(self, emit: Emit, timeout: float):
        super().__init__(emit)
        self.timeout = timeout
        self.deadline = 0.0
        self.found: dict[str, str | None] = {}

    def start(self, node: Node, t: float) -> None:
        self.deadline = t + self.timeout
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
        if not self.done and t >= self.deadline:
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
        return base + RESOLVE_TIMEOUT_S
    if req["op"] == "broadcast":
        return float(req.get("wait", 0))
    return float(req.get("timeout", DETECT_TIMEOUT_S))


# --------------------------------------------------------------------------
# Stopping: Ctrl-C, SIGTERM, Windows console close
# --------------------------------------------------------------------------


class StopRequested(Exception):
    pass


class StopSignals:
    """Turn SIGTERM (and on Windows, closing the console) into StopRequested in the main thread."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self._old: dict[int, Any] = {}  # signal -> the handler it had
        self._console_handler: object = None  # kept alive while installed

    def __enter__(self) -> StopSignals:
        def on_signal(signum: int, frame: types.FrameType | None) -> None:
            self.stopping.set()
            raise StopRequested()

        for name in ("SIGTERM", "SIGBREAK", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is not None:
                try:
                    self._old[sig] = signal.signal(sig, on_signal)
                except (ValueError, OSError):
                    pass
        if sys.platform == "win32":
            self._install_console_handler()
        return self

    def _install_console_handler(self) -> None:
        if sys.platform != "win32":  # WINFUNCTYPE and WinDLL exist on Windows only (the type checker knows)
            return
        import ctypes
        from ctypes import wintypes

        HandlerRoutine = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)
        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        k32.SetConsoleCtrlHandler.argtypes = (HandlerRoutine, wintypes.BOOL)
        k32.SetConsoleCtrlHandler.restype = wintypes.BOOL
        CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT = 1, 2, 5, 6

        def handler(event: int) -> bool:
            if event == CTRL_BREAK_EVENT:
                # handled here, not left to the C runtime's SIGBREAK: not every runtime
                # maps it (Wine's ends the process instead)
                self.stopping.set()
                return True
            if event in (CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT):
                self.stopping.set()
                # Windows ends the process when this returns: give the main loop
                # time to send OFFLINE first (it has about 5 s).
                self.finished.wait(3.0)
                return True
            return False

        self._console_handler = HandlerRoutine(handler)
        k32.SetConsoleCtrlHandler(self._console_handler, True)

    def __exit__(self, *exc: object) -> Literal[False]:
        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass
        self.finished.set()
        return False


# --------------------------------------------------------------------------
# listen
# --------------------------------------------------------------------------


def _open_slot(settings: Settings, name: str) -> mailslot.Mailslot:
    return mailslot.Mailslot(
        name,
        transport=settings.transport,
        config=settings.config,
        max_size=mailslot.LOCAL_MAX_MESSAGE if name.upper().startswith("LANMSG\\") else 0,
    )


def listen(
    settings: Settings,
    printer: Printer,
    *,
    log_path: str | None = None,
    rng: random.Random | None = None,
    stop: StopSignals | None = None,
    stats_interval: float | None = STATS_INTERVAL_S,
) -> int:
    """Run the listener until stopped.  ``stats_interval``: seconds between "stats"
    events (JSON output only; None or 0: none), the counts the "stopped" event ends with.
    The loop itself is lanmsg.listener.Engine, shared with ``chat`` and the library listener."""
    from .listener import Engine

    def show(ev: P.Event) -> None:
        if isinstance(ev, P.MessageReceived):
            printer.event(
                "message",
                f"{_clock()} {safe_text(ev.sender)}: {safe_text(ev.text)}",
                **{"from": ev.sender, "address": ev.address, "id": ev.msg_id, "text": ev.text},
            )
        elif isinstance(ev, P.PresenceChanged):
            state = "online" if ev.online else "offline"
            where = f" ({ev.address})" if ev.address else ""
            printer.event(
                state, f"{_clock()} * {safe_text(ev.name)} is {state}{where}", name=ev.name, address=ev.address
            )

    engine = Engine(settings, log_path=log_path, rng=rng, on_event=show)
    stop = stop or StopSignals()
    next_stats = now() + stats_interval if stats_interval else None
    try:
        with stop:
            # "listening" only once Ctrl-C and SIGTERM are ours: a script that signals as soon
            # as it reads the line must get the clean stop (OFFLINE, exit 0)
            printer.event(
                "listening",
                f"{_clock()} listening as {settings.name} on mailslot {settings.slot} ({_how(settings)}); "
                "Ctrl-C to leave",
                name=settings.name,
                slot=settings.slot,
                transport=settings.transport,
                key=settings.key_id,
                **({"auth_window": settings.auth_window} if settings.key_id else {}),
            )
            engine.start()
            while not stop.stopping.is_set():
                if next_stats is not None and now() >= next_stats:
                    printer.event("stats", None, **engine.counts())
                    next_stats = now() + (stats_interval or 0.0)  # not None here
                engine.step(LISTEN_POLL_S)
    except (KeyboardInterrupt, StopRequested):
        pass
    finally:
        engine.started = True  # a stop before the join still says goodbye, as before
        engine.leave()
        stop.finished.set()
        printer.event("stopped", f"{_clock()} left the group (OFFLINE sent)", **engine.counts())
        engine.close()
    return EXIT_OK


def _how(settings: Settings) -> str:
    """The transport (and port, key) a listener runs with, for its first line."""
    how = settings.transport + (f", UDP {settings.config.port}" if settings.transport == "netbios" else "")
    return how + (f", key {settings.key_id}" if settings.key_id else "")


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def _describe_key(key_id: str | None) -> str:
    return f"key {key_id}" if key_id else "no key"


def _control_refusal(node: Node, req: Record, data: bytes) -> str | None:
    """Why the listener must not run a local client's request: it asked for another key
    than the listener's, or (keyed) its request is not sealed with the listener's key."""
    mine, asked = node.settings.key_id, req.get("key")
    if asked != mine:
        node.count_drop("control-key-mismatch")
        return (
            f"the lanmsg listener on this machine runs with {_describe_key(mine)}, this command with "
            f"{_describe_key(asked if isinstance(asked, str) else None)}: use the listener's key file "
            "(or stop it and run the command alone)"
        )
    if node.verifier is not None:
        payload = node.open(data, node.settings.control_slot())
        if isinstance(payload, str):
            node.count_drop("control-" + payload)
            return f"the request was refused by the listener's authentication ({payload})"
    return None


# --------------------------------------------------------------------------
# One-shot commands: run an operation here, or hand it to the local listener
# --------------------------------------------------------------------------


def run_operation(settings: Settings, req: Record, printer: Printer, report: Emit) -> int:
    """Run ``req`` ({"op": ...}) to completion; ``report(record)`` shows each event.

    Here when the messenger slot is free; through the local listener when one
    owns it.  When another one-shot command holds it, wait for it to finish.
    """
    give_up = now() + operation_timeout(req) + REPLY_GRACE_S
    while True:
        try:
            slot = _open_slot(settings, settings.slot)
            break
        except mailslot.MailslotExistsError:
            try:
                return via_listener(settings, req, report)
            except NoListener:
                if now() > give_up:
                    raise LanmsgError(
                        f"mailslot {settings.slot!r} on this machine belongs to a program that is "
                        "not a lanmsg listener; stop it, or run this command there",
                        EXIT_SYSTEM,
                    ) from None
                time.sleep(random.uniform(*SLOT_BUSY_RETRY_S))
    with slot:
        peer = P.Peer(settings.name, encoding=settings.encoding, max_frame=settings.max_frame, responsive=False)
        node = Node(settings, slot, peer)
        code = run_on_node(node, req, report)
        hint = auth_hint(node.frames_dropped)
        if code != EXIT_OK and hint:
            note(hint)
        return code


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
        wake = [d for d in (peer.next_deadline(), _operation_deadline(op)) if d is not None]
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


OPERATION_POLL_S = 0.05  # longest single wait while an operation runs (deadlines are re-checked)


def _operation_deadline(op: Operation) -> float | None:
    """When the operation itself wants to be ticked (its window ends, a name lookup gives up)."""
    times = [getattr(op, "resolve_deadline", None)]
    if isinstance(op, (DetectOp, BroadcastOp)) and op.deadline:
        times.append(op.deadline)
    due = [t for t in times if t is not None]
    return min(due) if due else None


class NoListener(Exception):
    """The messenger slot is owned, but not by a listener (another one-shot command, or a foreign program)."""


SLOT_BUSY_RETRY_S = (0.02, 0.08)  # a one-shot command retries a busy slot after this random pause


def control_request(settings: Settings, req: Record, reply_name: str) -> bytes:
    """The bytes of ``req`` for the local listener's control mailslot, answers to ``reply_name``.

    The request names the key's fingerprint (the listener refuses another key or none)
    and, with a key, is sealed with it (the listener refuses one it cannot verify).
    """
    request: bytes = lazy_json().dumps(dict(req, reply=reply_name, key=settings.key_id)).encode("utf-8")
    if settings.key is not None:
        request = auth.seal(settings.key, request, slot=settings.control_slot(), now=time.time())
    return request


def via_listener(settings: Settings, req: Record, report: Emit) -> int:
    token = f"{os.getpid()}-{random.getrandbits(48):012x}"
    reply_name = REPLY_PREFIX + token
    with _open_slot(settings, reply_name) as reply:
        try:
            mailslot.write(
                ".",
                settings.control_slot(),
                control_request(settings, req, reply_name),
                transport=settings.transport,
                config=settings.config,
            )
        except FileNotFoundError:
            raise NoListener() from None
        deadline = now() + operation_timeout(req) + REPLY_GRACE_S
        while True:
            remaining = deadline - now()
            if remaining <= 0:
                raise LanmsgError("the local lanmsg listener stopped answering", EXIT_SYSTEM)
            try:
                msg = reply.read(remaining)
            except TimeoutError:
                continue
            except mailslot.NameConflictError:
                continue  # the listener owns the name and reports it
            if not msg.local:
                continue
            try:
                record = lazy_json().loads(msg.data.decode("utf-8"))
            except (ValueError, UnicodeDecodeError, RecursionError):
                continue
            if not isinstance(record, dict):
                continue
            if record.get("event") == "done":
                return int(record.get("exit", EXIT_SYSTEM))
            report(record)
