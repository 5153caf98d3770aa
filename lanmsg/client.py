"""lanmsg as a library: send confirmed messages, detect peers and find servers from one process.

    from lanmsg.client import Messenger, NotConfirmed

    with Messenger() as m:                       # settings from LANMSG_* like the CLI
        c = m.send("BOB", "backup done")         # blocks until BOB confirms
        print(c.by, c.address)
        for peer in m.detect():
            print(peer.name, peer.address)

A Messenger runs the same operations as the command line (lanmsg.messenger's
SendOp, DetectOp, BroadcastOp on a protocol.Peer and a Node), with the same
transport and settings, but keeps its mailslot open between calls: no
process start, no slot set-up, and the addresses of peers it has heard from
are remembered.  When a ``lanmsg listen`` already owns the messenger slot on
this machine, each call is handed to that listener (as the CLI does) and the
listener sends as itself.

Errors carry the CLI's exit codes: ``NotConfirmed`` (1) when nobody confirmed
in time, ``LanmsgError`` with exit code 2 for bad input (nothing was sent) and
3 for a transport or system error.
"""

from __future__ import annotations

import collections

import mailslot

from . import protocol as P
from .control import NoListener, via_listener
from .messenger import operation_timeout, run_on_node
from .node import Node, open_slot
from .output import Printer
from .settings import (
    DETECT_TIMEOUT_S,
    EXIT_NONE,
    EXIT_SYSTEM,
    LanmsgError,
    Settings,
    check_retries,
    library_settings,
)
from .signals import LibraryStop

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from typing_extensions import Unpack

    from .settings import Emit, LibraryOptions, Record


class Confirmation(collections.namedtuple("Confirmation", "msg_id by address")):
    """A message confirmed: its id, the confirming peer's name and address (None when not known)."""

    __slots__ = ()


class OnlinePeer(collections.namedtuple("OnlinePeer", "name address")):
    """A peer that answered DETECT: its messenger name and address."""

    __slots__ = ()


class NotConfirmed(LanmsgError):
    """Nobody confirmed in time (exit code 1); ``msg_id`` is the message's id when one was sent."""

    def __init__(self, message: str, msg_id: int | None = None):
        super().__init__(message, EXIT_NONE)
        self.msg_id = msg_id


class Messenger:
    """A messenger endpoint that lives as long as the ``with`` block (or until ``close()``).

    Give a ``lanmsg.settings.Settings``, or the options the CLI takes:
    ``slot``, ``transport`` ("netbios" or "native"), ``port``, ``name``,
    ``workgroup``, ``broadcast`` (address or list of addresses), ``encoding``,
    ``key_file`` and ``auth_window`` (a keyed group, docs/security.md).
    Anything not given comes from the LANMSG_* environment variables.
    Not thread-safe: use one Messenger per thread.

    Made in the main thread, it takes SIGTERM and SIGHUP where they would kill the process
    (lanmsg.signals.LibraryStop): they raise SystemExit(0), so ``with`` blocks and ``finally``
    clauses run, as on Ctrl-C.  A handler the program set stays its own.
    """

    def __init__(self, settings: Settings | None = None, **options: Unpack[LibraryOptions]) -> None:
        self.settings = settings = library_settings(settings, **options)
        self._slot: mailslot.Mailslot | None = None
        self._node: Node | None = None
        try:
            # learns no address by itself: Node.receive teaches those of frames that pass authentication
            self._slot = open_slot(settings, settings.slot)
        except mailslot.MailslotExistsError:
            pass  # a listener (or another program) owns it: hand each call to it
        except OSError as e:
            raise LanmsgError(_os_error_text(e), EXIT_SYSTEM) from None
        if self._slot is not None:
            peer = P.Peer(settings.name, encoding=settings.encoding, max_frame=settings.max_frame, responsive=False)
            self._node = Node(settings, self._slot, peer)
        self._closed = False
        self._stop = LibraryStop()  # SIGTERM, SIGHUP: SystemExit(0), so the with block closes the slot

    # -- life ---------------------------------------------------------------

    @property
    def via_listener(self) -> bool:
        """True when the calls go through the ``lanmsg listen`` that owns the slot on this machine."""
        return self._node is None

    def close(self) -> None:
        """Free the mailslot (and SIGTERM, SIGHUP: see the class)."""
        if not self._closed:
            self._closed = True
            try:
                if self._slot is not None:
                    self._slot.close()
            finally:
                self._stop.release()

    def __enter__(self) -> Messenger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operations ---------------------------------------------------------

    def send(self, host: str, text: str, *, timeout: float | None = None, retries: int = P.RESENDS) -> Confirmation:
        """Send ``text`` to ``host`` and wait for its confirmation.

        ``host``: a messenger name, a DNS name, an IPv4 address or "." (this machine).
        Resent with the same id every 750 ms, ``retries`` times; ``timeout``:
        seconds to wait in all (default: one interval after the last resend).
        Raises NotConfirmed when no confirmation came.
        """
        check_retries(retries, timeout)
        records = self._run(
            {"op": "send", "host": host, "text": text, "timeout": timeout, "resends": retries, "wait": True}
        )
        for r in records:
            if r.get("event") == "confirmed":
                return Confirmation(r["id"], r["by"], r.get("address"))
        sent = next((r.get("id") for r in records if r.get("event") == "sent"), None)
        raise NotConfirmed(f"no confirmation from {host!r}", sent)

    def send_nowait(self, host: str, text: str) -> int:
        """Send ``text`` to ``host`` once without waiting; return the message id."""
        records = self._run({"op": "send", "host": host, "text": text, "timeout": None, "resends": 0, "wait": False})
        return int(next(r["id"] for r in records if r.get("event") == "sent"))

    def broadcast(self, text: str, *, wait: float = 0.0) -> list[Confirmation]:
        """Send ``text`` to everyone; with ``wait`` > 0, return who confirmed within ``wait`` seconds."""
        records = self._run({"op": "broadcast", "text": text, "wait": max(0.0, wait)}, none_ok=True)
        return [Confirmation(r["id"], r["by"], r.get("address")) for r in records if r.get("event") == "confirmed"]

    def detect(
        self, timeout: float = DETECT_TIMEOUT_S, *, on_peer: Callable[[OnlinePeer], object] | None = None
    ) -> list[OnlinePeer]:
        """The peers that answer DETECT within ``timeout`` seconds (peers answer after 5-1028 ms).

        ``on_peer(OnlinePeer)``, if given, is called as each answer arrives.
        """

        def seen(record: Record) -> None:
            if on_peer is not None and record.get("event") == "peer":
                on_peer(OnlinePeer(record["name"], record.get("address")))

        records = self._run({"op": "detect", "timeout": max(0.0, timeout)}, none_ok=True, observe=seen)
        return [OnlinePeer(r["name"], r.get("address")) for r in records if r.get("event") == "peer"]

    # -- running an operation -------------------------------------------------

    def _run(self, req: Record, *, none_ok: bool = False, observe: Emit | None = None) -> list[Record]:
        if self._closed:
            raise ValueError("this Messenger is closed")
        records: list[Record] = []

        def emit(record: Record) -> None:
            records.append(record)
            if observe is not None:
                observe(record)

        if self._node is not None:
            code = run_on_node(self._node, req, emit)
        else:
            code = _run_via_listener(self.settings, req, emit)
        for r in records:
            if r.get("event") == "error":
                code = int(r.get("exit", EXIT_SYSTEM))
                if code == EXIT_NONE:
                    raise NotConfirmed(str(r.get("message", "not confirmed")))
                raise LanmsgError(str(r.get("message", "error")), code)
        if code not in (0, EXIT_NONE) or (code == EXIT_NONE and not none_ok and req["op"] != "send"):
            raise LanmsgError(f"{req['op']} failed (exit code {code})", code)
        return records


def _os_error_text(e: OSError) -> str:
    return str(e.strerror) if e.strerror else str(e)


def _run_via_listener(settings: Settings, req: Record, emit: Emit) -> int:
    """Hand ``req`` to the ``lanmsg listen`` of this machine (its control mailslot, docs/messenger.md)."""
    try:
        return via_listener(settings, req, emit, operation_timeout(req))
    except NoListener:
        raise LanmsgError(
            f"mailslot {settings.slot!r} on this machine belongs to a program that is not a lanmsg listener",
            EXIT_SYSTEM,
        ) from None
    except OSError as e:
        raise LanmsgError(_os_error_text(e), EXIT_SYSTEM) from None


def discover(
    *,
    timeout: float = 3.0,
    find_all: bool = False,
    check: bool = False,
    slot: str = P.MS_SLOT,
    transport: str | None = None,
    config: mailslot.Config | None = None,
    key: bytes | None = None,
    auth_window: float | None = None,
) -> list[P.Endpoint]:
    """Servers announced with ``lanmsg announce`` or msserver: the first one found, or with
    ``find_all`` every one found within ``timeout`` seconds (``check``: only those that
    accept a TCP connection).  An empty list when none answered in time.  ``key``
    (``lanmsg.auth.load_key(path)``): find only servers of that keyed group."""
    from . import auth, discovery

    found: list[P.Endpoint] = []

    class _Collect(Printer):
        json_mode = True

        def __init__(self) -> None:  # prints nothing: no stream
            pass

        def event(self, kind: str, human: str | None, /, **fields: Any) -> None:
            if kind == "server":
                found.append(P.Endpoint(fields["ip"], fields["port"]))

    try:
        discovery.discover(
            slot=slot,
            timeout=max(0.0, timeout),
            find_all=find_all,
            check=check,
            transport=transport,
            config=config,
            printer=_Collect(),
            key=key,
            auth_window=auth.DEFAULT_WINDOW_S if auth_window is None else auth_window,
        )
    except OSError as e:
        raise LanmsgError(_os_error_text(e), EXIT_SYSTEM) from None
    return found
