"""The words every messenger command shares: its Settings, LanmsgError and the exit codes, the
clock, and the named timings.

Nothing here opens a slot or sends: the floors above (lanmsg.node, lanmsg.messenger,
lanmsg.listener) do, with these.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, TypedDict

    import mailslot

    Record = dict[str, Any]  # one event of an operation, as JSON
    Emit = Callable[[Record], None]

    class LibraryOptions(TypedDict, total=False):
        """What lanmsg.client.Messenger and lanmsg.listener.Listener take instead of a Settings
        (``library_settings``): the command line's options of the same names."""

        slot: str | None
        transport: str | None
        port: int | None
        name: str | None
        workgroup: str | None
        broadcast: str | Iterable[str] | None
        encoding: str | None
        key_file: str | None
        auth_window: float | None


# Exit codes, for scripts: docs/messenger.md.
EXIT_OK, EXIT_NONE, EXIT_USAGE, EXIT_SYSTEM = 0, 1, 2, 3

CONTROL_PREFIX = "LANMSG\\CONTROL\\"  # + slot name: the listener's control mailslot (lanmsg.control)
REPLY_PREFIX = "LANMSG\\REPLY\\"  # + a per-process token: a local client's private reply mailslot

# Timings (seconds).
DETECT_TIMEOUT_S = 1.5  # default `detect` window (ONLINE answers come within 1.028 s)
RESOLVE_TIMEOUT_S = 1.5  # how long `send NAME` waits for NAME to answer a DETECT
# the longest a NetBIOS name lookup takes: WINS, 3 x 1.5 s, then a broadcast, 3 x 0.75 s (Windows' defaults)
NAME_LOOKUP_MAX_S = 3 * 1.5 + 3 * 0.75
REPLY_GRACE_S = 5.0  # a client waits this much longer than its operation for the listener
LISTEN_POLL_S = 0.25  # the listener's longest sleep (signals, control deadlines)
OPERATION_POLL_S = 0.05  # longest single wait while an operation runs (deadlines are re-checked)
SLOT_BUSY_RETRY_S = (0.02, 0.08)  # a one-shot command retries a busy slot after this random pause
STATS_INTERVAL_S = 60.0  # default period of `listen --json`'s "stats" event
DISCOVER_TIMEOUT_S = 3.0  # default `discover` window
CHECK_CONNECT_TIMEOUT_S = 1.0  # discover --check: a TCP connect attempt to a found endpoint


def now() -> float:
    """The clock of timers and deadlines: monotonic seconds (the wall clock only stamps and signs)."""
    return time.monotonic()


class LanmsgError(Exception):
    """A failure with its exit code and a one-line explanation."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class Settings:
    """What every messenger command runs with: slot, transport, config, text encoding, frame limit,
    and the group's key (None: unauthenticated, as the original messenger).

    ``datagram_max`` is what a peer's mailslot takes; ``max_frame`` the messenger
    frame within it: smaller by the authentication trailer when there is a key.
    """

    def __init__(
        self,
        slot: str | None = None,
        transport: str | None = None,
        config: mailslot.Config | None = None,
        encoding: str | None = None,
        max_frame: int | None = None,
        key: bytes | None = None,
        auth_window: float | None = None,
    ):
        """``slot``, ``encoding``, ``max_frame``, ``auth_window``: None (or not given) for the
        messenger's defaults (foxapp, utf-8, 250 bytes, 60 s)."""
        # here, not at the top: `lanmsg --help` and the exit codes need none of these modules
        import mailslot

        from . import auth
        from . import protocol as P

        slot = P.DEFAULT_SLOT if slot is None else slot
        encoding = P.DEFAULT_ENCODING if encoding is None else encoding
        max_frame = P.MAX_FRAME if max_frame is None else max_frame
        auth_window = auth.DEFAULT_WINDOW_S if auth_window is None else auth_window
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
        """This computer's name as text (what frames carry and people read): the NetBIOS name's
        bytes read in its DOS code page, so JÜRGEN for the wire's J\\x9aRGEN."""
        import mailslot

        return mailslot.oem_text(self.config.name, self.config.oem_encoding)

    def control_slot(self) -> str:
        return CONTROL_PREFIX + self.slot.upper()

    def describe(self) -> str:
        """The transport (and port, key) this runs with, as a listener's first line says it."""
        how = self.transport + (f", UDP {self.config.port}" if self.transport == "netbios" else "")
        return how + (f", key {self.key_id}" if self.key_id else "")

    def headline(self, role: str) -> str:
        """ "ROLE as NAME on mailslot SLOT (how)": how a command that joins the group starts."""
        return f"{role} as {self.name} on mailslot {self.slot} ({self.describe()})"

    def text_too_long(self, size: int) -> str:
        """Why a text of ``size`` bytes was not sent; with a key, both limits."""
        from . import auth
        from . import protocol as P

        if self.key is None:
            return str(P.TextTooLong(size, self.encoding, self.max_frame))
        limit = P.max_text_bytes(self.max_frame)
        return (
            f"message text is {size} bytes as {self.encoding}; at most {limit} fit in a "
            f"{self.datagram_max}-byte frame with authentication ({P.HEADER_SIZE}-byte header, "
            f"the authentication tag takes {auth.TRAILER_SIZE} bytes; {limit + auth.TRAILER_SIZE} "
            "without a key); nothing was sent"
        )


def check_retries(retries: int, timeout: float | None = None) -> None:
    """A library call's ``retries`` (resends, as ``lanmsg send --retries``) and ``timeout``:
    ValueError when not a count or negative."""
    if not isinstance(retries, int) or retries < 0 or (timeout is not None and timeout < 0):
        raise ValueError("retries and timeout must not be negative")


def library_settings(
    settings: Settings | None = None,
    *,
    slot: str | None = None,
    transport: str | None = None,
    port: int | None = None,
    name: str | None = None,
    workgroup: str | None = None,
    broadcast: str | Iterable[str] | None = None,
    encoding: str | None = None,
    key_file: str | None = None,
    auth_window: float | None = None,
) -> Settings:
    """What a lanmsg.client.Messenger or lanmsg.listener.Listener runs with: ``settings``, or the
    options it was given instead, as the command line takes them; what is not given (None, or an
    empty slot, transport or encoding) comes from the LANMSG_* environment variables, then the
    defaults.  ValueError when both are given."""
    options = {
        "slot": slot,
        "transport": transport,
        "port": port,
        "name": name,
        "workgroup": workgroup,
        "broadcast": broadcast,
        "encoding": encoding,
        "key_file": key_file,
        "auth_window": auth_window,
    }
    if settings is not None:
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise ValueError(f"give either settings or options, not both ({', '.join(given)})")
        return settings
    import mailslot

    from . import auth

    config = mailslot.Config.from_env(port=port, workgroup=workgroup, name=name, broadcast=broadcast)
    key, window = auth.group_key(key_file, auth_window, os.environ)
    named: dict[str, Any] = {k: v for k in ("slot", "transport", "encoding") if (v := options[k])}
    return Settings(**named, config=config, key=key, auth_window=window)
