"""Windows mailslots on every OS.

One small API over two transports:

* ``native`` (Windows only): a thin ctypes binding to kernel32's mailslot
  functions.  Remote writes go through the Windows redirector, which Windows 11
  24H2 and Windows Server 2025 disable by default (error 3025).
* ``netbios`` (default elsewhere, selectable on Windows): the Remote Mailslot
  Protocol itself, [MS-MAIL] SMB_COM_TRANSACTION mailslot writes inside
  RFC 1002 NetBIOS datagrams on UDP port 138.  Needs nothing from Windows.

Server side::

    with mailslot.Mailslot("foxapp") as slot:
        msg = slot.read(timeout=5.0)      # Message(data, source_name, source_ip, ...)
        slot.info()                       # MailslotInfo(max_size, next_size, count, read_timeout)

Client side::

    mailslot.write("*", "foxapp", b"hello")      # ".", "HOST", "WORKGROUP" or "*"

The codec (``encode_datagram`` / ``decode_datagram``) is pure functions on
bytes; the transports own the sockets.  ``python -m mailslot`` is a small
debugging CLI.  The design is described in docs/mailslot.md.
"""

from __future__ import annotations

import collections
import errno
import itertools
import os
import random
import select
import socket
import struct
import sys
import threading
import time
import zlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    import argparse
    from _ctypes import _CArgObject, _CDataType
    from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
    from ctypes import Array, c_char
    from ipaddress import IPv4Address
    from typing import Any, NamedTuple

    UdpAddress = tuple[str, int]  # (IPv4 address, port)
    # kernel32_prototypes(): {name: (restype, argtypes)}
    Prototypes = dict[str, tuple[type[_CDataType], tuple[type[_CDataType], ...]]]

__all__ = [
    "MAILSLOT_NO_MESSAGE",
    "MAILSLOT_WAIT_FOREVER",
    "Config",
    "Datagram",
    "DecodeError",
    "Mailslot",
    "MailslotError",
    "MailslotExistsError",
    "MailslotInfo",
    "MailslotNameError",
    "Message",
    "MessageTooLargeError",
    "NetbiosName",
    "PortPermissionError",
    "RemoteMailslotsError",
    "decode_datagram",
    "encode_datagram",
    "max_remote_payload",
    "read_any",
    "write",
]

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

MAILSLOT_WAIT_FOREVER = 0xFFFFFFFF  # winbase.h
MAILSLOT_NO_MESSAGE = 0xFFFFFFFF  # winbase.h

ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_BROKEN_PIPE = 109
ERROR_BAD_NETPATH = 53
ERROR_BAD_NET_NAME = 67
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_SEM_TIMEOUT = 121
ERROR_INVALID_NAME = 123
ERROR_ALREADY_EXISTS = 183
ERROR_NETWORK_UNREACHABLE = 1231
ERROR_REMOTE_MAILSLOTS_DEPRECATED = 3025  # Windows 11 24H2 / Server 2025

DEFAULT_PORT = 138  # RFC 1002: NetBIOS datagram service
DEFAULT_WORKGROUP = "WORKGROUP"

MSG_DIRECT_UNIQUE = 0x10  # RFC 1002 4.4.1
MSG_DIRECT_GROUP = 0x11
MSG_BROADCAST = 0x12
ACCEPTED_MSG_TYPES = (MSG_DIRECT_UNIQUE, MSG_DIRECT_GROUP, MSG_BROADCAST)

FLAG_MORE = 0x01  # M: more fragments follow
FLAG_FIRST = 0x02  # F: first fragment
NODE_TYPE_B = 0x00

SMB_COM_TRANSACTION = 0x25
SMB_HEADER = b"\xffSMB"
SMB_FIXED_BYTES = 69  # header 32 + WordCount 1 + 17 words + ByteCount 2
NBT_HEADER_BYTES = 14
MAILSLOT_PREFIX = "\\MAILSLOT\\"  # tshark only recognises the upper-case prefix
MAILSLOT_OPCODE_WRITE = 1
MAILSLOT_CLASS_UNRELIABLE = 2

# [MS-MAIL] 2.1 note 2: the SMB part of a remote mailslot datagram is at most 512 bytes.
WINDOWS_MAX_SMB_BYTES = 512
# Local messages travel as a whole datagram in an 11-byte hand-off envelope: with the
# longest mailslot name (255 + NUL + 3 padding) it must fit the 16-bit DGM_LENGTH and
# the 64 KiB inbox read (envelope 11 + NBT header 14 + two names 68 + SMB 69 + 259).
LOCAL_MAX_MESSAGE = 0x10000 - 11 - NBT_HEADER_BYTES - 68 - SMB_FIXED_BYTES - 256 - 3
NETBIOS_NAME_MAX = 15
MAILSLOT_NAME_MAX = 255

# Receive-side bookkeeping (netbios transport).
DEDUP_WINDOW_S = 2.0  # copies of one datagram arrive within milliseconds (two sockets,
# a forwarded copy); short so a 16-bit DGM_ID counter cannot wrap
DEDUP_MAX_ENTRIES = 65536  # memory cap of the duplicate table
PENDING_MAX_MESSAGES = 4096  # queue cap per slot; beyond it messages are dropped and counted
RECV_BUFFER_BYTES = 4 << 20  # SO_RCVBUF request; the kernel caps it at net.core.rmem_max * 2
NATIVE_POLL_INTERVAL_S = 0.01  # how often read_any() looks at handles that cannot be select()ed
LOCAL_ENVELOPE_MAGIC = b"LMS\x01"

_IP_PKTINFO = {"linux": 8}.get(sys.platform)  # <netinet/in.h>; absent from Python's socket module

# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class MailslotError(OSError):
    """A transport or system failure (the CLI's exit code 3)."""


class MailslotExistsError(MailslotError, FileExistsError):
    """The mailslot name is already owned on this machine (Windows: ERROR_ALREADY_EXISTS)."""

    winerror = ERROR_ALREADY_EXISTS


class MailslotNotFoundError(MailslotError, FileNotFoundError):
    """Nobody on this machine owns the mailslot written to with target "."."""


class PortPermissionError(MailslotError, PermissionError):
    """Binding the datagram port needs a privilege this process lacks."""


class RemoteMailslotsError(MailslotError):
    """Windows refused a remote mailslot (disabled on 24H2 / Server 2025, or no such path)."""


class MailslotNameError(ValueError):
    """A mailslot, computer or target name that cannot be used (bad input, exit code 2)."""

    winerror = ERROR_INVALID_NAME


class MessageTooLargeError(ValueError):
    """The message exceeds the size limit; nothing was sent."""

    def __init__(self, message: str, size: int, limit: int):
        super().__init__(message)
        self.size = size
        self.limit = limit


class DecodeError(ValueError):
    """Bytes that are not a mailslot datagram this module accepts."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# --------------------------------------------------------------------------
# Names and limits (pure)
# --------------------------------------------------------------------------

_FORBIDDEN_NAME_CHARS = set('*?"<>|/:')


def normalize_mailslot_name(name: str) -> str:
    """Return the bare mailslot name (``FOXAPP``, ``a\\b\\c``) from any accepted spelling.

    Accepts ``foxapp``, ``\\\\.\\mailslot\\foxapp`` and ``\\MAILSLOT\\foxapp``;
    keeps the case (names compare case-insensitively everywhere).
    """
    if not isinstance(name, str):
        raise MailslotNameError(f"mailslot name must be text, not {type(name).__name__}")
    bare = name
    low = bare.lower()
    for prefix in ("\\\\.\\mailslot\\", "\\mailslot\\"):
        if low.startswith(prefix):
            bare = bare[len(prefix) :]
            break
    if not bare:
        raise MailslotNameError(f"invalid mailslot name {name!r}: it is empty")
    if len(MAILSLOT_PREFIX) + len(bare) > MAILSLOT_NAME_MAX:
        raise MailslotNameError(
            f"invalid mailslot name {name!r}: longer than {MAILSLOT_NAME_MAX - len(MAILSLOT_PREFIX)} characters"
        )
    bad = [c for c in bare if not (0x20 <= ord(c) < 0x7F) or c in _FORBIDDEN_NAME_CHARS]
    if bad:
        raise MailslotNameError(
            f'invalid mailslot name {name!r}: {bad[0]!r} is not allowed (printable ASCII only, without * ? " < > | / :)'
        )
    if bare.startswith("\\") or bare.endswith("\\") or "\\\\" in bare:
        raise MailslotNameError(f"invalid mailslot name {name!r}: empty path component")
    return bare


def max_remote_payload(name: str) -> int:
    """Largest message Windows carries between computers for mailslot ``name``.

    [MS-MAIL] 2.1 note 2: the SMB part may be 512 bytes; the data starts after
    69 fixed bytes, ``\\MAILSLOT\\<name>``, a NUL and padding to 4 bytes.  This
    gives 428 bytes for 1-4 character names, 424 for 5-8, 420 for 9-12, ...
    """
    bare = normalize_mailslot_name(name)
    start = SMB_FIXED_BYTES + len(MAILSLOT_PREFIX) + len(bare) + 1
    return max(0, WINDOWS_MAX_SMB_BYTES - (start + 3) // 4 * 4)


def check_remote_size(name: str, size: int) -> None:
    limit = max_remote_payload(name)
    if size > limit:
        bare = normalize_mailslot_name(name)
        raise MessageTooLargeError(
            f"message is {size} bytes; a remote mailslot message to {bare!r} "
            f"({len(bare)}-character name) may be at most {limit} bytes "
            "([MS-MAIL] 2.1: 512-byte SMB limit); nothing was sent",
            size,
            limit,
        )


def netbios_name(name: str) -> str:
    """Validate a computer or workgroup name and return its NetBIOS (upper-case) form."""
    if not isinstance(name, str) or not name:
        raise MailslotNameError("NetBIOS name must be non-empty text")
    up = name.upper()
    try:
        raw = up.encode("latin-1")
    except UnicodeEncodeError:
        raise MailslotNameError(f"invalid NetBIOS name {name!r}: not a single-byte name") from None
    if len(raw) > NETBIOS_NAME_MAX:
        raise MailslotNameError(f"invalid NetBIOS name {name!r}: longer than {NETBIOS_NAME_MAX} characters")
    if any(b < 0x20 or b in b'."/\\[]:|<>+=;,*?' for b in raw) and up != "*":
        raise MailslotNameError(f"invalid NetBIOS name {name!r}: contains a character NetBIOS forbids")
    return up


def default_computer_name() -> str:
    """This machine's NetBIOS name: the host name's first label, upper-cased, 15 characters."""
    host = os.environ.get("COMPUTERNAME") if sys.platform == "win32" else None
    host = (host or socket.gethostname() or "LANMSG").split(".")[0]
    cleaned = "".join(c if 0x20 < ord(c) < 0x7F and c not in '."/\\[]:|<>+=;,*?' else "-" for c in host)
    return (cleaned.upper() or "LANMSG")[:NETBIOS_NAME_MAX]


# --------------------------------------------------------------------------
# Codec: NetBIOS names and datagrams (pure functions, no sockets)
# --------------------------------------------------------------------------


if TYPE_CHECKING:

    class _NetbiosNameFields(NamedTuple):
        name: str
        suffix: int = 0x00
        scope: str = ""
else:
    _NetbiosNameFields = collections.namedtuple("NetbiosName", "name suffix scope", defaults=(0x00, ""))


class NetbiosName(_NetbiosNameFields):
    """A NetBIOS name: up to 15 bytes of name, a suffix byte, an optional scope."""

    __slots__ = ()

    def __str__(self) -> str:
        shown = "".join(c if 0x20 <= ord(c) < 0x7F else f"\\x{ord(c):02x}" for c in self.name)
        return f"{shown}<{self.suffix:02x}>" + (f".{self.scope}" if self.scope else "")

    def matches(self, other: NetbiosName) -> bool:
        return (
            self.name.upper() == other.name.upper()
            and self.suffix == other.suffix
            and self.scope.lower() == other.scope.lower()
        )


# First-level encoding maps each nibble to 'A'..'P'; hex digits make that a translate().
_HALF_ASCII = b"ABCDEFGHIJKLMNOP"
_HEX_TO_HALF_ASCII = bytes.maketrans(b"0123456789abcdef", _HALF_ASCII)
_HALF_ASCII_TO_HEX = bytes.maketrans(_HALF_ASCII, b"0123456789abcdef")


def encode_name(nb: NetbiosName) -> bytes:
    """RFC 1001 14.1 first-level encoding, written as a label (34 bytes without scope)."""
    raw = nb.name.encode("latin-1")
    if len(raw) > NETBIOS_NAME_MAX:
        raise ValueError(f"NetBIOS name too long: {nb.name!r}")
    raw = raw.ljust(NETBIOS_NAME_MAX, b"\x00" if raw == b"*" else b" ") + bytes([nb.suffix & 0xFF])
    out = bytearray(b"\x20") + raw.hex().encode("ascii").translate(_HEX_TO_HALF_ASCII)
    for label in nb.scope.split(".") if nb.scope else []:
        lab = label.encode("ascii")
        if not 0 < len(lab) < 64:
            raise ValueError(f"bad scope label {label!r}")
        out += bytes([len(lab)]) + lab
    out.append(0)
    return bytes(out)


def decode_name(buf: bytes, offset: int) -> tuple[NetbiosName, int]:
    """Decode a label-form NetBIOS name at ``offset``; return it and the offset after it."""
    if offset >= len(buf):
        raise DecodeError("truncated", "name missing")
    if buf[offset] != 32:
        raise DecodeError("bad-name", f"label length {buf[offset]} (compression pointers are not accepted)")
    end = offset + 33
    if end > len(buf):
        raise DecodeError("truncated", "name cut short")
    half = buf[offset + 1 : end]
    if half.translate(None, _HALF_ASCII):
        raise DecodeError("bad-name", "first-level encoding outside 'A'..'P'")
    raw = bytes.fromhex(half.translate(_HALF_ASCII_TO_HEX).decode("ascii"))
    labels = []
    pos = end
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated", "scope not terminated")
        n = buf[pos]
        if n == 0:
            pos += 1
            break
        if n > 63 or pos + 1 + n > len(buf) or pos + 1 + n - offset > 255:
            raise DecodeError("bad-name", "bad scope label")
        if any(c >= 0x80 or c == 0x2E for c in buf[pos + 1 : pos + 1 + n]):  # encode_name could not rebuild it
            raise DecodeError("bad-name", "scope label not ASCII or contains '.'")
        labels.append(buf[pos + 1 : pos + 1 + n].decode("latin-1"))
        pos += 1 + n
    if raw[:1] == b"*" and raw[1:15].strip(b"\x00") == b"":
        text = "*"
    elif raw[0] == 0x01 and raw[1] == 0x02:  # <01><02>__MSBROWSE__<02><01>
        text = raw[:15].decode("latin-1")
    else:
        text = raw[:15].decode("latin-1").rstrip(" ")
    return NetbiosName(text, raw[15], ".".join(labels)), pos


# Datagram fields and their defaults: the profile Windows' WriteFile sends ([MS-MAIL] section 4).
# None means "the right value" when encoding.
_DATAGRAM_DEFAULTS = (
    ("dgm_id", 0),
    ("source_ip", "0.0.0.0"),
    ("source_port", DEFAULT_PORT),
    ("flags", FLAG_FIRST | NODE_TYPE_B),
    ("packet_offset", 0),
    ("dgm_length", None),  # UDP payload - 14
    ("smb_status", 0),
    ("smb_flags", 0x18),
    ("smb_flags2", 0x0004),
    ("pid_high", 0),
    ("security_features", bytes(8)),
    ("smb_reserved", 0),
    ("tid", 0),
    ("pid_low", 0xFEFF),
    ("uid", 0),
    ("mid", 0),
    ("total_parameter_count", 0),
    ("max_parameter_count", 2),
    ("max_data_count", 0),
    ("max_setup_count", 0),
    ("trans_flags", 0x0002),  # NO_RESPONSE
    ("timeout", 0),
    ("parameter_count", 0),
    ("parameter_offset", None),  # equal to DataOffset (Windows WriteFile)
    ("opcode", MAILSLOT_OPCODE_WRITE),
    ("priority", 0),
    ("mailslot_class", MAILSLOT_CLASS_UNRELIABLE),
    ("padding", None),  # zero bytes up to a 4-byte boundary
    ("byte_count", None),
    ("trailing", b""),  # bytes after the data (rare)
)


if TYPE_CHECKING:

    class _DatagramFields(NamedTuple):  # the same fields and defaults as _DATAGRAM_DEFAULTS
        msg_type: int
        source_name: NetbiosName
        destination_name: NetbiosName
        mailslot: str
        data: bytes
        dgm_id: int = 0
        source_ip: str = "0.0.0.0"
        source_port: int = DEFAULT_PORT
        flags: int = FLAG_FIRST | NODE_TYPE_B
        packet_offset: int = 0
        dgm_length: int | None = None
        smb_status: int = 0
        smb_flags: int = 0x18
        smb_flags2: int = 0x0004
        pid_high: int = 0
        security_features: bytes = bytes(8)
        smb_reserved: int = 0
        tid: int = 0
        pid_low: int = 0xFEFF
        uid: int = 0
        mid: int = 0
        total_parameter_count: int = 0
        max_parameter_count: int = 2
        max_data_count: int = 0
        max_setup_count: int = 0
        trans_flags: int = 0x0002
        timeout: int = 0
        parameter_count: int = 0
        parameter_offset: int | None = None
        opcode: int = MAILSLOT_OPCODE_WRITE
        priority: int = 0
        mailslot_class: int = MAILSLOT_CLASS_UNRELIABLE
        padding: bytes | None = None
        byte_count: int | None = None
        trailing: bytes = b""
else:
    _DatagramFields = collections.namedtuple(
        "Datagram",
        ("msg_type", "source_name", "destination_name", "mailslot", "data", *(f for f, _ in _DATAGRAM_DEFAULTS)),
        defaults=tuple(d for _, d in _DATAGRAM_DEFAULTS),
    )


class Datagram(_DatagramFields):
    """One NetBIOS datagram carrying an SMB mailslot write (immutable).

    ``mailslot`` is the whole name on the wire (``\\MAILSLOT\\FOXAPP``).  Every
    field a real sender varies is kept, so ``encode_datagram(decode_datagram(b)) == b``
    for the datagrams we accept.
    """

    __slots__ = ()

    @property
    def mailslot_bare(self) -> str:
        """The name after ``\\MAILSLOT\\`` (case kept)."""
        return self.mailslot[len(MAILSLOT_PREFIX) :]


SAMBA_PROFILE: dict[str, Any] = {
    "smb_flags": 0,
    "smb_flags2": 0,
    "pid_low": 0,
    "max_parameter_count": 0,
    "trans_flags": 0,
    "priority": 1,
    "parameter_offset": 0,
    "padding": b"",
}


def _smb_data_offset(mailslot: str, padding: bytes | None) -> tuple[int, bytes]:
    name_end = SMB_FIXED_BYTES + len(mailslot.encode("latin-1")) + 1
    if padding is None:
        padding = bytes((-name_end) % 4)
    return name_end + len(padding), padding


def encode_datagram(d: Datagram) -> bytes:
    """Datagram -> UDP payload bytes."""
    name_bytes = d.mailslot.encode("latin-1") + b"\x00"
    data_offset, padding = _smb_data_offset(d.mailslot, d.padding)
    byte_count = d.byte_count if d.byte_count is not None else len(name_bytes) + len(padding) + len(d.data)
    param_offset = data_offset if d.parameter_offset is None else d.parameter_offset
    smb = b"".join(
        (
            SMB_HEADER,
            struct.pack(
                "<BIBHH8sHHHHH",
                SMB_COM_TRANSACTION,
                d.smb_status,
                d.smb_flags,
                d.smb_flags2,
                d.pid_high,
                d.security_features,
                d.smb_reserved,
                d.tid,
                d.pid_low,
                d.uid,
                d.mid,
            ),
            struct.pack(
                "<BHHHHBBHIHHHHHBB",
                17,
                d.total_parameter_count,
                len(d.data),
                d.max_parameter_count,
                d.max_data_count,
                d.max_setup_count,
                0,
                d.trans_flags,
                d.timeout,
                0,
                d.parameter_count,
                param_offset,
                len(d.data),
                data_offset,
                3,
                0,
            ),
            struct.pack("<HHHH", d.opcode, d.priority, d.mailslot_class, byte_count),
            name_bytes,
            padding,
            d.data,
            d.trailing,
        )
    )
    names = encode_name(d.source_name) + encode_name(d.destination_name)
    dgm_length = d.dgm_length if d.dgm_length is not None else len(names) + len(smb)
    header = struct.pack(
        ">BBH4sHHH",
        d.msg_type,
        d.flags,
        d.dgm_id & 0xFFFF,
        socket.inet_aton(d.source_ip),
        d.source_port,
        dgm_length,
        d.packet_offset,
    )
    return header + names + smb


_SMB_HEADER_FMT = struct.Struct("<BIBHH8sHHHHH")
_TRANS_FMT = struct.Struct("<BHHHHBBHIHHHHHBB")
_SETUP_FMT = struct.Struct("<HHHH")


def decode_datagram(buf: bytes) -> Datagram:
    """UDP payload -> Datagram.  Raises only DecodeError, whatever the bytes."""
    buf = bytes(buf)
    if len(buf) < NBT_HEADER_BYTES:
        raise DecodeError("truncated", f"{len(buf)} bytes")
    msg_type, flags, dgm_id, src_ip, src_port, dgm_length, packet_offset = struct.unpack_from(">BBH4sHHH", buf, 0)
    if msg_type not in ACCEPTED_MSG_TYPES:
        raise DecodeError("not-a-mailslot-datagram", f"MSG_TYPE 0x{msg_type:02x}")
    if flags & FLAG_MORE or not flags & FLAG_FIRST or packet_offset:
        raise DecodeError("fragment", f"FLAGS 0x{flags:02x} PACKET_OFFSET {packet_offset}")
    if flags & 0xF0:
        raise DecodeError("bad-header", f"reserved FLAGS bits 0x{flags:02x}")
    available = len(buf) - NBT_HEADER_BYTES
    if dgm_length > available:
        raise DecodeError("truncated", f"DGM_LENGTH {dgm_length} > {available} bytes present")
    if dgm_length < available:
        raise DecodeError("bad-length", f"DGM_LENGTH {dgm_length} < {available} bytes present")
    source_name, pos = decode_name(buf, NBT_HEADER_BYTES)
    destination_name, pos = decode_name(buf, pos)
    smb = buf[pos:]
    if len(smb) < SMB_FIXED_BYTES:
        raise DecodeError("truncated", "SMB part shorter than 69 bytes")
    if smb[:4] != SMB_HEADER:
        raise DecodeError("not-smb", "no \\xffSMB")
    (command, status, smb_flags, smb_flags2, pid_high, security, smb_reserved, tid, pid_low, uid, mid) = (
        _SMB_HEADER_FMT.unpack_from(smb, 4)
    )
    if command != SMB_COM_TRANSACTION:
        raise DecodeError("not-a-mailslot-datagram", f"SMB command 0x{command:02x}")
    (
        word_count,
        total_param,
        total_data,
        max_param,
        max_data,
        max_setup,
        reserved1,
        trans_flags,
        timeout,
        reserved2,
        param_count,
        param_offset,
        data_count,
        data_offset,
        setup_count,
        reserved3,
    ) = _TRANS_FMT.unpack_from(smb, 32)
    if word_count != 17 or setup_count != 3:
        raise DecodeError("not-a-mailslot-datagram", f"WordCount {word_count} SetupCount {setup_count}")
    opcode, priority, mail_class, byte_count = _SETUP_FMT.unpack_from(smb, 61)
    if opcode != MAILSLOT_OPCODE_WRITE:
        raise DecodeError("not-a-mailslot-datagram", f"mailslot opcode {opcode}")
    if reserved1 or reserved2 or reserved3:
        raise DecodeError("bad-header", "reserved transaction fields are not zero")
    if data_count != total_data:
        raise DecodeError("fragment", f"DataCount {data_count} != TotalDataCount {total_data}")
    if param_count or total_param:
        raise DecodeError("bad-header", "a mailslot write carries no parameters")
    nul = smb.find(b"\x00", SMB_FIXED_BYTES)
    if nul < 0:
        raise DecodeError("bad-mailslot-name", "name not NUL-terminated")
    raw_name = smb[SMB_FIXED_BYTES:nul]
    if len(raw_name) > MAILSLOT_NAME_MAX or not raw_name.upper().startswith(MAILSLOT_PREFIX.encode()):
        raise DecodeError("bad-mailslot-name", "not \\MAILSLOT\\...")
    if any(not 0x20 <= c < 0x7F for c in raw_name):
        raise DecodeError("bad-mailslot-name", "non-ASCII or control byte")
    name_end = nul + 1
    if not name_end <= data_offset <= len(smb) or data_offset + data_count > len(smb):
        raise DecodeError("bad-offset", f"DataOffset {data_offset} DataCount {data_count} in {len(smb)} bytes")
    padding = smb[name_end:data_offset]
    data_end = data_offset + data_count
    mailslot = raw_name.decode("ascii")
    expected_bc = len(raw_name) + 1 + len(padding) + data_count
    return Datagram(
        msg_type=msg_type,
        source_name=source_name,
        destination_name=destination_name,
        mailslot=mailslot,
        data=smb[data_offset:data_end],
        dgm_id=dgm_id,
        source_ip=socket.inet_ntoa(src_ip),
        source_port=src_port,
        flags=flags,
        packet_offset=packet_offset,
        dgm_length=None,
        smb_status=status,
        smb_flags=smb_flags,
        smb_flags2=smb_flags2,
        pid_high=pid_high,
        security_features=security,
        smb_reserved=smb_reserved,
        tid=tid,
        pid_low=pid_low,
        uid=uid,
        mid=mid,
        total_parameter_count=total_param,
        max_parameter_count=max_param,
        max_data_count=max_data,
        max_setup_count=max_setup,
        trans_flags=trans_flags,
        timeout=timeout,
        parameter_count=param_count,
        parameter_offset=None if param_offset == data_offset else param_offset,
        opcode=opcode,
        priority=priority,
        mailslot_class=mail_class,
        padding=None if padding == bytes((-name_end) % 4) else padding,
        byte_count=None if byte_count == expected_bc else byte_count,
        trailing=smb[data_end:],
    )


def build_datagram(
    *,
    msg_type: int,
    source: str,
    destination: NetbiosName,
    mailslot: str,
    data: bytes,
    source_ip: str,
    dgm_id: int,
    source_port: int = DEFAULT_PORT,
) -> Datagram:
    """The datagram lanmsg sends: Windows WriteFile profile, first-level names, class 2."""
    return Datagram(
        msg_type=msg_type,
        source_name=NetbiosName(source, 0x00),
        destination_name=destination,
        mailslot=MAILSLOT_PREFIX + mailslot,
        data=bytes(data),
        dgm_id=dgm_id,
        source_ip=source_ip,
        source_port=source_port,
    )


# Local hand-off envelope: how a process passes a message to the owner of a name on
# this machine.  magic, UDP source address and port, kind, then the datagram itself.
ENVELOPE_LOCAL = 0  # written to "." or this computer's name: no duplicate check
ENVELOPE_FORWARDED = 1  # received from the network by another process

_ENVELOPE_FMT = struct.Struct(">4s4sHB")


def encode_envelope(kind: int, peer: tuple[str, int], datagram: bytes) -> bytes:
    return _ENVELOPE_FMT.pack(LOCAL_ENVELOPE_MAGIC, socket.inet_aton(peer[0]), peer[1], kind) + datagram


def decode_envelope(buf: bytes) -> tuple[int, tuple[str, int], bytes]:
    if len(buf) < _ENVELOPE_FMT.size or buf[:4] != LOCAL_ENVELOPE_MAGIC:
        raise DecodeError("bad-envelope", "not a local hand-off")
    _, ip, port, kind = _ENVELOPE_FMT.unpack_from(buf, 0)
    return kind, (socket.inet_ntoa(ip), port), buf[_ENVELOPE_FMT.size :]


# --------------------------------------------------------------------------
# Configuration (argument > environment > default)
# --------------------------------------------------------------------------

TRANSPORTS = ("native", "netbios")


def default_transport() -> str:
    return "native" if sys.platform == "win32" else "netbios"


if TYPE_CHECKING:

    class _ConfigFields(NamedTuple):
        port: int
        workgroup: str
        name: str
        broadcast: tuple[str, ...]
else:
    _ConfigFields = collections.namedtuple("Config", "port workgroup name broadcast")


class Config(_ConfigFields):
    """Settings of the netbios transport (and the computer name of both); immutable.

    ``broadcast``: addresses group writes go to; empty = every up IPv4 interface's.
    """

    __slots__ = ()

    def __new__(
        cls,
        port: int = DEFAULT_PORT,
        workgroup: str = DEFAULT_WORKGROUP,
        name: str | None = None,
        broadcast: Iterable[str] = (),
    ) -> Config:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"invalid port {port!r}: must be 1-65535")
        addrs = []
        for a in broadcast:
            try:
                addrs.append(str(ipv4_address(a.strip())))
            except (ValueError, AttributeError):
                raise ValueError(f"invalid broadcast address {a!r}: need an IPv4 address") from None
        return super().__new__(
            cls,
            port,
            netbios_name(workgroup),
            netbios_name(name if name is not None else default_computer_name()),
            tuple(addrs),
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        workgroup: str | None = None,
        name: str | None = None,
        broadcast: str | Iterable[str] | None = None,
    ) -> Config:
        """Build from arguments, falling back to LANMSG_PORT / _WORKGROUP / _NAME / _BROADCAST."""
        env = os.environ if environ is None else environ
        if port is None and env.get("LANMSG_PORT"):
            try:
                port = int(env["LANMSG_PORT"])
            except ValueError:
                raise ValueError(f"invalid LANMSG_PORT {env['LANMSG_PORT']!r}: need a number") from None
        if broadcast is None and env.get("LANMSG_BROADCAST"):
            broadcast = env["LANMSG_BROADCAST"]
        if isinstance(broadcast, str):
            broadcast = tuple(a for a in broadcast.replace(",", " ").split() if a)
        kw: dict[str, Any] = {}
        if port is not None:
            kw["port"] = port
        if workgroup or env.get("LANMSG_WORKGROUP"):
            kw["workgroup"] = workgroup or env["LANMSG_WORKGROUP"]
        if name or env.get("LANMSG_NAME"):
            kw["name"] = name or env["LANMSG_NAME"]
        if broadcast:
            kw["broadcast"] = tuple(broadcast)
        return cls(**kw)


def resolve_transport(transport: str | None = None) -> str:
    t = transport or os.environ.get("LANMSG_TRANSPORT") or default_transport()
    if t not in TRANSPORTS:
        raise ValueError(f"unknown transport {t!r}: choose native or netbios")
    if t == "native" and sys.platform != "win32":
        raise ValueError("the native transport needs Windows (kernel32); use --transport netbios")
    return t


# --------------------------------------------------------------------------
# IPv4 interfaces
# --------------------------------------------------------------------------


if TYPE_CHECKING:

    class _InterfaceFields(NamedTuple):
        name: str
        address: str
        netmask: str
        broadcast: str
        loopback: bool
else:
    _InterfaceFields = collections.namedtuple("Interface", "name address netmask broadcast loopback")


class Interface(_InterfaceFields):
    __slots__ = ()


_SIOCGIFFLAGS, _SIOCGIFADDR, _SIOCGIFBRDADDR, _SIOCGIFNETMASK = 0x8913, 0x8915, 0x8919, 0x891B
_IFF_UP, _IFF_BROADCAST, _IFF_LOOPBACK = 0x1, 0x2, 0x8


def ipv4_interfaces() -> list[Interface]:
    """Up IPv4 interfaces.  Linux: ioctl (first address of each); Windows: iphlpapi (every
    address); elsewhere: best effort."""
    if sys.platform.startswith("linux"):
        return _linux_interfaces()
    if sys.platform == "win32":
        try:
            return _windows_interfaces()
        except (OSError, AttributeError, ValueError):
            pass  # then the host name's addresses, as elsewhere
    found = []
    try:
        addrs = socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        addrs = []
    for a in addrs:
        if not a.startswith("127."):
            found.append(Interface("host", a, "255.255.255.255", "255.255.255.255", False))
    return found


_MIB_IPADDRROW = struct.Struct("<4sI4sIIHH")  # ipmib.h: addr, index, mask, bcast bit, reasm size, unused, type
_MIB_IPADDR_DISCONNECTED, _MIB_IPADDR_DELETED = 0x0008, 0x0040


def _windows_interfaces() -> list[Interface]:
    """Windows: every IPv4 address (iphlpapi GetIpAddrTable) with its directed broadcast address.

    The host name's addresses are not enough: under Wine the host name goes to the unix
    resolver (often nothing, or 127.0.1.1), and 255.255.255.255 leaves by one interface only.
    """
    if sys.platform != "win32":  # ctypes.WinDLL exists on Windows only (the type checker knows)
        raise MailslotError(errno.ENOSYS, "kernel32 is only available on Windows")
    import ctypes
    from ctypes import wintypes

    get_table = ctypes.WinDLL("iphlpapi").GetIpAddrTable
    get_table.restype = wintypes.DWORD
    get_table.argtypes = (ctypes.c_void_p, ctypes.POINTER(wintypes.ULONG), wintypes.BOOL)
    size = wintypes.ULONG(0)
    for _ in range(8):  # the table may grow between two calls
        buf = ctypes.create_string_buffer(max(size.value, 4))
        code = get_table(buf, ctypes.byref(size), True)
        if code == 0:
            break
        if code != ERROR_INSUFFICIENT_BUFFER:
            raise OSError(errno.EIO, f"GetIpAddrTable failed: error {code}")
    else:
        raise OSError(errno.EIO, "GetIpAddrTable: the table keeps growing")
    raw = buf.raw
    count = min(struct.unpack_from("<I", raw, 0)[0], (len(raw) - 4) // _MIB_IPADDRROW.size)
    out = []
    for i in range(count):
        addr, index, mask, _, _, _, kind = _MIB_IPADDRROW.unpack_from(raw, 4 + i * _MIB_IPADDRROW.size)
        address = socket.inet_ntoa(addr)
        if kind & (_MIB_IPADDR_DISCONNECTED | _MIB_IPADDR_DELETED) or address == "0.0.0.0":
            continue
        netmask = socket.inet_ntoa(mask)
        prefix_len = bin(struct.unpack("!I", mask)[0]).count("1")
        bcast = directed_broadcast(address, netmask) if prefix_len < 31 else ""
        out.append(Interface(f"if{index}", address, netmask, bcast, address.startswith("127.")))
    return out


def directed_broadcast(address: str, netmask: str) -> str:
    """address | ~netmask, dotted: the subnet's broadcast address."""
    a, m = (struct.unpack("!I", socket.inet_aton(x))[0] for x in (address, netmask))
    return socket.inet_ntoa(struct.pack("!I", (a | ~m) & 0xFFFFFFFF))


def ipv4_address(text: str) -> IPv4Address:
    """An IPv4Address of ``text``; ValueError if it is not a dotted IPv4 address.

    The ipaddress module is imported here, not at the top: it costs about 1 ms of
    every start-up, and most commands never parse an address.
    """
    import ipaddress

    return ipaddress.IPv4Address(text)


def _linux_interfaces() -> list[Interface]:
    import fcntl

    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, ifname in socket.if_nameindex():
            req = struct.pack("16s24x", ifname.encode()[:15])

            def ioctl(code: int, req: bytes = req) -> bytes:
                return fcntl.ioctl(s.fileno(), code, req)

            try:
                flags = struct.unpack_from("H", ioctl(_SIOCGIFFLAGS), 16)[0]
                if not flags & _IFF_UP:
                    continue
                addr = socket.inet_ntoa(ioctl(_SIOCGIFADDR)[20:24])
                mask = socket.inet_ntoa(ioctl(_SIOCGIFNETMASK)[20:24])
                bcast = socket.inet_ntoa(ioctl(_SIOCGIFBRDADDR)[20:24]) if flags & _IFF_BROADCAST else ""
            except OSError:  # no IPv4 address on this interface
                continue
            if flags & _IFF_BROADCAST and bcast in ("", "0.0.0.0"):
                # an address added without "brd +": the kernel still broadcasts to addr | ~mask
                bcast = directed_broadcast(addr, mask)
            out.append(Interface(ifname, addr, mask, bcast, bool(flags & _IFF_LOOPBACK)))
    return out


def broadcast_routes(config: Config) -> list[tuple[str, str]]:
    """(source address, broadcast address) pairs a group write goes to."""
    if config.broadcast:
        return [(_source_address_for(b, config.port), b) for b in config.broadcast]
    routes = _addresses(config).routes
    if not routes:
        raise MailslotError(
            errno.ENETUNREACH, "no up IPv4 interface with a broadcast address; give --broadcast ADDRESS"
        )
    return routes


def _source_address_for(dest: str, port: int) -> str:
    """The address the kernel would send from to reach ``dest`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            s.connect((dest, port))
            return str(s.getsockname()[0])
        except OSError as e:
            raise MailslotError(e.errno or errno.ENETUNREACH, f"cannot reach {dest}: {e.strerror or e}") from None


# --------------------------------------------------------------------------
# kernel32 binding (the native transport)
# --------------------------------------------------------------------------
# Declared here as data so that the declarations can be checked on any OS;
# bound to a private WinDLL only on Windows.

_kernel32_prototypes: Prototypes | None = None


def kernel32_prototypes() -> Prototypes:
    """{name: (restype, argtypes)}, from the Win32 API (winbase.h, fileapi.h, handleapi.h)."""
    global _kernel32_prototypes
    if _kernel32_prototypes is None:
        from ctypes import POINTER
        from ctypes import wintypes as w

        LPDWORD = POINTER(w.DWORD)
        _kernel32_prototypes = {
            "CreateMailslotW": (w.HANDLE, (w.LPCWSTR, w.DWORD, w.DWORD, w.LPVOID)),
            "GetMailslotInfo": (w.BOOL, (w.HANDLE, LPDWORD, LPDWORD, LPDWORD, LPDWORD)),
            "SetMailslotInfo": (w.BOOL, (w.HANDLE, w.DWORD)),
            "CreateFileW": (w.HANDLE, (w.LPCWSTR, w.DWORD, w.DWORD, w.LPVOID, w.DWORD, w.DWORD, w.HANDLE)),
            "ReadFile": (w.BOOL, (w.HANDLE, w.LPVOID, w.DWORD, LPDWORD, w.LPVOID)),
            "WriteFile": (w.BOOL, (w.HANDLE, w.LPCVOID, w.DWORD, LPDWORD, w.LPVOID)),
            "CloseHandle": (w.BOOL, (w.HANDLE,)),
        }
    return _kernel32_prototypes


if TYPE_CHECKING:  # declared, so that the type checker keeps refusing other unknown names
    KERNEL32_PROTOTYPES: Prototypes
else:

    def __getattr__(name):
        # KERNEL32_PROTOTYPES is built on first use: importing ctypes costs start-up time everywhere
        if name == "KERNEL32_PROTOTYPES":
            return kernel32_prototypes()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


INVALID_HANDLE_VALUE = (1 << (8 * struct.calcsize("P"))) - 1  # (HANDLE)-1
GENERIC_WRITE = 0x40000000
FILE_SHARE_READ = 0x00000001
FILE_SHARE_WRITE = 0x00000002
OPEN_EXISTING = 3
FILE_ATTRIBUTE_NORMAL = 0x80

REMOTE_FAILURE_CODES = frozenset(
    {ERROR_REMOTE_MAILSLOTS_DEPRECATED, ERROR_BAD_NETPATH, ERROR_BAD_NET_NAME, ERROR_NETWORK_UNREACHABLE}
)

REMOTE_MAILSLOTS_HELP = (
    "Windows 11 24H2 and Windows Server 2025 disable remote mailslots by default "
    "(elsewhere this means the path does not reach any computer). "
    "To re-enable them, as administrator: Set-SmbClientConfiguration -EnableMailslots $true "
    "and Set-SmbServerConfiguration -EnableMailslots $true (or Group Policy: Network > Lanman "
    "Workstation and Lanman Server > Enable remote mailslots). "
    "Or use lanmsg's own wire transport, --transport netbios (UDP 138), which needs no Windows mailslot support."
)


class _Kernel32:
    """The private kernel32 binding: one WinDLL, argtypes/restype declared once."""

    # Set by __init__ from kernel32_prototypes(); as ctypes calls them: a HANDLE comes back as an
    # int or None (NULL), a BOOL as an int, and None passes NULL.
    CreateMailslotW: Callable[[str, int, int, None], int | None]
    GetMailslotInfo: Callable[[int | None, _CArgObject, _CArgObject, _CArgObject, _CArgObject], int]
    SetMailslotInfo: Callable[[int | None, int], int]
    CreateFileW: Callable[[str, int, int, None, int, int, None], int | None]
    ReadFile: Callable[[int | None, Array[c_char], int, _CArgObject, None], int]
    WriteFile: Callable[[int | None, bytes, int, _CArgObject, None], int]
    CloseHandle: Callable[[int | None], int]

    def __init__(self) -> None:
        if sys.platform != "win32":  # ctypes.WinDLL exists on Windows only (the type checker knows)
            raise MailslotError(errno.ENOSYS, "kernel32 is only available on Windows")
        import ctypes

        dll = ctypes.WinDLL("kernel32", use_last_error=True)
        for fname, (restype, argtypes) in kernel32_prototypes().items():
            fn = getattr(dll, fname)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, fname, fn)


_kernel32_lock = threading.Lock()
_kernel32_instance: _Kernel32 | None = None


def kernel32() -> _Kernel32:
    global _kernel32_instance
    if sys.platform != "win32":
        raise MailslotError(errno.ENOSYS, "kernel32 is only available on Windows")
    with _kernel32_lock:
        if _kernel32_instance is None:
            _kernel32_instance = _Kernel32()
        return _kernel32_instance


def _winerror(call: str, code: int | None = None, *, remote_path: str | None = None) -> OSError:
    """OSError for a failed kernel32 call, naming the call (and the remote-mailslot help)."""
    if sys.platform != "win32":  # ctypes.get_last_error exists on Windows only (the type checker knows)
        raise MailslotError(errno.ENOSYS, "kernel32 is only available on Windows")
    import ctypes

    code = ctypes.get_last_error() if code is None else code
    base = ctypes.WinError(code)
    text = f"{call} failed: [WinError {code}] {base.strerror}"
    if code == ERROR_ALREADY_EXISTS:
        return MailslotExistsError(errno.EEXIST, text + " (the mailslot already exists on this machine)")
    if remote_path is not None and (code in REMOTE_FAILURE_CODES or code == ERROR_PATH_NOT_FOUND):
        return RemoteMailslotsError(
            errno.EHOSTUNREACH, f"{text} for {remote_path}. {REMOTE_MAILSLOTS_HELP}", None, code
        )
    if code == ERROR_FILE_NOT_FOUND:
        return MailslotNotFoundError(errno.ENOENT, text + " (no such mailslot on this machine)", None, code)
    return MailslotError(base.errno, text, None, code)


class _Kernel32Slot:
    """A kernel32 mailslot handle: CreateMailslotW, ReadFile, Get/SetMailslotInfo, CloseHandle."""

    def __init__(self, bare: str, max_size: int, timeout_ms: int):
        import ctypes
        from ctypes import wintypes

        self._ctypes, self._wintypes = ctypes, wintypes
        self._k = kernel32()
        self.path = "\\\\.\\mailslot\\" + bare
        handle = self._k.CreateMailslotW(self.path, max_size, timeout_ms, None)
        if handle is None or handle == INVALID_HANDLE_VALUE:
            raise _winerror(f"CreateMailslotW({self.path!r})")
        self._handle: int | None = handle
        self._timeout_ms = timeout_ms

    def info(self) -> tuple[int, int, int, int]:
        ctypes, wintypes = self._ctypes, self._wintypes
        vals = [wintypes.DWORD() for _ in range(4)]
        if not self._k.GetMailslotInfo(self._handle, *(ctypes.byref(v) for v in vals)):
            raise _winerror("GetMailslotInfo")
        return vals[0].value, vals[1].value, vals[2].value, vals[3].value

    def set_timeout(self, timeout_ms: int) -> None:
        if timeout_ms != self._timeout_ms:
            if not self._k.SetMailslotInfo(self._handle, timeout_ms):
                raise _winerror("SetMailslotInfo")
            self._timeout_ms = timeout_ms

    def read(self, timeout_ms: int) -> bytes | None:
        """One message, or None when the read timed out (ERROR_SEM_TIMEOUT)."""
        ctypes, wintypes = self._ctypes, self._wintypes
        self.set_timeout(timeout_ms)
        size = 0x10000
        while True:
            buf: Array[c_char] = ctypes.create_string_buffer(size)
            got = wintypes.DWORD()
            if self._k.ReadFile(self._handle, buf, size, ctypes.byref(got), None):
                return buf.raw[: got.value]
            code = ctypes.get_last_error()
            if code == ERROR_SEM_TIMEOUT:
                return None
            if code == ERROR_BROKEN_PIPE:
                # Wine 8.0 reads a zero-length message as ERROR_BROKEN_PIPE (and consumes it);
                # Windows returns it as 0 bytes.  A mailslot's read handle has no pipe to break.
                return b""
            if code == ERROR_INSUFFICIENT_BUFFER:  # Windows keeps the message: ask its size
                next_size = self.info()[1]
                if next_size != MAILSLOT_NO_MESSAGE and next_size > size:
                    size = next_size
                    continue
            raise _winerror("ReadFile", code)

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None and not self._k.CloseHandle(handle):
            raise _winerror("CloseHandle")


def _kernel32_write(path: str, data: bytes, *, remote: bool) -> int:
    import ctypes
    from ctypes import wintypes

    k = kernel32()
    handle = None
    try:
        # Share writing too: several writers may have one mailslot open at once, and Wine (like
        # Windows before Vista) refuses a second writer with ERROR_SHARING_VIOLATION otherwise,
        # even a handle left open by a write that Ctrl-C interrupted.
        handle = k.CreateFileW(
            path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, None, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, None
        )
        if handle is None or handle == INVALID_HANDLE_VALUE:
            handle = None
            raise _winerror(f"CreateFileW({path!r})", remote_path=path if remote else None)
        written = wintypes.DWORD()
        if not k.WriteFile(handle, data, len(data), ctypes.byref(written), None):
            raise _winerror("WriteFile", remote_path=path if remote else None)
        return written.value
    finally:
        if handle is not None:
            k.CloseHandle(handle)


# --------------------------------------------------------------------------
# Local hand-off: the owner of a name on this machine (netbios transport)
# --------------------------------------------------------------------------
# Each netbios-transport slot owns a local inbox named after (port, NAME).
# Binding it is the exclusive claim on the name; writes to "." and datagrams
# that reached another process of this machine are handed to it there.
#   Linux: AF_UNIX datagram socket in the abstract namespace (per network
#          namespace, released when the process dies).
#   other POSIX: AF_UNIX socket files in a private directory.
#   Windows: a kernel32 local mailslot (exclusive per machine, like the original).


def _inbox_key(port: int, bare: str) -> str:
    upper = bare.upper()
    if len(upper) > 80:
        import hashlib

        upper = "#" + hashlib.sha1(upper.encode()).hexdigest()
    return f"lanmsg-mailslot/{port}/{upper}"


def _inbox_address(port: int, bare: str) -> str:
    key = _inbox_key(port, bare)
    if sys.platform.startswith("linux"):
        return "\0" + key
    import hashlib
    import tempfile

    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(tempfile.gettempdir(), f"lanmsg-{os.getuid()}")
    os.makedirs(base, mode=0o700, exist_ok=True)
    return os.path.join(base, hashlib.sha1(key.encode()).hexdigest()[:24] + ".sock")


class _UnixInbox:
    def __init__(self, port: int, bare: str):
        self.address = _inbox_address(port, bare)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._bind(bare)
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER_BYTES)
            except OSError:
                pass
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise

    def _bind(self, bare: str) -> None:
        try:
            self.sock.bind(self.address)
            return
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise MailslotError(e.errno, f"cannot create mailslot {bare!r}: {e.strerror}") from None
        if not self.address.startswith("\0") and not _unix_owner_alive(self.address):
            os.unlink(self.address)  # left by a process that died
            self.sock.bind(self.address)
            return
        raise MailslotExistsError(
            errno.EEXIST,
            f"mailslot {bare!r} already exists on this machine "
            f"(ERROR_ALREADY_EXISTS {ERROR_ALREADY_EXISTS}): another process owns it",
        )

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv_nowait(self) -> bytes | None:
        try:
            return self.sock.recv(0x10000)
        except (BlockingIOError, InterruptedError):
            return None

    def close(self) -> None:
        self.sock.close()
        if not self.address.startswith("\0"):
            try:
                os.unlink(self.address)
            except OSError:
                pass

    @staticmethod
    def send(port: int, bare: str, payload: bytes, *, wait: float) -> bool:
        """Hand ``payload`` to the owner; False when nobody owns the name.

        ``wait``: seconds to wait while the owner's queue is full.  Linux queues
        only net.unix.max_dgram_qlen (default 10) datagrams per receiver, so
        bursts need a short wait while the owner drains them.
        """
        address = _inbox_address(port, bare)
        with _receivers_lock:
            owner = _inbox_owners.get(address)
        if owner is not None:
            # the owner is this process: hand it over directly (only this process drains that
            # queue, so waiting on a full one would stall it)
            owner.deliver_direct(payload)
            return True
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            try:
                if wait > 0:
                    s.settimeout(wait)
                    s.sendto(payload, address)
                else:
                    s.sendto(payload, socket.MSG_DONTWAIT, address)
                return True
            except (FileNotFoundError, ConnectionRefusedError):
                return False
            except (TimeoutError, BlockingIOError):
                raise MailslotError(
                    errno.EAGAIN, f"mailslot {bare!r} on this machine is not reading (its queue is full)"
                ) from None


def _unix_owner_alive(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(path)
            return True
        except OSError:
            return False


LOCAL_SEND_TIMEOUT_S = 2.0  # a writer waits this long for a full local queue to drain
FORWARD_WAIT_S = 0.05  # a process passing on another owner's datagram waits at most this long


class _Kernel32Inbox:
    """Windows: the netbios transport's local inbox is a real local mailslot."""

    def __init__(self, port: int, bare: str):
        self.slot = _Kernel32Slot(bare, 0, 0)

    def fileno(self) -> None:
        return None

    def recv_nowait(self) -> bytes | None:
        return self.slot.read(0)

    def close(self) -> None:
        self.slot.close()

    @staticmethod
    def send(port: int, bare: str, payload: bytes, *, wait: float) -> bool:
        try:
            _kernel32_write("\\\\.\\mailslot\\" + bare, payload, remote=False)
            return True
        except FileNotFoundError:
            return False


_Inbox = _Kernel32Inbox if sys.platform == "win32" else _UnixInbox


# --------------------------------------------------------------------------
# The netbios transport
# --------------------------------------------------------------------------

_dgm_ids = itertools.count(random.randrange(0x10000))
_learned_lock = threading.Lock()
_learned_addresses: collections.OrderedDict[str, str] = collections.OrderedDict()  # NAME -> IPv4
LEARNED_MAX = 1024


def next_dgm_id() -> int:
    return next(_dgm_ids) & 0xFFFF


def learn_address(name: str, ip: str) -> None:
    """Remember where computer ``name`` was last heard from (used to resolve targets)."""
    if name in ("", "*") or ip == "0.0.0.0":
        return
    with _learned_lock:
        _learned_addresses[name.upper()] = ip
        _learned_addresses.move_to_end(name.upper())
        while len(_learned_addresses) > LEARNED_MAX:
            _learned_addresses.popitem(last=False)


def learned_address(name: str) -> str | None:
    with _learned_lock:
        return _learned_addresses.get(name.upper())


def learned_name(ip: str) -> str | None:
    with _learned_lock:
        for name, addr in reversed(_learned_addresses.items()):
            if addr == ip:
                return name
    return None


if TYPE_CHECKING:

    class _MessageFields(NamedTuple):
        data: bytes
        mailslot: str
        source_name: str | None = None
        source_ip: str | None = None
        destination: str | None = None
        local: bool = False
        datagram: Datagram | None = None
else:
    _MessageFields = collections.namedtuple(
        "Message",
        "data mailslot source_name source_ip destination local datagram",
        defaults=(None, None, None, False, None),
    )


class Message(_MessageFields):
    """One message read from a mailslot.

    data; mailslot: the bare name it was read from; source_name and source_ip:
    the sender, when the transport knows it; destination: the NetBIOS destination
    name ("WORKGROUP<00>"); local: written on this machine ("." or a group write);
    datagram: the decoded datagram (netbios transport).
    """

    __slots__ = ()


if TYPE_CHECKING:

    class _MailslotInfoFields(NamedTuple):
        max_size: int
        next_size: int
        count: int  # type: ignore[assignment]  # a field named count hides tuple.count, as at run time
        read_timeout: int
else:
    _MailslotInfoFields = collections.namedtuple("MailslotInfo", "max_size next_size count read_timeout")


class MailslotInfo(_MailslotInfoFields):
    """What GetMailslotInfo reports: sizes in bytes (next_size MAILSLOT_NO_MESSAGE when
    empty), read_timeout in milliseconds (MAILSLOT_WAIT_FOREVER for no timeout)."""

    __slots__ = ()


class _Dedup:
    """Recently seen keys, forgotten after ``window`` seconds, at most ``cap`` of them."""

    def __init__(self, window: float = DEDUP_WINDOW_S, cap: int = DEDUP_MAX_ENTRIES):
        self.window, self.cap = window, cap
        self._seen: collections.OrderedDict[Hashable, float] = collections.OrderedDict()

    def check(self, key: Hashable, now: float) -> bool:
        """True if ``key`` was seen within the window; records it otherwise."""
        seen = self._seen
        while seen:
            _first_key, first_time = next(iter(seen.items()))
            if now - first_time <= self.window and len(seen) < self.cap:
                break
            seen.popitem(last=False)
        if key in seen:
            return True
        seen[key] = now
        return False

    def __len__(self) -> int:
        return len(self._seen)


_receivers_lock = threading.Lock()
_receivers: dict[int, _Receiver] = {}  # port -> this process's shared _Receiver
_inbox_owners: dict[str, _NetbiosSlot] = {}  # local inbox address -> this process's _NetbiosSlot that owns it


def _open_receiver(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER_BYTES)
        except OSError:
            pass
        if _IP_PKTINFO is not None:
            s.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
        _bind_port(s, "", port)
        s.setblocking(False)
        return s
    except BaseException:
        s.close()
        raise


def _bind_port(s: socket.socket, address: str, port: int) -> None:
    try:
        s.bind((address, port))
    except PermissionError as e:
        raise PortPermissionError(e.errno, port_permission_help(port)) from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE or getattr(e, "winerror", None) == 10048:
            raise MailslotError(
                e.errno,
                f"UDP port {port} is taken by a program that does not share it "
                "(SO_REUSEADDR); stop it or use another port on every peer (--port)",
            ) from None
        if getattr(e, "winerror", None) == 10013:
            raise PortPermissionError(e.errno, port_permission_help(port)) from None
        raise MailslotError(e.errno, f"cannot bind UDP port {port}: {e.strerror}") from None


def port_permission_help(port: int) -> str:
    if sys.platform == "win32":
        return (
            f"cannot bind UDP port {port}: access denied. On Windows, port 138 belongs to NetBIOS over "
            "TCP/IP; use the native transport, or another port on every peer (--port N / LANMSG_PORT)."
        )
    return (
        f"cannot bind UDP port {port}: permission denied. Ports below 1024 need root or "
        "CAP_NET_BIND_SERVICE on Linux. Remedies: run as root; or "
        "'sudo setcap cap_net_bind_service=+ep <python executable>'; or "
        f"'sudo sysctl -w net.ipv4.ip_unprivileged_port_start={port}'; or use another port on "
        "every peer (--port N / LANMSG_PORT=N)."
    )


def _pktinfo_destination(ancdata: list[tuple[int, int, bytes]]) -> str | None:
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(data) >= 12:
            return socket.inet_ntoa(data[8:12])  # struct in_pktinfo: ipi_addr
    return None


class _Addresses:
    """This machine's IPv4 addresses and broadcast addresses (to classify datagrams)."""

    def __init__(self, config: Config):
        ifaces = ipv4_interfaces()
        self.routes = [(i.address, i.broadcast) for i in ifaces if i.broadcast and not i.loopback]
        self.local = {i.address for i in ifaces} | {"127.0.0.1"}
        self.broadcast = (
            {i.broadcast for i in ifaces if i.broadcast}
            | {"255.255.255.255", "127.255.255.255"}
            | set(config.broadcast)
        )

    def is_local(self, ip: str) -> bool:
        return ip in self.local or ip.startswith("127.")


ADDRESSES_TTL_S = 5.0  # interface addresses are re-read at most this often (ioctls per write cost)
_addresses_cache: dict[tuple[str, ...], tuple[float, _Addresses]] = {}


def _addresses(config: Config) -> _Addresses:
    now = time.monotonic()
    key = config.broadcast
    hit = _addresses_cache.get(key)
    if hit is None or now - hit[0] > ADDRESSES_TTL_S:
        hit = _addresses_cache[key] = (now, _Addresses(config))
    return hit[1]


class _Receiver:
    """This process's one UDP socket on a port, shared by all of its netbios slots.

    Whichever slot is read pumps it.  Each datagram goes to the slot of this
    process that owns its mailslot name; one for a name owned elsewhere on this
    machine is passed on if it came by unicast (a broadcast reached every
    process already).  So no slot's datagrams wait in a socket nobody reads.
    """

    def __init__(self, port: int, config: Config):
        self.port, self.config = port, config
        self.sock = _open_receiver(port)
        self.lock = threading.Lock()
        self.slots: dict[str, _NetbiosSlot] = {}  # wire name (upper case) -> _NetbiosSlot
        self.stats: collections.Counter[str] = collections.Counter()
        self._cmsg_size = socket.CMSG_SPACE(12) if _IP_PKTINFO is not None else 0

    @classmethod
    def attach(cls, slot: _NetbiosSlot) -> _Receiver:
        with _receivers_lock:
            rx = _receivers.get(slot.config.port)
            if rx is None:
                rx = _receivers[slot.config.port] = cls(slot.config.port, slot.config)
            rx.slots[slot.wire_name] = slot
            return rx

    def detach(self, slot: _NetbiosSlot) -> None:
        with _receivers_lock:
            if self.slots.get(slot.wire_name) is slot:
                del self.slots[slot.wire_name]
            if self.slots:
                return
            if _receivers.get(self.port) is self:
                del _receivers[self.port]
        with self.lock:  # the last slot: pass on what is still queued, then close
            _drain_and_forward(self.sock, self.config)
            self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def pump(self) -> None:
        """Take in every datagram already queued on the socket."""
        with self.lock:
            if self.sock.fileno() < 0:
                return
            for _ in range(4096):
                try:
                    if self._cmsg_size:
                        payload, anc, _, peer = self.sock.recvmsg(0x10000, self._cmsg_size)
                        dest = _pktinfo_destination(anc)
                    else:
                        payload, peer = self.sock.recvfrom(0x10000)
                        dest = None
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    self.stats["dropped_socket_error"] += 1
                    return
                self._dispatch(payload, peer, dest)

    def _dispatch(self, payload: bytes, peer: UdpAddress, dest: str | None) -> None:
        self.stats["received"] += 1
        try:
            d = decode_datagram(payload)
        except DecodeError as e:
            self.stats["dropped_malformed"] += 1
            self.stats[f"dropped_{e.reason}"] += 1
            return
        except Exception:  # never let hostile bytes out of the receive loop
            self.stats["dropped_malformed"] += 1
            return
        wire_name = d.mailslot.upper()
        owner = self.slots.get(wire_name)
        config = owner.config if owner is not None else self.config
        addresses = _addresses(self.config)  # re-read every ADDRESSES_TTL_S, never per datagram
        verdict = classify_incoming(d, peer, config, addresses)
        if verdict != "accept":
            self.stats[f"dropped_{verdict}"] += 1
            return
        if owner is not None:
            owner.accept_network(d, peer, payload)
            return
        if dest is not None and dest in addresses.broadcast:
            watchers = [slot for slot in list(self.slots.values()) if wire_name in slot.monitored]
            for slot in watchers:
                slot.accept_network(d, peer, payload)
            if not watchers:
                self.stats["other_mailslot"] += 1
        else:
            # only this socket saw a unicast datagram: hand it to the name's owner on this machine
            self.stats[_forward(d, payload, peer, config)] += 1


class _NetbiosSlot:
    def __init__(self, bare: str, max_size: int, timeout: float | None, config: Config, monitor: Iterable[str] = ()):
        self.bare, self.config, self.max_size, self.timeout = bare, config, max_size, timeout
        self.wire_name = (MAILSLOT_PREFIX + bare).upper()
        self.monitored = {(MAILSLOT_PREFIX + m).upper(): m for m in monitor}
        self._stats: collections.Counter[str] = collections.Counter()
        self._pending: collections.deque[Message] = collections.deque()
        self._dedup = _Dedup()
        self._lock = threading.Lock()  # the receiver or a writer thread may hand over
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._inbox = _Inbox(config.port, bare)
        try:
            if sys.platform != "win32":
                self._wake_r, self._wake_w = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._wake_r.setblocking(False)
                self._wake_w.setblocking(False)
            self._receiver = _Receiver.attach(self)
        except BaseException:
            self._close_local()
            raise
        if self._wake_r is not None and isinstance(self._inbox, _UnixInbox):
            with _receivers_lock:
                _inbox_owners[self._inbox.address] = self

    @property
    def stats(self) -> collections.Counter[str]:
        """The shared receiver's counters plus this slot's own."""
        merged = collections.Counter(self._receiver.stats)
        merged.update(self._stats)
        return merged

    # -- receiving ----------------------------------------------------------

    def fds(self) -> list[int] | None:
        inbox_fd = self._inbox.fileno()
        return (
            None
            if inbox_fd is None or self._wake_r is None
            else [self._receiver.fileno(), inbox_fd, self._wake_r.fileno()]
        )

    def _wake(self) -> None:
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"\0")
            except OSError:
                pass  # a wake-up is already pending

    def deliver_direct(self, payload: bytes) -> None:
        """A local hand-off from this same process (any thread): queue it and wake the reader."""
        with self._lock:
            self._on_local(payload)
        self._wake()

    def accept_network(self, d: Datagram, peer: UdpAddress, payload: bytes) -> None:
        """A datagram the shared receiver routed here (possibly from another slot's read)."""
        wire_name = d.mailslot.upper()
        with self._lock:
            self._accept(
                d,
                peer,
                check_duplicate=True,
                local=False,
                raw=payload,
                mailslot=self.monitored.get(wire_name) if wire_name != self.wire_name else None,
            )
        self._wake()

    def _pump(self, wait: float | None) -> None:
        """Wait up to ``wait`` seconds for input, then take in everything already queued."""
        if wait is None or wait > 0:
            fds = self.fds()
            if fds is None:  # Windows inbox: poll it beside the socket
                step = NATIVE_POLL_INTERVAL_S if wait is None else min(wait, NATIVE_POLL_INTERVAL_S)
                select.select([self._receiver.sock], [], [], step)
            else:
                select.select(fds, [], [], wait)
        if self._wake_r is not None:
            try:
                while self._wake_r.recv(16):
                    pass
            except OSError:
                pass
        self._receiver.pump()
        for _ in range(1024):
            payload = self._inbox.recv_nowait()
            if payload is None:
                break
            with self._lock:
                self._on_local(payload)

    def _on_local(self, payload: bytes) -> None:
        self._stats["received_local"] += 1
        try:
            kind, peer, raw = decode_envelope(payload)
            d = decode_datagram(raw)
        except DecodeError:
            if sys.platform == "win32":  # a plain local write by another program
                self._queue(Message(payload, self.bare, local=True))
                return
            self._stats["dropped_malformed"] += 1
            return
        if d.mailslot.upper() != self.wire_name:
            self._stats["dropped_misdelivered"] += 1
            return
        self._accept(d, peer, check_duplicate=kind == ENVELOPE_FORWARDED, local=kind == ENVELOPE_LOCAL, raw=raw)

    def _accept(
        self,
        d: Datagram,
        peer: UdpAddress,
        *,
        check_duplicate: bool,
        local: bool,
        raw: bytes,
        mailslot: str | None = None,
    ) -> None:
        # the UDP source, not the header's SOURCE_IP: any sender writes any bytes there, and
        # replies (CONF, ONLINE) to it would reach a third host or the broadcast address
        source_ip = peer[0]
        if check_duplicate and self._dedup.check((source_ip, d.dgm_id, zlib.crc32(raw)), time.monotonic()):
            self._stats["dropped_duplicate"] += 1
            return
        if self.max_size and len(d.data) > self.max_size:
            self._stats["dropped_too_large"] += 1
            return
        if not local:
            learn_address(d.source_name.name, source_ip)
        self._queue(
            Message(d.data, mailslot or self.bare, d.source_name.name, source_ip, str(d.destination_name), local, d)
        )

    def _queue(self, message: Message) -> None:
        if len(self._pending) >= PENDING_MAX_MESSAGES:
            self._stats["dropped_queue_full"] += 1
            return
        self._stats["delivered"] += 1
        self._pending.append(message)

    def try_read(self) -> Message | None:
        if not self._pending:
            self._pump(0)
        return self._pending.popleft() if self._pending else None

    def read(self, timeout: float | None) -> Message:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._pending:
                return self._pending.popleft()
            remaining = None if deadline is None else deadline - time.monotonic()
            self._pump(remaining if remaining is None or remaining > 0 else 0)
            if not self._pending and remaining is not None and remaining <= 0:
                raise TimeoutError(errno.ETIMEDOUT, f"no message in mailslot {self.bare!r} within {timeout:g} s")

    def info(self) -> MailslotInfo:
        self._pump(0)
        next_size = len(self._pending[0].data) if self._pending else MAILSLOT_NO_MESSAGE
        return MailslotInfo(self.max_size, next_size, len(self._pending), _timeout_ms(self.timeout))

    def set_timeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def close(self) -> None:
        with _receivers_lock:
            if isinstance(self._inbox, _UnixInbox) and _inbox_owners.get(self._inbox.address) is self:
                del _inbox_owners[self._inbox.address]
        # the inbox first: datagrams still queued for this name must find no owner here,
        # not wait FORWARD_WAIT_S each on a queue nobody reads any more
        self._inbox.close()
        self._receiver.detach(self)
        self._close_local()

    def _close_local(self) -> None:
        self._inbox.close()
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()


def classify_incoming(d: Datagram, peer: UdpAddress, config: Config, addresses: _Addresses) -> str:
    """'accept', or the reason a datagram from the network is not for this machine."""
    dest = d.destination_name
    if dest.scope:
        return "scope"
    to_me = dest.name.upper() == config.name and dest.suffix == 0x00
    to_group = (dest.name.upper() == config.workgroup and dest.suffix == 0x00) or dest.name == "*"
    if not (to_me or to_group):
        return "not_for_us"
    if d.source_name.name.upper() == config.name and addresses.is_local(peer[0]):
        return "own"  # our own machine: its owners got it directly
    return "accept"


def _forward(d: Datagram, payload: bytes, peer: UdpAddress, config: Config) -> str:
    """Hand a datagram to the owner of its name here: 'forwarded', 'dropped_no_owner' or 'dropped_owner_busy'."""
    try:
        bare = normalize_mailslot_name(d.mailslot)
        sent = _Inbox.send(config.port, bare, encode_envelope(ENVELOPE_FORWARDED, peer, payload), wait=FORWARD_WAIT_S)
        return "forwarded" if sent else "dropped_no_owner"
    except MailslotNameError:
        return "dropped_no_owner"
    except (MailslotError, OSError):
        return "dropped_owner_busy"


def _drain_and_forward(sock: socket.socket, config: Config, addresses: _Addresses | None = None) -> int:
    """Route datagrams left in ``sock``'s queue to their owners on this machine."""
    addresses = addresses or _addresses(config)
    moved = 0
    sock.setblocking(False)
    for _ in range(4096):
        try:
            payload, peer = sock.recvfrom(0x10000)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            break
        try:
            d = decode_datagram(payload)
        except DecodeError:
            continue
        if (
            classify_incoming(d, peer, config, addresses) == "accept"
            and _forward(d, payload, peer, config) == "forwarded"
        ):
            moved += 1
    return moved


def _timeout_ms(timeout: float | None) -> int:
    return MAILSLOT_WAIT_FOREVER if timeout is None else max(0, min(int(timeout * 1000), 0xFFFFFFFE))


def _send_datagrams(config: Config, sends: Iterable[tuple[str, str | None, bool, Callable[[str], bytes]]]) -> None:
    """Send datagrams from UDP port ``config.port``.

    ``sends``: (destination IP, source IP if known, is broadcast, build(source_ip) -> bytes).
    A socket of an open slot in this process is used when there is one; otherwise
    a short-lived socket bound to the port and *connected* to the destination,
    so that it never takes unicast datagrams meant for the slots on this machine.
    """
    with _receivers_lock:
        receiver = _receivers.get(config.port)
    for dest_ip, src, is_broadcast, build in sends:
        if receiver is not None:
            src = src or _source_address_for(dest_ip, config.port)
            _sendto(receiver.sock, build(src), (dest_ip, config.port))
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if is_broadcast:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            _bind_port(s, "", config.port)
            try:
                s.connect((dest_ip, config.port))
            except OSError as e:
                raise MailslotError(e.errno, f"cannot send to {dest_ip}: {e.strerror}") from None
            _drain_and_forward(s, config)  # anything that slipped in before connect()
            _sendto(s, build(s.getsockname()[0]), None)
            _drain_and_forward(s, config)


def _sendto(s: socket.socket, payload: bytes, address: UdpAddress | None) -> None:
    try:
        if address is None:
            s.send(payload)
        else:
            s.sendto(payload, address)
    except OSError as e:
        where = f" to {address[0]}" if address else ""
        raise MailslotError(e.errno, f"cannot send{where}: {e.strerror}") from None


def _deliver_local(config: Config, bare: str, data: bytes, *, required: bool) -> bool:
    """Write ``data`` to the owner of ``bare`` on this machine (netbios transport)."""
    d = build_datagram(
        msg_type=MSG_DIRECT_UNIQUE,
        source=config.name,
        destination=NetbiosName(config.name),
        mailslot=bare,
        data=data,
        source_ip="127.0.0.1",
        dgm_id=next_dgm_id(),
    )
    if sys.platform == "win32":
        payload = data  # a plain local write, readable by native owners too
    else:
        payload = encode_envelope(ENVELOPE_LOCAL, ("127.0.0.1", config.port), encode_datagram(d))
    if _Inbox.send(config.port, bare, payload, wait=LOCAL_SEND_TIMEOUT_S):
        return True
    if required:
        raise MailslotNotFoundError(
            errno.ENOENT, f"no mailslot {bare!r} on this machine (ERROR_FILE_NOT_FOUND {ERROR_FILE_NOT_FOUND})"
        )
    return False


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

_DEFAULT = object()


class _NativeSlot:
    def __init__(self, bare: str, max_size: int, timeout: float | None, config: Config):
        self.bare, self.timeout = bare, timeout
        self.stats: collections.Counter[str] = collections.Counter()
        self._slot = _Kernel32Slot(bare, max_size, _timeout_ms(timeout))

    def fds(self) -> None:
        return None

    def _message(self, data: bytes) -> Message:
        self.stats["delivered"] += 1
        try:
            kind, _peer, raw = decode_envelope(data)  # forwarded by a netbios-transport process
            d = decode_datagram(raw)
            if d.mailslot.upper() == (MAILSLOT_PREFIX + self.bare).upper():
                return Message(
                    d.data,
                    self.bare,
                    d.source_name.name,
                    d.source_ip,
                    str(d.destination_name),
                    kind == ENVELOPE_LOCAL,
                    d,
                )
        except DecodeError:
            pass
        return Message(data, self.bare, local=True)

    def try_read(self) -> Message | None:
        data = self._slot.read(0)
        return None if data is None else self._message(data)

    def read(self, timeout: float | None) -> Message:
        data = self._slot.read(_timeout_ms(timeout))
        if data is None:
            raise TimeoutError(
                errno.ETIMEDOUT, f"no message in mailslot {self.bare!r} within {timeout:g} s (ERROR_SEM_TIMEOUT)"
            )
        return self._message(data)

    def info(self) -> MailslotInfo:
        return MailslotInfo(*self._slot.info())

    def set_timeout(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._slot.set_timeout(_timeout_ms(timeout))

    def close(self) -> None:
        self._slot.close()


class Mailslot:
    """The server side: a mailslot ``\\\\.\\mailslot\\NAME`` owned by this process.

    ``max_size``: largest message accepted (0 = any), as CreateMailslot's
    nMaxMessageSize.  ``read_timeout``: seconds ``read()`` waits by default
    (None = forever, 0 = do not wait).  Creating a name this machine already
    has raises MailslotExistsError (ERROR_ALREADY_EXISTS, 183).
    """

    def __init__(
        self,
        name: str,
        *,
        max_size: int = 0,
        read_timeout: float | None = None,
        transport: str | None = None,
        config: Config | None = None,
        monitor: Iterable[str] = (),
    ) -> None:
        """``monitor``: other mailslot names whose *broadcast* datagrams this slot also
        reads without owning them (netbios transport only; every socket on the port
        sees every broadcast).  Ignored by the native transport."""
        self.name = normalize_mailslot_name(name)
        self.transport = resolve_transport(transport)
        self.config = config if config is not None else Config.from_env()
        if not isinstance(max_size, int) or max_size < 0:
            raise ValueError(f"invalid max_size {max_size!r}")
        self._impl: _NativeSlot | _NetbiosSlot
        if self.transport == "native":
            self._impl = _NativeSlot(self.name, max_size, read_timeout, self.config)
        else:
            self._impl = _NetbiosSlot(
                self.name, max_size, read_timeout, self.config, monitor=[normalize_mailslot_name(m) for m in monitor]
            )
        self._closed = False

    def read(self, timeout: float | None = _DEFAULT) -> Message:  # type: ignore[assignment]  # _DEFAULT: a sentinel
        """The next message; waits ``timeout`` seconds (default: the slot's read timeout).

        Raises TimeoutError when nothing arrived in time.
        """
        self._check_open()
        return self._impl.read(self._impl.timeout if timeout is _DEFAULT else timeout)

    def try_read(self) -> Message | None:
        self._check_open()
        return self._impl.try_read()

    def info(self) -> MailslotInfo:
        self._check_open()
        return self._impl.info()

    def set_read_timeout(self, timeout: float | None) -> None:
        self._check_open()
        self._impl.set_timeout(timeout)

    @property
    def stats(self) -> dict[str, int]:
        """Counters of the receive path (received, delivered, dropped_* ...)."""
        return dict(self._impl.stats)

    def fileno_list(self) -> list[int] | None:
        return None if self._closed else self._impl.fds()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._impl.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on a closed mailslot")

    def __enter__(self) -> Mailslot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Mailslot {self.name!r} transport={self.transport} {state}>"


def read_any(slots: Iterable[Mailslot], timeout: float | None) -> tuple[Mailslot, Message]:
    """Wait for the first message on any of ``slots``; TimeoutError after ``timeout`` seconds."""
    slots = list(slots)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for slot in slots:
            msg = slot.try_read()
            if msg is not None:
                return slot, msg
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError(errno.ETIMEDOUT, f"no message within {timeout:g} s")
        fds = [slot.fileno_list() for slot in slots]
        if all(f is not None for f in fds):
            select.select([fd for f in fds for fd in f or ()], [], [], remaining)
        else:
            time.sleep(NATIVE_POLL_INTERVAL_S if remaining is None else min(remaining, NATIVE_POLL_INTERVAL_S))


if TYPE_CHECKING:

    class _TargetFields(NamedTuple):
        kind: str
        name: str
        address: str | None = None
else:
    _TargetFields = collections.namedtuple("Target", "kind name address", defaults=(None,))


class Target(_TargetFields):
    """Where a write goes: kind "local", "group" or "unique"; the NetBIOS name; an address."""

    __slots__ = ()


def classify_target(target: str, config: Config, address: str | None = None) -> Target:
    """Where a write to ``target`` goes: this machine, a group (broadcast) or one computer."""
    if not isinstance(target, str) or not target.strip():
        raise MailslotNameError("target must be '.', '*', a computer name or a workgroup name")
    t = target.strip()
    if t.startswith("\\\\"):
        t = t[2:]
    if t == ".":
        return Target("local", ".")
    if t == "*":
        return Target("group", config.workgroup)
    up = t.upper()
    if up == config.name:
        return Target("local", ".")
    if up == config.workgroup:
        return Target("group", config.workgroup)
    try:
        ipv4_address(t)
        return Target("unique", "*", t)
    except ValueError:
        pass
    if "." in t:  # a DNS name: its first label is the NetBIOS name
        label = t.split(".")[0]
        return Target("unique", netbios_name(label[:NETBIOS_NAME_MAX]) if label else "*", address)
    return Target("unique", netbios_name(t), address)


def write(
    target: str,
    name: str,
    data: bytes,
    *,
    transport: str | None = None,
    config: Config | None = None,
    address: str | None = None,
) -> int:
    """Write one message to mailslot ``name`` on ``target``; return the bytes written.

    ``target``: "." (this machine), a computer name, a workgroup/domain name, or
    "*" (every computer of the primary workgroup).  ``address``: the IPv4 address
    of a computer target when the caller knows it (netbios transport).
    Messages for other computers are limited to ``max_remote_payload(name)``.
    """
    bare = normalize_mailslot_name(name)
    data = bytes(data)
    transport = resolve_transport(transport)
    config = config if config is not None else Config.from_env()
    dest = classify_target(target, config, address)
    if dest.kind == "local":
        if len(data) > LOCAL_MAX_MESSAGE:
            raise MessageTooLargeError(
                f"message is {len(data)} bytes; a local mailslot message may be at "
                f"most {LOCAL_MAX_MESSAGE} bytes; nothing was sent",
                len(data),
                LOCAL_MAX_MESSAGE,
            )
    else:
        check_remote_size(bare, len(data))
    if transport == "native":
        host = {"local": ".", "group": "*" if target.strip() == "*" else dest.name}.get(dest.kind)
        if host is None:
            host = target.strip().lstrip("\\")
        return _kernel32_write(f"\\\\{host}\\mailslot\\{bare}", data, remote=dest.kind != "local")
    return _netbios_write(dest, bare, data, config)


def _netbios_write(dest: Target, bare: str, data: bytes, config: Config) -> int:
    if dest.kind == "local":
        _deliver_local(config, bare, data, required=True)
        return len(data)

    def builder(msg_type: int, destination: NetbiosName) -> Callable[[str], bytes]:
        dgm_id = next_dgm_id()
        return lambda source_ip: encode_datagram(
            build_datagram(
                msg_type=msg_type,
                source=config.name,
                destination=destination,
                mailslot=bare,
                data=data,
                source_ip=source_ip,
                dgm_id=dgm_id,
                source_port=config.port,
            )
        )

    if dest.kind == "group":
        group = NetbiosName(dest.name, 0x00)
        sends = [(bcast, src, True, builder(MSG_DIRECT_GROUP, group)) for src, bcast in broadcast_routes(config)]
        _deliver_local(config, bare, data, required=False)  # as Windows does for \\*\
        _send_datagrams(config, sends)
        return len(data)
    ip = dest.address or _resolve(dest.name)
    if _addresses(config).is_local(ip) and dest.name in ("*", config.name):
        _deliver_local(config, bare, data, required=True)
        return len(data)
    nb_name = dest.name if dest.name != "*" else (learned_name(ip) or "*")
    msg_type = MSG_DIRECT_GROUP if nb_name == "*" else MSG_DIRECT_UNIQUE
    _send_datagrams(config, [(ip, None, False, builder(msg_type, NetbiosName(nb_name, 0x00)))])
    return len(data)


def _resolve(name: str) -> str:
    """IPv4 address of computer ``name``: heard from it before, or DNS / hosts file."""
    known = learned_address(name)
    if known:
        return known
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as e:
        raise MailslotError(
            errno.EHOSTUNREACH,
            f"cannot find computer {name!r}: not heard from yet and "
            f"not in DNS or the hosts file ({e}); give its IPv4 address",
        ) from None
    return str(infos[0][4][0])


# --------------------------------------------------------------------------
# python -m mailslot: a small debugging CLI
# --------------------------------------------------------------------------

EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_SYSTEM = 0, 1, 2, 3


def add_transport_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every mailslot command takes (shared with lanmsg's CLI)."""
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        help=f"native (Windows kernel32) or netbios (UDP); default {default_transport()} (env LANMSG_TRANSPORT)",
    )
    parser.add_argument("--port", type=int, help="UDP port of the netbios transport (default 138, env LANMSG_PORT)")
    parser.add_argument("--workgroup", help="workgroup or domain name (default WORKGROUP, env LANMSG_WORKGROUP)")
    parser.add_argument("--name", help="this computer's NetBIOS name (default the host name, env LANMSG_NAME)")
    parser.add_argument(
        "--broadcast",
        action="append",
        metavar="ADDRESS",
        help="broadcast address for group writes, repeatable (default every up IPv4 "
        "interface, env LANMSG_BROADCAST); 127.255.255.255 keeps them on loopback",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    return Config.from_env(
        port=args.port,
        workgroup=args.workgroup,
        name=args.name,
        broadcast=tuple(args.broadcast) if args.broadcast else None,
    )


def printable(data: bytes) -> str:
    """Text made safe for a terminal: control characters and escapes are shown escaped."""
    text = data.decode("utf-8", errors="replace") if _is_utf8(data) else data.decode("cp1252", errors="replace")
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def describe(msg: Message) -> str:
    when = time.strftime("%H:%M:%S")
    text = printable(msg.data)
    shown = text if all(32 <= b < 127 or b >= 0x80 or b in (9, 10, 13) for b in msg.data) else "hex:" + msg.data.hex()
    return f"{when} {msg.source_name or '?'} {msg.source_ip or '-'} \\MAILSLOT\\{msg.mailslot} {len(msg.data)}B {shown}"


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mailslot",
        description="Mailslot debugging tool: listen on a mailslot or write one message.",
        epilog="exit codes: 0 ok, 1 nothing received in time, 2 bad usage or input, 3 transport or system error",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_listen = sub.add_parser("listen", help="create mailslot NAME and print each message until interrupted")
    p_listen.add_argument("slot", metavar="NAME", help="mailslot name, e.g. foxapp")
    p_listen.add_argument("--count", type=int, help="exit after this many messages")
    p_listen.add_argument("--timeout", type=float, help="exit 1 if no message arrives for this many seconds")
    add_transport_arguments(p_listen)
    p_send = sub.add_parser("send", help="write one message to mailslot NAME on TARGET (., *, HOST, WORKGROUP)")
    p_send.add_argument("target")
    p_send.add_argument("slot", metavar="NAME", help="mailslot name, e.g. foxapp")
    p_send.add_argument("text", nargs="?", default=None)
    p_send.add_argument("--hex", help="send these bytes (hex) instead of TEXT")
    add_transport_arguments(p_send)
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):  # a message the console cannot encode must not end listen
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        config = config_from_args(args)
        if args.command == "send":
            if (args.text is None) == (args.hex is None):
                parser.error("give TEXT or --hex HEX")
            data = bytes.fromhex(args.hex) if args.hex is not None else args.text.encode("utf-8")
            n = write(args.target, args.slot, data, transport=args.transport, config=config)
            print(f"wrote {n} bytes to \\\\{args.target}\\mailslot\\{normalize_mailslot_name(args.slot)}")
            return EXIT_OK
        with Mailslot(args.slot, transport=args.transport, config=config) as slot:
            print(
                f"listening on \\\\.\\mailslot\\{slot.name} ({slot.transport}"
                + (f", UDP {config.port}, {config.name} in {config.workgroup}" if slot.transport == "netbios" else "")
                + ")",
                flush=True,
            )
            seen = 0
            while args.count is None or seen < args.count:
                try:
                    msg = slot.read(args.timeout)
                except TimeoutError:
                    print(f"no message within {args.timeout:g} s", file=sys.stderr)
                    return EXIT_NOTHING
                print(describe(msg), flush=True)
                seen += 1
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK
    except (ValueError, MailslotNameError) as e:
        print(f"mailslot: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"mailslot: error: {e.strerror or e}", file=sys.stderr)
        return EXIT_SYSTEM


if __name__ == "__main__":
    sys.exit(main())
