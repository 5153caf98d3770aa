"""The messenger at run time: a protocol.Peer bound to mailslots.

``listen`` owns the messenger slot for as long as it runs.  ``send``,
``broadcast`` and ``detect`` are *operations*: when no listener runs on this
machine they take the slot themselves for their short life; when one runs
(the slot is taken, as on Windows) they hand the operation to it through its
local control mailslot and read the outcome from a reply mailslot private to
their process.  The same Operation classes run in both places, on both transports.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import signal
import sys
import threading
import time

import mailslot

from . import protocol as P
from .output import MessageLog, Printer, safe_text

EXIT_OK, EXIT_NONE, EXIT_USAGE, EXIT_SYSTEM = 0, 1, 2, 3

CONTROL_PREFIX = "LANMSG\\CONTROL\\"     # + slot name: the listener's control mailslot
REPLY_PREFIX = "LANMSG\\REPLY\\"         # + a per-process token
DETECT_TIMEOUT_S = 1.5                   # default `detect` window (ONLINE answers come within 1.028 s)
RESOLVE_TIMEOUT_S = 1.5                  # how long `send NAME` waits for NAME to answer a DETECT
REPLY_GRACE_S = 5.0                      # a client waits this much longer than its operation for the listener
LISTEN_POLL_S = 0.25                     # the listener's longest sleep (signals, control deadlines)
LOCAL_REQUEST_MAX = 60_000               # bytes of one control request or reply


class Settings:
    """What every messenger command runs with: slot, transport, config, text encoding, frame limit."""

    def __init__(self, slot: str = P.DEFAULT_SLOT, transport: str | None = None,
                 config: mailslot.Config | None = None, encoding: str = P.DEFAULT_ENCODING,
                 max_frame: int = P.MAX_FRAME):
        self.slot = mailslot.normalize_mailslot_name(slot)
        self.transport = mailslot.resolve_transport(transport)
        self.config = config if config is not None else mailslot.Config.from_env()
        self.encoding = encoding
        self.max_frame = max_frame

    @property
    def name(self) -> str:
        return self.config.name

    def control_slot(self) -> str:
        return CONTROL_PREFIX + self.slot.upper()


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

class Node:
    def __init__(self, settings: Settings, slot: mailslot.Mailslot, peer: P.Peer):
        self.settings, self.slot, self.peer = settings, slot, peer
        self.frames_dropped: dict[str, int] = {}
        self.send_errors = 0
        self.last_send_error: Exception | None = None

    def transmit(self, t: P.Transmit) -> Exception | None:
        s = self.settings
        target = t.target
        if t.address is not None and not _plain_computer_name(target, s.config):
            # a reply goes back to where the frame came from: a sender *name* such as "*",
            # the workgroup or another IP address must not turn it into a broadcast or a
            # reflection to a third host
            target = t.address
        try:
            mailslot.write(target, s.slot, t.data, transport=s.transport, config=s.config, address=t.address)
            return None
        except (OSError, ValueError) as e:
            self.send_errors += 1
            self.last_send_error = e
            return e

    def run_actions(self, items, on_event=None) -> list:
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
                self.frames_dropped[item.reason] = self.frames_dropped.get(item.reason, 0) + 1
            if on_event is not None:
                on_event(item)
            events.append(item)
        return events

    def receive(self, msg: mailslot.Message) -> list:
        return self.peer.receive(now(), msg.data, msg.source_ip)


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
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


class Operation:
    """One user request; reports through ``emit(dict)``; ``exit_code`` set when done."""

    kind = "operation"

    def __init__(self, emit):
        self.emit = emit
        self.exit_code: int | None = None

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    def finish(self, code: int, **fields) -> None:
        if not self.done:
            self.exit_code = code
            self.emit({"event": "done", "exit": code, **fields})

    def fail(self, message: str, code: int) -> None:
        self.emit({"event": "error", "message": message, "exit": code})
        self.finish(code)

    def send_user_text(self, node: Node, t: float, target: str, address: str | None, text: str,
                       **kw) -> int | None:
        """Send a user message through the peer; report "sent" or fail.  Returns its id."""
        try:
            msg_id, actions = node.peer.send_text(t, target, address, text, **kw)
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
    def on_event(self, node: Node, event, t: float) -> None: ...
    def tick(self, node: Node, t: float) -> None: ...


class SendOp(Operation):
    kind = "send"

    def __init__(self, emit, host: str, text: str, *, timeout: float | None, resends: int,
                 wait: bool = True):
        super().__init__(emit)
        self.host, self.text, self.timeout, self.resends, self.wait = host, text, timeout, resends, wait
        self.msg_id: int | None = None
        self.resolve_deadline: float | None = None

    def _check_size(self, node: Node) -> bool:
        try:
            P.encode_frame(P.Frame(node.peer.name, 0, True, False, self.text),
                           encoding=node.peer.encoding, max_frame=node.peer.max_frame)
            return True
        except P.FrameError as e:
            self.fail(str(e), EXIT_USAGE)
            return False

    def start(self, node: Node, t: float) -> None:
        if not self._check_size(node):
            return
        host = self.host.strip()
        known = node.peer.presence.get(host.upper())
        if _ipv4(host):
            self._send(node, t, host, host)
        elif known is not None and known.address:
            self._send(node, t, known.name, known.address)
        elif node.settings.transport == "native" or host == "." or host.upper() == node.peer.name.upper() \
                or "." in host or mailslot.learned_address(host):
            self._send(node, t, host, None)          # Windows, this machine, DNS or a name heard before
        else:
            # a messenger name on the netbios transport: ask who is out there
            self.resolve_deadline = t + min(RESOLVE_TIMEOUT_S, self.timeout or RESOLVE_TIMEOUT_S)
            node.run_actions(node.peer.detect(t))

    def _send(self, node: Node, t: float, target: str, address: str | None) -> None:
        self.resolve_deadline = None
        self.msg_id = self.send_user_text(node, t, target, address, self.text, track=self.wait,
                                          timeout=self.timeout, resends=self.resends)
        if self.msg_id is not None and not self.wait:
            self.finish(EXIT_OK)

    def on_event(self, node: Node, event, t: float) -> None:
        if self.resolve_deadline is not None and isinstance(event, P.PeerAnswered) \
                and event.name.upper() == self.host.strip().upper():
            self._send(node, t, event.name, event.address)
        elif isinstance(event, P.Confirmed) and event.msg_id == self.msg_id:
            self.emit({"event": "confirmed", "id": event.msg_id, "by": event.by, "address": event.address})
            self.finish(EXIT_OK)
        elif isinstance(event, P.DeliveryFailed) and event.msg_id == self.msg_id:
            self.emit({"event": "failed", "id": event.msg_id, "to": self.host, "attempts": event.attempts})
            self.finish(EXIT_NONE)

    def tick(self, node: Node, t: float) -> None:
        if self.resolve_deadline is not None and t >= self.resolve_deadline:
            self.fail(f"no peer named {self.host!r} answered on mailslot {node.settings.slot!r}", EXIT_NONE)


class BroadcastOp(Operation):
    kind = "broadcast"

    def __init__(self, emit, text: str, *, wait: float):
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

    def on_event(self, node: Node, event, t: float) -> None:
        if isinstance(event, P.Confirmed) and event.msg_id == self.msg_id \
                and event.by.upper() not in self.confirmed:
            self.confirmed[event.by.upper()] = event.address
            self.emit({"event": "confirmed", "id": event.msg_id, "by": event.by, "address": event.address})

    def tick(self, node: Node, t: float) -> None:
        if not self.done and t >= self.deadline:
            self.finish(EXIT_OK if self.confirmed else EXIT_NONE, confirmed=len(self.confirmed))


class DetectOp(Operation):
    kind = "detect"

    def __init__(self, emit, timeout: float):
        super().__init__(emit)
        self.timeout = timeout
        self.deadline = 0.0
        self.found: dict[str, str | None] = {}

    def start(self, node: Node, t: float) -> None:
        self.deadline = t + self.timeout
        errors_before = node.send_errors
        node.run_actions(node.peer.detect(t))
        if node.send_errors > errors_before:
            self.fail_to_send(node.last_send_error)

    def on_event(self, node: Node, event, t: float) -> None:
        if isinstance(event, P.PeerAnswered) and event.name.upper() != node.peer.name.upper() \
                and event.name.upper() not in self.found:
            self.found[event.name.upper()] = event.address
            self.emit({"event": "peer", "name": event.name, "address": event.address})

    def tick(self, node: Node, t: float) -> None:
        if not self.done and t >= self.deadline:
            self.finish(EXIT_OK if self.found else EXIT_NONE, peers=len(self.found))


def operation_from_request(req: dict, emit) -> Operation:
    """Build an operation from a control request (JSON from a local client)."""
    op = req.get("op")
    if op == "send":
        return SendOp(emit, str(req["host"]), str(req["text"]), timeout=_opt_float(req.get("timeout")),
                      resends=int(req.get("resends", P.RESENDS)), wait=bool(req.get("wait", True)))
    if op == "broadcast":
        return BroadcastOp(emit, str(req["text"]), wait=float(req.get("wait", 0)))
    if op == "detect":
        return DetectOp(emit, float(req.get("timeout", DETECT_TIMEOUT_S)))
    raise ValueError(f"unknown operation {op!r}")


def _opt_float(v) -> float | None:
    return None if v is None else float(v)


def operation_timeout(req: dict) -> float:
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

    def __init__(self):
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self._old = {}
        self._console_handler = None

    def __enter__(self):
        def on_signal(signum, frame):
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
        import ctypes
        from ctypes import wintypes
        HandlerRoutine = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)
        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        k32.SetConsoleCtrlHandler.argtypes = (HandlerRoutine, wintypes.BOOL)
        k32.SetConsoleCtrlHandler.restype = wintypes.BOOL
        CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT = 1, 2, 5, 6

        def handler(event):
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

    def __exit__(self, *exc):
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
    return mailslot.Mailslot(name, transport=settings.transport, config=settings.config,
                             max_size=mailslot.LOCAL_MAX_MESSAGE if name.upper().startswith("LANMSG\\") else 0)


def listen(settings: Settings, printer: Printer, *, log_path: str | None = None,
           rng: random.Random | None = None, stop: StopSignals | None = None) -> int:
    try:
        slot = _open_slot(settings, settings.slot)
    except mailslot.MailslotExistsError:
        raise LanmsgError(f"mailslot {settings.slot!r} already exists on this machine: another lanmsg listen "
                          "(or another messenger) owns it", EXIT_SYSTEM) from None
    try:
        control = _open_slot(settings, settings.control_slot())
    except BaseException:
        slot.close()
        raise
    log = MessageLog(log_path) if log_path else None
    peer = P.Peer(settings.name, encoding=settings.encoding, max_frame=settings.max_frame, rng=rng)
    node = Node(settings, slot, peer)
    ops: list[Operation] = []             # requests of local clients being carried out
    shown = duplicates = 0
    stop = stop or StopSignals()

    def handle(events) -> None:
        nonlocal shown, duplicates
        for ev in events:
            if isinstance(ev, P.MessageReceived):
                if ev.duplicate:
                    duplicates += 1
                    continue
                shown += 1
                if log:
                    log.append({"dir": "in", "time": time.time(), "from": ev.sender, "address": ev.address,
                                "id": ev.msg_id, "text": ev.text})
                printer.event("message", f"{_clock()} {safe_text(ev.sender)}: {safe_text(ev.text)}",
                              **{"from": ev.sender, "address": ev.address, "id": ev.msg_id, "text": ev.text})
            elif isinstance(ev, P.PresenceChanged):
                state = "online" if ev.online else "offline"
                where = f" ({ev.address})" if ev.address else ""
                printer.event(state, f"{_clock()} * {safe_text(ev.name)} is {state}{where}",
                              name=ev.name, address=ev.address)
            for op in ops:
                op.on_event(node, ev, now())

    def process(items) -> None:
        node.run_actions(items, on_event=lambda ev: handle([ev]))

    def on_control(msg: mailslot.Message) -> None:
        if not msg.local:
            node.frames_dropped["control-not-local"] = node.frames_dropped.get("control-not-local", 0) + 1
            return
        try:
            req = json.loads(msg.data.decode("utf-8"))
            reply_to = mailslot.normalize_mailslot_name(str(req["reply"]))
            if not reply_to.upper().startswith(REPLY_PREFIX):
                raise ValueError("reply slot outside LANMSG\\REPLY\\")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            node.frames_dropped["bad-control-request"] = node.frames_dropped.get("bad-control-request", 0) + 1
            return

        def emit(record, reply_to=reply_to):
            try:
                mailslot.write(".", reply_to, json.dumps(record).encode("utf-8"),
                               transport=settings.transport, config=settings.config)
            except (OSError, ValueError):
                pass                               # the client has gone
        try:
            op = operation_from_request(req, emit)
        except (ValueError, KeyError, TypeError) as e:
            emit({"event": "error", "message": f"bad request: {e}", "exit": EXIT_USAGE})
            emit({"event": "done", "exit": EXIT_USAGE})
            return
        ops.append(op)
        op.start(node, now())
        if isinstance(op, (SendOp, BroadcastOp)) and log and op.msg_id is not None:
            log.append({"dir": "out", "time": time.time(), "to": getattr(op, "host", "*"), "id": op.msg_id,
                        "text": op.text})

    printer.event("listening", f"{_clock()} listening as {settings.name} on mailslot {settings.slot} "
                  f"({settings.transport}" + (f", UDP {settings.config.port}" if settings.transport == "netbios"
                                              else "") + "); Ctrl-C to leave",
                  name=settings.name, slot=settings.slot, transport=settings.transport)
    try:
        with stop:
            process(peer.start(now()))
            while not stop.stopping.is_set():
                deadline = peer.next_deadline()
                wait = LISTEN_POLL_S if deadline is None else max(0.0, min(LISTEN_POLL_S, deadline - now()))
                try:
                    which, msg = mailslot.read_any([slot, control], wait)
                except TimeoutError:
                    which = msg = None
                if which is slot:
                    process(node.receive(msg))
                elif which is control:
                    on_control(msg)
                process(peer.tick(now()))
                for op in ops:
                    op.tick(node, now())
                ops[:] = [op for op in ops if not op.done]
    except (KeyboardInterrupt, StopRequested):
        pass
    finally:
        for t in peer.stop(now()):
            node.transmit(t)
        stop.finished.set()
        printer.event("stopped", f"{_clock()} left the group (OFFLINE sent)", shown=shown,
                      duplicates=duplicates, frames_dropped=node.frames_dropped,
                      datagrams=slot.stats if not slot.closed else {}, send_errors=node.send_errors)
        control.close()
        slot.close()
        if log:
            log.close()
    return EXIT_OK


def _clock() -> str:
    return time.strftime("%H:%M:%S")


# --------------------------------------------------------------------------
# One-shot commands: run an operation here, or hand it to the local listener
# --------------------------------------------------------------------------

def run_operation(settings: Settings, req: dict, printer: Printer, report) -> int:
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
                return _via_listener(settings, req, report)
            except _NoListener:
                if now() > give_up:
                    raise LanmsgError(f"mailslot {settings.slot!r} on this machine belongs to a program that is "
                                      "not a lanmsg listener; stop it, or run this command there",
                                      EXIT_SYSTEM) from None
                time.sleep(random.uniform(*SLOT_BUSY_RETRY_S))
    with slot:
        peer = P.Peer(settings.name, encoding=settings.encoding, max_frame=settings.max_frame,
                      responsive=False)
        node = Node(settings, slot, peer)
        op = operation_from_request(req, report)
        op.start(node, now())
        hard_deadline = now() + operation_timeout(req) + REPLY_GRACE_S
        while not op.done:
            t = now()
            if t > hard_deadline:
                op.fail("operation did not finish in time", EXIT_SYSTEM)
                break
            deadline = peer.next_deadline()
            wait = 0.05 if deadline is None else max(0.0, min(0.05, deadline - t))
            try:
                msg = slot.read(wait)
                events = node.run_actions(node.receive(msg))
            except TimeoutError:
                events = []
            events += node.run_actions(peer.tick(now()))
            for ev in events:
                op.on_event(node, ev, now())
            op.tick(node, now())
        return op.exit_code


class _NoListener(Exception):
    """The messenger slot is owned, but not by a listener (another one-shot command, or a foreign program)."""


SLOT_BUSY_RETRY_S = (0.02, 0.08)     # a one-shot command retries a busy slot after this random pause


def _via_listener(settings: Settings, req: dict, report) -> int:
    token = f"{os.getpid()}-{random.getrandbits(48):012x}"
    reply_name = REPLY_PREFIX + token
    with _open_slot(settings, reply_name) as reply:
        request = dict(req, reply=reply_name)
        try:
            mailslot.write(".", settings.control_slot(), json.dumps(request).encode("utf-8"),
                           transport=settings.transport, config=settings.config)
        except FileNotFoundError:
            raise _NoListener() from None
        deadline = now() + operation_timeout(req) + REPLY_GRACE_S
        while True:
            remaining = deadline - now()
            if remaining <= 0:
                raise LanmsgError("the local lanmsg listener stopped answering", EXIT_SYSTEM)
            try:
                msg = reply.read(remaining)
            except TimeoutError:
                continue
            if not msg.local:
                continue
            try:
                record = json.loads(msg.data.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if record.get("event") == "done":
                return int(record.get("exit", EXIT_SYSTEM))
            report(record)
