"""A node: a protocol.Peer bound to the mailslot it reads and the transport it writes to.

``Node`` is what an operation (lanmsg.messenger) and the listener engine (lanmsg.listener)
run a Peer on: it seals each frame as it is written and opens each as it is read
(``FrameGuard``: lanmsg.auth on the wall clock; without a key frames pass unchanged),
sends the Peer's ``Transmit`` actions with ``mailslot.write`` and counts what it drops.
``open_slot`` opens the mailslots lanmsg owns (the messenger slot, the control and reply slots).
"""

from __future__ import annotations

import collections
import threading
import time

import mailslot

from . import auth
from . import protocol as P
from .settings import Settings, now

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


def open_slot(settings: Settings, name: str) -> mailslot.Mailslot:
    """Own mailslot ``name`` with ``settings``' transport (lanmsg's own LANMSG\\ slots take local
    requests of up to LOCAL_MAX_MESSAGE bytes).  The slot learns no sender's address by itself:
    Node.receive teaches the ones whose frames pass authentication."""
    return mailslot.Mailslot(
        name,
        transport=settings.transport,
        config=settings.config,
        max_size=mailslot.LOCAL_MAX_MESSAGE if name.upper().startswith("LANMSG\\") else 0,
        learn=False,
    )


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
        self._errors_lock = threading.Lock()  # a listener's log thread sends confirmations too
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
        try:
            dest = _destination(t, s.config)
            mailslot.write(dest, s.slot, self.seal(t.data, s.slot), transport=s.transport, config=s.config)
            return None
        except (OSError, ValueError) as e:
            with self._errors_lock:
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
        if not msg.local and msg.source_name and msg.source_ip:
            # only a frame that passed authentication (or any, without a key) teaches where its
            # sender is, and only as the last resort of name resolution (docs/security.md)
            mailslot.learn_address(msg.source_name, msg.source_ip)
        return self.peer.receive(now(), payload, msg.source_ip)


# --------------------------------------------------------------------------
# Targets: which names mean one computer (Node.transmit, the send operation, the chat)
# --------------------------------------------------------------------------


def _destination(t: P.Transmit, config: mailslot.Config) -> mailslot.Target:
    """Where a frame goes, classified once (mailslot.write takes the result).  A reply goes back
    to where the frame came from: a sender *name* such as "*", the workgroup, another IP address
    or no valid computer name at all must not turn it into a broadcast or a reflection to a
    third host."""
    try:
        dest = mailslot.classify_target(t.target, config, t.address)
    except ValueError:
        if t.address is None:
            raise
        return mailslot.classify_target(t.address, config)
    if t.address is not None and not names_one_computer(dest):
        return mailslot.classify_target(t.address, config)
    return dest


def names_one_computer(dest: mailslot.Target) -> bool:
    """Whether a target names one computer: not '*', '.', the workgroup or an address."""
    return dest.kind != "group" and dest.host != "." and not (dest.kind == "unique" and dest.lookup is None)


def plain_computer_name(name: str, config: mailslot.Config) -> bool:
    """A name that means one computer: not '*', '.', the workgroup or an address."""
    try:
        return names_one_computer(mailslot.classify_target(name, config))
    except ValueError:
        return False


def is_ipv4(text: str) -> bool:
    """Whether ``text`` is a dotted-quad IPv4 address."""
    return mailslot.dotted_quad(text.strip()) is not None
