"""announce / discover: msserver and msclient, plus a query answered in one round trip.

``announce`` broadcasts MS_MESSAGE to ``\\\\*\\mailslot\\@_MSClient_@`` every interval,
as the seed's server does, and owns ``LANMSG\\QUERY\\@_MSCLIENT_@``, where ``discover``
asks; it answers at once (0-2 ms jitter) by unicast to the asker's private reply
mailslot.  ``discover`` takes both the answers and the periodic broadcasts of
original msservers.

With a key every MS_MESSAGE, query and answer carries lanmsg.auth's trailer,
sealed when written; frames without a valid one are dropped and counted.
"""

from __future__ import annotations

import collections
import heapq
import os
import random
import socket
import time

import mailslot

from . import auth
from . import protocol as P
from .node import FrameGuard, auth_hint
from .output import Printer
from .settings import (
    CHECK_CONNECT_TIMEOUT_S,
    DISCOVER_TIMEOUT_S,
    EXIT_NONE,
    EXIT_OK,
    EXIT_SYSTEM,
    REPLY_PREFIX,
    LanmsgError,
)
from .signals import StopRequested, StopSignals

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable


def query_slot(slot: str) -> str:
    return P.QUERY_PREFIX + mailslot.normalize_mailslot_name(slot).upper()


# --------------------------------------------------------------------------
# announce
# --------------------------------------------------------------------------


def _announce_routes(transport: str, config: mailslot.Config, ip: str | None) -> list[tuple[mailslot.Config, str]]:
    """(config limited to one broadcast address, announced IP) per interface we broadcast on."""
    if transport == "native":
        return [(config, ip or _primary_address())]
    if ip:
        return [(config, ip)]
    return [
        (mailslot.Config(port=config.port, workgroup=config.workgroup, name=config.name, broadcast=(bcast,)), src)
        for src, bcast in mailslot.broadcast_routes(config)
    ]


def _primary_address() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def announce(
    port: int,
    *,
    slot: str = P.MS_SLOT,
    ip: str | None = None,
    interval: float = P.ANNOUNCE_INTERVAL_S,
    transport: str | None = None,
    config: mailslot.Config | None = None,
    printer: Printer,
    rng: random.Random | None = None,
    count: int | None = None,
    key: bytes | None = None,
    auth_window: float = auth.DEFAULT_WINDOW_S,
) -> int:
    transport = mailslot.resolve_transport(transport)
    config = config or mailslot.Config.from_env()
    rng = rng or random.Random()
    guard = FrameGuard(key, auth_window)
    dropped: collections.Counter[str] = collections.Counter()
    if ip is not None:
        P.encode_ms_message(ip, port)  # validates: bad input before anything is sent
    elif not 0 < port < 65536:
        raise ValueError(f"invalid TCP port {port}: must be 1-65535")
    routes = _announce_routes(transport, config, ip)
    frames = [(cfg, P.encode_ms_message(addr, port)) for cfg, addr in routes]
    local_ip = routes[0][1]
    try:
        queries = mailslot.Mailslot(query_slot(slot), transport=transport, config=config)
    except mailslot.MailslotExistsError:
        queries = None
        printer.event(
            "warning",
            f"another announcer on this machine answers queries for {slot}; this one only broadcasts",
            slot=slot,
        )
    answers: list[tuple[float, int, str, str | None, str, bool]] = []  # due, seq, target, address, reply slot, local
    seq = 0
    sent = answered = 0
    key_id = auth.fingerprint(key) if key is not None else None
    next_broadcast = time.monotonic()
    try:
        with StopSignals() as stop:
            mailslot.suspend_on_ctrl_z()  # Ctrl-Z leaves the host's unicasts to its other lanmsg processes
            # announced once SIGINT/SIGTERM are handled: a signal right after this line stops cleanly
            printer.event(
                "announcing",
                f"announcing {', '.join(f'{a}:{port}' for _, a in routes)} on "
                f"\\\\*\\mailslot\\{slot} every {interval:g} s ({transport}"
                + (f", key {key_id}" if key_id else "")
                + "); Ctrl-C to stop",
                endpoints=[f"{a}:{port}" for _, a in routes],
                slot=slot,
                interval=interval,
                key=key_id,
            )
            while not stop.stopping.is_set():
                now = time.monotonic()
                if now >= next_broadcast:
                    for cfg, frame in frames:
                        try:
                            mailslot.write("*", slot, guard.seal(frame, slot), transport=transport, config=cfg)
                            sent += 1
                        except mailslot.RemoteMailslotsError as e:
                            raise LanmsgError(e.strerror or str(e), EXIT_SYSTEM) from None
                    if count is not None and sent >= count * len(frames):
                        break
                    next_broadcast = now + interval
                while answers and answers[0][0] <= now:
                    _, _, target, address, reply, local = heapq.heappop(answers)
                    addr = local_ip if local or ip else _facing_address(address, config, local_ip)
                    try:
                        mailslot.write(
                            "." if local else target,
                            reply,
                            guard.seal(P.encode_ms_message(addr, port), reply),
                            transport=transport,
                            config=config,
                            address=None if local else address,
                        )
                        answered += 1
                    except (OSError, ValueError):
                        pass
                wake = min([next_broadcast] + [a[0] for a in answers[:1]])
                wait = max(0.0, wake - time.monotonic())
                if queries is None:
                    time.sleep(min(wait, 0.25))
                    continue
                try:
                    msg = queries.read(min(wait, 0.25))
                except TimeoutError:
                    continue
                payload = guard.open(msg.data, query_slot(slot))
                if isinstance(payload, str):
                    dropped[payload] += 1
                    continue
                q = P.decode_query(payload)
                if isinstance(q, P.BadFrame) or not q.reply_slot.upper().startswith(REPLY_PREFIX):
                    continue
                delay = rng.uniform(0.0, P.ANSWER_JITTER_MAX_S)
                seq += 1
                heapq.heappush(
                    answers,
                    (time.monotonic() + delay, seq, msg.source_name or ".", msg.source_ip, q.reply_slot, msg.local),
                )
    except (KeyboardInterrupt, StopRequested):
        pass
    finally:
        if queries is not None:
            queries.close()
        printer.event(
            "stopped",
            f"stopped after {sent} broadcasts and {answered} answers",
            broadcasts=sent,
            answers=answered,
            frames_dropped=dropped,
        )
    return EXIT_OK


def _facing_address(peer_ip: str | None, config: mailslot.Config, default: str) -> str:
    """Our address on the interface that reaches ``peer_ip``."""
    if not peer_ip:
        return default
    try:
        return mailslot.source_address_for(peer_ip, config.port)
    except OSError:
        return default


# --------------------------------------------------------------------------
# discover
# --------------------------------------------------------------------------


def _reachable(endpoint: P.Endpoint) -> bool:
    try:
        with socket.create_connection((endpoint.ip, endpoint.port), timeout=CHECK_CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def _why_nothing(
    slot: str,
    timeout: float,
    transport: str,
    config: mailslot.Config,
    found: dict[P.Endpoint, bool],
    dropped: collections.Counter[str],
) -> str:
    """One line for a discover that printed nothing: what it heard, and what to try."""
    where = f"mailslot {slot}, {transport}" + (f", UDP {config.port}" if transport == "netbios" else "")
    if found:
        servers = ", ".join(str(e) for e in found)
        why = (
            f"found {servers} but no connection to its TCP port was accepted within "
            f"{CHECK_CONNECT_TIMEOUT_S:g} s (--check); is the server program itself running there?"
        )
    else:
        why = (
            f"no server answered within {timeout:g} s ({where}); is 'lanmsg announce TCP_PORT' or msserver "
            "running, with the same --port? try a longer --timeout"
        )
    hint = auth_hint(dropped)
    return f"{why}; also: {hint}" if hint else why


def discover(
    *,
    slot: str = P.MS_SLOT,
    timeout: float = DISCOVER_TIMEOUT_S,
    find_all: bool = False,
    check: bool = False,
    transport: str | None = None,
    config: mailslot.Config | None = None,
    printer: Printer,
    key: bytes | None = None,
    auth_window: float = auth.DEFAULT_WINDOW_S,
    on_nothing: Callable[[str], object] | None = None,
) -> int:
    """Print each server found (``printer``); exit code 0 when one was, else 1, and
    ``on_nothing`` (when given) is told why in one line: what was looked for, what to try."""
    transport = mailslot.resolve_transport(transport)
    config = config or mailslot.Config.from_env()
    guard = FrameGuard(key, auth_window)
    dropped: collections.Counter[str] = collections.Counter()
    reply_name = f"{REPLY_PREFIX}{os.getpid()}-{random.getrandbits(48):012x}"
    deadline = time.monotonic() + timeout
    slots = []
    try:
        # the private reply slot; on the netbios transport it also sees msserver's broadcasts
        reply = mailslot.Mailslot(reply_name, transport=transport, config=config, monitor=(slot,))
        slots.append(reply)
        try:  # the original clients' name, for msservers on this machine (Windows: exclusive)
            slots.append(mailslot.Mailslot(slot, transport=transport, config=config))
        except mailslot.MailslotExistsError:
            pass
        query = P.encode_query(reply_name)
        next_query = time.monotonic()
        found: dict[P.Endpoint, bool] = {}
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_query:
                try:
                    mailslot.write(
                        "*", query_slot(slot), guard.seal(query, query_slot(slot)), transport=transport, config=config
                    )
                except mailslot.RemoteMailslotsError as e:
                    if len(slots) == 1:
                        raise LanmsgError(e.strerror or str(e), EXIT_SYSTEM) from None
                next_query = now + P.QUERY_RESEND_S
            try:
                _, msg = mailslot.read_any(slots, min(deadline, next_query) - now)
            except TimeoutError:
                continue
            payload = guard.open(msg.data, msg.mailslot)
            if isinstance(payload, str):
                dropped[payload] += 1
                continue
            ann = P.decode_ms_message(payload, msg.source_ip)
            if isinstance(ann, P.BadFrame) or ann.endpoint in found:
                continue
            via = "answer" if msg.mailslot.upper() == reply_name.upper() else "broadcast"
            ok = _reachable(ann.endpoint) if check else True
            found[ann.endpoint] = ok
            if not ok:
                continue
            printer.event(
                "server",
                str(ann.endpoint),
                ip=ann.endpoint.ip,
                port=ann.endpoint.port,
                via=via,
                **({"from": msg.source_name} if msg.source_name else {}),
                **({"note": ann.note} if ann.note else {}),
            )
            if not find_all:
                return EXIT_OK
        if any(found.values()):
            return EXIT_OK
        if on_nothing is not None:
            on_nothing(_why_nothing(slot, timeout, transport, config, found, dropped))
        return EXIT_NONE
    finally:
        for s in slots:
            s.close()
