"""Optional shared-key authentication of lanmsg frames, sans-I/O.

A group that shares a key appends a trailer to every frame it writes::

    payload     the application frame (messenger frame, MS_MESSAGE, discovery query)
    magic        4 bytes  b"LMA1"
    timestamp    8 bytes  big-endian unsigned, milliseconds since the Unix epoch
    tag         32 bytes  HMAC-SHA256(key, b"lanmsg-auth-v1\\x00" + SLOT + b"\\x00" + timestamp + payload)

SLOT is the mailslot the frame is written to, normalized (no ``\\\\.\\mailslot\\``
prefix) and upper-cased, UTF-8.  The payload carries the sender (the messenger
frame's sender field, MS_MESSAGE's announced address), so the tag covers frame,
sender, destination slot and time.

No sockets and no clocks: the wall-clock time is passed in (float seconds since
the epoch) by the caller.
"""

from __future__ import annotations

import heapq
import math
import os
import struct

import mailslot

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    from collections.abc import Mapping

KEY_SIZE = 32  # bytes of a key (64 hex digits in a key file)
MAGIC = b"LMA1"
TIMESTAMP_SIZE = 8
TAG_SIZE = 32
TRAILER_SIZE = len(MAGIC) + TIMESTAMP_SIZE + TAG_SIZE  # 44
DEFAULT_WINDOW_S = 60.0  # accepted |receiver's clock - frame's timestamp|
DEFAULT_MAX_REMEMBERED = 65536  # tags remembered to refuse replays
KEY_FILE_MAX_BYTES = 4096  # a key file is 64 hex digits; anything much larger is not one

_DOMAIN = b"lanmsg-auth-v1\x00"
_FINGERPRINT_DOMAIN = b"lanmsg-key-fingerprint-v1\x00"
_TIMESTAMP = struct.Struct(">Q")
_TIMESTAMP_MAX_MS = 2**64 - 1
# what an unkeyed receiver takes for a keyed frame: the magic and a timestamp between
# 2001 and 2200 (milliseconds), so ordinary text that happens to contain "LMA1" is not
PLAUSIBLE_TIMESTAMP_MS = (978_307_200_000, 7_258_118_400_000)

REASONS = ("untagged", "bad-tag", "stale", "replayed")


class KeyFileError(ValueError):
    """A key file that cannot be used; the message is one line."""


class AuthError(ValueError):
    """A frame refused; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, message: str | None = None):
        super().__init__(message or reason)
        self.reason = reason


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------


def generate_key() -> bytes:
    import secrets

    return secrets.token_bytes(KEY_SIZE)


def format_key(key: bytes) -> str:
    """The key file's content: 64 lower-case hex digits and a newline."""
    _check_key(key)
    return key.hex() + "\n"


def parse_key(text: str) -> bytes:
    """64 hex digits (surrounding whitespace ignored) -> key; ValueError otherwise."""
    digits = text.strip()
    if len(digits) != 2 * KEY_SIZE or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"expected {2 * KEY_SIZE} hex digits")
    return bytes.fromhex(digits)


def load_key(path: str) -> bytes:
    """Read a key file; KeyFileError with a one-line message if it cannot be used."""
    try:
        with open(path, "rb") as f:
            raw = f.read(KEY_FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"key file {path!r} not found (create one with: lanmsg keygen FILE)") from None
    except IsADirectoryError:
        raise KeyFileError(f"key file {path!r} is a directory") from None
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path!r}: {e.strerror or e}") from None
    try:
        return parse_key(raw.decode("ascii")) if len(raw) <= KEY_FILE_MAX_BYTES else parse_key("")
    except (UnicodeDecodeError, ValueError):
        raise KeyFileError(
            f"key file {path!r} is not a lanmsg key: expected {2 * KEY_SIZE} hex digits "
            "(create one with: lanmsg keygen FILE)"
        ) from None


def group_key(key_file: str | None, window: float | None, environ: Mapping[str, str]) -> tuple[bytes | None, float]:
    """The key and window a command uses: the arguments, else $LANMSG_KEY_FILE and
    $LANMSG_AUTH_WINDOW from ``environ``, else no key and DEFAULT_WINDOW_S.

    KeyFileError for an unusable key file, ValueError for a bad window (one-line messages).
    """
    path = key_file if key_file is not None else environ.get("LANMSG_KEY_FILE", "")
    if window is None:
        raw = environ.get("LANMSG_AUTH_WINDOW", "").strip()
        try:
            window = float(raw) if raw else DEFAULT_WINDOW_S
        except ValueError:
            raise ValueError(f"LANMSG_AUTH_WINDOW={raw!r} is not a number of seconds") from None
    if not math.isfinite(window) or window <= 0:
        raise ValueError(
            "the authentication window (--auth-window, LANMSG_AUTH_WINDOW) must be a positive number of seconds"
        )
    return (load_key(path) if path else None), window


def fingerprint(key: bytes) -> str:
    """A short public name of a key (16 hex digits): tells two keys apart, reveals nothing of it."""
    _check_key(key)
    import hashlib

    return hashlib.sha256(_FINGERPRINT_DOMAIN + key).hexdigest()[:16]


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        raise ValueError(f"a key is {KEY_SIZE} bytes")


# --------------------------------------------------------------------------
# Sealing and opening frames
# --------------------------------------------------------------------------


def _slot_bytes(slot: str) -> bytes:
    return mailslot.normalize_mailslot_name(slot).upper().encode("utf-8")


def _tag(key: bytes, slot: bytes, stamp: bytes, payload: bytes) -> bytes:
    import hashlib  # here, not at the top: only keyed groups pay their ~3 ms of start-up
    import hmac

    return hmac.new(key, _DOMAIN + slot + b"\x00" + stamp + payload, hashlib.sha256).digest()


def _millis(now: float) -> int:
    if not isinstance(now, (int, float)) or not math.isfinite(now):
        raise ValueError(f"now must be a finite number of seconds, not {now!r}")
    return round(now * 1000)


def seal(key: bytes, payload: bytes, *, slot: str, now: float) -> bytes:
    """``payload`` + trailer, for writing to mailslot ``slot`` at wall-clock time ``now``."""
    _check_key(key)
    payload = bytes(payload)
    ms = _millis(now)
    if not 0 <= ms <= _TIMESTAMP_MAX_MS:
        raise ValueError(f"time {now!r} is outside the timestamp's range")
    stamp = _TIMESTAMP.pack(ms)
    return payload + MAGIC + stamp + _tag(bytes(key), _slot_bytes(slot), stamp, payload)


def looks_sealed(data: bytes) -> bool:
    """True if ``data`` ends in what looks like a trailer (for a receiver without a key)."""
    try:
        data = bytes(data)
    except TypeError:
        return False
    if len(data) < TRAILER_SIZE or data[-TRAILER_SIZE : -TRAILER_SIZE + len(MAGIC)] != MAGIC:
        return False
    ms: int = _TIMESTAMP.unpack_from(data, len(data) - TIMESTAMP_SIZE - TAG_SIZE)[0]
    return PLAUSIBLE_TIMESTAMP_MS[0] <= ms <= PLAUSIBLE_TIMESTAMP_MS[1]


def strip_trailer(data: bytes) -> bytes:
    """The payload of data that looks sealed (unverified), else ``data`` itself."""
    return bytes(data[:-TRAILER_SIZE]) if looks_sealed(data) else bytes(data)


class Verifier:
    """Opens sealed frames: checks the tag, the time window and replays.

    A tag is remembered only once it verified, and forgotten when its
    timestamp leaves the window (a replay then fails as stale).  At most
    ``max_remembered`` tags are kept; beyond that the oldest timestamps are
    forgotten first (a replay of such a frame still reaches the messenger's
    own duplicate table, which shows a message once).
    """

    def __init__(self, key: bytes, *, window_s: float = DEFAULT_WINDOW_S, max_remembered: int = DEFAULT_MAX_REMEMBERED):
        _check_key(key)
        if not isinstance(window_s, (int, float)) or not math.isfinite(window_s) or window_s <= 0:
            raise ValueError(f"the authentication window must be a positive number of seconds, not {window_s!r}")
        if not isinstance(max_remembered, int) or max_remembered < 1:
            raise ValueError("max_remembered must be a positive integer")
        self.key = bytes(key)
        self.window_s = float(window_s)
        self.max_remembered = max_remembered
        self._seen: set[bytes] = set()
        self._by_time: list[tuple[int, bytes]] = []  # heap of (timestamp ms, tag), same tags as _seen
        self._slots: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def open(self, data: bytes, *, slot: str, now: float) -> bytes:
        """The payload of a frame read from ``slot`` at ``now``; AuthError if refused."""
        now_ms = _millis(now)
        window_ms = self.window_s * 1000
        self._forget_before(now_ms - window_ms)
        slot_bytes = self._slots.get(slot)
        if slot_bytes is None:
            slot_bytes = _slot_bytes(slot)
            if len(self._slots) < 64:
                self._slots[slot] = slot_bytes
        try:
            data = bytes(data)
        except TypeError:
            raise AuthError("untagged", "not bytes") from None
        if len(data) < TRAILER_SIZE or data[-TRAILER_SIZE : -TRAILER_SIZE + len(MAGIC)] != MAGIC:
            raise AuthError("untagged")
        payload = data[:-TRAILER_SIZE]
        stamp = data[-TIMESTAMP_SIZE - TAG_SIZE : -TAG_SIZE]
        tag = data[-TAG_SIZE:]
        import hmac

        if not hmac.compare_digest(tag, _tag(self.key, slot_bytes, stamp, payload)):
            raise AuthError("bad-tag")
        (ms,) = _TIMESTAMP.unpack(stamp)
        if abs(now_ms - ms) > window_ms:
            raise AuthError("stale", f"timestamp {(ms - now_ms) / 1000:+.3f} s from now")
        if tag in self._seen:
            raise AuthError("replayed")
        if len(self._seen) >= self.max_remembered:
            _, oldest = heapq.heappop(self._by_time)
            self._seen.discard(oldest)
        self._seen.add(tag)
        heapq.heappush(self._by_time, (ms, tag))
        return payload

    def _forget_before(self, limit_ms: float) -> None:
        by_time = self._by_time
        while by_time and by_time[0][0] < limit_ms:
            _, tag = heapq.heappop(by_time)
            self._seen.discard(tag)


def write_key_file(path: str, key: bytes, *, force: bool = False) -> None:
    """Create ``path`` holding ``key``, readable by its owner only; FileExistsError unless ``force``."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # an existing file replaced with --force keeps no wider mode
        os.write(fd, format_key(key).encode("ascii"))
    finally:
        os.close(fd)
