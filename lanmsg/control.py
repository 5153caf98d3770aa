"""The local control channel: how a one-shot command hands its operation to the listener of its
machine, both halves in one place.

A listener (``lanmsg listen``, ``lanmsg chat``, a library Listener) owns the messenger slot, so a
``lanmsg send`` started beside it cannot; instead the command opens a private reply mailslot
(``LANMSG\\REPLY\\<pid>-<random>``), writes its request to the listener's control mailslot
(``LANMSG\\CONTROL\\<SLOT>``) and reads the operation's events back, as JSON objects, until
``{"event": "done", "exit": N}``.

* Client half: ``via_listener`` (and ``control_request``, the request's bytes).
* Server half: ``accept`` reads a request in the listener and returns it with the function that
  answers the client; the listener runs the operation (lanmsg.listener.Engine).

The request names the key's fingerprint and, with a key, is sealed with it: the listener refuses
another key or none, and counts what it drops. Only requests from this machine are taken.
"""

from __future__ import annotations

import os
import random
import time

import mailslot

from . import auth
from .node import Node, open_slot
from .output import lazy_json
from .settings import EXIT_SYSTEM, EXIT_USAGE, REPLY_GRACE_S, REPLY_PREFIX, LanmsgError, Settings, now

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    from .settings import Emit, Record


class NoListener(Exception):
    """The messenger slot is owned, but not by a listener (another one-shot command, or a foreign program)."""


def _write_here(settings: Settings, slot: str, data: bytes) -> None:
    """Write ``data`` to mailslot ``slot`` of this machine."""
    mailslot.write(".", slot, data, transport=settings.transport, config=settings.config)


# --------------------------------------------------------------------------
# Client: a one-shot command
# --------------------------------------------------------------------------


def control_request(settings: Settings, req: Record, reply_name: str) -> bytes:
    """The bytes of ``req`` for the local listener's control mailslot, answers to ``reply_name``.

    The request names the key's fingerprint (the listener refuses another key or none)
    and, with a key, is sealed with it (the listener refuses one it cannot verify).
    """
    request: bytes = lazy_json().dumps(dict(req, reply=reply_name, key=settings.key_id)).encode("utf-8")
    if settings.key is not None:
        request = auth.seal(settings.key, request, slot=settings.control_slot(), now=time.time())
    return request


def via_listener(settings: Settings, req: Record, report: Emit, timeout: float) -> int:
    """Have the listener of this machine run ``req``, which may take ``timeout`` seconds; ``report``
    sees each event it sends back.  Returns the exit code; NoListener when nobody reads the
    control mailslot."""
    token = f"{os.getpid()}-{random.getrandbits(48):012x}"
    reply_name = REPLY_PREFIX + token
    with open_slot(settings, reply_name) as reply:
        try:
            _write_here(settings, settings.control_slot(), control_request(settings, req, reply_name))
        except FileNotFoundError:
            raise NoListener() from None
        deadline = now() + timeout + REPLY_GRACE_S
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


# --------------------------------------------------------------------------
# Server: the listener
# --------------------------------------------------------------------------


def accept(node: Node, msg: mailslot.Message) -> tuple[Record, Emit] | None:
    """The request ``msg`` (read from the control mailslot) carries, and the function that sends
    the client each event of it.  None when the request is dropped (not from this machine, not
    a request: counted in ``node.frames_dropped``) or refused (the client is told why)."""
    if not msg.local:
        node.count_drop("control-not-local")
        return None
    try:
        req = lazy_json().loads(auth.strip_trailer(msg.data).decode("utf-8"))
        reply_to = mailslot.normalize_mailslot_name(str(req["reply"]))
        if not reply_to.upper().startswith(REPLY_PREFIX):
            raise ValueError("reply slot outside LANMSG\\REPLY\\")
    # RecursionError: json.loads of deeply nested brackets ("[" * 50000) raises it, not ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        node.count_drop("bad-control-request")
        return None
    settings = node.settings

    def reply(record: Record) -> None:
        try:
            _write_here(settings, reply_to, lazy_json().dumps(record).encode("utf-8"))
        except (OSError, ValueError):
            pass  # the client has gone

    refusal = _refusal(node, req, msg.data)
    if refusal is not None:
        refuse(reply, refusal)
        return None
    return req, reply


def refuse(reply: Emit, message: str) -> None:
    """Tell a client its request will not be run (exit 2, bad usage)."""
    reply({"event": "error", "message": message, "exit": EXIT_USAGE})
    reply({"event": "done", "exit": EXIT_USAGE})


def _describe_key(key_id: str | None) -> str:
    return f"key {key_id}" if key_id else "no key"


def _refusal(node: Node, req: Record, data: bytes) -> str | None:
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
