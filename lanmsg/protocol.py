"""The lanmsg protocols, sans-I/O: bytes in, typed immutable events out.

Two formats, byte for byte as the programs lanmsg interoperates with:

* the FoxPro LAN Messenger frame (mailslot ``foxapp``)::

      sender      24 bytes  name padded with spaces
      message id  12 bytes  decimal, right-aligned (FoxPro STR(n, 12))
      conf flag    1 byte   "1" = please confirm
      sys flag     1 byte   "1" = system message: ONLINE, OFFLINE, DETECT, CONF <id>
      body        the rest

* msserver's ``MS_MESSAGE`` (mailslot ``@_MSClient_@``), in lanmsg.discovery.

No sockets and no clocks here: every function that needs the time takes ``now``
(seconds, any monotonic origin), so two peers can be run against each other in memory.
"""

from __future__ import annotations

import collections
import random
import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    from typing import TypeAlias

    # What a Peer returns: actions for the transport and events for the user.
    Event: TypeAlias = "MessageReceived | PresenceChanged | Confirmed | DeliveryFailed | PeerAnswered | Dropped"
    Output: TypeAlias = "list[Transmit | Event]"

# --------------------------------------------------------------------------
# The messenger frame
# --------------------------------------------------------------------------

DEFAULT_SLOT = "foxapp"  # the seed's TurnOn("foxapp"), upper-cased by the seed on create
NAME_SIZE = 24  # seed: #DEFINE NAME_SIZE 24
MSGID_SIZE = 12  # seed: #DEFINE MSGID_SIZE 12
HEADER_SIZE = NAME_SIZE + MSGID_SIZE + 2
MAX_FRAME = 250  # seed: #DEFINE MAX_MESSAGE_SIZE 250 (its CreateMailslot maximum)
MAX_MSG_ID = 2**31 - 1  # the seed logs ids in an Integer column (signed 32-bit)

ONLINE, OFFLINE, DETECT, CONF = "ONLINE", "OFFLINE", "DETECT", "CONF"

DEFAULT_ENCODING = "utf-8"
FALLBACK_ENCODING = "cp1252"  # what the seed's Windows peers send (ANSI code page)


class FrameError(ValueError):
    """A frame lanmsg refuses to build (bad input: the CLI's exit code 2)."""


if TYPE_CHECKING:
    from typing import NamedTuple

    class _FrameFields(NamedTuple):
        sender: str
        msg_id: int
        wants_confirmation: bool
        system: bool
        body: str

    class _BadFrameFields(NamedTuple):
        reason: str
        size: int
else:
    _FrameFields = collections.namedtuple("Frame", "sender msg_id wants_confirmation system body")
    _BadFrameFields = collections.namedtuple("BadFrame", "reason size")


class Frame(_FrameFields):
    """A messenger frame: sender name, message id, the two flags, the body text."""

    __slots__ = ()


class BadFrame(_BadFrameFields):
    """What parsing returns for bytes that are not a frame (never raised): why, and how many bytes."""

    __slots__ = ()


def decode_text(raw: bytes) -> str:
    """UTF-8 when valid, else the seed's Windows code page (cp1252)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(FALLBACK_ENCODING, errors="replace")


def _fit(text: str, size: int, encoding: str) -> bytes:
    """``text`` encoded, cut at a character boundary to ``size`` bytes, padded with spaces."""
    out = b""
    for ch in text:
        piece = ch.encode(encoding)
        if len(out) + len(piece) > size:
            break
        out += piece
    return out.ljust(size, b" ")


class TextTooLong(FrameError):
    """A message text longer than a frame takes: ``size`` bytes in ``encoding``, more than
    ``max_text_bytes(max_frame)``."""

    def __init__(self, size: int, encoding: str, max_frame: int):
        super().__init__(
            f"message text is {size} bytes as {encoding}; at most {max_text_bytes(max_frame)} fit in a "
            f"{max_frame}-byte frame ({HEADER_SIZE}-byte header); nothing was sent"
        )
        self.size, self.encoding, self.max_frame = size, encoding, max_frame


def _cannot_encode(encoding: str, error: Exception) -> FrameError:
    return FrameError(f"cannot encode the text as {encoding}: {error}")


def _encoded(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except (UnicodeEncodeError, LookupError) as e:
        raise _cannot_encode(encoding, e) from None


def max_text_bytes(max_frame: int = MAX_FRAME) -> int:
    """The most bytes of text a frame of ``max_frame`` bytes carries: 212 in the seed's 250."""
    return max_frame - HEADER_SIZE


def text_room(text: str, encoding: str = DEFAULT_ENCODING, max_frame: int = MAX_FRAME) -> int:
    """Bytes of a frame's text still free after ``text`` in ``encoding``; negative: that many too
    many.  The one size rule: the chat's count, ``Listener.fits`` and the operations ask it, and
    ``encode_frame`` applies it to the body it encodes.  FrameError when ``encoding`` cannot carry
    ``text`` at all."""
    return max_text_bytes(max_frame) - len(_encoded(text, encoding))


def encode_frame(frame: Frame, *, encoding: str = DEFAULT_ENCODING, max_frame: int = MAX_FRAME) -> bytes:
    """Frame -> bytes exactly as the seed's SendMessage assembles them.  FrameError (TextTooLong
    when the body is longer than ``text_room`` allows) for a frame that cannot be built."""
    if not 0 <= frame.msg_id < 10**MSGID_SIZE:
        raise FrameError(f"message id {frame.msg_id} does not fit {MSGID_SIZE} digits")
    sender = _senders_encoded.get((frame.sender, encoding))
    if sender is None:
        try:
            sender = _fit(frame.sender, NAME_SIZE, encoding)
        except (UnicodeEncodeError, LookupError) as e:
            raise _cannot_encode(encoding, e) from None
        if len(_senders_encoded) >= _NAMES_REMEMBERED:
            _senders_encoded.clear()
        _senders_encoded[(frame.sender, encoding)] = sender
    body = _encoded(frame.body, encoding)
    if len(body) > max_text_bytes(max_frame):
        raise TextTooLong(len(body), encoding, max_frame)
    return (
        sender
        + str(frame.msg_id).rjust(MSGID_SIZE).encode("ascii")
        + (b"1" if frame.wants_confirmation else b"0")
        + (b"1" if frame.system else b"0")
        + body
    )


_DIGITS = re.compile(rb" *([0-9]{1,12})")
_FLAGS = {b"00": (False, False), b"01": (False, True), b"10": (True, False), b"11": (True, True)}
# A peer sends many frames under one name: its encoded and decoded forms are kept (bounded,
# emptied when full).
_NAMES_REMEMBERED = 1024
_senders_encoded: dict[tuple[str, str], bytes] = {}
_senders_decoded: dict[bytes, str] = {}  # the name field's 24 bytes -> the sender ("" when refused)


def _sender(field: bytes) -> str:
    sender = _senders_decoded.get(field)
    if sender is None:
        sender = decode_text(field.rstrip(b" \x00")).strip()
        if not sender.isprintable():
            sender = ""
        if len(_senders_decoded) >= _NAMES_REMEMBERED:
            _senders_decoded.clear()
        _senders_decoded[field] = sender
    return sender


def decode_frame(data: bytes) -> Frame | BadFrame:
    """Bytes -> Frame, or BadFrame with the reason.  Never raises."""
    try:
        data = bytes(data)
    except TypeError:
        return BadFrame("not-bytes", 0)
    if len(data) < HEADER_SIZE:
        return BadFrame("short", len(data))
    sender = _sender(data[:NAME_SIZE])
    if not sender:
        return BadFrame("bad-sender", len(data))
    m = _DIGITS.fullmatch(data, NAME_SIZE, NAME_SIZE + MSGID_SIZE)
    if not m:
        return BadFrame("bad-id", len(data))
    flags = _FLAGS.get(data[NAME_SIZE + MSGID_SIZE : HEADER_SIZE])
    if flags is None:
        return BadFrame("bad-flag", len(data))
    return _new_tuple(Frame, (sender, int(m.group(1)), flags[0], flags[1], decode_text(data[HEADER_SIZE:])))


_new_tuple = tuple.__new__  # a Frame from its fields in order, without the namedtuple's keyword parsing


def conf_body(msg_id: int) -> str:
    return f"{CONF} {msg_id}"  # seed: "CONF "+LTRIM(STR(nMsgId))


_CONF = re.compile(r"CONF +([0-9]{1,12})\s*")


def parse_conf(body: str) -> int | None:
    m = _CONF.fullmatch(body)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------
# Events (what a peer tells its caller) and actions (what it wants sent)
# --------------------------------------------------------------------------


class Transmit(collections.namedtuple("Transmit", "target address data frame")):
    """Send ``data`` to mailslot peers: ``target`` '*' (everyone) or a computer name at ``address``."""

    __slots__ = ()


class MessageReceived(collections.namedtuple("MessageReceived", "sender address msg_id text duplicate at")):
    """A user message; ``duplicate``: already shown once (confirmed again, not shown again)."""

    __slots__ = ()


class PresenceChanged(collections.namedtuple("PresenceChanged", "name address online at")):
    __slots__ = ()


class Confirmed(collections.namedtuple("Confirmed", "msg_id by address at")):
    __slots__ = ()


class DeliveryFailed(collections.namedtuple("DeliveryFailed", "msg_id target attempts at")):
    __slots__ = ()


class PeerAnswered(collections.namedtuple("PeerAnswered", "name address at")):
    """An ONLINE frame: the answer to DETECT (or an announcement)."""

    __slots__ = ()


class Dropped(collections.namedtuple("Dropped", "reason at")):
    """A frame that was not taken; ``reason`` is short and countable ("short", "bad-id", "own")."""

    __slots__ = ()


class Presence(collections.namedtuple("Presence", "name address online last_seen")):
    __slots__ = ()


# --------------------------------------------------------------------------
# The peer state machine
# --------------------------------------------------------------------------

# Timing constants (seconds).
RESEND_INTERVAL_S = 0.75  # IPMsg: retransmit an unanswered message every 750 ms
RESENDS = 3  # IPMsg: 3 resends before giving up
DETECT_REPLY_MIN_S = 0.005  # IPMsg answers a broadcast entry after a random 5-1028 ms,
DETECT_REPLY_MAX_S = 1.028  #   so one DETECT does not cause a reply storm
DEDUP_WINDOW_S = 600.0  # (sender, id) pairs remembered to show a message once
DEDUP_MAX = 10_000  # memory cap of the duplicate table
PRESENCE_MAX = 4096  # memory cap of the presence table
PENDING_MAX = 1024  # outstanding unconfirmed messages


class _Pending:
    """A message waiting for its confirmation (``collect``: a broadcast, gathering them all)."""

    __slots__ = (
        "address",
        "attempts",
        "collect",
        "confirmed_by",
        "data",
        "frame",
        "give_up_at",
        "msg_id",
        "next_at",
        "resends",
        "target",
    )

    def __init__(
        self,
        msg_id: int,
        target: str,
        address: str | None,
        data: bytes,
        frame: Frame,
        attempts: int,
        next_at: float | None,
        give_up_at: float,
        collect: bool,
        confirmed_by: set[str],
        resends: int,
    ) -> None:
        self.msg_id, self.target, self.address, self.data, self.frame = msg_id, target, address, data, frame
        self.attempts, self.next_at, self.give_up_at = attempts, next_at, give_up_at
        self.collect, self.confirmed_by, self.resends = collect, confirmed_by, resends


class Peer:
    """One messenger peer: ids, duplicates, confirmations, retries and presence.

    Feed it what arrives (``receive``) and the passing time (``tick``); it
    returns events for the user and ``Transmit`` actions for the transport.
    """

    def __init__(
        self,
        name: str,
        *,
        encoding: str = DEFAULT_ENCODING,
        max_frame: int = MAX_FRAME,
        resend_interval: float = RESEND_INTERVAL_S,
        resends: int = RESENDS,
        rng: random.Random | None = None,
        first_id: int | None = None,
        responsive: bool = True,
    ):
        """``responsive``: answer DETECT and confirm user messages (a listener); a
        short-lived ``send`` or ``detect`` process that shows nothing is not."""
        self.name = name
        self.responsive = responsive
        self.encoding = encoding
        self.max_frame = max_frame
        self.resend_interval = resend_interval
        self.resends = resends
        self._rng = rng or random.Random()
        self._next_id = first_id if first_id is not None else self._rng.randrange(1, MAX_MSG_ID - 2**24)
        # oldest first: expiry and the caps pop from the front in O(1)
        self._own_group_ids: collections.OrderedDict[int, float] = collections.OrderedDict()
        self._seen: collections.OrderedDict[tuple[str, int], float] = collections.OrderedDict()
        self._pending: dict[int, _Pending] = {}
        self._scheduled: list[tuple[float, Transmit]] = []
        self.presence: collections.OrderedDict[str, Presence] = collections.OrderedDict()  # least recent first

    # -- sending ------------------------------------------------------------

    def _frame(self, body: str, *, confirm: bool, system: bool) -> tuple[Frame, bytes]:
        msg_id = self._next_id
        self._next_id = self._next_id + 1 if self._next_id < MAX_MSG_ID else 1
        frame = Frame(self.name, msg_id, confirm, system, body)
        return frame, encode_frame(frame, encoding=self.encoding, max_frame=self.max_frame)

    def _transmit(
        self, now: float, target: str, address: str | None, body: str, *, confirm: bool, system: bool
    ) -> Transmit:
        frame, data = self._frame(body, confirm=confirm, system=system)
        if target == "*":
            self._own_group_ids[frame.msg_id] = now
        return Transmit(target, address, data, frame)

    def start(self, now: float) -> list[Transmit]:
        """Joining the group: DETECT then ONLINE to everyone (the seed's TurnOn)."""
        return [
            self._transmit(now, "*", None, DETECT, confirm=True, system=True),
            self._transmit(now, "*", None, ONLINE, confirm=False, system=True),
        ]

    def stop(self, now: float) -> list[Transmit]:
        """Leaving the group: OFFLINE to everyone (the seed's TurnOff)."""
        return [self._transmit(now, "*", None, OFFLINE, confirm=False, system=True)]

    def detect(self, now: float) -> list[Transmit]:
        return [self._transmit(now, "*", None, DETECT, confirm=True, system=True)]

    def send_text(
        self,
        now: float,
        target: str,
        address: str | None,
        text: str,
        *,
        track: bool = True,
        timeout: float | None = None,
        resends: int | None = None,
    ) -> tuple[int, list[Transmit]]:
        """A user message, asking for confirmation (as the seed always does).

        With ``track``, a message to one peer is resent with the same id every
        ``resend_interval`` until CONF arrives (``resends`` times at most) and
        DeliveryFailed is reported at ``timeout`` (default: one interval after
        the last resend).  A message to '*' is not resent: every CONF that
        arrives until ``timeout`` is reported.  Returns the id and the actions.
        """
        if track and len(self._pending) >= PENDING_MAX:
            raise FrameError(f"{PENDING_MAX} messages are already waiting for confirmation")
        resends = self.resends if resends is None else resends
        t = self._transmit(now, target, address, text, confirm=True, system=False)
        if track:
            group = target == "*"
            if timeout is None:
                timeout = (1 if group else resends + 1) * self.resend_interval
            self._pending[t.frame.msg_id] = _Pending(
                t.frame.msg_id,
                target,
                address,
                t.data,
                t.frame,
                1,
                now + self.resend_interval if resends > 0 and not group else None,
                now + timeout,
                group,
                set(),
                resends,
            )
        return t.frame.msg_id, [t]

    # -- receiving ----------------------------------------------------------

    def receive(self, now: float, data: bytes, address: str | None = None) -> Output:
        """A frame from the mailslot; ``address`` is where it came from, when known."""
        frame = decode_frame(data)
        if isinstance(frame, BadFrame):
            return [Dropped(frame.reason, now)]
        if frame.sender.upper() == self.name.upper() and frame.msg_id in self._own_group_ids:
            return [Dropped("own", now)]  # our own broadcast, looped back
        out: Output = []
        if not frame.system:
            out += self._on_user_message(now, frame, address)
        else:
            body = frame.body.rstrip("\x00 \r\n")
            conf_id = parse_conf(body)
            if conf_id is not None:
                out += self._on_conf(now, frame, conf_id, address)
            elif body == ONLINE:
                out.append(PeerAnswered(frame.sender, address, now))
                out += self._presence(now, frame.sender, address, True)
            elif body == OFFLINE:
                out += self._presence(now, frame.sender, address, False)
            elif body == DETECT and not self.responsive:
                out += self._presence(now, frame.sender, address, True)
            elif body == DETECT:
                delay = self._rng.uniform(DETECT_REPLY_MIN_S, DETECT_REPLY_MAX_S)
                reply = self._transmit(now, frame.sender, address, ONLINE, confirm=False, system=True)
                self._scheduled.append((now + delay, reply))
                out += self._presence(now, frame.sender, address, True)
            else:
                out.append(Dropped("unknown-system-message", now))
        return out

    def _on_user_message(self, now: float, frame: Frame, address: str | None) -> Output:
        key = (frame.sender.upper(), frame.msg_id)
        self._expire(now)
        duplicate = key in self._seen
        if not duplicate:
            if len(self._seen) >= DEDUP_MAX:
                self._seen.popitem(last=False)
            self._seen[key] = now
        out: Output = [MessageReceived(frame.sender, address, frame.msg_id, frame.body, duplicate, now)]
        if frame.wants_confirmation and self.responsive:
            # every copy is confirmed, so that a retransmission after a lost CONF ends
            out.append(self._transmit(now, frame.sender, address, conf_body(frame.msg_id), confirm=False, system=True))
        return out + self._presence(now, frame.sender, address, True)

    def _on_conf(self, now: float, frame: Frame, conf_id: int, address: str | None) -> Output:
        p = self._pending.get(conf_id)
        out = self._presence(now, frame.sender, address, True)
        if p is None or frame.sender.upper() in p.confirmed_by:
            return out
        p.confirmed_by.add(frame.sender.upper())
        if not p.collect:
            del self._pending[conf_id]
        return [Confirmed(conf_id, frame.sender, address, now), *out]

    def _presence(self, now: float, name: str, address: str | None, online: bool) -> Output:
        key = name.upper()
        if key == self.name.upper():
            return []  # our own frames (a message to ".") say nothing of presence
        old = self.presence.get(key)
        if old is None and len(self.presence) >= PRESENCE_MAX:
            self.presence.popitem(last=False)  # the least recently seen
        self.presence[key] = Presence(name, address or (old.address if old else None), online, now)
        self.presence.move_to_end(key)
        if old is None or old.online != online:
            return [PresenceChanged(name, address, online, now)]
        return []

    # -- time ---------------------------------------------------------------

    def tick(self, now: float) -> Output:
        """Everything due by ``now``: ONLINE answers, resends, give-ups."""
        self._expire(now)
        out: Output = []
        due = [s for s in self._scheduled if s[0] <= now]
        if due:
            self._scheduled = [s for s in self._scheduled if s[0] > now]
            out += [t for _, t in sorted(due, key=lambda s: s[0])]
        for msg_id, p in list(self._pending.items()):
            if now >= p.give_up_at:
                del self._pending[msg_id]
                if not p.confirmed_by:
                    out.append(DeliveryFailed(msg_id, p.target, p.attempts, now))
            elif p.next_at is not None and now >= p.next_at:
                p.attempts += 1
                out.append(Transmit(p.target, p.address, p.data, p.frame))  # the same id again
                p.next_at = now + self.resend_interval if p.attempts <= p.resends else None
        return out

    def next_deadline(self) -> float | None:
        times = [t for t, _ in self._scheduled]
        for p in self._pending.values():
            times.append(p.give_up_at)
            if p.next_at is not None:
                times.append(p.next_at)
        return min(times) if times else None

    def pending_ids(self) -> list[int]:
        return list(self._pending)

    def confirmations(self, msg_id: int) -> set[str]:
        p = self._pending.get(msg_id)
        return set(p.confirmed_by) if p else set()

    def _expire(self, now: float) -> None:
        # oldest first, so this stops at the first entry still inside the window: O(expired), not O(table)
        for table in (self._seen, self._own_group_ids):
            while table and now - next(iter(table.values())) > DEDUP_WINDOW_S:
                table.popitem(last=False)

    def online_peers(self) -> list[Presence]:
        return sorted((p for p in self.presence.values() if p.online), key=lambda p: p.name.upper())


# --------------------------------------------------------------------------
# msserver's MS_MESSAGE and lanmsg's discovery query
# --------------------------------------------------------------------------
#   typedef struct { DWORD msg_id; char ipStr[20]; DWORD ip; UINT port; } MS_MESSAGE;
# 32 bytes, little-endian (the seed's Windows C struct, no padding): msg_id 0xaabbccdd,
# ipStr a NUL-terminated dotted quad, ip the inet_addr() value (the four address bytes
# in network order), port the TCP port in host order.

MS_SLOT = "@_MSClient_@"
MS_MESSAGE_ID = 0xAABBCCDD
MS_MESSAGE_SIZE = 32
ANNOUNCE_INTERVAL_S = 1.0  # the seed's server broadcasts every second
QUERY_PREFIX = "LANMSG\\QUERY\\"  # + the announced slot: queries go here, never to @_MSClient_@
QUERY_MAGIC = b"LMDQ"
QUERY_VERSION = 1
# Announcers answer one query 0-2 ms apart: enough to spread 50 answers (about 150 bytes each)
# over the asker's link instead of one burst; the asker's receive buffer holds them either way.
# Every millisecond here is waited by each `discover` (the mean is half the maximum).
ANSWER_JITTER_MAX_S = 0.002
QUERY_RESEND_S = 1.0  # discover repeats its query this often (a lost broadcast)

import socket as _socket  # noqa: E402  (inet_aton/ntoa only: no I/O)
import struct as _struct  # noqa: E402  (as the line above)

_MS_FMT = _struct.Struct("<I20s4sI")


class Endpoint(collections.namedtuple("Endpoint", "ip port")):
    __slots__ = ()

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


class Announcement(collections.namedtuple("Announcement", "endpoint note", defaults=("",))):
    """A server's endpoint; ``note`` says how an ambiguous message was read ("ip-field-differs")."""

    __slots__ = ()


def encode_ms_message(ip: str, port: int) -> bytes:
    try:
        packed = _socket.inet_aton(ip)
        canonical = _socket.inet_ntoa(packed)
    except OSError:
        raise FrameError(f"invalid IPv4 address {ip!r}") from None
    if canonical != ip or not 0 < port < 65536:
        raise FrameError(f"invalid endpoint {ip}:{port}")
    return _MS_FMT.pack(MS_MESSAGE_ID, ip.encode("ascii"), packed, port)


def _dotted_quad(raw: bytes) -> str | None:
    text = raw.split(b"\x00", 1)[0]
    if len(text) > 15 or not re.fullmatch(rb"[0-9]{1,3}(\.[0-9]{1,3}){3}", text):
        return None
    parts = [int(p) for p in text.split(b".")]
    if any(p > 255 for p in parts):
        return None
    return ".".join(str(p) for p in parts)


def decode_ms_message(data: bytes, source_ip: str | None = None) -> Announcement | BadFrame:
    """MS_MESSAGE bytes -> Announcement, or BadFrame.  Never raises.

    Lenient where the original is ambiguous: ``ipStr`` is preferred; the ``ip``
    field is used when ipStr is unreadable (in network order, or byte-swapped
    if that is what matches); an unspecified address (0.0.0.0) is replaced by
    the address the datagram came from.  Trailing bytes beyond 32 are ignored.
    """
    try:
        data = bytes(data)
    except TypeError:
        return BadFrame("not-bytes", 0)
    if len(data) < MS_MESSAGE_SIZE:
        return BadFrame("short", len(data))
    msg_id, ip_str, ip_raw, port = _MS_FMT.unpack_from(data, 0)
    if msg_id != MS_MESSAGE_ID:
        return BadFrame("bad-msg-id", len(data))
    if not 0 < port < 65536:
        return BadFrame("bad-port", len(data))
    text_ip = _dotted_quad(ip_str)
    field_ip = _socket.inet_ntoa(ip_raw)
    swapped_ip = _socket.inet_ntoa(ip_raw[::-1])
    note = ""
    if text_ip is not None and not (text_ip == "0.0.0.0" and field_ip != "0.0.0.0"):
        ip = text_ip
        if field_ip != text_ip:
            note = "ip-field-byte-swapped" if swapped_ip == text_ip else "ip-field-differs"
    elif field_ip != "0.0.0.0":
        ip, note = field_ip, "ipstr-unspecified" if text_ip == "0.0.0.0" else "ipstr-unreadable"
    else:
        return BadFrame("no-address", len(data))
    if ip == "0.0.0.0":
        if not source_ip:
            return BadFrame("no-address", len(data))
        ip, note = source_ip, "unspecified-address"
    if len(data) > MS_MESSAGE_SIZE:
        note = note or "trailing-bytes"
    return Announcement(Endpoint(ip, port), note)


class Query(collections.namedtuple("Query", "reply_slot")):
    """A discovery query; ``reply_slot`` is the asking process's private mailslot."""

    __slots__ = ()


def encode_query(reply_slot: str) -> bytes:
    """The query for ``reply_slot``: 1-199 printable ASCII characters, no spaces (what decode_query takes)."""
    if not 0 < len(reply_slot) < 200 or any(not 0x20 < ord(c) < 0x7F for c in reply_slot):
        raise FrameError("reply mailslot name must be 1-199 printable ASCII characters without spaces")
    name = reply_slot.encode("ascii")
    return QUERY_MAGIC + bytes([QUERY_VERSION, len(name)]) + name


def decode_query(data: bytes) -> Query | BadFrame:
    try:
        data = bytes(data)
    except TypeError:
        return BadFrame("not-bytes", 0)
    if len(data) < 6 or data[:4] != QUERY_MAGIC:
        return BadFrame("not-a-query", len(data))
    if data[4] != QUERY_VERSION:
        return BadFrame("query-version", len(data))
    n = data[5]
    name = data[6 : 6 + n]
    if n == 0 or len(name) != n or any(not 0x20 < c < 0x7F for c in name):
        return BadFrame("bad-reply-slot", len(data))
    return Query(name.decode("ascii"))
