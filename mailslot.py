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


class NameConflictError(MailslotError):
    """Another computer owns this computer's NetBIOS name: it answered our registration negatively."""


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
    up = nb_upper(name)
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
            nb_upper(self.name) == nb_upper(other.name)
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
# Codec: NetBIOS name service packets (RFC 1002 4.2; pure functions, no sockets)
# --------------------------------------------------------------------------
# Every field is big-endian.  Names are written whole (34 bytes without scope), never
# as compression pointers: impacket, pysmb and nbtscan mis-parse compressed answers.
# Pointers are accepted on input (nmbd's registrations use C0 0C), with bounded hops.

NS_FLAG_RESPONSE = 0x8000
NS_OPCODE_MASK = 0x7800
NS_FLAG_AA = 0x0400  # authoritative answer
NS_FLAG_TC = 0x0200  # truncated
NS_FLAG_RD = 0x0100  # recursion desired
NS_FLAG_RA = 0x0080  # recursion available
NS_FLAG_B = 0x0010  # sent as a broadcast
NS_RCODE_MASK = 0x000F

NS_OP_QUERY = 0
NS_OP_REGISTRATION = 5
NS_OP_RELEASE = 6
NS_OP_WACK = 7
NS_OP_REFRESH = 8
NS_OP_REFRESH_ALT = 9  # RFC 1002 4.2.4's diagram; Samba accepts both
NS_OP_MULTIHOMED = 15  # Microsoft's multi-homed registration

NS_RCODE_OK = 0
NS_RCODE_FMT_ERR = 1
NS_RCODE_SRV_ERR = 2
NS_RCODE_NAM_ERR = 3
NS_RCODE_IMP_ERR = 4
NS_RCODE_RFS_ERR = 5
NS_RCODE_ACT_ERR = 6
NS_RCODE_CFT_ERR = 7

NS_TYPE_A = 0x0001
NS_TYPE_NS = 0x0002
NS_TYPE_NULL = 0x000A
NS_TYPE_NB = 0x0020
NS_TYPE_NBSTAT = 0x0021
NS_CLASS_IN = 0x0001

NB_FLAG_GROUP = 0x8000
NB_ONT_MASK = 0x6000
NB_ONT_B = 0x0000  # a B-node: what a lanmsg responder is
NB_ONT_P = 0x2000
NB_ONT_M = 0x4000
NB_ONT_H = 0x6000  # "reserved" in the RFC, H-node in Microsoft and Samba practice
NAME_FLAG_DRG = 0x1000  # node status: deregistering
NAME_FLAG_CNF = 0x0800  # conflict
NAME_FLAG_ACT = 0x0400  # active
NAME_FLAG_PRM = 0x0200  # permanent

NS_HEADER_BYTES = 12
NS_MAX_PACKET = 576  # RFC 1002 6 MAX_DATAGRAM_LENGTH; Samba's MAX_DGRAM_SIZE
NS_MAX_POINTER_HOPS = 4  # a name is followed through at most this many compression pointers
NS_MAX_RECORDS = 16  # per section; real packets carry 0 or 1
NBSTAT_NAME_BYTES = 18  # 15 name bytes + suffix + NAME_FLAGS
NBSTAT_STATS_BYTES = 46  # RFC 1002 4.2.18 STATISTICS; sent as zeros, as Samba does

_NS_HEADER = struct.Struct(">HHHHHH")
_NS_TAIL = struct.Struct(">HHIH")  # RR_TYPE, RR_CLASS, TTL, RDLENGTH


class NSQuestion(collections.namedtuple("NSQuestion", "name qtype qclass", defaults=(NS_TYPE_NB, NS_CLASS_IN))):
    """A question: a NetbiosName, NB (0x20) or NBSTAT (0x21), class IN."""

    __slots__ = ()


class NSRecord(collections.namedtuple("NSRecord", "name rtype rclass ttl rdata")):
    """A resource record: NetbiosName, type, class, TTL in seconds, raw RDATA bytes."""

    __slots__ = ()


class NBEntry(collections.namedtuple("NBEntry", "flags address")):
    """One ADDR_ENTRY of NB RDATA: NB_FLAGS (G, ONT) and a dotted IPv4 address."""

    __slots__ = ()

    @property
    def group(self) -> bool:
        return bool(self.flags & NB_FLAG_GROUP)


class NodeStatusName(collections.namedtuple("NodeStatusName", "name suffix flags")):
    """One NODE_NAME entry of a node status answer: name text, suffix byte, NAME_FLAGS."""

    __slots__ = ()


if TYPE_CHECKING:

    class _NSPacketFields(NamedTuple):
        trn_id: int
        flags: int
        questions: tuple[NSQuestion, ...] = ()
        answers: tuple[NSRecord, ...] = ()
        authority: tuple[NSRecord, ...] = ()
        additional: tuple[NSRecord, ...] = ()
else:
    _NSPacketFields = collections.namedtuple(
        "NSPacket", "trn_id flags questions answers authority additional", defaults=((), (), (), ())
    )


class NSPacket(_NSPacketFields):
    """A name service packet: the 12-byte header's id and flags, then its four sections."""

    __slots__ = ()

    @property
    def response(self) -> bool:
        return bool(self.flags & NS_FLAG_RESPONSE)

    @property
    def opcode(self) -> int:
        return (self.flags & NS_OPCODE_MASK) >> 11

    @property
    def rcode(self) -> int:
        return self.flags & NS_RCODE_MASK

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & NS_FLAG_B)

    @property
    def recursion_desired(self) -> bool:
        return bool(self.flags & NS_FLAG_RD)


def encode_ns_packet(p: NSPacket) -> bytes:
    """The bytes of ``p``: full names everywhere, no compression."""
    out = bytearray(
        _NS_HEADER.pack(
            p.trn_id & 0xFFFF,
            p.flags & 0xFFFF,
            len(p.questions),
            len(p.answers),
            len(p.authority),
            len(p.additional),
        )
    )
    for q in p.questions:
        out += encode_name(q.name) + struct.pack(">HH", q.qtype, q.qclass)
    for rr in (*p.answers, *p.authority, *p.additional):
        rdata = bytes(rr.rdata)
        out += encode_name(rr.name) + _NS_TAIL.pack(rr.rtype, rr.rclass, rr.ttl & 0xFFFFFFFF, len(rdata)) + rdata
    return bytes(out)


def _decode_ns_name(buf: bytes, offset: int) -> tuple[NetbiosName, int]:
    """A name at ``offset``, following compression pointers; the offset after it in the packet."""
    after = None
    position = offset
    for _ in range(NS_MAX_POINTER_HOPS + 1):
        if position >= len(buf):
            raise DecodeError("truncated", "name missing")
        if buf[position] & 0xC0 == 0xC0:
            if position + 2 > len(buf):
                raise DecodeError("truncated", "compression pointer cut short")
            target = ((buf[position] & 0x3F) << 8) | buf[position + 1]
            if after is None:
                after = position + 2
            if not NS_HEADER_BYTES <= target < position:  # only backwards: no loop can form
                raise DecodeError("bad-name", f"compression pointer to offset {target}")
            position = target
            continue
        name, end = decode_name(buf, position)
        return name, end if after is None else after
    raise DecodeError("bad-name", "too many compression pointers")


def decode_ns_packet(buf: bytes) -> NSPacket:
    """Parse a name service packet; DecodeError (with a ``reason``) for anything malformed."""
    if len(buf) < NS_HEADER_BYTES:
        raise DecodeError("truncated", f"{len(buf)} bytes, the header alone is {NS_HEADER_BYTES}")
    if len(buf) > NS_MAX_PACKET:
        raise DecodeError("too-large", f"{len(buf)} bytes > {NS_MAX_PACKET}")
    trn_id, flags, qd, an, ns, ar = _NS_HEADER.unpack_from(buf, 0)
    if max(qd, an, ns, ar) > NS_MAX_RECORDS:
        raise DecodeError("bad-header", f"section counts {qd}/{an}/{ns}/{ar}")
    pos = NS_HEADER_BYTES
    questions = []
    for _ in range(qd):
        name, pos = _decode_ns_name(buf, pos)
        if pos + 4 > len(buf):
            raise DecodeError("truncated", "question type and class missing")
        qtype, qclass = struct.unpack_from(">HH", buf, pos)
        pos += 4
        questions.append(NSQuestion(name, qtype, qclass))
    sections: list[list[NSRecord]] = [[], [], []]
    for section, count in zip(sections, (an, ns, ar), strict=True):
        for _ in range(count):
            name, pos = _decode_ns_name(buf, pos)
            if pos + _NS_TAIL.size > len(buf):
                raise DecodeError("truncated", "record header cut short")
            rtype, rclass, ttl, rdlength = _NS_TAIL.unpack_from(buf, pos)
            pos += _NS_TAIL.size
            if pos + rdlength > len(buf):
                raise DecodeError("truncated", f"RDLENGTH {rdlength} with {len(buf) - pos} bytes left")
            rdata = bytes(buf[pos : pos + rdlength])
            pos += rdlength
            if rtype == NS_TYPE_NB and rdlength % 6:
                raise DecodeError("bad-rdata", f"NB RDATA of {rdlength} bytes is not a list of 6-byte entries")
            if rtype == NS_TYPE_NBSTAT:
                decode_node_status(rdata)  # validates its lengths
            section.append(NSRecord(name, rtype, rclass, ttl, rdata))
    if pos != len(buf):
        raise DecodeError("trailing", f"{len(buf) - pos} bytes after the last record")
    return NSPacket(trn_id, flags, tuple(questions), *(tuple(s) for s in sections))


def encode_nb_rdata(entries: Iterable[NBEntry]) -> bytes:
    return b"".join(struct.pack(">H4s", e.flags, socket.inet_aton(e.address)) for e in entries)


def decode_nb_rdata(rdata: bytes) -> list[NBEntry]:
    """The ADDR_ENTRY list of NB RDATA (DecodeError unless it is whole 6-byte entries)."""
    if len(rdata) % 6:
        raise DecodeError("bad-rdata", f"NB RDATA of {len(rdata)} bytes")
    return [
        NBEntry(struct.unpack_from(">H", rdata, i)[0], socket.inet_ntoa(rdata[i + 2 : i + 6]))
        for i in range(0, len(rdata), 6)
    ]


def encode_node_status(names: Iterable[NodeStatusName], unit_id: bytes = bytes(6)) -> bytes:
    """NBSTAT RDATA: NUM_NAMES, the 18-byte entries, then 46 bytes of statistics
    (UNIT_ID first, the rest zero: counters would only help an attacker, as Samba says)."""
    names = list(names)
    out = bytearray([len(names)])
    for n in names:
        raw = n.name.encode("latin-1")
        if len(raw) > NETBIOS_NAME_MAX:
            raise ValueError(f"NetBIOS name too long: {n.name!r}")
        out += raw.ljust(NETBIOS_NAME_MAX, b" ") + bytes([n.suffix & 0xFF]) + struct.pack(">H", n.flags)
    out += bytes(unit_id[:6]).ljust(6, b"\0") + bytes(NBSTAT_STATS_BYTES - 6)
    return bytes(out)


def decode_node_status(rdata: bytes) -> tuple[list[NodeStatusName], bytes]:
    """The names and UNIT_ID (6 bytes, a MAC address) of NBSTAT RDATA."""
    if not rdata:
        raise DecodeError("bad-rdata", "empty node status")
    count = rdata[0]
    need = 1 + count * NBSTAT_NAME_BYTES + NBSTAT_STATS_BYTES
    if len(rdata) < need:
        raise DecodeError("bad-rdata", f"node status of {count} names needs {need} bytes, has {len(rdata)}")
    names = []
    for i in range(count):
        at = 1 + i * NBSTAT_NAME_BYTES
        raw = rdata[at : at + 15]
        flags = struct.unpack_from(">H", rdata, at + 16)[0]
        names.append(NodeStatusName(raw.decode("latin-1").rstrip(" "), rdata[at + 15], flags))
    stats_at = 1 + count * NBSTAT_NAME_BYTES
    return names, bytes(rdata[stats_at : stats_at + 6])


# Builders of the packets lanmsg sends.  The flag words are the ones the wire carries in
# practice (spec notes: nmblookup, nmbd and Windows-style answers captured with tshark).


def ns_name_query(trn_id: int, name: NetbiosName, *, broadcast: bool, recursion: bool = True) -> bytes:
    """NAME QUERY REQUEST (4.2.12): 0x0110 broadcast, 0x0100 to a WINS server, 0x0000 node to node."""
    flags = (NS_FLAG_RD if recursion else 0) | (NS_FLAG_B if broadcast else 0)
    return encode_ns_packet(NSPacket(trn_id, flags, (NSQuestion(name, NS_TYPE_NB),)))


def ns_node_status_query(trn_id: int, name: NetbiosName | None = None) -> bytes:
    """NODE STATUS REQUEST (4.2.17) for ``name`` (default ``*``, as nmblookup -A asks)."""
    return encode_ns_packet(NSPacket(trn_id, 0, (NSQuestion(name or NetbiosName("*"), NS_TYPE_NBSTAT),)))


def ns_positive_answer(trn_id: int, name: NetbiosName, entries: Iterable[NBEntry], ttl: int) -> bytes:
    """POSITIVE NAME QUERY RESPONSE (4.2.13) as a Windows end node sends it: 0x8500."""
    record = NSRecord(name, NS_TYPE_NB, NS_CLASS_IN, ttl, encode_nb_rdata(entries))
    return encode_ns_packet(NSPacket(trn_id, NS_FLAG_RESPONSE | NS_FLAG_AA | NS_FLAG_RD, (), (record,)))


def ns_negative_answer(trn_id: int, name: NetbiosName) -> bytes:
    """NEGATIVE NAME QUERY RESPONSE (4.2.14): NAM_ERR, a NULL record with TTL 0."""
    record = NSRecord(name, NS_TYPE_NULL, NS_CLASS_IN, 0, b"")
    flags = NS_FLAG_RESPONSE | NS_FLAG_AA | NS_FLAG_RD | NS_RCODE_NAM_ERR
    return encode_ns_packet(NSPacket(trn_id, flags, (), (record,)))


def ns_node_status_answer(
    trn_id: int, question: NetbiosName, names: Iterable[NodeStatusName], unit_id: bytes = bytes(6)
) -> bytes:
    """NODE STATUS RESPONSE (4.2.18): 0x8400, the question's name, our names, zeroed statistics."""
    record = NSRecord(question, NS_TYPE_NBSTAT, NS_CLASS_IN, 0, encode_node_status(names, unit_id))
    return encode_ns_packet(NSPacket(trn_id, NS_FLAG_RESPONSE | NS_FLAG_AA, (), (record,)))


def ns_name_request(
    trn_id: int, opcode: int, name: NetbiosName, entry: NBEntry, *, ttl: int, broadcast: bool, recursion: bool = True
) -> bytes:
    """A registration (4.2.2), refresh (4.2.4) or release (4.2.9) request: the question and
    one additional record with the claimed entry.  0x2910 / 0x2900, 0x4000, 0x3010 / 0x3000."""
    flags = (opcode << 11) | (NS_FLAG_RD if recursion else 0) | (NS_FLAG_B if broadcast else 0)
    record = NSRecord(name, NS_TYPE_NB, NS_CLASS_IN, ttl, encode_nb_rdata([entry]))
    return encode_ns_packet(NSPacket(trn_id, flags, (NSQuestion(name, NS_TYPE_NB),), (), (), (record,)))


def ns_registration_answer(trn_id: int, name: NetbiosName, entry: NBEntry, rcode: int, ttl: int = 0) -> bytes:
    """A NAME REGISTRATION RESPONSE (4.2.5/4.2.6) echoing the claimant's entry; a B-node defends
    its name with rcode ACT_ERR (0xAD86), as nmbd does."""
    flags = NS_FLAG_RESPONSE | (NS_OP_REGISTRATION << 11) | NS_FLAG_AA | NS_FLAG_RD | NS_FLAG_RA | rcode
    record = NSRecord(name, NS_TYPE_NB, NS_CLASS_IN, ttl, encode_nb_rdata([entry]))
    return encode_ns_packet(NSPacket(trn_id, flags, (), (record,)))


def nb_upper(name: str) -> str:
    """Upper-case a NetBIOS name as Windows compares names: ASCII letters only.

    Names are bytes in the OEM code page (held here as one character per byte); str.upper()
    would turn 0xFF into U+0178, 0xB5 into U+039C and 0xDF into "SS", which no longer encode.
    """
    return name.translate(_ASCII_UPPER)


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def same_nb_name(a: NetbiosName, b: NetbiosName) -> bool:
    return nb_upper(a.name) == nb_upper(b.name) and a.suffix == b.suffix and a.scope.lower() == b.scope.lower()


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
        ns_port: int
        wins: tuple[str, ...]
else:
    _ConfigFields = collections.namedtuple("Config", "port workgroup name broadcast ns_port wins")


class Config(_ConfigFields):
    """Settings of the netbios transport (and the computer name of both); immutable.

    ``broadcast``: addresses group writes go to; empty = every up IPv4 interface's.
    ``ns_port``: UDP port of the name service (137 beside the standard datagram port 138;
    0 = off, the default with any other datagram port).  ``wins``: WINS server addresses.
    """

    __slots__ = ()

    def __new__(
        cls,
        port: int = DEFAULT_PORT,
        workgroup: str = DEFAULT_WORKGROUP,
        name: str | None = None,
        broadcast: Iterable[str] = (),
        ns_port: int | None = None,
        wins: Iterable[str] = (),
    ) -> Config:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"invalid port {port!r}: must be 1-65535")
        if ns_port is None:
            ns_port = DEFAULT_NS_PORT if port == DEFAULT_PORT else 0
        if not isinstance(ns_port, int) or not 0 <= ns_port < 65536:
            raise ValueError(f"invalid name service port {ns_port!r}: must be 0 (off) or 1-65535")
        return super().__new__(
            cls,
            port,
            netbios_name(workgroup),
            netbios_name(name if name is not None else default_computer_name()),
            _ipv4_list(broadcast, "broadcast address"),
            ns_port,
            _ipv4_list(wins, "WINS server address"),
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
        ns_port: int | None = None,
        wins: str | Iterable[str] | None = None,
    ) -> Config:
        """Build from arguments, falling back to LANMSG_PORT / _WORKGROUP / _NAME / _BROADCAST /
        _NS_PORT / _WINS."""
        env = os.environ if environ is None else environ
        if port is None and env.get("LANMSG_PORT"):
            port = _env_int(env, "LANMSG_PORT")
        if ns_port is None and env.get("LANMSG_NS_PORT"):
            ns_port = _env_int(env, "LANMSG_NS_PORT")
        if broadcast is None and env.get("LANMSG_BROADCAST"):
            broadcast = env["LANMSG_BROADCAST"]
        if wins is None and env.get("LANMSG_WINS"):
            wins = env["LANMSG_WINS"]
        kw: dict[str, Any] = {}
        if port is not None:
            kw["port"] = port
        if ns_port is not None:
            kw["ns_port"] = ns_port
        if workgroup or env.get("LANMSG_WORKGROUP"):
            kw["workgroup"] = workgroup or env["LANMSG_WORKGROUP"]
        if name or env.get("LANMSG_NAME"):
            kw["name"] = name or env["LANMSG_NAME"]
        if broadcast:
            kw["broadcast"] = _split_addresses(broadcast)
        if wins:
            kw["wins"] = _split_addresses(wins)
        return cls(**kw)


DEFAULT_NS_PORT = 137  # RFC 1002: NetBIOS name service


def _env_int(env: Mapping[str, str], key: str) -> int:
    try:
        return int(env[key])
    except ValueError:
        raise ValueError(f"invalid {key} {env[key]!r}: need a number") from None


def _split_addresses(value: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(a for a in value.replace(",", " ").split() if a)
    return tuple(value)


def _ipv4_list(values: Iterable[str], what: str) -> tuple[str, ...]:
    out = []
    for a in values:
        try:
            out.append(str(ipv4_address(a.strip())))
        except (ValueError, AttributeError):
            raise ValueError(f"invalid {what} {a!r}: need an IPv4 address") from None
    return tuple(out)


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


# <net/if.h>: the same values on Linux, macOS and the BSDs
_IFF_UP, _IFF_BROADCAST, _IFF_LOOPBACK, _IFF_POINTOPOINT = 0x1, 0x2, 0x8, 0x10


def ipv4_interfaces() -> list[Interface]:
    """Every IPv4 address of every up interface: one Interface per address, secondary
    addresses included, in the order the system lists them (Linux: the kernel's, by interface,
    each interface's primary address before its secondaries).

    ``name``: the interface's name (Linux: "eth0" for every address of eth0, whatever the
    address's label; Windows: "if" and the interface index).  ``netmask``: the prefix's.
    ``broadcast``: where a broadcast to the address's subnet goes, or "" when it has none: the
    interface cannot broadcast (lo, tun, ppp), the prefix is /31 or /32, or the address is a
    point-to-point one (``ip addr add A peer P/N``: it reaches one peer, not a subnet; its
    netmask is the peer prefix's) without a broadcast address set.  The broadcast address the
    system holds wins; an address added without one (``ip addr add A/N dev D``, no ``brd``)
    gets address | ~netmask, where the kernel broadcasts anyway.  ``loopback``: the interface
    is a loopback one.

    Linux: an rtnetlink RTM_GETADDR dump, and SIOCGIFNAME/SIOCGIFFLAGS for the name and flags
    of each interface with an address; if netlink fails, ioctls alone, which see the first
    address of each interface only.  macOS, the BSDs and other POSIX systems: getifaddrs(3)
    through ctypes.  Windows: iphlpapi's GetIpAddrTable.  Where those fail: the host name's
    addresses.
    """
    if sys.platform.startswith("linux"):
        return _linux_interfaces()
    if sys.platform == "win32":
        try:
            return _windows_interfaces()
        except (OSError, AttributeError, ValueError):
            pass  # then the host name's addresses, as elsewhere
    else:
        try:
            return _getifaddrs_interfaces()
        except (OSError, AttributeError, ValueError, ImportError):
            pass  # no usable getifaddrs (or no ctypes): the host name's addresses
    found = []
    try:
        addrs = socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        addrs = []
    for a in addrs:
        if not a.startswith("127."):
            found.append(Interface("host", a, "255.255.255.255", "255.255.255.255", False))
    return found


def _interface(name: str, flags: int, address: int, mask: int, broadcast: int, peer: bool) -> Interface:
    """The record of one address (addresses as 32-bit ints; ``broadcast`` 0: none set) by the
    rules of ipv4_interfaces()."""
    if not flags & _IFF_BROADCAST or mask.bit_count() >= 31:
        broadcast = 0
    elif not broadcast and not peer:
        broadcast = address | (~mask & 0xFFFFFFFF)
    return Interface(
        name,
        socket.inet_ntoa(address.to_bytes(4, "big")),
        socket.inet_ntoa(mask.to_bytes(4, "big")),
        socket.inet_ntoa(broadcast.to_bytes(4, "big")) if broadcast else "",
        bool(flags & _IFF_LOOPBACK),
    )


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


# rtnetlink (Linux), from <linux/netlink.h>, <linux/rtnetlink.h> and <linux/if_addr.h>.
# Header fields are in host byte order, addresses in network order; every message and every
# attribute starts on a 4-byte boundary (NLMSG_ALIGN, RTA_ALIGN).
#   nlmsghdr   0 len (header included)  4 type  6 flags  8 seq  12 pid (port id)     16 bytes
#   ifaddrmsg  0 family  1 prefixlen  2 flags (IFA_F_*)  3 scope  4 index             8 bytes
#   rtattr     0 len (header included)  2 type; the value follows                     4 bytes
# A dump answers with messages flagged NLM_F_MULTI, in one datagram or more, then NLMSG_DONE
# (payload: int 0 or -errno); a refused request gets NLMSG_ERROR (int -errno, then the request).
# An RTM_NEWADDR carries IFA_LOCAL (this machine's address), IFA_ADDRESS (the same, or the
# peer's on a point-to-point address), IFA_BROADCAST (when one is set) and IFA_LABEL.
_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")
_NL_ERRNO = struct.Struct("=i")
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP_INTR, _NLM_F_DUMP = 0x1, 0x10, 0x300
_RTM_NEWADDR, _RTM_GETADDR = 20, 22
_IFA_ADDRESS, _IFA_LOCAL, _IFA_BROADCAST = 1, 2, 4
_IFA_WANTED = (_IFA_ADDRESS, _IFA_LOCAL, _IFA_BROADCAST)
_NLA_TYPE_MASK = 0x3FFF  # an attribute type without NLA_F_NESTED and NLA_F_NET_BYTEORDER
_NETLINK_BUFSIZE = 0x10000  # a dump datagram is at most 32 KiB; MSG_TRUNC is checked anyway
_NETLINK_MAX_READS = 4096  # datagrams per dump at most (about 128 MiB)
_NETLINK_TIMEOUT_S = 2.0  # Linux queues each part before send/recv returns; this bounds an emulation
_NETLINK_TRIES = 3  # a dump the kernel flags as interrupted by a change is done again
# <linux/sockios.h>; struct ifreq: name[16], then a union (int ifindex, short flags, sockaddr ...)
_SIOCGIFNAME, _SIOCGIFFLAGS, _SIOCGIFADDR, _SIOCGIFBRDADDR, _SIOCGIFNETMASK = 0x8910, 0x8913, 0x8915, 0x8919, 0x891B
_IFREQ_INDEX = struct.Struct("16si20x")


def _linux_interfaces() -> list[Interface]:
    """Linux: every address, from rtnetlink; if that fails (a sandbox without netlink, a reply
    the parser rejects), the ioctls' first address of each interface."""
    try:
        return _netlink_interfaces()
    except (OSError, ValueError):
        return _ioctl_interfaces()


def _netlink_interfaces() -> list[Interface]:
    """Every IPv4 address of the up interfaces: an RTM_GETADDR dump (AF_INET), then the name
    and IFF_* flags of each interface that has one (SIOCGIFNAME, SIOCGIFFLAGS).

    OSError or ValueError if netlink fails or answers something malformed.  (An RTM_GETLINK
    dump would give the flags too, but costs the kernel a long message for every interface,
    with an address or not: 0.57 ms against 0.12 ms on a host of 200 veths.)
    """
    request = _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        s.setblocking(False)  # see _netlink_dump
        s.bind((0, 0))
        port = s.getsockname()[0]
        for seq in range(1, _NETLINK_TRIES + 1):
            messages, interrupted = _netlink_dump(s, _RTM_GETADDR, request, seq, port)
            if not interrupted:
                break
    found = _netlink_addresses(messages)
    return _netlink_records(found, _link_flags(dict.fromkeys(index for index, *_ in found)))


def _netlink_dump(
    sock: socket.socket, kind: int, body: bytes, seq: int, port: int
) -> tuple[list[tuple[int, int, bytes]], bool]:
    """Send dump request ``kind`` on the non-blocking ``sock`` and read the answer:
    ([(type, flags, payload)], whether the kernel flagged the dump as interrupted by a change).

    Linux queues the first part of a dump before send() returns and each next one before
    recvmsg() does, so the socket is read without waiting (no poll per read); a read that
    would block waits for _NETLINK_TIMEOUT_S at most, then OSError.
    """
    sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0) + body)
    messages: list[tuple[int, int, bytes]] = []
    for _ in range(_NETLINK_MAX_READS):
        try:
            data, _, msg_flags, _ = sock.recvmsg(_NETLINK_BUFSIZE)
        except BlockingIOError:
            if not select.select([sock], [], [], _NETLINK_TIMEOUT_S)[0]:
                raise OSError(errno.ETIMEDOUT, "netlink: no answer") from None
            continue
        if msg_flags & socket.MSG_TRUNC:
            raise ValueError(f"netlink: a datagram longer than {_NETLINK_BUFSIZE} bytes")
        got, done = _netlink_messages(data, seq, port)
        messages += got
        if done:
            return messages, any(flags & _NLM_F_DUMP_INTR for _, flags, _ in messages)
    raise ValueError(f"netlink: no NLMSG_DONE after {_NETLINK_MAX_READS} reads")


def _netlink_messages(data: bytes, seq: int, port: int) -> tuple[list[tuple[int, int, bytes]], bool]:
    """The messages of one netlink datagram that answer request ``seq`` of socket ``port``:
    ([(type, flags, payload)], whether the answer ends here (NLMSG_DONE or an acknowledgement)).

    Others' messages are skipped; OSError for an error answer; ValueError for a message
    header or length that does not fit the datagram.
    """
    out: list[tuple[int, int, bytes]] = []
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < _NLMSGHDR.size:
            raise ValueError(f"netlink: {end - offset} bytes left, too short for a message header")
        length, kind, flags, mseq, mport = _NLMSGHDR.unpack_from(data, offset)
        if not _NLMSGHDR.size <= length <= end - offset:
            raise ValueError(f"netlink: message length {length} with {end - offset} bytes left")
        if mseq == seq and mport == port:
            if kind in (_NLMSG_DONE, _NLMSG_ERROR):
                if length >= _NLMSGHDR.size + _NL_ERRNO.size:
                    code = -_NL_ERRNO.unpack_from(data, offset + _NLMSGHDR.size)[0]
                elif kind == _NLMSG_ERROR:
                    raise ValueError("netlink: NLMSG_ERROR without its error code")
                else:
                    code = 0  # NLMSG_DONE without a payload
                if code:
                    raise OSError(abs(code), f"netlink: {os.strerror(abs(code))}")
                return out, True
            out.append((kind, flags, data[offset + _NLMSGHDR.size : offset + length]))
        offset += (length + 3) & ~3
    return out, False


def _netlink_attrs(payload: bytes, offset: int, wanted: tuple[int, ...]) -> dict[int, bytes]:
    """The values of the ``wanted`` attributes among those from ``offset`` on (the first of
    each type); ValueError for an attribute whose length does not fit."""
    found: dict[int, bytes] = {}
    end = len(payload)
    while end - offset >= _RTATTR.size:
        length, kind = _RTATTR.unpack_from(payload, offset)
        if not _RTATTR.size <= length <= end - offset:
            raise ValueError(f"netlink: attribute length {length} with {end - offset} bytes left")
        kind &= _NLA_TYPE_MASK
        if kind in wanted and kind not in found:
            found[kind] = payload[offset + _RTATTR.size : offset + length]
            if len(found) == len(wanted):
                break
        offset += (length + 3) & ~3
    return found


def _netlink_addresses(messages: Iterable[tuple[int, int, bytes]]) -> list[tuple[int, int, int, int, bool]]:
    """(interface index, address, netmask, broadcast address or 0, whether a point-to-point
    address) of each IPv4 address among the messages of an RTM_GETADDR dump, in their order
    (addresses as 32-bit ints; 0.0.0.0 left out); ValueError for a malformed message."""
    out = []
    for kind, _, payload in messages:
        if kind != _RTM_NEWADDR:
            continue
        if len(payload) < _IFADDRMSG.size:
            raise ValueError(f"netlink: RTM_NEWADDR of {len(payload)} bytes")
        family, prefix, _, _, index = _IFADDRMSG.unpack_from(payload)
        if family != socket.AF_INET:
            continue
        if prefix > 32:
            raise ValueError(f"netlink: IPv4 prefix length {prefix}")
        attrs = _netlink_attrs(payload, _IFADDRMSG.size, _IFA_WANTED)
        if any(len(value) != 4 for value in attrs.values()):
            raise ValueError(f"netlink: an IPv4 address attribute not of 4 bytes: {attrs}")
        local = attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS)
        if local is None:
            raise ValueError("netlink: RTM_NEWADDR without an address")
        address = int.from_bytes(local, "big")
        if address:
            out.append(
                (
                    index,
                    address,
                    (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF,
                    int.from_bytes(attrs.get(_IFA_BROADCAST, bytes(4)), "big"),
                    attrs.get(_IFA_ADDRESS, local) != local,
                )
            )
    return out


def _netlink_records(
    found: Iterable[tuple[int, int, int, int, bool]], links: Mapping[int, tuple[str, int]]
) -> list[Interface]:
    """The Interface records of the addresses ``found`` (_netlink_addresses) on the up
    interfaces among ``links`` ({index: (name, IFF_* flags)}), in their order."""
    return [
        _interface(*links[index], address, mask, broadcast, peer)
        for index, address, mask, broadcast, peer in found
        if index in links and links[index][1] & _IFF_UP
    ]


def _link_flags(indexes: Iterable[int]) -> dict[int, tuple[str, int]]:
    """{interface index: (name, IFF_* flags)} of the interfaces ``indexes`` that still exist."""
    import fcntl

    links = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fd = s.fileno()
        for index in indexes:
            try:
                name = fcntl.ioctl(fd, _SIOCGIFNAME, _IFREQ_INDEX.pack(b"", index))[:16]
                flags = struct.unpack_from("H", fcntl.ioctl(fd, _SIOCGIFFLAGS, name + bytes(24)), 16)[0]
            except OSError as e:
                if e.errno in (errno.ENODEV, errno.ENXIO):
                    continue  # the interface went away after the dump
                raise
            links[index] = (os.fsdecode(name.split(b"\0", 1)[0]), flags)
    return links


def _ioctl_interfaces() -> list[Interface]:
    """Linux without netlink: the first address of each up interface, through ioctls."""
    import fcntl

    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, ifname in socket.if_nameindex():
            req = struct.pack("16s24x", ifname.encode()[:15])

            def ioctl(code: int, req: bytes = req) -> int:
                return int.from_bytes(fcntl.ioctl(s.fileno(), code, req)[20:24], "big")

            try:
                flags = struct.unpack_from("H", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req), 16)[0]
                if not flags & _IFF_UP:
                    continue
                addr, mask = ioctl(_SIOCGIFADDR), ioctl(_SIOCGIFNETMASK)
                bcast = ioctl(_SIOCGIFBRDADDR) if flags & _IFF_BROADCAST else 0
            except OSError:  # no IPv4 address on this interface
                continue
            out.append(_interface(ifname, flags, addr, mask, bcast, False))
    return out


# getifaddrs(3) (macOS, the BSDs, other POSIX systems).  <ifaddrs.h> struct ifaddrs, natively
# aligned: next, name, flags (unsigned int), addr, netmask, broadaddr (dstaddr on a
# point-to-point interface), data.  A BSD sockaddr starts with sa_len and a one-byte
# sa_family, Linux's and Solaris' with a two-byte sa_family; sin_addr is at offset 4 in both
# and AF_INET is 2 everywhere.
_IFADDRS = struct.Struct("@PPIPPPP")
_BSD_SOCKADDR_PLATFORMS = ("darwin", "freebsd", "openbsd", "netbsd", "dragonfly")
_IFADDRS_MAX = 0x10000  # entries walked at most (a corrupt list ends here)


def _getifaddrs_interfaces() -> list[Interface]:
    """Every IPv4 address of the up interfaces, from getifaddrs(3) (ctypes)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    getifaddrs, freeifaddrs = libc.getifaddrs, libc.freeifaddrs
    getifaddrs.restype, getifaddrs.argtypes = ctypes.c_int, (ctypes.POINTER(ctypes.c_void_p),)
    freeifaddrs.restype, freeifaddrs.argtypes = None, (ctypes.c_void_p,)
    head = ctypes.c_void_p()
    if getifaddrs(ctypes.byref(head)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"getifaddrs: {os.strerror(code)}")
    try:
        return _walk_ifaddrs(head.value or 0, ctypes.string_at, sys.platform.startswith(_BSD_SOCKADDR_PLATFORMS))
    finally:
        freeifaddrs(head)


def _walk_ifaddrs(head: int, string_at: Callable[[int, int], bytes], bsd: bool) -> list[Interface]:
    """The Interface records of the getifaddrs list at ``head``.

    ``string_at(pointer, size)``: ``size`` bytes of memory (size -1: a NUL-terminated string),
    as ctypes.string_at; ``bsd``: the sockaddrs start with sa_len (macOS, the BSDs).
    """
    out: list[Interface] = []
    pointer = head
    for _ in range(_IFADDRS_MAX):
        if not pointer:
            return out
        pointer, name_p, flags, addr_p, mask_p, broad_p, _ = _IFADDRS.unpack(string_at(pointer, _IFADDRS.size))
        if not flags & _IFF_UP or not name_p or not addr_p:
            continue
        address = _sockaddr_in(addr_p, string_at, bsd)
        if not address:  # not IPv4, or 0.0.0.0
            continue
        mask = _sockaddr_in(mask_p, string_at, bsd, any_family=True) if mask_p else 0xFFFFFFFF
        broadcast = _sockaddr_in(broad_p, string_at, bsd) if broad_p and flags & _IFF_BROADCAST else 0
        if broadcast == address:  # glibc's when the kernel holds no broadcast address
            broadcast = 0
        out.append(_interface(os.fsdecode(string_at(name_p, -1)), flags, address, mask or 0, broadcast or 0, False))
    raise ValueError(f"getifaddrs: no end after {_IFADDRS_MAX} entries")


def _sockaddr_in(
    pointer: int, string_at: Callable[[int, int], bytes], bsd: bool, any_family: bool = False
) -> int | None:
    """The IPv4 address of the sockaddr at ``pointer`` as a 32-bit int; None if it is not
    AF_INET.  ``any_family``: read sin_addr whatever the family (a netmask: BSD's may have
    family 0 and an sa_len under 8, the trailing zero bytes of the mask left out)."""
    if bsd:
        sa_len, family = string_at(pointer, 2)
        if not any_family and (family != socket.AF_INET or sa_len < 8):
            return None
        raw = string_at(pointer, min(sa_len, 8))[4:] if sa_len > 4 else b""
        return int.from_bytes(raw.ljust(4, b"\0"), "big")
    raw = string_at(pointer, 8)
    if not any_family and struct.unpack_from("=H", raw)[0] != socket.AF_INET:
        return None
    return int.from_bytes(raw[4:8], "big")


def broadcast_routes(config: Config) -> list[tuple[str, str]]:
    """(source address, broadcast address) pairs a group write goes to: one per broadcast
    address, from the first address that has it (the subnet's primary address: a secondary
    address on the same subnet would put every group datagram on the wire twice)."""
    if config.broadcast:
        return [(source_address_for(b, config.port), b) for b in config.broadcast]
    first: dict[str, tuple[str, str]] = {}
    for source, bcast in _addresses(config).routes:
        first.setdefault(bcast, (source, bcast))
    routes = list(first.values())
    if not routes:
        raise MailslotError(
            errno.ENETUNREACH, "no up IPv4 interface with a broadcast address; give --broadcast ADDRESS"
        )
    return routes


def source_address_for(dest: str, port: int) -> str:
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
    return _local_socket_address(_inbox_key(port, bare))


def _local_socket_address(key: str) -> str:
    """Where an AF_UNIX datagram socket named ``key`` lives: Linux's abstract namespace
    (per network namespace, gone with its process), elsewhere a file in a private directory."""
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
        key = nb_upper(name)
        _learned_addresses[key] = ip
        _learned_addresses.move_to_end(key)
        while len(_learned_addresses) > LEARNED_MAX:
            _learned_addresses.popitem(last=False)


def learned_address(name: str) -> str | None:
    with _learned_lock:
        return _learned_addresses.get(nb_upper(name))


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


def _udp_socket(address: str, port: int, *, reuse: bool, rcvbuf: int = 0) -> socket.socket:
    """A non-blocking UDP socket bound to (address, port), broadcasts allowed, IP_PKTINFO on;
    ``reuse``: shared with other processes (SO_REUSEADDR); ``rcvbuf``: SO_RCVBUF to ask for."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if rcvbuf:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            except OSError:
                pass
        if _IP_PKTINFO is not None:
            s.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
        _bind_port(s, address, port)
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


def _pktinfo(ancdata: list[tuple[int, int, bytes]]) -> tuple[str | None, str | None]:
    """(local address of the receiving interface, the packet's destination) from IP_PKTINFO."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(data) >= 12:
            return socket.inet_ntoa(data[4:8]), socket.inet_ntoa(data[8:12])
    return None, None


class _Addresses:
    """This machine's IPv4 addresses and broadcast addresses (to classify datagrams)."""

    def __init__(self, config: Config):
        ifaces = ipv4_interfaces()
        self.routes = [(i.address, i.broadcast) for i in ifaces if i.broadcast and not i.loopback]
        self.local = {i.address for i in ifaces} | {"127.0.0.1"}
        self.netmasks = {i.address: i.netmask for i in ifaces}
        self.broadcast = (
            {i.broadcast for i in ifaces if i.broadcast}
            | {"255.255.255.255", "127.255.255.255"}
            | set(config.broadcast)
        )

    def is_local(self, ip: str) -> bool:
        return ip in self.local or ip.startswith("127.")

    def same_subnet(self, address: str, local_ip: str) -> bool:
        """Whether ``address`` is on the subnet of this machine's interface address ``local_ip``."""
        if address == local_ip or address.startswith("127."):
            return True
        netmask = self.netmasks.get(local_ip)
        if netmask is None:
            return False
        a, b, m = (struct.unpack("!I", socket.inet_aton(x))[0] for x in (address, local_ip, netmask))
        return bool(a & m == b & m)


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
        self.sock = _udp_socket("", port, reuse=True, rcvbuf=RECV_BUFFER_BYTES)
        self.lock = threading.Lock()
        self.slots: dict[str, _NetbiosSlot] = {}  # wire name (upper case) -> _NetbiosSlot
        self.stats: collections.Counter[str] = collections.Counter()
        self._cmsg_size = socket.CMSG_SPACE(12) if _IP_PKTINFO is not None else 0
        self.nmbd: _NmbdTap | None = None  # Samba's nmbd on this host hands us the unicasts it got
        self._nmbd_next_look = 0.0
        self._look_for_nmbd()

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
            if self.nmbd is not None:
                self.nmbd.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def filenos(self) -> list[int]:
        """What to wait on: the socket, and nmbd's stream when connected."""
        tap = self.nmbd
        return [self.sock.fileno()] if tap is None or tap.closed else [self.sock.fileno(), tap.fileno()]

    def _look_for_nmbd(self) -> None:
        """Connect to nmbd's unexpected socket when nmbd holds this port on an address of this host."""
        if self.port != DEFAULT_PORT or not sys.platform.startswith("linux"):
            return
        if self.nmbd is not None and not self.nmbd.closed:
            return
        now = time.monotonic()
        if now < self._nmbd_next_look:
            return
        self._nmbd_next_look = now + NMBD_RETRY_S
        if not _udp_holders(self.port):
            return
        path = _nmbd_socket_path()
        if path is None:
            return
        try:
            self.nmbd = _NmbdTap(path)
            self.stats["nmbd_connected"] += 1
        except (OSError, ValueError):
            self.stats["nmbd_unavailable"] += 1

    def pump(self) -> None:
        """Take in every datagram already queued on the socket."""
        with self.lock:
            if self.sock.fileno() < 0:
                return
            for _ in range(4096):
                try:
                    if self._cmsg_size:
                        payload, anc, _, peer = self.sock.recvmsg(0x10000, self._cmsg_size)
                        dest = _pktinfo(anc)[1]
                    else:
                        payload, peer = self.sock.recvfrom(0x10000)
                        dest = None
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    self.stats["dropped_socket_error"] += 1
                    break
                self._dispatch(payload, peer, dest)
            self._look_for_nmbd()
            if self.nmbd is not None:
                for payload, peer in self.nmbd.read():
                    self.stats["via_nmbd"] += 1
                    self._dispatch(payload, peer, None, via_nmbd=True)

    def _dispatch(self, payload: bytes, peer: UdpAddress, dest: str | None, *, via_nmbd: bool = False) -> None:
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
        if via_nmbd:
            self.stats["other_mailslot"] += 1  # every lanmsg process of the host reads its own copy
        elif dest is not None and dest in addresses.broadcast:
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
        self._names: _NameService | None = None
        self._conflict_raised = False
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
        # before this slot's first frame goes out, so that a reply by name can find us
        self._names = _NameService.attach(config)
        self._conflict_raised = False
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
            else [*self._receiver.filenos(), inbox_fd, self._wake_r.fileno()]
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

    def _check_name(self) -> None:
        """Raise NameConflictError once if another computer turned out to own our name."""
        if _name_conflicts and not self._conflict_raised and self.config.name in _name_conflicts:
            self._conflict_raised = True
            raise NameConflictError(errno.EADDRINUSE, _name_conflicts[self.config.name])

    def try_read(self) -> Message | None:
        self._check_name()
        if not self._pending:
            self._pump(0)
        return self._pending.popleft() if self._pending else None

    def read(self, timeout: float | None) -> Message:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._check_name()
            if self._pending:
                return self._pending.popleft()
            remaining = None if deadline is None else deadline - time.monotonic()
            wait = remaining if remaining is None or remaining > 0 else 0
            if self._names is not None:  # look at the name's state now and then
                wait = NS_LOOP_MAX_WAIT_S if wait is None else min(wait, NS_LOOP_MAX_WAIT_S)
            self._pump(wait)
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
        if self._names is not None:
            self._names.remove(self.config)
            self._names = None
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
    to_me = nb_upper(dest.name) == config.name and dest.suffix == 0x00
    to_group = (nb_upper(dest.name) == config.workgroup and dest.suffix == 0x00) or dest.name == "*"
    if not (to_me or to_group):
        return "not_for_us"
    if nb_upper(d.source_name.name) == config.name and addresses.is_local(peer[0]):
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
            src = src or source_address_for(dest_ip, config.port)
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
# Samba's nmbd on the same host: its "unexpected" packet socket (Linux)
# --------------------------------------------------------------------------
# nmbd binds UDP 138 on each interface address besides 0.0.0.0, so a unicast datagram to
# this host reaches nmbd, never a socket bound to 0.0.0.0.  nmbd hands every datagram it
# does not use itself to the clients of <nmbd:socket dir>/unexpected (Samba's own tools read
# their replies there; source3/libsmb/unexpected.c).  A netbios receiver on port 138 reads
# that stream too, so lanmsg works beside nmbd without taking anything from it.
# The protocol, measured in the lab (tests/test_lab_nmbd_unexpected.py): the client sends a
# struct nb_packet_query in native layout {int type; size_t mailslot_namelen; int trn_id}
# (type 1 = datagrams, no name filter: nmbd's filter is case-sensitive), nmbd answers one
# byte 0x00, then writes frames {size_t len; int type; time_t timestamp; struct in_addr ip;
# int port} + len bytes of datagram.  The client never writes again.

NMBD_SOCKET_DIRS = ("/run/samba/nmbd", "/var/run/samba/nmbd", "/usr/local/samba/var/run/nmbd")  # builds' defaults
NMBD_SMB_CONF = "/etc/samba/smb.conf"  # read for `nmbd:socket dir`; LANMSG_SMB_CONF names another
NMBD_RETRY_S = 5.0  # a receiver without the stream looks for nmbd again this often (it may start later)
NMBD_HANDSHAKE_S = 1.0
NMBD_DGRAM_PACKET = 1  # enum packet_type, source3/include/nameserv.h
NMBD_FRAME_MAX = 0x10000  # nmbd builds at most 1 KiB; a longer length means the stream is out of step
NMBD_READ_MAX = 1 << 20  # bytes one pump takes from the stream at most
_NMBD_QUERY = struct.Struct("@iNi0N")
_NMBD_HEADER = struct.Struct(f"@Ni{'q' if struct.calcsize('@l') == 8 else 'l'}4si0N")


def _nmbd_socket_path() -> str | None:
    """nmbd's unexpected socket: ``nmbd:socket dir`` of smb.conf's [global], else a default."""
    configured = None
    try:
        with open(os.environ.get("LANMSG_SMB_CONF") or NMBD_SMB_CONF, encoding="utf-8", errors="replace") as f:
            section = "global"
            for line in f.read(1 << 20).splitlines():
                text = line.strip()
                if text.startswith("["):
                    section = text.strip("[] \t").lower()
                elif section == "global" and "=" in text and text[0] not in "#;":
                    key, value = text.split("=", 1)
                    if " ".join(key.split()).lower() == "nmbd:socket dir":
                        configured = value.strip() or None
    except OSError:
        pass
    for d in (configured,) if configured else NMBD_SOCKET_DIRS:
        path = os.path.join(d, "unexpected")
        try:
            st = os.stat(d)
        except OSError:
            continue
        # whoever can put a socket there can feed us datagrams with any source address
        if st.st_uid in (0, os.geteuid()) and not st.st_mode & 0o022 and os.path.exists(path):
            return path
    return None


class _NmbdTap:
    """A client of nmbd's unexpected socket: ``read()`` gives (datagram, UDP source) pairs and
    never raises; a broken stream closes it (``closed``)."""

    def __init__(self, path: str):
        self.sock: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._buf = bytearray()
        try:
            self.sock.settimeout(NMBD_HANDSHAKE_S)
            self.sock.connect(path)
            self.sock.sendall(_NMBD_QUERY.pack(NMBD_DGRAM_PACKET, 0, -1))
            if self.sock.recv(1) != b"\x00":
                raise ConnectionError(f"{path}: no acknowledgement")
            self.sock.setblocking(False)
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        return self.sock is None

    def fileno(self) -> int:
        return -1 if self.sock is None else self.sock.fileno()

    def read(self) -> list[tuple[bytes, tuple[str, int]]]:
        taken = 0
        while self.sock is not None and taken < NMBD_READ_MAX:
            try:
                chunk = self.sock.recv(0x10000)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close()
                break
            if not chunk:
                self.close()  # nmbd stopped or dropped us; the receiver connects again later
                break
            taken += len(chunk)
            self._buf += chunk
        out: list[tuple[bytes, UdpAddress]] = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= _NMBD_HEADER.size:
            length, kind, _, ip, port = _NMBD_HEADER.unpack_from(buf, pos)
            if length > NMBD_FRAME_MAX or kind != NMBD_DGRAM_PACKET or not 0 <= port <= 0xFFFF:
                self.close()
                return out
            end = pos + _NMBD_HEADER.size + length
            if end > len(buf):
                break
            out.append((bytes(buf[pos + _NMBD_HEADER.size : end]), (socket.inet_ntoa(ip), port)))
            pos = end
        del buf[:pos]
        return out

    def close(self) -> None:
        if self.sock is not None:
            sock, self.sock = self.sock, None
            sock.close()
        self._buf.clear()


# --------------------------------------------------------------------------
# The netbios transport: name service (UDP 137)
# --------------------------------------------------------------------------
# A Windows peer replies to \\NAME\mailslot\x by resolving NAME<00> (cache, WINS,
# broadcast, LMHOSTS, hosts, DNS), never from the datagram's source address.  So while
# a process owns a netbios slot on a POSIX host, this computer's name is registered and
# answered for: NAME<00> unique, WORKGROUP<00> group, as Windows and Samba register them.
# On Windows NetBT owns UDP 137 and answers for the computer name: no responder runs there.
#
# Every lanmsg process of the host binds 0.0.0.0:137 (SO_REUSEADDR), so a unicast query
# always reaches one that can answer; broadcasts reach all of them, and only the *leader*
# (the holder of an exclusive local socket per name) answers those, registers, refreshes
# with WINS and releases the name when it is the last owner on the host.

NS_ANSWER_TTL_S = 300_000  # TTL of our answers and registrations: what Windows sends (00 04 93 E0)
NS_BCAST_TRIES = 3  # Windows BcastNameQueryCount; also the registration's tries
NS_BCAST_INTERVAL_S = 0.75  # Windows BcastQueryTimeout (0x2EE ms) between broadcast tries
NS_WINS_TRIES = 3  # Windows NameSrvQueryCount
NS_WINS_INTERVAL_S = 1.5  # Windows NameSrvQueryTimeout between WINS tries
NS_WINS_RETRY_S = 600.0  # a WINS server that did not answer is asked again after this (Windows: 10 min)
NS_CACHE_MAX_S = 600.0  # Windows CacheTimeout: a resolved name is kept at most this long
NS_CACHE_MAX_ENTRIES = 1024
NS_RELEASE_WAIT_S = 1.0  # at exit, how long to wait for WINS to confirm a release
NS_LEADER_POLL_S = 1.0  # how often a non-leader process tries to take over an orphaned name
NS_LOOP_MAX_WAIT_S = 1.0  # the responder thread's longest sleep

# callable(kind, message) told of "defended" names and "notice"s (another name server here, no
# port 137, a silent WINS server) and "conflict"s; None: one line on stderr for all but conflicts,
# which reach the owner's next read as NameConflictError.
name_service_reporter: Callable[[str, str], None] | None = None


def _report_name_event(message: str, kind: str = "notice") -> None:
    reporter = name_service_reporter
    if reporter is not None:
        reporter(kind, message)
    elif kind != "conflict":
        print(f"mailslot: {message}", file=sys.stderr, flush=True)


class OwnedName(collections.namedtuple("OwnedName", "name group address")):
    """A name this host answers for: a NetbiosName, whether it is a group, the address to give
    (None: the address of the interface the question arrived on)."""

    __slots__ = ()


def answer_ns_request(
    p: NSPacket,
    owned: Iterable[OwnedName],
    *,
    local_ip: str,
    to_broadcast: bool,
    on_subnet: bool,
    local_claim: Callable[[str], bool],
) -> tuple[bytes | None, str | None]:
    """What a B-node sends back for the request ``p``, and an event to report (pure).

    ``owned``: OwnedName list; ``local_ip``: the receiving interface's address;
    ``to_broadcast``: the request came to a broadcast address; ``on_subnet``: its source is on
    the receiving interface's subnet; ``local_claim(address)``: whether an address is this host's.
    Rules (RFC 1002 5.1.1.5, 5.1.2.5; what nmbd does): answer only for names we own; never
    answer a broadcast negatively; a unicast RD=0 question for another name gets NAM_ERR;
    defend a unique name against another host's broadcast registration with ACT_ERR.
    """
    if p.response or len(p.questions) != 1:
        return None, None
    q = p.questions[0]
    if q.name.scope or q.qclass != NS_CLASS_IN:
        return None, None
    mine = next((o for o in owned if same_nb_name(o.name, q.name)), None)
    if p.opcode == NS_OP_QUERY and q.qtype == NS_TYPE_NB:
        if to_broadcast and not on_subnet:
            return None, None  # a forwarded or directed broadcast from another subnet
        if mine is not None:
            flags = (NB_FLAG_GROUP if mine.group else 0) | NB_ONT_B
            entry = NBEntry(flags, mine.address or local_ip)
            return ns_positive_answer(p.trn_id, q.name, [entry], NS_ANSWER_TTL_S), "answered"
        if not to_broadcast and not p.recursion_desired:
            return ns_negative_answer(p.trn_id, q.name), "denied"
        return None, None
    if p.opcode == NS_OP_QUERY and q.qtype == NS_TYPE_NBSTAT:
        if mine is None and q.name.name != "*":
            return None, None
        names = [
            NodeStatusName(o.name.name, o.name.suffix, (NB_FLAG_GROUP if o.group else 0) | NB_ONT_B | NAME_FLAG_ACT)
            for o in owned
        ]
        return ns_node_status_answer(p.trn_id, q.name, names), "status"
    if p.opcode in (NS_OP_REGISTRATION, NS_OP_MULTIHOMED) and to_broadcast and mine is not None and not mine.group:
        claims = [rr for rr in p.additional if rr.rtype == NS_TYPE_NB and same_nb_name(rr.name, q.name)]
        if len(claims) != 1 or len(claims[0].rdata) != 6:
            return None, None
        (entry,) = decode_nb_rdata(claims[0].rdata)
        if local_claim(entry.address):
            return None, None  # this host: our own registration, or another lanmsg process here
        return ns_registration_answer(p.trn_id, q.name, entry, NS_RCODE_ACT_ERR), f"defended:{entry.address}"
    return None, None


def _new_trn_id() -> int:
    """A transaction id nobody can predict: a guessable one lets an off-path host poison answers."""
    return int.from_bytes(os.urandom(2), "big")


def _udp_holders(port: int) -> list[str]:
    """Linux: the specific local addresses some socket of this namespace has bound ``port`` to.

    nmbd binds each interface address as well as 0.0.0.0; unicasts to that address reach it,
    not a socket bound to 0.0.0.0.  lanmsg binds only 0.0.0.0."""
    found = []
    try:
        with open("/proc/net/udp", encoding="ascii") as f:
            next(f, None)
            for line in f:
                local = line.split()[1]
                hexaddr, hexport = local.split(":")
                if int(hexport, 16) == port and hexaddr != "00000000":
                    found.append(socket.inet_ntoa(struct.pack("<I", int(hexaddr, 16))))
    except (OSError, ValueError, IndexError):
        return []
    return found


def _local_members(key_prefix: str) -> int:
    """Linux: how many processes hold an abstract socket whose name starts with ``key_prefix``."""
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if ("@" + key_prefix) in line)
    except OSError:
        return 0


class _Name:
    """One unique name this process owns (with its workgroup): registration state and duties."""

    def __init__(self, config: Config, port: int):
        self.name = NetbiosName(config.name, 0x00)
        self.group = NetbiosName(config.workgroup, 0x00)
        self.config = config
        self.owners = 0
        self.state = "registering"  # registering, registered, conflict, delegated
        self.key = f"lanmsg-nbns/{port}/{config.name.encode('latin-1').hex()}"
        self.member = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.member.bind(_local_socket_address(f"{self.key}/member/{os.getpid()}/{id(self):x}"))
        except OSError:
            pass  # only used to count owners; a failure costs an early release at worst
        self.leader: socket.socket | None = None
        self.wins_ttl: dict[str, int] = {}  # WINS server -> granted TTL (registered there)
        self.registrations: list[int] = []  # transaction ids of the broadcast registration's tries

    def take_lead(self) -> bool:
        if self.leader is not None:
            return True
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.bind(_local_socket_address(f"{self.key}/leader"))
        except OSError:
            s.close()
            return False
        self.leader = s
        return True

    def others_on_host(self) -> int:
        if not sys.platform.startswith("linux"):
            return 0
        return max(0, _local_members(f"{self.key}/member/") - 1)

    def answering(self) -> bool:
        return self.state in ("registering", "registered")

    def close(self) -> None:
        for s in (self.member, self.leader):
            if s is not None:
                s.close()
        self.leader = None


_name_services: dict[int, _NameService] = {}  # ns_port -> this process's _NameService
_name_conflicts: dict[str, str] = {}  # NAME -> message, for the slots of that name to raise once


class _NameService:
    """This process's name service on one port: the responder socket, a client socket for its
    own requests (answers come back to it, never to nmbd or another responder), one thread."""

    def __init__(self, port: int):
        self.port = port
        self.sock = _udp_socket("", port, reuse=True)
        try:
            self.client = _udp_socket("", 0, reuse=False)
        except BaseException:
            self.sock.close()
            raise
        self.lock = threading.RLock()
        self.names: dict[str, _Name] = {}
        self.pending: dict[int, tuple[str, _Name, str | None]] = {}  # trn_id -> (kind, _Name, server or None)
        self.timers: list[tuple[float, int, Callable[[], object]]] = []  # (due, seq, callable)
        self._seq = itertools.count()
        self.stats: collections.Counter[str] = collections.Counter()
        self.stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.thread = threading.Thread(target=self._run, name=f"nbns-{port}", daemon=True)
        self.thread.start()

    @classmethod
    def attach(cls, config: Config) -> _NameService | None:
        """Own ``config.name`` on ``config.ns_port`` from now on; None where no responder runs."""
        if not config.ns_port or sys.platform == "win32":
            return None
        with _receivers_lock:
            ns = _name_services.get(config.ns_port)
            if ns is None:
                try:
                    ns = _name_services[config.ns_port] = cls(config.ns_port)
                except MailslotError as e:
                    _report_name_event(
                        f"name service off ({e.strerror}): Windows peers cannot find {config.name} by name"
                    )
                    return None
                holders = _udp_holders(config.ns_port)
                if holders:
                    ns._notice_other_responder(config, holders)
        ns.add(config)
        return ns

    def _notice_other_responder(self, config: Config, holders: list[str]) -> None:
        _report_name_event(
            f"another NetBIOS name server (Samba's nmbd?) holds UDP {self.port} on {', '.join(holders)}: "
            f"unicast name queries and WINS challenges for {config.name} go to it, not to lanmsg. "
            f"Let it own the name: add 'netbios aliases = {config.name}' to [global] in smb.conf and "
            "reload it (smbcontrol nmbd reload-config); see docs/names.md"
        )

    # -- owners ---------------------------------------------------------------

    def add(self, config: Config) -> None:
        with self.lock:
            entry = self.names.get(config.name)
            if entry is None:
                entry = self.names[config.name] = _Name(config, self.port)
                if entry.take_lead():
                    self._register(entry)
                else:
                    entry.state = "registered"  # another lanmsg process of this host holds it
                    self._at(time.monotonic() + NS_LEADER_POLL_S, lambda: self._poll_lead(entry))
            entry.owners += 1

    def remove(self, config: Config) -> None:
        with self.lock:
            entry = self.names.get(config.name)
            if entry is None:
                return
            entry.owners -= 1
            if entry.owners > 0:
                return
            del self.names[config.name]
            last = not self.names
        if entry.leader is not None and entry.answering() and entry.others_on_host() == 0:
            self._release(entry)
        entry.close()
        if last:
            self.close()

    def close(self) -> None:
        with _receivers_lock:
            if _name_services.get(self.port) is self:
                del _name_services[self.port]
        self.stopping = True
        self._wake()
        if threading.current_thread() is not self.thread:
            self.thread.join(2.0)
        for s in (self.sock, self.client, self._wake_r, self._wake_w):
            s.close()

    def owned(self) -> list[OwnedName]:
        out = []
        for e in list(self.names.values()):
            if e.answering():
                out.append(OwnedName(e.name, False, None))
                if not any(o.name == e.group for o in out):
                    out.append(OwnedName(e.group, True, None))
        return out

    # -- registration, refresh, release ------------------------------------------

    def _register(self, entry: _Name) -> None:
        """Broadcast NAME REGISTRATION REQUESTs now (the first one before this returns), and to
        every WINS server; the rest of the tries run on the responder thread."""
        self._send_registration(entry, 1)
        for server in entry.config.wins:
            self._send_wins(entry, server, NS_OP_REGISTRATION, 1)

    def _send_registration(self, entry: _Name, attempt: int) -> None:
        if self.stopping or not entry.answering() or entry.leader is None:
            return
        trn_id = _new_trn_id()
        try:
            routes = broadcast_routes(entry.config)
        except MailslotError as e:
            self.stats["send_errors"] += 1
            _report_name_event(f"cannot register {entry.name}: {e.strerror}")
            return
        for src, bcast in routes:
            for name, group in ((entry.name, False), (entry.group, True)):
                nb = NBEntry((NB_FLAG_GROUP if group else 0) | NB_ONT_B, src)
                packet = ns_name_request(trn_id, NS_OP_REGISTRATION, name, nb, ttl=NS_ANSWER_TTL_S, broadcast=True)
                self._send(self.client, packet, (bcast, self.port))
        with self.lock:
            self.pending[trn_id] = ("register", entry, None)
            entry.registrations.append(trn_id)
        now = time.monotonic()
        if attempt < NS_BCAST_TRIES:
            self._at(now + NS_BCAST_INTERVAL_S, lambda: self._send_registration(entry, attempt + 1))
        else:
            self._at(now + NS_BCAST_INTERVAL_S, lambda: self._registration_done(entry, trn_id))

    def _registration_done(self, entry: _Name, trn_id: int) -> None:
        with self.lock:
            for sent in entry.registrations:  # a late negative answer after this is not heeded
                self.pending.pop(sent, None)
            entry.registrations.clear()
            if entry.state == "registering":
                entry.state = "registered"  # silence means success (RFC 1002 5.1.1.1)

    def _send_wins(self, entry: _Name, server: str, opcode: int, attempt: int, trn_id: int | None = None) -> None:
        if self.stopping or entry.leader is None or not entry.answering():
            return
        trn_id = trn_id if trn_id is not None else _new_trn_id()
        try:
            src = source_address_for(server, self.port)
        except MailslotError as e:
            _report_name_event(f"cannot reach WINS server {server}: {e.strerror}")
            return
        flags_recursion = opcode == NS_OP_REGISTRATION
        nb = NBEntry(NB_ONT_H, src)
        packet = ns_name_request(
            trn_id, opcode, entry.name, nb, ttl=NS_ANSWER_TTL_S, broadcast=False, recursion=flags_recursion
        )
        self._send(self.client, packet, (server, self.port))
        with self.lock:
            self.pending[trn_id] = ("wins", entry, server)
        due = time.monotonic() + NS_WINS_INTERVAL_S
        if attempt < NS_WINS_TRIES:
            self._at(due, lambda: self._wins_retry(entry, server, opcode, attempt + 1, trn_id))
        else:
            self._at(due, lambda: self._wins_silent(entry, server, opcode, trn_id))

    def _wins_retry(self, entry: _Name, server: str, opcode: int, attempt: int, trn_id: int) -> None:
        with self.lock:
            waiting = self.pending.get(trn_id)
            if waiting is None or waiting[0] != "wins":  # answered, or a WACK said to wait
                return
        self._send_wins(entry, server, opcode, attempt, trn_id)

    def _wins_silent(self, entry: _Name, server: str, opcode: int, trn_id: int) -> None:
        with self.lock:
            waiting = self.pending.pop(trn_id, None)
        if waiting is None:
            return
        self.stats["wins_unanswered"] += 1
        _report_name_event(
            f"WINS server {server} did not answer the registration of {entry.name}; "
            f"trying again in {NS_WINS_RETRY_S:g} s"
        )
        self._at(time.monotonic() + NS_WINS_RETRY_S, lambda: self._send_wins(entry, server, opcode, 1))

    def _on_wins_answer(self, entry: _Name, server: str, p: NSPacket) -> None:
        if p.opcode == NS_OP_WACK:
            wait = p.answers[0].ttl if p.answers else 60
            with self.lock:
                self.pending[p.trn_id] = ("wack", entry, server)
            self._at(
                time.monotonic() + wait + NS_WINS_INTERVAL_S,
                lambda: self._wins_silent(entry, server, NS_OP_REGISTRATION, p.trn_id),
            )
            return
        with self.lock:
            self.pending.pop(p.trn_id, None)
        if p.rcode == NS_RCODE_OK:
            ttl = p.answers[0].ttl if p.answers else NS_ANSWER_TTL_S
            ttl = max(ttl, 2)
            entry.wins_ttl[server] = ttl
            self.stats["wins_registered"] += 1
            self._at(time.monotonic() + ttl / 2, lambda: self._send_wins(entry, server, NS_OP_REFRESH, 1))
            return
        self._conflict(entry, server, p.rcode, via="WINS server ")

    def _release(self, entry: _Name) -> None:
        """Give the name up: a broadcast NAME RELEASE on every route, and a release to each WINS
        server, waiting up to NS_RELEASE_WAIT_S for the servers to confirm."""
        try:
            routes = broadcast_routes(entry.config)
        except MailslotError:
            routes = []
        for src, bcast in routes:
            for name, group in ((entry.name, False), (entry.group, True)):
                nb = NBEntry((NB_FLAG_GROUP if group else 0) | NB_ONT_B, src)
                packet = ns_name_request(_new_trn_id(), NS_OP_RELEASE, name, nb, ttl=0, broadcast=True, recursion=False)
                self._send(self.client, packet, (bcast, self.port))
        waiting = {}
        for server in entry.wins_ttl:
            try:
                src = source_address_for(server, self.port)
            except MailslotError:
                continue
            trn_id = _new_trn_id()
            packet = ns_name_request(
                trn_id, NS_OP_RELEASE, entry.name, NBEntry(NB_ONT_H, src), ttl=0, broadcast=False, recursion=False
            )
            waiting[trn_id] = (packet, server)
        if not waiting:
            return
        with self.lock:
            for trn_id, (_, server) in waiting.items():
                self.pending[trn_id] = ("release", entry, server)
        deadline = time.monotonic() + NS_RELEASE_WAIT_S
        resend_at = 0.0
        while time.monotonic() < deadline:
            with self.lock:
                left = [t for t in waiting if t in self.pending]
            if not left:
                return
            if time.monotonic() >= resend_at:
                for t in left:
                    self._send(self.client, waiting[t][0], (waiting[t][1], self.port))
                resend_at = time.monotonic() + NS_RELEASE_WAIT_S / 3
            time.sleep(0.01)
        with self.lock:
            for t in waiting:
                self.pending.pop(t, None)

    def _conflict(self, entry: _Name, holder: str, rcode: int, *, via: str = "") -> None:
        local = _addresses(entry.config).is_local(holder)
        with self.lock:
            if entry.state in ("conflict", "delegated"):
                return
            entry.state = "delegated" if local and not via else "conflict"
        if entry.state == "delegated":
            message = (
                f"{entry.name} is registered by another NetBIOS server on this host ({holder}, Samba's nmbd?); "
                "it answers for the name, so lanmsg does not"
            )
            _report_name_event(message)
            return
        what = {NS_RCODE_ACT_ERR: "ACT_ERR: the name is active there", NS_RCODE_RFS_ERR: "RFS_ERR: refused"}.get(
            rcode, f"rcode {rcode}"
        )
        message = (
            f"the NetBIOS name {entry.name} belongs to {via}{holder} ({what}); "
            "choose another name with --name or LANMSG_NAME"
        )
        self.stats["conflicts"] += 1
        _name_conflicts[entry.name.name] = message
        _report_name_event(message, "conflict")

    def _poll_lead(self, entry: _Name) -> None:
        if self.stopping or entry.owners <= 0:
            return
        if entry.leader is not None or entry.take_lead():
            for server in entry.config.wins:  # the old leader registered it; keep it refreshed
                self._send_wins(entry, server, NS_OP_REGISTRATION, 1)
            return
        self._at(time.monotonic() + NS_LEADER_POLL_S, lambda: self._poll_lead(entry))

    # -- the responder thread ------------------------------------------------------

    def _at(self, due: float, action: Callable[[], object]) -> None:
        import heapq

        with self.lock:
            heapq.heappush(self.timers, (due, next(self._seq), action))
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def _send(self, s: socket.socket, packet: bytes, address: tuple[str, int]) -> None:
        try:
            s.sendto(packet, address)
            self.stats["sent"] += 1
        except OSError:
            self.stats["send_errors"] += 1

    def _run(self) -> None:
        import heapq

        while not self.stopping:
            with self.lock:
                due = self.timers[0][0] if self.timers else None
            wait = NS_LOOP_MAX_WAIT_S if due is None else max(0.0, min(NS_LOOP_MAX_WAIT_S, due - time.monotonic()))
            try:
                ready, _, _ = select.select([self.sock, self.client, self._wake_r], [], [], wait)
            except (OSError, ValueError):
                return  # closed under us
            if self.stopping:
                return
            if self._wake_r in ready:
                try:
                    while self._wake_r.recv(64):
                        pass
                except OSError:
                    pass
            for s in (self.sock, self.client):
                if s in ready:
                    self._drain(s)
            while True:
                with self.lock:
                    if not self.timers or self.timers[0][0] > time.monotonic():
                        break
                    _, _, action = heapq.heappop(self.timers)
                try:
                    action()
                except Exception:  # a timer's failure must not end the responder
                    self.stats["errors"] += 1

    def _drain(self, s: socket.socket) -> None:
        for _ in range(256):
            try:
                if _IP_PKTINFO is not None:
                    payload, anc, _, peer = s.recvmsg(NS_MAX_PACKET + 1, socket.CMSG_SPACE(12))
                    local_ip, dest = _pktinfo(anc)
                else:
                    payload, peer = s.recvfrom(NS_MAX_PACKET + 1)
                    local_ip = dest = None
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.stats["dropped_socket_error"] += 1
                return
            self.stats["received"] += 1
            try:
                p = decode_ns_packet(payload)
            except DecodeError as e:
                self.stats["dropped_malformed"] += 1
                self.stats[f"dropped_{e.reason}"] += 1
                continue
            try:
                if s is self.client:
                    self._on_answer(p, peer)
                else:
                    self._on_request(p, peer, local_ip, dest)
            except Exception:  # hostile bytes never end the responder
                self.stats["dropped_error"] += 1

    def _on_answer(self, p: NSPacket, peer: UdpAddress) -> None:
        if not p.response or peer[1] != self.port:
            self.stats["dropped_unexpected"] += 1
            return
        with self.lock:
            waiting = self.pending.get(p.trn_id)
        if waiting is None:
            self.stats["dropped_unexpected"] += 1
            return
        kind, entry, server = waiting
        if kind in ("wins", "wack") and peer[0] == server:
            self._on_wins_answer(entry, server, p)
        elif kind == "release" and peer[0] == server:
            with self.lock:
                self.pending.pop(p.trn_id, None)
        elif kind == "register" and p.rcode != NS_RCODE_OK and p.opcode == NS_OP_REGISTRATION:
            self._conflict(entry, peer[0], p.rcode)
        else:
            self.stats["dropped_unexpected"] += 1

    def _on_request(self, p: NSPacket, peer: UdpAddress, local_ip: str | None, dest: str | None) -> None:
        if p.response:
            self.stats["dropped_unexpected"] += 1
            return
        with self.lock:
            entries = list(self.names.values())
        if not entries:
            return
        config = entries[0].config
        addresses = _addresses(config)
        if local_ip is None:
            local_ip = source_address_for(peer[0], self.port)
        to_broadcast = dest in addresses.broadcast if dest is not None else p.broadcast
        # a broadcast with no leader here: take the lead (the leader may have just left)
        if to_broadcast and not any(e.leader is not None for e in entries) and not any(e.take_lead() for e in entries):
            self.stats["left_to_leader"] += 1
            return
        reply, event = answer_ns_request(
            p,
            self.owned(),
            local_ip=local_ip,
            to_broadcast=to_broadcast,
            on_subnet=addresses.same_subnet(peer[0], local_ip),
            local_claim=addresses.is_local,
        )
        if reply is None:
            self.stats["ignored"] += 1
            return
        self._send(self.sock, reply, peer)
        kind = (event or "").split(":")[0]
        self.stats[kind] += 1
        if kind == "defended" and event is not None:
            q = p.questions[0].name
            _report_name_event(f"defended {q} against a registration by {event.split(':', 1)[1]}", "defended")


# -- resolver ----------------------------------------------------------------------

_ns_cache_lock = threading.Lock()
# (NAME, suffix) -> (addresses, expiry)
_ns_cache: collections.OrderedDict[tuple[str, int], tuple[tuple[str, ...], float]] = collections.OrderedDict()


def _cached(name: NetbiosName) -> list[str] | None:
    key = (nb_upper(name.name), name.suffix)
    with _ns_cache_lock:
        hit = _ns_cache.get(key)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            del _ns_cache[key]
            return None
        return list(hit[0])


def _cache(name: NetbiosName, addresses: list[str], ttl: int) -> None:
    key = (nb_upper(name.name), name.suffix)
    with _ns_cache_lock:
        _ns_cache[key] = (tuple(addresses), time.monotonic() + min(max(ttl, 1), NS_CACHE_MAX_S))
        _ns_cache.move_to_end(key)
        while len(_ns_cache) > NS_CACHE_MAX_ENTRIES:
            _ns_cache.popitem(last=False)


def forget_name(name: str, suffix: int = 0x00) -> None:
    """Drop ``name`` from the name cache (after it stopped answering there, say)."""
    with _ns_cache_lock:
        _ns_cache.pop((nb_upper(name), suffix), None)


def _matching_answer(p: NSPacket, trn_id: int, name: NetbiosName) -> list[NBEntry] | None:
    """The entries of a valid positive answer to our query, [] for a negative one, None if it is
    not an answer to it (the resolver's checks: id, response, opcode, record name and type)."""
    if p.trn_id != trn_id or not p.response or p.opcode != NS_OP_QUERY or len(p.answers) != 1:
        return None
    rr = p.answers[0]
    if not same_nb_name(rr.name, name):
        return None
    if p.rcode != NS_RCODE_OK:
        return []
    if rr.rtype != NS_TYPE_NB:
        return None
    return [e for e in decode_nb_rdata(rr.rdata) if e.address != "0.0.0.0"]


def _ask(
    s: socket.socket,
    name: NetbiosName,
    targets: Iterable[str],
    *,
    broadcast: bool,
    tries: int,
    interval: float,
    port: int,
    stop: Callable[[], bool],
) -> tuple[str, list[str], int] | None:
    """Send a NAME QUERY to ``targets`` up to ``tries`` times; ('ok', addresses, ttl) for the first
    positive answer, ('negative', [], 0) for a negative one, None on silence or when ``stop()``."""
    trn_id = _new_trn_id()
    packet = ns_name_query(trn_id, name, broadcast=broadcast, recursion=True)
    for _ in range(tries):
        for target in targets:
            try:
                s.sendto(packet, (target, port))
            except OSError:
                continue
        deadline = time.monotonic() + interval
        while (left := deadline - time.monotonic()) > 0:
            if stop():
                return None
            ready, _, _ = select.select([s], [], [], min(left, 0.05))
            if not ready:
                continue
            try:
                payload, peer = s.recvfrom(NS_MAX_PACKET + 1)
            except OSError:
                continue
            if peer[1] != port:
                continue
            try:
                answer = decode_ns_packet(payload)
                entries = _matching_answer(answer, trn_id, name)
            except DecodeError:
                continue
            if entries is None:
                continue
            if not entries:
                if broadcast:
                    continue  # nobody answers a broadcast negatively; ignore whoever does
                return "negative", [], 0
            return "ok", [e.address for e in entries], answer.answers[0].ttl
    return None


def query_name(
    name: str, config: Config | None = None, *, suffix: int = 0x00, stop: Callable[[], bool] | None = None
) -> list[str]:
    """Addresses of ``name<suffix>`` by the NetBIOS name service, as an H-node asks: the cache,
    each WINS server (3 tries 1.5 s apart), then a broadcast on every route (3 tries 750 ms
    apart).  [] when nobody answers.  ``stop()``: return [] as soon as it is true."""
    config = config if config is not None else Config.from_env()
    nb = NetbiosName(netbios_name(name), suffix)
    hit = _cached(nb)
    if hit:
        return hit
    if not config.ns_port:
        return []
    stop = stop or (lambda: False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.bind(("", 0))
        for server in config.wins:
            got = _ask(s, nb, [server], broadcast=False, tries=NS_WINS_TRIES, interval=NS_WINS_INTERVAL_S,
                       port=config.ns_port, stop=stop)  # fmt: skip
            if got is not None and got[0] == "ok":
                _cache(nb, got[1], got[2])
                return got[1]
            if got is not None:
                break  # WINS says no such name: on to the broadcast, as an H-node does
        try:
            routes = [b for _, b in broadcast_routes(config)]
        except MailslotError:
            routes = []
        got = _ask(s, nb, routes, broadcast=True, tries=NS_BCAST_TRIES, interval=NS_BCAST_INTERVAL_S,
                   port=config.ns_port, stop=stop)  # fmt: skip
        if got is not None and got[0] == "ok":
            _cache(nb, got[1], got[2])
            return got[1]
    return []


class NameLookup:
    """A name resolution running on its own thread: ``done``, ``addresses`` ([] = not found),
    ``source`` ("netbios" or "dns").  The NetBIOS name service and hosts/DNS run side by side;
    the first positive answer wins, so a name DNS knows resolves no slower than before."""

    def __init__(self, name: str, config: Config, *, dns: bool = True):
        self.name, self.config = name, config
        self.addresses: list[str] = []
        self.source: str | None = None
        self.error: str | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._cancelled = False
        self._running = 1 + dns
        threading.Thread(target=self._netbios, daemon=True).start()
        if dns:
            threading.Thread(target=self._dns, daemon=True).start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Stop asking (the answer came another way); ``done`` soon after."""
        self._cancelled = True

    def wait(self, timeout: float | None = None) -> list[str]:
        self._done.wait(timeout)
        return self.addresses

    def _finish(self, addresses: list[str], source: str, error: str | None = None) -> None:
        with self._lock:
            self._running -= 1
            if addresses and not self.addresses:
                self.addresses, self.source = addresses, source
                self._done.set()
            if error and not self.error:
                self.error = error
            if self._running == 0:
                self._done.set()

    def _netbios(self) -> None:
        try:
            found = query_name(self.name, self.config, stop=lambda: bool(self.addresses) or self._cancelled)
        except (OSError, ValueError) as e:
            found = []
            self.error = str(e)
        self._finish(found, "netbios")

    def _dns(self) -> None:
        try:
            infos = socket.getaddrinfo(self.name, None, socket.AF_INET, socket.SOCK_DGRAM)
            self._finish([str(infos[0][4][0])], "dns")
        except (OSError, UnicodeError) as e:
            self._finish([], "dns", str(e))


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
    up = nb_upper(t)
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
    ip = dest.address or _resolve(dest.name, config)
    if _addresses(config).is_local(ip) and dest.name in ("*", config.name):
        _deliver_local(config, bare, data, required=True)
        return len(data)
    nb_name = dest.name if dest.name != "*" else (learned_name(ip) or "*")
    msg_type = MSG_DIRECT_GROUP if nb_name == "*" else MSG_DIRECT_UNIQUE
    _send_datagrams(config, [(ip, None, False, builder(msg_type, NetbiosName(nb_name, 0x00)))])
    return len(data)


def _resolve(name: str, config: Config) -> str:
    """IPv4 address of computer ``name``: heard from it before, else resolve_name()."""
    known = learned_address(name)
    if known:
        return known
    return resolve_name(name, config)[0]


def resolve_name(name: str, config: Config | None = None, *, dns: bool = True) -> list[str]:
    """Addresses of computer ``name`` as Windows finds them: the name cache, WINS, a broadcast
    NAME QUERY (RFC 1002), racing hosts/DNS (``dns``).  MailslotError when nothing knows the name."""
    config = config if config is not None else Config.from_env()
    lookup = NameLookup(name, config, dns=dns)
    found = lookup.wait()
    if found:
        return found
    where = "WINS, a NetBIOS broadcast" if config.wins else "a NetBIOS broadcast"
    if not config.ns_port:
        where = "the NetBIOS name service is off (--ns-port)"
    dns_said = f"not in DNS or the hosts file ({lookup.error})" if dns else "hosts/DNS not asked"
    raise MailslotError(
        errno.EHOSTUNREACH,
        f"cannot find computer {name!r}: no answer from {where}; not heard from yet and {dns_said}; "
        "give its IPv4 address",
    )


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
    parser.add_argument(
        "--wins",
        action="append",
        metavar="ADDRESS",
        help="WINS server: register this computer's name there and ask it first when resolving, "
        "repeatable (env LANMSG_WINS)",
    )
    parser.add_argument(
        "--ns-port",
        type=int,
        metavar="N",
        help="UDP port of the NetBIOS name service (default 137 with --port 138, else 0 = off; env LANMSG_NS_PORT)",
    )


def _stop_on_sigterm() -> None:
    """SIGTERM ends a command as Ctrl-C does: slots close, so the computer name is released."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, stop)
    except (ValueError, OSError, AttributeError):
        pass  # not the main thread, or no SIGTERM here


def config_from_args(args: argparse.Namespace) -> Config:
    return Config.from_env(
        port=args.port,
        workgroup=args.workgroup,
        name=args.name,
        broadcast=tuple(args.broadcast) if args.broadcast else None,
        ns_port=getattr(args, "ns_port", None),
        wins=tuple(args.wins) if getattr(args, "wins", None) else None,
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
    p_resolve = sub.add_parser(
        "resolve", help="print the IPv4 addresses of computer NAME (NetBIOS name service: WINS, broadcast; DNS)"
    )
    p_resolve.add_argument("host", metavar="NAME", help="a computer name, e.g. DESK3011")
    p_resolve.add_argument("--no-dns", action="store_true", help="ask the NetBIOS name service only, not hosts/DNS")
    add_transport_arguments(p_resolve)
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):  # a message the console cannot encode must not end listen
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        config = config_from_args(args)
        if args.command == "resolve":
            try:
                found = resolve_name(args.host, config, dns=not args.no_dns)
            except MailslotError as e:
                print(f"mailslot: {e.strerror}", file=sys.stderr)
                return EXIT_NOTHING
            print("\n".join(found), flush=True)
            return EXIT_OK
        _stop_on_sigterm()
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
