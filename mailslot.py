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
debugging CLI.  The design is described in docs/mailslot.md and docs/names.md.

Contents, top down (each banner section, and the rule it keeps):

* Constants, Errors: values and exception types only.
* Names and limits: pure; mailslot names, NetBIOS names in the DOS code page, what a
  target is (classify_target).  No sockets, no clocks.
* Codec: NetBIOS names and datagrams; Codec: name service packets: pure functions on
  bytes.  No sockets, no clocks; malformed input raises DecodeError, nothing else.
* Name service, sans-I/O: NameClaims, the name claim state machine.  Packets and time in,
  packets to send and events out; no sockets, clocks or threads.
* Configuration: Config from arguments and the environment; pure but for os.environ.
* IPv4 interfaces: this host's addresses (netlink, getifaddrs, iphlpapi); I/O, no sending.
* kernel32 binding: the native transport's ctypes declarations and calls (Windows).
* Local hand-off: the per-machine inboxes that make a mailslot name exclusive.
* The netbios transport: the process's shared receivers and its slots; sockets live here.
* Samba's nmbd on the same host: a reader of nmbd's unexpected socket.
* The host's lanmsg processes, and the name service: the thread around NameClaims, the
  host's list of processes, the resolver.
* Public API: Mailslot, write, read_any, suspend and resume.
* python -m mailslot: the CLI; the only section that prints.

A copied mailslot.py needs a writable ``__pycache__`` beside it (or a precompiled .pyc):
without one every import compiles it again (docs/mailslot.md gives the cost).
"""

from __future__ import annotations

import collections
import enum
import errno
import itertools
import os
import select
import socket
import struct
import sys
import time
import zlib
from _thread import RLock as _RLock
from _thread import allocate_lock as _Lock
from _thread import get_ident as _get_ident

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    import argparse
    from _ctypes import _CArgObject, _CDataType
    from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
    from collections.abc import Set as AbstractSet
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
# <asm-generic/socket.h> (Linux on x86, ARM, RISC-V, POWER, s390; others number them differently):
# SO_RCVBUFFORCE sets a receive buffer above net.core.rmem_max (CAP_NET_ADMIN); SO_MEMINFO's
# ninth u32 (SK_MEMINFO_DROPS) counts the datagrams the kernel dropped for the socket, mostly
# because its receive buffer was full.
_GENERIC_SOCKET_H = sys.platform.startswith("linux") and os.uname().machine.startswith(
    ("x86_64", "i686", "i386", "aarch64", "arm", "riscv", "ppc64", "s390")
)
_SO_RCVBUFFORCE = 33 if _GENERIC_SOCKET_H else None
_SO_MEMINFO = 55 if _GENERIC_SOCKET_H else None

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
    bare = _normalized.get(name)
    if bare is not None:
        return bare
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
    if len(_normalized) >= NAMES_REMEMBERED_MAX:
        _normalized.clear()
    _normalized[name] = bare
    return bare


# Every write names its mailslot and its target: the answers for the names seen are kept (pure
# functions of their arguments; bounded, emptied when full).
NAMES_REMEMBERED_MAX = 1024
_normalized: dict[str, str] = {}


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


DEFAULT_OEM_ENCODING = "cp850"  # the DOS code page of names: Samba's `dos charset` default, Windows' in Western Europe


def oem_upper(text: str) -> str:
    """Upper-case a name as Windows does before it converts it to the OEM code page
    (RtlUpcaseUnicodeToOemN): character by character, never changing the length (ß stays ß)."""
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


def netbios_name(name: str, oem_encoding: str = DEFAULT_OEM_ENCODING) -> str:
    """Validate a computer or workgroup name as a person typed it and return its NetBIOS form:
    upper-cased as Windows does, in the DOS (OEM) code page, held one character per byte.

    ``jürgen`` becomes ``J\x9aRGEN`` in cp850, what Windows and Samba put on the wire.  Names
    received from the network are already in that form: never pass them through here again."""
    if not isinstance(name, str) or not name:
        raise MailslotNameError("NetBIOS name must be non-empty text")
    if name.isascii():
        up = nb_upper(name)
        raw = up.encode("ascii")
    else:
        try:
            raw = oem_upper(name).encode(oem_encoding)
        except UnicodeEncodeError:
            raise MailslotNameError(
                f"invalid NetBIOS name {name!r}: it cannot be written in the DOS code page {oem_encoding} "
                "(--oem-encoding, LANMSG_OEM_ENCODING)"
            ) from None
        except LookupError:
            raise MailslotNameError(f"unknown DOS code page {oem_encoding!r} (--oem-encoding)") from None
        up = raw.decode("latin-1")
    if len(raw) > NETBIOS_NAME_MAX:
        raise MailslotNameError(f"invalid NetBIOS name {name!r}: longer than {NETBIOS_NAME_MAX} bytes")
    if any(b < 0x20 or b in b'."/\\[]:|<>+=;,*?' for b in raw) and up != "*":
        raise MailslotNameError(f"invalid NetBIOS name {name!r}: contains a character NetBIOS forbids")
    return up


def oem_text(name: str, oem_encoding: str = DEFAULT_OEM_ENCODING) -> str:
    """A NetBIOS name (one character per byte) as text for people: its bytes read in the OEM code page."""
    if name.isascii():  # every DOS code page keeps ASCII: no codec to import
        return name
    try:
        return name.encode("latin-1").decode(oem_encoding, errors="replace")
    except (UnicodeEncodeError, LookupError):
        return name


def default_computer_name() -> str:
    """This machine's NetBIOS name: the host name's first label, upper-cased, 15 characters."""
    host = os.environ.get("COMPUTERNAME") if sys.platform == "win32" else None
    host = (host or socket.gethostname() or "LANMSG").split(".")[0]
    cleaned = "".join(c if 0x20 < ord(c) < 0x7F and c not in '."/\\[]:|<>+=;,*?' else "-" for c in host)
    return (cleaned.upper() or "LANMSG")[:NETBIOS_NAME_MAX]


def dotted_quad(text: str) -> str | None:
    """``text`` if it is an IPv4 address written in full: four decimal parts 0-255, none with a
    leading zero (which some resolvers read as octal); else None."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    for part in parts:
        if not (part.isascii() and part.isdigit()) or len(part) > 3 or (part[0] == "0" and part != "0"):
            return None
        if int(part) > 255:
            return None
    return text


def is_host_address(address: str) -> bool:
    """Whether a datagram may go to ``address``: not 0.0.0.0/8 ("this network"), multicast
    (224/4) or reserved (240/4, with 255.255.255.255)."""
    first = int(address.split(".", 1)[0])
    return 0 < first < 224


def looks_like_an_address(text: str) -> bool:
    """Digits and dots only, or a form the C library would read as an address (``127.1``,
    ``0x7f.1``): such text is an IPv4 address or a typo, never a computer's name."""
    if text and all(c.isdigit() or c == "." for c in text):
        return True
    if "." not in text:
        return False
    try:
        socket.inet_aton(text)
        return True
    except (OSError, ValueError):
        return False


if TYPE_CHECKING:

    class _TargetFields(NamedTuple):
        kind: str
        name: str
        address: str | None = None
        lookup: str | None = None
        host: str = ""
else:
    _TargetFields = collections.namedtuple("Target", "kind name address lookup host", defaults=(None, None, ""))


class Target(_TargetFields):
    """Where a write goes (classify_target).

    ``kind``: "local" (this machine), "group" (a broadcast to the workgroup) or "unique" (one
    computer); ``name``: the NetBIOS destination name ("*" when only an address is known);
    ``address``: the computer's IPv4 address when known; ``lookup``: how to find it otherwise:
    "netbios" (a NetBIOS name) or "dns" (a DNS name, looked up whole); ``host``: the text given.
    """

    __slots__ = ()


def classify_target(target: str, config: Config, address: str | None = None) -> Target:
    """Where a write to ``target`` goes; MailslotNameError (bad input) for anything that is not
    one of the forms Windows accepts (docs/names.md, "Targets"):

    ``.``, ``*``, a NetBIOS name (at most 15 bytes in the OEM code page), a dotted-quad IPv4
    address, a DNS name (it has a dot), ``localhost`` and the names of the hosts file.  Text made
    of digits and dots that is no dotted quad (``10.0.0.256``, ``127.1``) is refused, as is any
    address in 0.0.0.0/8, multicast or reserved space: nothing is ever sent to a typo."""
    key = (target, config, address)
    try:
        hit = _targets.get(key)
    except TypeError:  # an unhashable target: refused below
        hit = None
    if hit is not None:
        return hit
    dest = _classify_target(target, config, address)
    if len(_targets) >= NAMES_REMEMBERED_MAX:
        _targets.clear()
    _targets[key] = dest
    return dest


_targets: dict[tuple[str, Config, str | None], Target] = {}


def _classify_target(target: str, config: Config, address: str | None) -> Target:
    if not isinstance(target, str) or not target.strip():
        raise MailslotNameError("target must be '.', '*', a computer name, an IPv4 address or a workgroup name")
    t = target.strip()
    if t.startswith("\\\\"):
        t = t[2:]
    if t == ".":
        return Target("local", ".", None, None, t)
    if t == "*":
        return Target("group", config.workgroup, None, None, t)
    if dotted_quad(t) is not None:
        if not is_host_address(t):
            raise MailslotNameError(
                f"{t} is not a computer's address (0.0.0.0/8, multicast and reserved addresses are refused; "
                "'*' writes to every computer of the workgroup)"
            )
        return Target("unique", "*", t, None, t)
    if looks_like_an_address(t):
        raise MailslotNameError(f"{t!r} is not an IPv4 address: write all four parts in decimal, e.g. 10.0.0.7")
    if "." in t:  # a DNS name, looked up whole; it names an address, as an IPv4 address does
        labels = t.rstrip(".").split(".")
        if len(t) > 253 or not all(labels) or any(len(label) > 63 for label in labels):
            raise MailslotNameError(f"{t!r} is not a DNS name (empty or overlong label)")
        return Target("unique", "*", address, "dns", t)
    if t.lower() == "localhost":
        return Target("local", ".", None, None, t)
    name = netbios_name(t, config.oem_encoding)
    if name == config.name:
        return Target("local", name, None, None, t)
    if name == config.workgroup:
        return Target("group", name, None, None, t)
    return Target("unique", name, address, "netbios", t)


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
        text = _name_texts.get(self)
        if text is None:
            shown = "".join(c if 0x20 <= ord(c) < 0x7F else f"\\x{ord(c):02x}" for c in self.name)
            text = f"{shown}<{self.suffix:02x}>" + (f".{self.scope}" if self.scope else "")
            if len(_name_texts) >= _CODEC_CACHE_MAX:
                _name_texts.clear()
            _name_texts[self] = text
        return text

    def matches(self, other: NetbiosName) -> bool:
        return (
            nb_upper(self.name) == nb_upper(other.name)
            and self.suffix == other.suffix
            and self.scope.lower() == other.scope.lower()
        )


_name_texts: dict[NetbiosName, str] = {}  # str() of the names seen (every message carries one)

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


_NBT_FMT = struct.Struct(">BBH4sHHH")  # MSG_TYPE FLAGS DGM_ID SOURCE_IP SOURCE_PORT DGM_LENGTH PACKET_OFFSET
# The SMB part's 69 fixed bytes in two: \xffSMB, the command and the header's fields (32 bytes);
# the 17 transaction words with WordCount, SetupCount and the reserved fields, the mailslot
# setup words and ByteCount (37 bytes).
_SMB_HEADER_FMT = struct.Struct("<4sBIBHH8sHHHHH")
_TRANSACTION_FMT = struct.Struct("<BHHHHBBHIHHHHHBBHHHH")
_ZERO_PADDING = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")  # by (-name_end) % 4
_MAILSLOT_PREFIX_BYTES = MAILSLOT_PREFIX.encode("ascii")
# Decoding a name or a mailslot name is the same work for every datagram of a conversation:
# the results for the bytes seen are kept (bounded: emptied when full, so hostile input costs
# what it cost without them).
_CODEC_CACHE_MAX = 1024
_decoded_names: dict[bytes, NetbiosName] = {}
_decoded_slots: dict[bytes, str] = {}


def _decode_plain_name(buf: bytes, offset: int) -> tuple[NetbiosName, int]:
    """decode_name, remembering the 34-byte names without a scope (all but a few on any LAN)."""
    raw = buf[offset : offset + 34]
    hit = _decoded_names.get(raw)
    if hit is not None:
        return hit, offset + 34
    name, pos = decode_name(buf, offset)
    if pos == offset + 34:
        if len(_decoded_names) >= _CODEC_CACHE_MAX:
            _decoded_names.clear()
        _decoded_names[raw] = name
    return name, pos


def _mailslot_text(raw_name: bytes) -> str:
    """``\\MAILSLOT\\...`` as text; DecodeError for anything a mailslot write may not carry."""
    text = _decoded_slots.get(raw_name)
    if text is not None:
        return text
    if len(raw_name) > MAILSLOT_NAME_MAX or not raw_name.upper().startswith(_MAILSLOT_PREFIX_BYTES):
        raise DecodeError("bad-mailslot-name", "not \\MAILSLOT\\...")
    if any(not 0x20 <= c < 0x7F for c in raw_name):
        raise DecodeError("bad-mailslot-name", "non-ASCII or control byte")
    text = raw_name.decode("ascii")
    if len(_decoded_slots) >= _CODEC_CACHE_MAX:
        _decoded_slots.clear()
    _decoded_slots[raw_name] = text
    return text


_new_tuple = tuple.__new__  # builds a Datagram from its fields in order, without keyword parsing


def decode_datagram(buf: bytes) -> Datagram:
    """UDP payload -> Datagram.  Raises only DecodeError, whatever the bytes."""
    buf = bytes(buf)
    size = len(buf)
    if size < NBT_HEADER_BYTES:
        raise DecodeError("truncated", f"{size} bytes")
    msg_type, flags, dgm_id, src_ip, src_port, dgm_length, packet_offset = _NBT_FMT.unpack_from(buf, 0)
    if msg_type not in ACCEPTED_MSG_TYPES:
        raise DecodeError("not-a-mailslot-datagram", f"MSG_TYPE 0x{msg_type:02x}")
    if flags & FLAG_MORE or not flags & FLAG_FIRST or packet_offset:
        raise DecodeError("fragment", f"FLAGS 0x{flags:02x} PACKET_OFFSET {packet_offset}")
    if flags & 0xF0:
        raise DecodeError("bad-header", f"reserved FLAGS bits 0x{flags:02x}")
    available = size - NBT_HEADER_BYTES
    if dgm_length > available:
        raise DecodeError("truncated", f"DGM_LENGTH {dgm_length} > {available} bytes present")
    if dgm_length < available:
        raise DecodeError("bad-length", f"DGM_LENGTH {dgm_length} < {available} bytes present")
    source_name, pos = _decode_plain_name(buf, NBT_HEADER_BYTES)
    destination_name, pos = _decode_plain_name(buf, pos)
    smb_size = size - pos  # the SMB part: buf[pos:], read in place
    if smb_size < SMB_FIXED_BYTES:
        raise DecodeError("truncated", "SMB part shorter than 69 bytes")
    magic, command, *header = _SMB_HEADER_FMT.unpack_from(buf, pos)  # header: SMB status to MID
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
        opcode,
        priority,
        mail_class,
        byte_count,
    ) = _TRANSACTION_FMT.unpack_from(buf, pos + 32)
    if magic != SMB_HEADER:
        raise DecodeError("not-smb", "no \\xffSMB")
    if command != SMB_COM_TRANSACTION:
        raise DecodeError("not-a-mailslot-datagram", f"SMB command 0x{command:02x}")
    if word_count != 17 or setup_count != 3:
        raise DecodeError("not-a-mailslot-datagram", f"WordCount {word_count} SetupCount {setup_count}")
    if opcode != MAILSLOT_OPCODE_WRITE:
        raise DecodeError("not-a-mailslot-datagram", f"mailslot opcode {opcode}")
    if reserved1 or reserved2 or reserved3:
        raise DecodeError("bad-header", "reserved transaction fields are not zero")
    if data_count != total_data:
        raise DecodeError("fragment", f"DataCount {data_count} != TotalDataCount {total_data}")
    if param_count or total_param:
        raise DecodeError("bad-header", "a mailslot write carries no parameters")
    nul = buf.find(b"\x00", pos + SMB_FIXED_BYTES)
    if nul < 0:
        raise DecodeError("bad-mailslot-name", "name not NUL-terminated")
    raw_name = buf[pos + SMB_FIXED_BYTES : nul]
    mailslot = _mailslot_text(raw_name)
    name_end = nul + 1 - pos
    if not name_end <= data_offset <= smb_size or data_offset + data_count > smb_size:
        raise DecodeError("bad-offset", f"DataOffset {data_offset} DataCount {data_count} in {smb_size} bytes")
    data_end = data_offset + data_count
    padding = buf[nul + 1 : pos + data_offset]
    return _new_tuple(
        Datagram,
        (
            msg_type,
            source_name,
            destination_name,
            mailslot,
            buf[pos + data_offset : pos + data_end],
            dgm_id,
            socket.inet_ntoa(src_ip),
            src_port,
            flags,
            packet_offset,
            None,  # dgm_length: it matched
            *header,
            total_param,
            max_param,
            max_data,
            max_setup,
            trans_flags,
            timeout,
            param_count,
            None if param_offset == data_offset else param_offset,
            opcode,
            priority,
            mail_class,
            None if padding == _ZERO_PADDING[(-name_end) % 4] else padding,
            None if byte_count == len(raw_name) + 1 + len(padding) + data_count else byte_count,
            buf[pos + data_end :],
        ),
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


class _DatagramTemplate:
    """The bytes of every datagram lanmsg sends from ``source`` to ``destination``'s mailslot,
    but for DGM_ID, SOURCE_IP and the data: ``encode(dgm_id, source_ip, data)`` gives
    encode_datagram(build_datagram(...)) with the same arguments, byte for byte, without
    building a Datagram or encoding the names again (_template keeps one per arguments)."""

    __slots__ = ("_before_bytes", "_before_count", "_before_total", "_fixed", "_head", "_port", "_tail")

    def __init__(self, msg_type: int, source: str, destination: NetbiosName, mailslot: str, source_port: int):
        d = build_datagram(
            msg_type=msg_type,
            source=source,
            destination=destination,
            mailslot=mailslot,
            data=b"",
            source_ip="0.0.0.0",
            dgm_id=0,
            source_port=source_port,
        )
        empty = encode_datagram(d)
        smb = NBT_HEADER_BYTES + len(encode_name(d.source_name)) + len(encode_name(destination))
        # where the data's length goes: TotalDataCount (SMB +35), DataCount (+55), ByteCount (+67)
        self._head = empty[:2]  # MSG_TYPE, FLAGS
        self._port = source_port
        self._before_total = empty[NBT_HEADER_BYTES : smb + 35]
        self._before_count = empty[smb + 37 : smb + 55]
        self._before_bytes = empty[smb + 57 : smb + 67]
        self._tail = empty[smb + 69 :]  # the mailslot name, its NUL and the padding
        self._fixed = len(empty) - NBT_HEADER_BYTES  # DGM_LENGTH without the data

    def encode(self, dgm_id: int, source_ip: str, data: bytes) -> bytes:
        n = len(data)
        return b"".join(
            (
                self._head,
                _ID_IP_PORT_LENGTH.pack(dgm_id & 0xFFFF, socket.inet_aton(source_ip), self._port, self._fixed + n, 0),
                self._before_total,
                _U16_LE.pack(n),
                self._before_count,
                _U16_LE.pack(n),
                self._before_bytes,
                _U16_LE.pack(len(self._tail) + n),
                self._tail,
                data,
            )
        )


_ID_IP_PORT_LENGTH = struct.Struct(">H4sHHH")  # DGM_ID SOURCE_IP SOURCE_PORT DGM_LENGTH PACKET_OFFSET
_U16_LE = struct.Struct("<H")
_templates: dict[tuple[int, str, NetbiosName, str, int], _DatagramTemplate] = {}


def _template(
    msg_type: int, source: str, destination: NetbiosName, mailslot: str, source_port: int
) -> _DatagramTemplate:
    """The template of the datagrams build_datagram makes with these arguments (kept, bounded)."""
    key = (msg_type, source, destination, mailslot, source_port)
    template = _templates.get(key)
    if template is None:
        template = _DatagramTemplate(msg_type, source, destination, mailslot, source_port)
        if len(_templates) >= _CODEC_CACHE_MAX:
            _templates.clear()
        _templates[key] = template
    return template


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
    return name.upper() if name.isascii() else name.translate(_ASCII_UPPER)  # ASCII: upper() is the same, faster


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def same_nb_name(a: NetbiosName, b: NetbiosName) -> bool:
    return nb_upper(a.name) == nb_upper(b.name) and a.suffix == b.suffix and a.scope.lower() == b.scope.lower()


# --------------------------------------------------------------------------
# Name service, sans-I/O: the name claim state machine (RFC 1002 5.1)
# --------------------------------------------------------------------------
# Registration, defence, WINS, release and leadership for the names this process claims, and the
# answer to every request for a name held on this host.  Packets come in decoded, time comes in as
# ``now`` (seconds, monotonic); the packets to send, when to be called again, and what to tell the
# user come out.  No sockets, clocks or threads: the host service (further down) is a thin loop
# around one NameClaims, so every rule here is tested in memory (tests/test_name_claims.py).

NS_ANSWER_TTL_S = 300_000  # TTL of our answers and registrations: what Windows sends (00 04 93 E0)
NS_BCAST_TRIES = 3  # Windows BcastNameQueryCount; also the registration's tries
NS_BCAST_INTERVAL_S = 0.75  # Windows BcastQueryTimeout (0x2EE ms) between broadcast tries
NS_WINS_TRIES = 3  # Windows NameSrvQueryCount
NS_WINS_INTERVAL_S = 1.5  # Windows NameSrvQueryTimeout between WINS tries
NS_WINS_RETRY_S = 600.0  # a WINS server that did not answer is asked again after this (Windows: 10 min)
NS_WACK_DEFAULT_S = 60  # a WACK without a usable TTL: nmbd's WACK TTL (nmbd_winsserver.c)
NS_WINS_MIN_TTL_S = 2  # a granted TTL below this is taken as this (refresh at half of it)
NS_STATUS_BURST = 4  # node status answers one source gets at once (then NS_STATUS_PER_S)
NS_STATUS_PER_S = 1.0  # node status answers per second and source, after the burst
NS_STATUS_SOURCES_MAX = 1024  # sources the rate limit remembers (the oldest is forgotten)


class ClaimState(enum.Enum):
    """Where a claimed name stands on the local network."""

    REGISTERING = "registering"  # broadcast registration tries in flight (RFC 1002 5.1.1.1)
    REGISTERED = "registered"  # nobody objected: answered for
    REFUSED = "refused"  # another computer objected: not answered (for a unique name, a conflict)
    SERVED_HERE = "served-here"  # another name server of this host objected (nmbd): it answers


class WinsState(enum.Enum):
    """Where a claimed name stands with one WINS server."""

    REGISTERING = "registering"  # tries NS_WINS_INTERVAL_S apart
    WAITING = "waiting"  # a WACK said how long to wait for the answer
    REGISTERED = "registered"  # refreshed at half the granted TTL
    REFRESHING = "refreshing"
    SILENT = "silent"  # no answer: asked again after NS_WINS_RETRY_S
    REFUSED = "refused"


class NameEventKind(enum.Enum):
    CONFLICT = "conflict"  # a unique name belongs to another computer
    GROUP_REFUSED = "group-refused"  # a group name is held as unique by another computer
    SERVED_HERE = "served-here"  # another name server of this host serves the name
    DEFENDED = "defended"  # another computer tried to register a name of this host
    WINS_REGISTERED = "wins-registered"
    WINS_SILENT = "wins-silent"
    WINS_REREGISTER = "wins-reregister"  # RFS_ERR to a refresh: registering afresh
    WINS_REFUSED = "wins-refused"  # a WINS server refused a group name


class _Record:
    """A small immutable record: its fields, in order, are ``_fields`` (each also in ``__slots__``).
    Cheaper to define than a namedtuple class, which matters at start-up."""

    __slots__: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()

    def _set(self, *values: object) -> None:
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Record) and type(self) is type(other) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"


class NsSend(_Record):
    """Send ``data`` to ``address`` from the name service port (``via`` "server", for answers) or
    from the service's own ephemeral port ("client", for requests: their answers come back there)."""

    __slots__ = ("address", "data", "via")
    _fields = ("via", "address", "data")
    via: str
    address: tuple[str, int]
    data: bytes

    def __init__(self, via: str, address: tuple[str, int], data: bytes) -> None:
        self._set(via, address, data)


class NameEvent(_Record):
    """Something the user hears of: ``kind``, the name, the other computer's address (or the WINS
    server's), and the rcode that said so (0 where none did)."""

    __slots__ = ("kind", "name", "peer", "rcode")
    _fields = ("kind", "name", "peer", "rcode")
    kind: NameEventKind
    name: NetbiosName
    peer: str
    rcode: int

    def __init__(self, kind: NameEventKind, name: NetbiosName, peer: str = "", rcode: int = 0) -> None:
        self._set(kind, name, peer, rcode)


class HostName(_Record):
    """A name some process of this host answers for: the NetbiosName and whether it is a group."""

    __slots__ = ("group", "name")
    _fields = ("name", "group")
    name: NetbiosName
    group: bool

    def __init__(self, name: NetbiosName, group: bool) -> None:
        self._set(name, group)


_RCODE_TEXT = {
    NS_RCODE_ACT_ERR: "ACT_ERR: the name is active there",
    NS_RCODE_RFS_ERR: "RFS_ERR: refused",
    NS_RCODE_CFT_ERR: "CFT_ERR: in conflict",
    NS_RCODE_NAM_ERR: "NAM_ERR",
}


def describe_name_event(event: NameEvent) -> str:
    """The line a user reads for ``event``."""
    what = _RCODE_TEXT.get(event.rcode, f"rcode {event.rcode}")
    kind, name, peer = event.kind, event.name, event.peer
    if kind is NameEventKind.CONFLICT:
        return f"the NetBIOS name {name} belongs to {peer} ({what}); choose another name with --name or LANMSG_NAME"
    if kind is NameEventKind.GROUP_REFUSED:
        return (
            f"the group name {name} is held as a unique name by {peer} ({what}); lanmsg does not answer for it, "
            "and messages to the group still go out by broadcast; to stop this note choose another --workgroup"
        )
    if kind is NameEventKind.SERVED_HERE:
        return (
            f"{name} is registered by another NetBIOS server on this host ({peer}, Samba's nmbd?); "
            "it answers for the name, so lanmsg does not"
        )
    if kind is NameEventKind.DEFENDED:
        return f"defended {name} against a registration by {peer}"
    if kind is NameEventKind.WINS_REGISTERED:
        return f"registered {name} with WINS server {peer}"
    if kind is NameEventKind.WINS_SILENT:
        return f"WINS server {peer} did not answer the registration of {name}; trying again in {NS_WINS_RETRY_S:g} s"
    if kind is NameEventKind.WINS_REREGISTER:
        return (
            f"WINS server {peer} refused the refresh of {name} ({what}: this host's address changed?); "
            "registering it afresh"
        )
    return f"WINS server {peer} refused the group name {name} ({what})"


def nb_key(name: NetbiosName) -> tuple[str, int]:
    """How names compare on the wire: ASCII upper case, with the suffix (scopes are never claimed)."""
    return nb_upper(name.name), name.suffix


class LocalAddresses:
    """This host's IPv4 addresses (pure data): which are local, which subnets are on a link, which
    address is this host's on a given subnet, and the broadcast routes.

    ``rows``: (address, netmask, broadcast, loopback) per address, secondary addresses included;
    ``extra_broadcast``: more addresses to count as broadcasts (a configured --broadcast)."""

    def __init__(self, rows: Iterable[tuple[str, str, str, bool]], extra_broadcast: Iterable[str] = ()) -> None:
        rows = list(rows)
        self.routes = [(a, b) for a, _, b, loopback in rows if b and not loopback]
        self.local = {a for a, _, _, _ in rows} | {"127.0.0.1"}
        self.broadcast = {b for _, _, b, _ in rows if b} | {"255.255.255.255", "127.255.255.255"} | set(extra_broadcast)
        self._subnets = [(_ipv4_int(a), _ipv4_int(m), a) for a, m, _, _ in rows if not a.startswith("127.")]

    def is_local(self, ip: str) -> bool:
        return ip in self.local or ip.startswith("127.")

    def on_link(self, ip: str) -> bool:
        """Whether ``ip`` is on a subnet of one of this host's addresses (or loopback)."""
        return ip.startswith("127.") or self.address_for(ip) is not None

    def address_for(self, ip: str) -> str | None:
        """This host's address on the subnet of ``ip``, if it has one there."""
        try:
            n = _ipv4_int(ip)
        except (OSError, ValueError):
            return None
        return next((a for addr, mask, a in self._subnets if n & mask == addr & mask), None)

    def same_subnet(self, address: str, local_ip: str) -> bool:
        """Whether ``address`` is on the subnet of this machine's interface address ``local_ip``."""
        if address == local_ip or address.startswith("127."):
            return True
        return any(a == local_ip and _ipv4_int(address) & m == n & m for n, m, a in self._subnets)


def _ipv4_int(address: str) -> int:
    return int.from_bytes(socket.inet_aton(address), "big")


class _StatusLimiter:
    """A token bucket per source address: NS_STATUS_BURST at once, then NS_STATUS_PER_S."""

    def __init__(self) -> None:
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()

    def allow(self, source: str, now: float) -> bool:
        tokens, then = self._buckets.pop(source, (float(NS_STATUS_BURST), now))
        tokens = min(float(NS_STATUS_BURST), tokens + max(0.0, now - then) * NS_STATUS_PER_S)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > NS_STATUS_SOURCES_MAX:
            self._buckets.popitem(last=False)
        return allowed


class _Wins:
    """One claimed name at one WINS server."""

    __slots__ = ("due", "granted", "opcode", "packet", "state", "tries", "trn_id", "ttl")

    def __init__(self) -> None:
        self.state = WinsState.REGISTERING
        self.opcode = NS_OP_REGISTRATION
        self.trn_id = 0
        self.packet = b""
        self.tries = 0
        self.due: float | None = None
        self.ttl = 0
        self.granted = False  # registered there at least once (so a refresh's RFS_ERR means "register again")


class _Claim:
    """One name this process claims, with its owners (open slots) and its WINS registrations."""

    __slots__ = ("due", "group", "name", "owners", "state", "tries", "trn_id", "wins")

    def __init__(self, name: NetbiosName, group: bool) -> None:
        self.name, self.group = name, group
        self.state = ClaimState.REGISTERING
        self.owners = 1
        self.trn_id = 0
        self.tries = 0
        self.due: float | None = None
        self.wins: dict[str, _Wins] = {}

    @property
    def answering(self) -> bool:
        return self.state in (ClaimState.REGISTERING, ClaimState.REGISTERED)


if TYPE_CHECKING:
    NsOutput = list[NsSend | NameEvent]


class NameClaims:
    """The names this process claims on one name-service port, and the host's answers.

    Inputs: ``claim``/``unclaim`` (a slot opened or closed), ``receive`` (a packet), ``tick`` (time
    passed), ``update_host`` (the host's view: broadcast routes, the names other lanmsg processes of
    this host hold, whether this process leads).  Each returns a list of NsSend and NameEvent;
    ``next_deadline`` says when to call ``tick``.  ``new_id`` makes transaction ids (random in
    practice: a guessable id lets an off-path host forge answers).

    Rules, with their sources:
    * claiming a name (RFC 1002 5.1.1.1; Windows BcastNameQueryCount/BcastQueryTimeout): a broadcast
      NAME REGISTRATION REQUEST on every route, each with this host's address on that subnet, 3
      tries 750 ms apart under one transaction id; silence means success.  An answer counts only
      if its id *and* its record name match the claim: a refused workgroup is not a refused
      computer name.  A refused unique name is a conflict; a refused group name a note.
    * WINS (RFC 1002 5.1.2; Samba's nmbd_winsserver.c): 3 tries 1.5 s apart; answers count only
      from the server asked; a WACK, whenever it comes, extends the wait by its TTL; a grant is
      refreshed at half its TTL; RFS_ERR to a refresh (the host's address changed) registers
      afresh; silence is reported and retried after 10 minutes.
    * answering (RFC 1002 5.1.1.5, 5.1.2.5, 5.1.3.5; nmbd): every name held on the host, whichever
      process owns it; never a negative answer to a query sent as a broadcast (B bit or broadcast
      address); NAM_ERR to a unicast RD=0 query for another name, silence with RD=1; broadcasts
      from off-link sources ignored; broadcasts answered by the host's leader only; node status to
      on-link sources only, NS_STATUS_BURST then NS_STATUS_PER_S per source.
    * defence (RFC 1002 5.1.1.5; nmbd): the leader answers a broadcast registration of a unique
      host name by another computer with ACT_ERR.
    * release (nmbd's terminate(): release_wins_names(), then exit): when the last owner on the
      host lets a name go, one broadcast NAME RELEASE per route and one release to each WINS
      server it was registered with, not retried.
    """

    def __init__(self, port: int, *, new_id: Callable[[], int]) -> None:
        self.port = port
        self._new_id = new_id
        self._claims: dict[tuple[str, int], _Claim] = {}
        self._pending: dict[int, tuple[tuple[str, int], str | None]] = {}  # trn_id -> (claim key, WINS server)
        self._routes: list[tuple[str, str]] = []
        self._host: dict[tuple[str, int], HostName] = {}
        self._wins_sources: dict[str, str] = {}
        self._leader = True
        self._status = _StatusLimiter()

    # -- the host's view --------------------------------------------------------

    def update_host(
        self,
        *,
        routes: Iterable[tuple[str, str]] | None = None,
        host_names: Iterable[HostName] | None = None,
        leader: bool | None = None,
        wins_sources: Mapping[str, str] | None = None,
    ) -> None:
        """``routes``: (this host's address, broadcast address) per subnet; ``host_names``: what the
        other lanmsg processes of this host answer for; ``leader``: this process answers broadcasts;
        ``wins_sources``: WINS server -> this host's address towards it (what a registration claims)."""
        if routes is not None:
            self._routes = list(routes)
        if wins_sources is not None:
            self._wins_sources.update(wins_sources)
        if host_names is not None:
            self._host = {nb_key(h.name): h for h in host_names}
        if leader is not None:
            self._leader = leader

    @property
    def leader(self) -> bool:
        return self._leader

    def published(self) -> list[HostName]:
        """The names this process answers for (for the other processes of the host)."""
        return [HostName(c.name, c.group) for c in self._claims.values() if c.answering]

    def answered(self) -> list[HostName]:
        """Every name this host answers for: this process's and the other processes'."""
        out = {nb_key(c.name): HostName(c.name, c.group) for c in self._claims.values() if c.answering}
        for key, h in self._host.items():
            out.setdefault(key, h)
        return list(out.values())

    def state(self, name: NetbiosName) -> ClaimState | None:
        c = self._claims.get(nb_key(name))
        return None if c is None else c.state

    def wins_state(self, name: NetbiosName, server: str) -> WinsState | None:
        c = self._claims.get(nb_key(name))
        w = None if c is None else c.wins.get(server)
        return None if w is None else w.state

    # -- claims -----------------------------------------------------------------

    def claim(self, now: float, name: NetbiosName, group: bool, *, wins: Iterable[str] = ()) -> NsOutput:
        """A slot owns ``name`` from now on; the first owner registers it (the first broadcast is
        in what this returns, so it goes out before the slot's first frame)."""
        key = nb_key(name)
        c = self._claims.get(key)
        if c is not None:
            c.owners += 1
            return []
        c = self._claims[key] = _Claim(name, group)
        out: NsOutput = self._register_try(c, now)
        if not group:
            for server in wins:
                out += self._wins_begin(c, server, now)
        return out

    def unclaim(self, now: float, name: NetbiosName, *, others_hold: bool) -> NsOutput:
        """A slot let ``name`` go; the last owner releases it unless ``others_hold`` (another
        process of this host still answers for it)."""
        key = nb_key(name)
        c = self._claims.get(key)
        if c is None:
            return []
        c.owners -= 1
        if c.owners > 0:
            return []
        del self._claims[key]
        self._pending = {t: p for t, p in self._pending.items() if p[0] != key}
        if others_hold or not c.answering:
            return []
        flags = (NB_FLAG_GROUP if c.group else 0) | NB_ONT_B
        out: NsOutput = [
            NsSend(
                "client",
                (bcast, self.port),
                ns_name_request(
                    self._new_id(),
                    NS_OP_RELEASE,
                    c.name,
                    NBEntry(flags, src),
                    ttl=0,
                    broadcast=True,
                    recursion=False,
                ),
            )
            for src, bcast in self._routes
        ]
        for server, w in c.wins.items():
            if w.granted:
                entry = NBEntry(NB_ONT_H, self._source_towards(server))
                packet = ns_name_request(
                    self._new_id(), NS_OP_RELEASE, c.name, entry, ttl=0, broadcast=False, recursion=False
                )
                out.append(NsSend("client", (server, self.port), packet))
        return out

    def _register_try(self, c: _Claim, now: float) -> NsOutput:
        if c.tries == 0:
            c.trn_id = self._new_id()
            self._pending[c.trn_id] = (nb_key(c.name), None)
        c.tries += 1
        c.due = now + NS_BCAST_INTERVAL_S
        flags = (NB_FLAG_GROUP if c.group else 0) | NB_ONT_B
        return [
            NsSend(
                "client",
                (bcast, self.port),
                ns_name_request(
                    c.trn_id, NS_OP_REGISTRATION, c.name, NBEntry(flags, src), ttl=NS_ANSWER_TTL_S, broadcast=True
                ),
            )
            for src, bcast in self._routes
        ]

    # -- WINS -------------------------------------------------------------------

    def _wins_begin(self, c: _Claim, server: str, now: float, opcode: int = NS_OP_REGISTRATION) -> NsOutput:
        w = c.wins.setdefault(server, _Wins())
        self._pending.pop(w.trn_id, None)
        w.state = WinsState.REGISTERING if opcode == NS_OP_REGISTRATION else WinsState.REFRESHING
        w.opcode = opcode
        w.trn_id = self._new_id()
        entry = NBEntry(NB_ONT_H, self._source_towards(server))
        w.packet = ns_name_request(
            w.trn_id,
            opcode,
            c.name,
            entry,
            ttl=NS_ANSWER_TTL_S,
            broadcast=False,
            recursion=opcode == NS_OP_REGISTRATION,
        )
        w.tries = 0
        self._pending[w.trn_id] = (nb_key(c.name), server)
        return self._wins_try(w, server, now)

    def _source_towards(self, server: str) -> str:
        return self._wins_sources.get(server) or (self._routes[0][0] if self._routes else "0.0.0.0")

    def _wins_try(self, w: _Wins, server: str, now: float) -> NsOutput:
        w.tries += 1
        w.due = now + NS_WINS_INTERVAL_S
        return [NsSend("client", (server, self.port), w.packet)]

    def _on_wins_answer(self, now: float, c: _Claim, server: str, p: NSPacket) -> NsOutput:
        w = c.wins[server]
        if p.opcode == NS_OP_WACK:
            ttl = p.answers[0].ttl
            wait = ttl if 0 < ttl <= 3600 else NS_WACK_DEFAULT_S
            w.state = WinsState.WAITING
            w.due = now + wait + NS_WINS_INTERVAL_S
            return []
        self._pending.pop(w.trn_id, None)
        if p.rcode == NS_RCODE_OK:
            first = not w.granted
            w.state, w.granted = WinsState.REGISTERED, True
            w.ttl = max(p.answers[0].ttl, NS_WINS_MIN_TTL_S)
            w.due = now + w.ttl / 2
            return [NameEvent(NameEventKind.WINS_REGISTERED, c.name, server)] if first else []
        if w.opcode == NS_OP_REFRESH and p.rcode == NS_RCODE_RFS_ERR:
            return [
                NameEvent(NameEventKind.WINS_REREGISTER, c.name, server, p.rcode),
                *self._wins_begin(c, server, now),
            ]
        w.state, w.due = WinsState.REFUSED, None
        if c.group:
            return [NameEvent(NameEventKind.WINS_REFUSED, c.name, server, p.rcode)]
        c.state = ClaimState.REFUSED
        return [NameEvent(NameEventKind.CONFLICT, c.name, server, p.rcode)]

    # -- time -------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        dues = [c.due for c in self._claims.values() if c.due is not None]
        dues += [w.due for c in self._claims.values() for w in c.wins.values() if w.due is not None]
        return min(dues) if dues else None

    def tick(self, now: float) -> NsOutput:
        out: NsOutput = []
        for c in list(self._claims.values()):
            if c.due is not None and c.due <= now:
                if c.state is ClaimState.REGISTERING and c.tries < NS_BCAST_TRIES:
                    out += self._register_try(c, now)
                else:
                    c.due = None  # silence: the name is ours (a late objection is not heeded)
                    self._pending.pop(c.trn_id, None)
                    if c.state is ClaimState.REGISTERING:
                        c.state = ClaimState.REGISTERED
            for server, w in c.wins.items():
                if w.due is None or w.due > now:
                    continue
                if w.state is WinsState.REGISTERED:
                    out += self._wins_begin(c, server, now, NS_OP_REFRESH)
                elif w.state in (WinsState.REGISTERING, WinsState.REFRESHING) and w.tries < NS_WINS_TRIES:
                    out += self._wins_try(w, server, now)
                elif w.state is WinsState.SILENT:
                    out += self._wins_begin(c, server, now)
                else:  # the last try, or a WACK's wait, ran out
                    self._pending.pop(w.trn_id, None)
                    w.state, w.due = WinsState.SILENT, now + NS_WINS_RETRY_S
                    out.append(NameEvent(NameEventKind.WINS_SILENT, c.name, server))
        return out

    # -- packets ----------------------------------------------------------------

    def receive(
        self,
        now: float,
        p: NSPacket,
        peer: tuple[str, int],
        *,
        local_ip: str,
        to_broadcast: bool,
        addresses: LocalAddresses,
    ) -> tuple[NsOutput, str]:
        """Handle one packet from ``peer``; ``local_ip``: the address it arrived on; ``to_broadcast``:
        it was sent to a broadcast address.  Returns the outputs and a word for the counters."""
        if p.response:
            return self._on_response(now, p, peer, addresses)
        return self._on_request(now, p, peer, local_ip, to_broadcast, addresses)

    def _on_response(
        self, now: float, p: NSPacket, peer: tuple[str, int], addresses: LocalAddresses
    ) -> tuple[NsOutput, str]:
        pending = self._pending.get(p.trn_id)
        if pending is None or peer[1] != self.port:
            return [], "unexpected"
        key, server = pending
        c = self._claims.get(key)
        if c is None or len(p.answers) != 1 or nb_key(p.answers[0].name) != key:
            return [], "mismatched"
        if server is not None:
            if peer[0] != server:
                return [], "not-from-server"
            return self._on_wins_answer(now, c, server, p), "wins-answer"
        if p.opcode != NS_OP_REGISTRATION or p.rcode == NS_RCODE_OK or c.state is not ClaimState.REGISTERING:
            return [], "ignored"
        self._pending.pop(p.trn_id, None)
        c.due = None
        if addresses.is_local(peer[0]):
            c.state = ClaimState.SERVED_HERE
            return [NameEvent(NameEventKind.SERVED_HERE, c.name, peer[0], p.rcode)], "served-here"
        c.state = ClaimState.REFUSED
        kind = NameEventKind.GROUP_REFUSED if c.group else NameEventKind.CONFLICT
        return [NameEvent(kind, c.name, peer[0], p.rcode)], "refused"

    def _on_request(
        self,
        now: float,
        p: NSPacket,
        peer: tuple[str, int],
        local_ip: str,
        to_broadcast: bool,
        addresses: LocalAddresses,
    ) -> tuple[NsOutput, str]:
        if len(p.questions) != 1:
            return [], "ignored"
        q = p.questions[0]
        if q.name.scope or q.qclass != NS_CLASS_IN:
            return [], "ignored"
        broadcast = to_broadcast or p.broadcast
        if broadcast and not self._leader:
            return [], "left-to-leader"
        answered = self.answered()
        mine = next((h for h in answered if nb_key(h.name) == nb_key(q.name)), None)
        if p.opcode == NS_OP_QUERY and q.qtype == NS_TYPE_NB:
            if broadcast and not addresses.on_link(peer[0]):
                return [], "off-link"  # a forwarded or directed broadcast from another subnet
            if mine is not None:
                flags = (NB_FLAG_GROUP if mine.group else 0) | NB_ONT_B
                entry = NBEntry(flags, addresses.address_for(peer[0]) or local_ip)
                reply = ns_positive_answer(p.trn_id, q.name, [entry], NS_ANSWER_TTL_S)
                return [NsSend("server", peer, reply)], "answered"
            if not broadcast and not p.recursion_desired:
                return [NsSend("server", peer, ns_negative_answer(p.trn_id, q.name))], "denied"
            return [], "ignored"
        if p.opcode == NS_OP_QUERY and q.qtype == NS_TYPE_NBSTAT:
            if mine is None and q.name.name != "*":
                return [], "ignored"
            if not addresses.on_link(peer[0]):
                return [], "status-off-link"
            if not self._status.allow(peer[0], now):
                return [], "status-limited"
            names = [
                NodeStatusName(h.name.name, h.name.suffix, (NB_FLAG_GROUP if h.group else 0) | NB_ONT_B | NAME_FLAG_ACT)
                for h in answered
            ]
            return [NsSend("server", peer, ns_node_status_answer(p.trn_id, q.name, names))], "status"
        if p.opcode in (NS_OP_REGISTRATION, NS_OP_MULTIHOMED) and broadcast and mine is not None and not mine.group:
            claims = [rr for rr in p.additional if rr.rtype == NS_TYPE_NB and nb_key(rr.name) == nb_key(q.name)]
            if len(claims) != 1 or len(claims[0].rdata) != 6:
                return [], "ignored"
            (entry,) = decode_nb_rdata(claims[0].rdata)
            if addresses.is_local(entry.address):
                return [], "ignored"  # this host: our own registration, or another lanmsg process here
            reply = ns_registration_answer(p.trn_id, q.name, entry, NS_RCODE_ACT_ERR)
            return [
                NsSend("server", peer, reply),
                NameEvent(NameEventKind.DEFENDED, mine.name, entry.address),
            ], "defended"
        return [], "ignored"


_source_addresses: dict[tuple[str, int], tuple[str, float]] = {}  # (dest, port) -> (source, read at)


def _source_address_cached(dest: str, port: int) -> str:
    """source_address_for, asked again at most every ADDRESSES_TTL_S per destination (as this
    host's addresses are): a reply's SOURCE_IP need not cost a socket."""
    now = time.monotonic()
    hit = _source_addresses.get((dest, port))
    if hit is not None and now - hit[1] <= ADDRESSES_TTL_S:
        return hit[0]
    source = source_address_for(dest, port)
    if len(_source_addresses) >= SOURCE_ADDRESSES_MAX:
        _source_addresses.clear()
    _source_addresses[(dest, port)] = (source, now)
    return source


SOURCE_ADDRESSES_MAX = 1024  # destinations whose source address is remembered


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
        oem_encoding: str
        peer_port: int
else:
    _ConfigFields = collections.namedtuple(
        "Config", "port workgroup name broadcast ns_port wins oem_encoding peer_port"
    )


class Config(_ConfigFields):
    """Settings of the netbios transport (and the computer name of both); immutable.

    ``broadcast``: addresses group writes go to; empty = every up IPv4 interface's.
    ``ns_port``: UDP port of the name service (137 beside the standard datagram port 138;
    0 = off, the default with any other datagram port).  ``wins``: WINS server addresses.
    ``oem_encoding``: the DOS code page names are written in (default cp850, as Samba's).
    ``peer_port``: the UDP port datagrams are sent to (0: ``port``, as every NetBIOS node has it);
    another one makes a pair of processes on one host two computers that talk, each on its own
    port (docs/chat.md, "One machine, two peers").
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
        oem_encoding: str = DEFAULT_OEM_ENCODING,
        peer_port: int = 0,
    ) -> Config:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"invalid port {port!r}: must be 1-65535")
        if not isinstance(peer_port, int) or not 0 <= peer_port < 65536:
            raise ValueError(f"invalid peer port {peer_port!r}: must be 0 (the same as the port) or 1-65535")
        if ns_port is None:
            ns_port = DEFAULT_NS_PORT if port == DEFAULT_PORT else 0
        if not isinstance(ns_port, int) or not 0 <= ns_port < 65536:
            raise ValueError(f"invalid name service port {ns_port!r}: must be 0 (off) or 1-65535")
        try:
            if oem_encoding != DEFAULT_OEM_ENCODING:  # the default is known good: no codec import at start-up
                "".encode(oem_encoding)
        except LookupError:
            raise ValueError(f"unknown DOS code page {oem_encoding!r} (--oem-encoding): try cp850 or cp437") from None
        return super().__new__(
            cls,
            port,
            netbios_name(workgroup, oem_encoding),
            netbios_name(name if name is not None else default_computer_name(), oem_encoding),
            _ipv4_list(broadcast, "broadcast address"),
            ns_port,
            _ipv4_list(wins, "WINS server address"),
            oem_encoding,
            0 if peer_port == port else peer_port,
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
        oem_encoding: str | None = None,
    ) -> Config:
        """Build from arguments, falling back to LANMSG_PORT / _WORKGROUP / _NAME / _BROADCAST /
        _NS_PORT / _WINS / _OEM_ENCODING (and LANMSG_PEER_PORT)."""
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
        if oem_encoding or env.get("LANMSG_OEM_ENCODING"):
            kw["oem_encoding"] = oem_encoding or env["LANMSG_OEM_ENCODING"]
        if env.get("LANMSG_PEER_PORT"):
            kw["peer_port"] = _env_int(env, "LANMSG_PEER_PORT")
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
        address = dotted_quad(a.strip()) if isinstance(a, str) else None
        if address is None:
            raise ValueError(f"invalid {what} {a!r}: need an IPv4 address") from None
        out.append(address)
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


_kernel32_lock = _Lock()
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

    return os.path.join(_private_dir(), hashlib.sha1(key.encode()).hexdigest()[:24] + ".sock")


def _private_dir() -> str:
    """A directory only this user can enter (POSIX but Linux): $XDG_RUNTIME_DIR, else one in the temp directory."""
    import tempfile

    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(tempfile.gettempdir(), f"lanmsg-{os.getuid()}")
    os.makedirs(base, mode=0o700, exist_ok=True)
    return base


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
        with _process.lock:
            owner = _process.inbox_owners.get(address)
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


class _ProcessState:
    """What this process's slots and threads share, under one lock: the datagram receivers, the
    local inboxes it owns, the host services, the name conflicts met, the addresses learned from
    datagrams, the name cache, the interface table, the datagram ids."""

    def __init__(self) -> None:
        self.lock = _RLock()
        self.receivers: dict[int, _Receiver] = {}  # datagram port -> the shared receiver
        self.inbox_owners: dict[str, _NetbiosSlot] = {}  # local inbox address -> the slot that owns it
        self.hosts: dict[int, _HostService] = {}  # datagram port -> this process's host service
        self.conflicts: dict[tuple[str, int, int], str] = {}  # (NAME, suffix, name service port) -> message
        self.learned: collections.OrderedDict[str, tuple[str, float]] = (
            collections.OrderedDict()
        )  # NAME -> (IPv4, expiry)
        self.ns_cache: collections.OrderedDict[tuple[str, int], tuple[tuple[str, ...], float]] = (
            collections.OrderedDict()
        )  # (NAME, suffix) -> (addresses, expiry)
        self.addresses: dict[tuple[str, ...], tuple[float, LocalAddresses]] = {}  # --broadcast -> (read at, table)
        # hosts file path -> (its stat, trusted while changed before this time_ns, name -> addresses)
        self.hosts_files: dict[str, tuple[tuple[int, ...], int, dict[str, list[str]]]] = {}
        self.dgm_ids = itertools.count(int.from_bytes(os.urandom(2), "big"))


_process = _ProcessState()


def next_dgm_id() -> int:
    return next(_process.dgm_ids) & 0xFFFF


def learn_address(name: str, ip: str) -> None:
    """Remember where computer ``name`` (its NetBIOS form) was heard from: the last resort of
    resolution, after the name service (docs/security.md), forgotten after NS_CACHE_MAX_S."""
    if name in ("", "*") or not is_host_address(ip):
        return
    key = nb_upper(name)
    expiry = time.monotonic() + NS_CACHE_MAX_S
    with _process.lock:
        learned = _process.learned
        hit = learned.get(key)
        if hit is not None and hit[0] == ip and expiry - hit[1] < LEARN_AGAIN_S:
            return  # heard from there a moment ago (every message of a conversation says it again)
        learned[key] = (ip, expiry)
        learned.move_to_end(key)
        while len(learned) > LEARNED_MAX:
            learned.popitem(last=False)


LEARN_AGAIN_S = 1.0  # an address heard again within this is not recorded again


def learned_address(name: str) -> str | None:
    with _process.lock:
        hit = _process.learned.get(nb_upper(name))
    return hit[0] if hit is not None and hit[1] > time.monotonic() else None


def learned_name(ip: str) -> str | None:
    now = time.monotonic()
    with _process.lock:
        for name, (addr, expiry) in reversed(_process.learned.items()):
            if addr == ip and expiry > now:
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
        self._first = 0.0  # when the oldest key was recorded (times only grow)

    def check(self, key: Hashable, now: float) -> bool:
        """True if ``key`` was seen within the window; records it otherwise."""
        seen = self._seen
        if seen and (now - self._first > self.window or len(seen) >= self.cap):
            while seen:  # the oldest first: stop at the first one still inside the window
                _first_key, first_time = next(iter(seen.items()))
                if now - first_time <= self.window and len(seen) < self.cap:
                    self._first = first_time
                    break
                seen.popitem(last=False)
        if key in seen:
            return True
        if not seen:
            self._first = now
        seen[key] = now
        return False

    def __len__(self) -> int:
        return len(self._seen)


def _udp_socket(address: str, port: int, *, reuse: bool, rcvbuf: int = 0) -> socket.socket:
    """A non-blocking UDP socket bound to (address, port), broadcasts allowed, IP_PKTINFO on;
    ``reuse``: shared with other processes (SO_REUSEADDR); ``rcvbuf``: SO_RCVBUF to ask for."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if rcvbuf:
            _set_receive_buffer(s, rcvbuf)
        if _IP_PKTINFO is not None:
            s.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
        _bind_port(s, address, port)
        s.setblocking(False)
        return s
    except BaseException:
        s.close()
        raise


def _set_receive_buffer(s: socket.socket, size: int) -> None:
    """SO_RCVBUF ``size``: above net.core.rmem_max where this process may (SO_RCVBUFFORCE), else
    as much as the kernel grants."""
    try:
        if _SO_RCVBUFFORCE is None:
            raise PermissionError
        s.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
    except OSError:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        except OSError:
            pass


def _kernel_drops(s: socket.socket | None) -> int:
    """How many datagrams the kernel dropped for socket ``s`` (its receive buffer was full); 0
    where it does not say (SO_MEMINFO: Linux)."""
    if s is None or _SO_MEMINFO is None:
        return 0
    try:
        info = s.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 64)
    except OSError:
        return 0
    return int.from_bytes(info[32:36], sys.byteorder) if len(info) >= 36 else 0


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


def low_port_remedies(port: int) -> str:
    """What lets this Python bind UDP ``port`` below 1024 on Linux, in the words every message uses."""
    python = os.path.realpath(sys.executable)
    return (
        f"run as root; or let this Python bind low ports: sudo setcap cap_net_bind_service=+ep {python} "
        "(the real file, not a link; every script that interpreter runs gets it too); or "
        f"sudo sysctl -w net.ipv4.ip_unprivileged_port_start={port}; or, under systemd, "
        "AmbientCapabilities=CAP_NET_BIND_SERVICE (docs/library.md)"
    )


def port_permission_help(port: int) -> str:
    if sys.platform == "win32":
        return (
            f"cannot bind UDP port {port}: access denied. On Windows, port 138 belongs to NetBIOS over "
            "TCP/IP; use the native transport, or another port on every peer (--port N / LANMSG_PORT)."
        )
    return (
        f"cannot bind UDP port {port}: permission denied (ports below 1024 need root or "
        f"CAP_NET_BIND_SERVICE). Remedies: {low_port_remedies(min(port, DEFAULT_NS_PORT))}; or use another "
        "port on every peer (--port N / LANMSG_PORT=N; Windows peers then cannot take part)."
    )


def _pktinfo(ancdata: list[tuple[int, int, bytes]]) -> tuple[str | None, str | None]:
    """(local address of the receiving interface, the packet's destination) from IP_PKTINFO."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(data) >= 12:
            return socket.inet_ntoa(data[4:8]), socket.inet_ntoa(data[8:12])
    return None, None


ADDRESSES_TTL_S = 5.0  # interface addresses are re-read at most this often


def _addresses(config: Config) -> LocalAddresses:
    """This host's addresses (and ``config.broadcast``), read again every ADDRESSES_TTL_S."""
    now = time.monotonic()
    key = config.broadcast
    with _process.lock:
        hit = _process.addresses.get(key)
    if hit is None or now - hit[0] > ADDRESSES_TTL_S:
        rows = [(i.address, i.netmask, i.broadcast, i.loopback) for i in ipv4_interfaces()]
        hit = (now, LocalAddresses(rows, config.broadcast))
        with _process.lock:
            _process.addresses[key] = hit
    return hit[1]


def wait_readable(fds: Sequence[int], timeout: float | None) -> list[int]:
    """The descriptors among ``fds`` that became readable within ``timeout`` seconds (None:
    forever).  poll() where there is one: select() fails on descriptors from 1024 on."""
    if _poll is not None:
        poller = _poll()
        for fd in fds:
            poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return [fd for fd, _ in poller.poll(ms)]
    return list(select.select(list(fds), [], [], timeout)[0])


_poll = getattr(select, "poll", None)


class _Receiver:
    """This process's one UDP socket on a port, shared by all of its netbios slots.

    Whichever slot is read pumps it.  Each datagram goes to the slot of this process that owns
    its mailslot name; one for a name owned elsewhere on this machine is passed on if it came by
    unicast (a broadcast reached every process already).  So no slot's datagrams wait in a
    socket nobody reads.  ``suspend``/``resume`` give the socket up and take it back (Ctrl-Z);
    ``rebind`` binds it afresh (the newest socket on a port gets the host's unicasts).
    """

    def __init__(self, port: int, config: Config):
        self.port, self.config = port, config
        self.sock: socket.socket | None = _udp_socket("", port, reuse=True, rcvbuf=RECV_BUFFER_BYTES)
        self.lock = _RLock()  # reentrant: a Ctrl-Z handler may run while this thread pumps
        self.slots: dict[str, _NetbiosSlot] = {}  # wire name (upper case) -> _NetbiosSlot
        self.stats: collections.Counter[str] = collections.Counter()
        self._cmsg_size = socket.CMSG_SPACE(12) if _IP_PKTINFO is not None else 0
        self._drops_before = 0  # what the kernel dropped for the sockets this one replaced
        self.nmbd: _NmbdTap | None = None  # Samba's nmbd on this host hands us the unicasts it got
        self._slot_names: frozenset[tuple[str, int]] | None = None  # _own_names(), kept until a slot comes or goes
        self._readers: Collection[_NetbiosSlot] = ()  # the slots whose read is pumping now
        self._nmbd_next_look = 0.0
        self._look_for_nmbd()

    @classmethod
    def attach(cls, slot: _NetbiosSlot) -> _Receiver:
        with _process.lock:
            rx = _process.receivers.get(slot.config.port)
            if rx is None:
                rx = _process.receivers[slot.config.port] = cls(slot.config.port, slot.config)
            rx.slots[slot.wire_name] = slot
            rx._slot_names = None
            return rx

    def detach(self, slot: _NetbiosSlot) -> None:
        with _process.lock:
            if self.slots.get(slot.wire_name) is slot:
                del self.slots[slot.wire_name]
                self._slot_names = None
            if self.slots:
                return
            if _process.receivers.get(self.port) is self:
                del _process.receivers[self.port]
        with self.lock:  # the last slot: pass on what is still queued, then close
            self._let_go()

    def kernel_drops(self) -> int:
        """The datagrams the kernel dropped for this receiver's sockets (their buffer was full)."""
        return self._drops_before + _kernel_drops(self.sock)

    def _let_go(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            self._drops_before += _kernel_drops(sock)
            _drain_and_forward(sock, self.config)
            sock.close()
        if self.nmbd is not None:
            self.nmbd.close()
            self.nmbd = None

    def suspend(self) -> None:
        """Give the socket up (Ctrl-Z): what is queued goes to its owners on this host first."""
        with self.lock:
            self._let_go()
        self._wake_slots()

    def resume(self) -> None:
        with self.lock:
            if self.sock is None and self.slots:
                self.sock = _udp_socket("", self.port, reuse=True, rcvbuf=RECV_BUFFER_BYTES)
        self._wake_slots()

    def rebind(self) -> None:
        """Bind a new socket, then pass on what the old one still holds, and close it."""
        with self.lock:
            if self.sock is None:
                return
            old, self.sock = self.sock, _udp_socket("", self.port, reuse=True, rcvbuf=RECV_BUFFER_BYTES)
            self._drops_before += _kernel_drops(old)
            _drain_and_forward(old, self.config)
            old.close()
        self._wake_slots()

    def _wake_slots(self) -> None:
        """Readers wait on the socket's descriptor: they must look again."""
        for slot in list(self.slots.values()):
            slot._wake()

    def filenos(self) -> list[int]:
        """What to wait on: the socket, and nmbd's stream when connected."""
        fds = [] if self.sock is None else [self.sock.fileno()]
        tap = self.nmbd
        if tap is not None and not tap.closed:
            fds.append(tap.fileno())
        return fds

    def _look_for_nmbd(self) -> None:
        """Connect to nmbd's unexpected socket when nmbd holds this port on an address of this host."""
        if self.port != DEFAULT_PORT or not sys.platform.startswith("linux") or self.sock is None:
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

    def pump(self, readers: Collection[_NetbiosSlot] = (), ready: Collection[int] | None = None) -> None:
        """Take in every datagram already queued on the socket (only if its descriptor is among
        ``ready``, when given: a poll() said which are readable).  ``readers``: the slots whose
        read pumps, which are not woken for the datagrams they take themselves."""
        with self.lock:
            sock = self.sock
            if sock is None:
                return
            tap = self.nmbd
            if (
                ready is not None
                and sock.fileno() not in ready
                and (tap is None or tap.closed or tap.fileno() not in ready)
            ):
                self._look_for_nmbd()
                return
            self._readers = readers
            try:
                self._take(sock)
            finally:
                self._readers = ()

    def _take(self, sock: socket.socket) -> None:
        for _ in range(4096):
            try:
                if self._cmsg_size:
                    payload, anc, _, peer = sock.recvmsg(0x10000, self._cmsg_size)
                    dest = _pktinfo(anc)[1]
                else:
                    payload, peer = sock.recvfrom(0x10000)
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

    def _own_names(self) -> frozenset[tuple[str, int]]:
        """The names of this process's slots on this port (each one's computer and workgroup):
        a datagram to one of them is for this host whatever the other processes hold."""
        names = self._slot_names
        if names is None:
            names = frozenset(
                n
                for slot in list(self.slots.values())
                for n in ((slot.config.name, 0x00), (slot.config.workgroup, 0x00))
            )
            self._slot_names = names
        return names

    def host_names(self) -> set[tuple[str, int]]:
        """The names datagrams to this host may be addressed to: every name its lanmsg processes
        hold (the host service knows them), else this process's slots' names."""
        host = _process.hosts.get(self.port)
        if host is not None:
            return host.names()
        names = set()
        for slot in list(self.slots.values()):
            names |= {(slot.config.name, 0x00), (slot.config.workgroup, 0x00)}
        return names

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
        dest_name = d.destination_name
        names: AbstractSet[tuple[str, int]] = self._own_names()
        if (nb_upper(dest_name.name), dest_name.suffix) not in names:  # maybe another process's name
            names = self.host_names()
        verdict = classify_incoming(d, peer, config, addresses, names)
        if verdict != "accept":
            self.stats[f"dropped_{verdict}"] += 1
            return
        if owner is not None:
            owner.accept_network(d, peer, payload, wake=owner not in self._readers)
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
    def __init__(
        self,
        bare: str,
        max_size: int,
        timeout: float | None,
        config: Config,
        monitor: Iterable[str] = (),
        learn: bool = True,
    ):
        self.bare, self.config, self.max_size, self.timeout, self.learn = bare, config, max_size, timeout, learn
        self.wire_name = (MAILSLOT_PREFIX + bare).upper()
        self.monitored = {(MAILSLOT_PREFIX + m).upper(): m for m in monitor}
        self._stats: collections.Counter[str] = collections.Counter()
        self._pending: collections.deque[Message] = collections.deque()
        self._dedup = _Dedup()
        self._lock = _Lock()  # the receiver or a writer thread may hand over
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._host: _HostService | None = None
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
        inbox_fd = self._inbox.fileno()
        # this slot's own descriptors (its inbox, its wake-up socket): None where they cannot be polled
        self._own_fds = None if inbox_fd is None or self._wake_r is None else (inbox_fd, self._wake_r.fileno())
        try:
            # before this slot's first frame goes out, so that a reply by name can find us
            self._host = _HostService.attach(config)
        except BaseException:
            self._receiver.detach(self)
            self._close_local()
            raise
        if self._wake_r is not None and isinstance(self._inbox, _UnixInbox):
            with _process.lock:
                _process.inbox_owners[self._inbox.address] = self

    @property
    def stats(self) -> collections.Counter[str]:
        """The shared receiver's counters plus this slot's own."""
        merged = collections.Counter(self._receiver.stats)
        merged.update(self._stats)
        drops = self._receiver.kernel_drops()
        if drops:
            merged["dropped_by_kernel"] = drops
        return merged

    # -- receiving ----------------------------------------------------------

    def fds(self) -> list[int] | None:
        own = self._own_fds
        return None if own is None else [*self._receiver.filenos(), *own]

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

    def accept_network(self, d: Datagram, peer: UdpAddress, payload: bytes, *, wake: bool = True) -> None:
        """A datagram the shared receiver routed here (possibly from another slot's read: ``wake``
        the reader then; a slot's own read takes what it queues without a wake-up)."""
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
        if wake:
            self._wake()

    def _pump(self, wait: float | None) -> None:
        """Wait up to ``wait`` seconds for input, then take in everything already queued."""
        fds = self.fds()
        if fds is None:  # Windows inbox: poll it beside the socket
            if wait is None or wait > 0:
                step = NATIVE_POLL_INTERVAL_S if wait is None else min(wait, NATIVE_POLL_INTERVAL_S)
                if self._receiver.filenos():
                    wait_readable(self._receiver.filenos(), step)
                else:
                    time.sleep(step)
            self._take_in(None, (self,))
        else:
            # one poll() says which sources have something: no read of an empty one
            self._take_in(wait_readable(fds, wait), (self,))

    def _take_in(
        self, ready: Collection[int] | None, readers: Collection[_NetbiosSlot], *, receiver: bool = True
    ) -> None:
        """Take in what waits in the sources among ``ready`` (None: in every source); a wake-up
        means another thread or slot queued here, or the sockets changed: every source then.
        ``readers``: the slots read now by this thread (not woken for what they queue);
        ``receiver`` False: the shared receiver was pumped with ``ready`` already."""
        own = self._own_fds
        if own is None or ready is None or own[1] in ready:
            ready = None
            wake = self._wake_r
            try:
                while wake is not None and wake.recv(16):
                    pass
            except OSError:
                pass
        if receiver or ready is None:
            self._receiver.pump(readers, ready)
        if ready is not None and own is not None and own[0] not in ready:
            return  # nothing in the inbox
        for _ in range(1024):
            payload = self._inbox.recv_nowait()
            if payload is None:
                break
            with self._lock:
                self._on_local(payload)

    def pending(self) -> Message | None:
        """The next message already taken in (no I/O), after the name check."""
        self._check_name()
        return self._pending.popleft() if self._pending else None

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
        if not local and self.learn:
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
        if _process.conflicts and not self._conflict_raised:
            message = _process.conflicts.get((self.config.name, 0x00, self.config.ns_port))
            if message is not None:
                self._conflict_raised = True
                raise NameConflictError(errno.EADDRINUSE, message)

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
            if self._host is not None and self.config.ns_port:  # look at the name's state now and then
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
        with _process.lock:
            if isinstance(self._inbox, _UnixInbox) and _process.inbox_owners.get(self._inbox.address) is self:
                del _process.inbox_owners[self._inbox.address]
        # the inbox first: datagrams still queued for this name must find no owner here,
        # not wait FORWARD_WAIT_S each on a queue nobody reads any more
        self._inbox.close()
        self._receiver.detach(self)
        if self._host is not None:
            self._host.remove(self.config)
            self._host = None
        self._close_local()

    def _close_local(self) -> None:
        self._inbox.close()
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()


def classify_incoming(
    d: Datagram,
    peer: UdpAddress,
    config: Config,
    addresses: LocalAddresses,
    host_names: AbstractSet[tuple[str, int]] | None = None,
) -> str:
    """'accept', or the reason a datagram from the network is not for this machine.

    ``host_names``: (NAME, suffix) of every name this host's lanmsg processes hold (default:
    ``config``'s computer and workgroup names); ``config``: the receiving slot's."""
    dest = d.destination_name
    if dest.scope:
        return "scope"
    if host_names is None:
        host_names = {(config.name, 0x00), (config.workgroup, 0x00)}
    if dest.name != "*" and (dest.suffix != 0x00 or (nb_upper(dest.name), dest.suffix) not in host_names):
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


def _drain_and_forward(sock: socket.socket, config: Config) -> int:
    """Route datagrams left in ``sock``'s queue to their owners on this machine."""
    addresses = _addresses(config)
    host = _process.hosts.get(config.port)
    names = host.names() if host is not None else None
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
            classify_incoming(d, peer, config, addresses, names) == "accept"
            and _forward(d, payload, peer, config) == "forwarded"
        ):
            moved += 1
    return moved


def _timeout_ms(timeout: float | None) -> int:
    return MAILSLOT_WAIT_FOREVER if timeout is None else max(0, min(int(timeout * 1000), 0xFFFFFFFE))


def _send_datagrams(config: Config, sends: Iterable[tuple[str, str | None, bool, Callable[[str], bytes]]]) -> None:
    """Send datagrams from UDP port ``config.port`` to ``config.peer_port`` (the same but for a pair).

    ``sends``: (destination IP, source IP if known, is broadcast, build(source_ip) -> bytes).
    A socket of an open slot in this process is used when there is one; otherwise
    a short-lived socket bound to the port and *connected* to the destination,
    so that it never takes unicast datagrams meant for the slots on this machine.
    """
    with _process.lock:
        receiver = _process.receivers.get(config.port)
    for dest_ip, src, is_broadcast, build in sends:
        if not is_broadcast and not is_host_address(dest_ip):
            raise MailslotError(errno.EADDRNOTAVAIL, f"{dest_ip} is not a computer's address; nothing was sent")
        sock = receiver.sock if receiver is not None else None
        if sock is not None:
            src = src or _source_address_cached(dest_ip, config.port)
            _sendto(sock, build(src), (dest_ip, config.peer_port or config.port))
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if is_broadcast:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            _bind_port(s, "", config.port)
            try:
                s.connect((dest_ip, config.peer_port or config.port))
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
    if sys.platform == "win32":
        payload = data  # a plain local write, readable by native owners too
    else:
        template = _template(MSG_DIRECT_UNIQUE, config.name, NetbiosName(config.name), bare, DEFAULT_PORT)
        datagram = template.encode(next_dgm_id(), "127.0.0.1", data)
        payload = encode_envelope(ENVELOPE_LOCAL, ("127.0.0.1", config.port), datagram)
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
# The netbios transport: the host's lanmsg processes, and the name service (UDP 137)
# --------------------------------------------------------------------------
# A Windows peer replies to \\NAME\mailslot\x by resolving NAME<00> (cache, WINS, broadcast,
# LMHOSTS, hosts, DNS), never from the datagram's source address.  So while a process owns a
# netbios slot on a POSIX host, its computer name is registered and answered for: NAME<00> unique,
# WORKGROUP<00> group, as Windows and Samba register them.  On Windows NetBT owns UDP 137 and
# answers for the computer name: no name service runs there.
#
# Several lanmsg processes of one host share UDP 137 and 138 (SO_REUSEADDR): every one of them
# gets every broadcast, but a unicast reaches only the newest socket (measured; docs/names.md).  So
# each process keeps a list of the host's lanmsg processes and the names they hold (_HostPeers:
# unix datagram sockets whose senders the kernel vouches for), answers a unicast query for any of
# those names, hands a unicast datagram to whichever process owns its mailslot, and leaves the
# broadcasts to one leader.  A process stopped by Ctrl-Z gives its shared sockets up first; one
# stopped by SIGSTOP is noticed, and the leader binds its sockets afresh to get the unicasts back.

HOST_SCAN_S = 1.0  # how often a process looks for the host's other lanmsg processes, and stopped ones
HOST_SETTLE_S = 0.2  # a process letting a name go waits at most this long to hear from processes it just found
HOST_MESSAGE_MAX = 4096  # bytes of one process's entry
HOST_NAMES_MAX = 64  # names in one process's entry
HOST_PREFIX = "lanmsg-host"
NS_LOOP_MAX_WAIT_S = 1.0  # the host service thread's longest sleep
HOST_SUSPEND_WAIT_S = 1.0  # Ctrl-Z waits at most this long for the host service to let go of UDP 137
_SCM_CREDENTIALS = getattr(socket, "SCM_CREDENTIALS", None)  # Linux: struct ucred {pid, uid, gid}
_UCRED = struct.Struct("iII")

# callable(kind, message) told of "defended" names and "notice"s (another name server here, no
# port 137, a silent WINS server, a refused group name) and "conflict"s; None: one line on stderr
# for all but conflicts, which reach the owner's next read as NameConflictError.
name_service_reporter: Callable[[str, str], None] | None = None


def _report_name_event(message: str, kind: str = "notice") -> None:
    reporter = name_service_reporter
    if reporter is not None:
        reporter(kind, message)
    elif kind != "conflict":
        print(f"mailslot: {message}", file=sys.stderr, flush=True)


def _new_trn_id() -> int:
    """A transaction id nobody can predict: a guessable one lets an off-path host poison answers."""
    return int.from_bytes(os.urandom(2), "big")


def _proc_udp_rows() -> list[tuple[str, int, int]]:
    """Linux: (local address, port, uid) of every IPv4 UDP socket of this network namespace."""
    rows = []
    try:
        with open("/proc/net/udp", "rb") as f:  # bytes: no codec to import on the start-up path
            lines = f.read().splitlines()[1:]
        for line in lines:
            fields = line.split()
            hexaddr, hexport = fields[1].split(b":")
            address = socket.inet_ntoa(struct.pack("<I", int(hexaddr, 16)))
            rows.append((address, int(hexport, 16), int(fields[7])))
    except (OSError, ValueError, IndexError):
        return []
    return rows


def _udp_holders(port: int) -> list[str]:
    """Linux: the specific local addresses some socket of this namespace has bound ``port`` to.

    nmbd binds each interface address as well as 0.0.0.0; unicasts to that address reach it,
    not a socket bound to 0.0.0.0.  lanmsg binds only 0.0.0.0."""
    return [a for a, p, _ in _proc_udp_rows() if p == port and a != "0.0.0.0"]


def _udp_port_uids(ports: Iterable[int]) -> set[int]:
    """Linux: the uids that hold a UDP socket on every one of ``ports``."""
    rows = _proc_udp_rows()
    found: set[int] | None = None
    for port in ports:
        uids = {uid for _, p, uid in rows if p == port}
        found = uids if found is None else found & uids
    return found or set()


def _process_stopped(pid: int) -> bool:
    """Linux: whether process ``pid`` is stopped (SIGSTOP, SIGTSTP) or traced."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read(512)
    except OSError:
        return False
    state = stat[stat.rfind(b")") + 2 :][:1]
    return state in (b"T", b"t")


class _Member:
    """Another lanmsg process of this host, as it last described itself."""

    __slots__ = ("address", "bound_at", "heard", "held", "names", "ns", "pid", "state", "stopped", "trusted")

    def __init__(self, address: str, pid: int) -> None:
        self.address, self.pid = address, pid
        self.heard = False
        self.trusted = False
        self.state = "active"  # "active" or "suspended" (it gave its shared sockets up: Ctrl-Z)
        self.bound_at = 0.0  # when it last bound its shared sockets (monotonic; 0: it holds none)
        self.ns = False  # it holds the name-service port
        self.names: list[HostName] = []  # what it answers for
        self.held: list[HostName] = []  # what its slots hold (datagrams to them are its)
        self.stopped = False  # the kernel says it is stopped (SIGSTOP: it could not give them up)


def _encode_member(
    state: str,
    bound_at: float,
    ns: bool,
    names: Iterable[HostName],
    *,
    hello: bool,
    held: Iterable[HostName] = (),
) -> bytes:
    """A process's entry: ``names`` it answers for (u: unique, g: group) and the other names its
    slots hold (``held``: U, G; datagrams to them are still its, the name service is not)."""
    words = [
        b"LMH1",
        b"1" if hello else b"0",
        state.encode("ascii"),
        b"%d" % int(bound_at * 1000),
        b"1" if ns else b"0",
    ]
    names = list(names)
    answered = {nb_key(h.name) for h in names}
    for h, kinds in [(h, b"ug") for h in names] + [(h, b"UG") for h in held if nb_key(h.name) not in answered]:
        kind = kinds[1:] if h.group else kinds[:1]
        words.append(b"%s.%02x.%s" % (h.name.name.encode("latin-1").hex().encode(), h.name.suffix, kind))
    return b" ".join(words[: 5 + HOST_NAMES_MAX])


def _decode_member(data: bytes) -> tuple[bool, str, float, bool, list[HostName], list[HostName]] | None:
    """(hello, state, bound_at, ns, names answered, names held) of a member's message, or None
    if it is not one."""
    words = data.split(b" ")
    if len(data) > HOST_MESSAGE_MAX or len(words) < 5 or words[0] != b"LMH1" or len(words) > 5 + HOST_NAMES_MAX:
        return None
    hello, state, bound, ns = words[1:5]
    if hello not in (b"0", b"1") or state not in (b"active", b"suspended", b"bye") or ns not in (b"0", b"1"):
        return None
    if not bound.isdigit() or len(bound) > 15:
        return None
    names, held = [], []
    for word in words[5:]:
        parts = word.split(b".")
        if len(parts) != 3 or parts[2] not in (b"u", b"g", b"U", b"G") or len(parts[1]) != 2:
            return None
        try:
            raw, suffix = bytes.fromhex(parts[0].decode("ascii")), int(parts[1], 16)
        except ValueError:
            return None
        if not 0 < len(raw) <= NETBIOS_NAME_MAX:
            return None
        h = HostName(NetbiosName(raw.decode("latin-1"), suffix), parts[2] in (b"g", b"G"))
        held.append(h)
        if parts[2] in (b"u", b"g"):
            names.append(h)
    return hello == b"1", state.decode("ascii"), int(bound) / 1000, ns == b"1", names, held


def _pid_in(address: str) -> int:
    """The pid in a member socket's name (``...-<pid>.<token>`` or ``.../<pid>.<token>``), else 0."""
    text = address.rsplit("/", 1)[-1].rsplit("-", 1)[-1].partition(".")[0]
    return int(text) if text.isdigit() else 0


class _HostPeers:
    """The other lanmsg processes of this host on datagram port ``port``, and what they hold.

    Linux: each process binds an abstract unix datagram socket ``lanmsg-host/<port>/<pid>.<token>``
    (the token is random, so no one can take the name first) and finds the others in
    /proc/net/unix.  The kernel attaches each sender's pid and uid (SO_PASSCRED); a message counts
    only from our own uid, root, or a uid that holds a UDP socket on each shared port itself (it
    could answer for any name anyway), and only if the pid is the one in its socket's name.
    Elsewhere (POSIX): the same in files of a directory only this user can enter; this user's
    processes only.  Messages are this process's entry, sent when it changes and to a newcomer.
    """

    def __init__(self, port: int, ns_port: int) -> None:
        self.port, self.ns_port = port, ns_port
        self.pid = os.getpid()
        self.token = os.urandom(4).hex()
        self.linux = sys.platform.startswith("linux")
        self.members: dict[str, _Member] = {}
        self.stats: collections.Counter[str] = collections.Counter()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if self.linux and _SCM_CREDENTIALS is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self.address = self._address(self.pid, self.token)
            self.sock.bind(self.address)
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self._trusted_uids: set[int] = set()

    def _address(self, pid: int, token: str) -> str:
        if self.linux:
            return f"\0{HOST_PREFIX}/{self.port}/{pid}.{token}"
        return os.path.join(_private_dir(), f"{HOST_PREFIX}-{self.port}-{pid}.{token}")

    def fileno(self) -> int:
        return self.sock.fileno()

    def _listed(self) -> dict[str, int]:
        """address -> pid of every member socket of this port now bound on the host (but ours)."""
        found = {}
        if self.linux:
            prefix = f"@{HOST_PREFIX}/{self.port}/"
            try:
                with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
                    lines = f.readlines()
            except OSError:
                return {}
            for line in lines:
                path = line.rstrip("\n").rsplit(" ", 1)[-1]
                if path.startswith(prefix):
                    pid, _, token = path[len(prefix) :].partition(".")
                    if pid.isdigit() and token and (int(pid), token) != (self.pid, self.token):
                        found["\0" + path[1:]] = int(pid)
            return found
        prefix = f"{HOST_PREFIX}-{self.port}-"
        base = _private_dir()
        try:
            entries = os.listdir(base)
        except OSError:
            return {}
        for entry in entries:
            if not entry.startswith(prefix):
                continue
            pid_text = entry[len(prefix) :].partition(".")[0]
            path = os.path.join(base, entry)
            if not pid_text.isdigit() or path == self.address:
                continue
            try:
                os.kill(int(pid_text), 0)
            except ProcessLookupError:  # left by a process that died
                try:
                    os.unlink(path)
                except OSError:
                    pass
                continue
            except OSError:
                pass
            found[path] = int(pid_text)
        return found

    def scan(self) -> list[str]:
        """Look the members up again: forget those gone, note stopped ones; return the new ones
        (they get a hello)."""
        listed = self._listed()
        for address in [a for a in self.members if a not in listed]:
            del self.members[address]
        new = [a for a in listed if a not in self.members]
        for address in new:
            self.members[address] = _Member(address, listed[address])
        if self.linux:
            for m in self.members.values():
                m.stopped = _process_stopped(m.pid)
            ports = [self.port, self.ns_port] if self.ns_port else [self.port]
            self._trusted_uids = _udp_port_uids(ports)
        return new

    def settled(self) -> bool:
        """Whether every member found has been heard from."""
        return all(m.heard for m in self.members.values())

    def send(self, payload: bytes, to: Iterable[str]) -> None:
        for address in to:
            try:
                self.sock.sendto(payload, address)
                self.stats["sent"] += 1
            except OSError:  # gone, or its queue is full: it hears the next change or scan
                self.stats["send_errors"] += 1

    def _trusted(self, uid: int) -> bool:
        return uid in (0, os.geteuid()) or uid in self._trusted_uids

    def read(self) -> tuple[bool, list[str]]:
        """Take in every queued message: (whether the host's names or leadership may have changed,
        the members that said hello and want our entry)."""
        changed, hellos = False, []
        for _ in range(256):
            try:
                data, anc, _, sender = self.sock.recvmsg(HOST_MESSAGE_MAX + 1, socket.CMSG_SPACE(_UCRED.size))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.stats["read_errors"] += 1
                break
            self.stats["received"] += 1
            if isinstance(sender, bytes):  # Linux gives abstract names as bytes
                sender = sender.decode("utf-8", errors="replace")
            if not isinstance(sender, str) or not sender:
                self.stats["dropped_unnamed"] += 1
                continue
            pid = None
            if self.linux:
                creds = [d for level, kind, d in anc if level == socket.SOL_SOCKET and kind == _SCM_CREDENTIALS]
                if not creds or len(creds[0]) < _UCRED.size:
                    self.stats["dropped_no_credentials"] += 1
                    continue
                pid, uid, _ = _UCRED.unpack_from(creds[0])
                if not self._trusted(uid):
                    self.stats["dropped_untrusted"] += 1
                    continue
                prefix = f"\0{HOST_PREFIX}/{self.port}/{pid}."
                if not sender.startswith(prefix):
                    self.stats["dropped_wrong_pid"] += 1
                    continue
            decoded = _decode_member(data)
            if decoded is None:
                self.stats["dropped_malformed"] += 1
                continue
            hello, state, bound_at, ns, names, held = decoded
            m = self.members.get(sender)
            if state == "bye":
                changed |= self.members.pop(sender, None) is not None
                continue
            if m is None:
                m = self.members[sender] = _Member(sender, pid if pid is not None else _pid_in(sender))
                m.stopped = self.linux and _process_stopped(m.pid)
            m.heard, m.trusted = True, True
            m.state, m.bound_at, m.ns, m.names, m.held = state, bound_at, ns, names, held
            changed = True
            if hello:
                hellos.append(sender)
        return changed, hellos

    def names(self) -> list[HostName]:
        """What the other processes answer for."""
        return [h for m in self.members.values() if m.trusted for h in m.names]

    def held(self) -> list[HostName]:
        """What the other processes' slots hold, answered for or not."""
        return [h for m in self.members.values() if m.trusted for h in m.held]

    def holds(self, name: NetbiosName) -> bool:
        key = nb_key(name)
        return any(nb_key(h.name) == key for h in self.held())

    def leads(self, my_bound_at: float, my_ns: bool, my_state: str) -> bool:
        """Whether this process leads: the lowest pid among the processes of the host that are
        active (not given up, not stopped) and hold the name-service port, if any does."""
        if my_state != "active":
            return False
        rivals = [
            m
            for m in self.members.values()
            if m.trusted and m.state == "active" and not m.stopped and (m.ns or not my_ns)
        ]
        return all(m.pid > self.pid for m in rivals)

    def stopped_newer(self, my_bound_at: float) -> bool:
        """Whether a stopped process bound the shared sockets after us (it would keep the host's unicasts)."""
        return any(
            m.trusted and m.stopped and m.state == "active" and m.bound_at > my_bound_at for m in self.members.values()
        )

    def close(self) -> None:
        self.sock.close()
        if not self.linux:
            try:
                os.unlink(self.address)
            except OSError:
                pass


class _HostService:
    """This process's part in the host's name service: its entry among the host's lanmsg
    processes (_HostPeers) and, with a name-service port, NameClaims behind UDP ``ns_port``, on one
    thread.  The thread never dies silently: an unexpected error is reported once and counted."""

    def __init__(self, config: Config) -> None:
        import threading  # here, not at the top: a command that never opens a slot needs no threads

        self.port, self.ns_port = config.port, config.ns_port
        self.lock = threading.RLock()
        self.stats: collections.Counter[str] = collections.Counter()
        self.configs: list[Config] = []
        self.slot_names: collections.Counter[HostName] = collections.Counter()  # names of the slots (no name service)
        self.claims: NameClaims | None = None
        self.sock: socket.socket | None = None  # UDP ns_port, shared
        self.client: socket.socket | None = None  # an ephemeral port of our own for our requests
        self.state = "active"
        self.bound_at = time.monotonic()
        self.stopping = False
        self._error_reported = False
        self._next_scan = 0.0
        self._addresses_at = 0.0
        self._requests: list[str] = []
        self._request_done = threading.Condition(self.lock)
        self.peers = _HostPeers(self.port, self.ns_port)
        try:
            if self.ns_port:
                self._open_name_service(config)
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
        except BaseException:
            self._close_sockets()
            raise
        self.thread = threading.Thread(target=self._run, name=f"lanmsg-host-{self.port}", daemon=True)

    def _open_name_service(self, config: Config) -> None:
        try:
            self.sock = _udp_socket("", self.ns_port, reuse=True)
        except MailslotError as e:
            _report_name_event(_name_service_off_help(self.ns_port, config.name, e))
            return
        try:
            self.client = _udp_socket("", 0, reuse=False)
        except BaseException:
            self.sock.close()
            self.sock = None
            raise
        self.claims = NameClaims(self.ns_port, new_id=_new_trn_id)
        holders = _udp_holders(self.ns_port)
        if holders:
            _report_name_event(
                f"another NetBIOS name server (Samba's nmbd?) holds UDP {self.ns_port} on {', '.join(holders)}: "
                f"unicast name queries and WINS challenges for {config.name} go to it, not to lanmsg. "
                f"Let it own the name: add 'netbios aliases = {config.name}' to [global] in smb.conf and "
                "reload it (smbcontrol nmbd reload-config); see docs/names.md"
            )

    @classmethod
    def attach(cls, config: Config) -> _HostService | None:
        """This process's host service for ``config.port``, started on first use; None on Windows."""
        if sys.platform == "win32":
            return None
        with _process.lock:
            service = _process.hosts.get(config.port)
            if service is None:
                service = cls(config)
                _process.hosts[config.port] = service
                service.peers.scan()
                service.thread.start()
                service._publish(hello=True)
        service.add(config)
        return service

    # -- slots ------------------------------------------------------------------------

    def add(self, config: Config) -> None:
        """A slot of ``config`` opened: its names are claimed (the first registration goes out now)."""
        name, group = HostName(NetbiosName(config.name), False), HostName(NetbiosName(config.workgroup), True)
        with self.lock:
            self.configs.append(config)
            self.slot_names.update([name, group])
            if self.claims is not None:
                now = time.monotonic()
                self._refresh_host(now, force_addresses=True)
                out = self.claims.claim(now, name.name, False, wins=config.wins)
                out += self.claims.claim(now, group.name, True)
                self._perform(out)
            self._publish()
        self._wake()

    def remove(self, config: Config) -> None:
        """A slot of ``config`` closed; the last owner of a name on this host releases it."""
        deadline = time.monotonic() + HOST_SETTLE_S
        while time.monotonic() < deadline:
            with self.lock:  # the service thread changes the list
                if self.peers.settled():
                    break
            time.sleep(0.01)  # processes found just now may still be telling us what they hold
        name, group = HostName(NetbiosName(config.name), False), HostName(NetbiosName(config.workgroup), True)
        with self.lock:
            if config in self.configs:
                self.configs.remove(config)
            self.slot_names.subtract([name, group])
            self.slot_names = +self.slot_names
            if self.claims is not None:
                now = time.monotonic()
                for h in (name, group):
                    out = self.claims.unclaim(now, h.name, others_hold=self.peers.holds(h.name))
                    if self.claims.state(h.name) is None:
                        conflict_key = (*nb_key(h.name), self.ns_port)
                        _process.conflicts.pop(conflict_key, None)
                    self._perform(out)
            last = not self.configs
            if not last:
                self._publish()
        if last:
            self.close()

    def names(self) -> set[tuple[str, int]]:
        """Every name this host's lanmsg processes hold (for the datagram receiver), answered for
        by lanmsg or by another name server of the host."""
        with self.lock:
            return {nb_key(h.name) for h in (*self.slot_names, *self.peers.held())}

    # -- Ctrl-Z -----------------------------------------------------------------------

    def suspend(self) -> None:
        self._request("suspend")

    def resume(self) -> None:
        self._request("resume")

    def _request(self, what: str) -> None:
        with self.lock:
            self._requests.append(what)
            self._wake()
            deadline = time.monotonic() + HOST_SUSPEND_WAIT_S
            while what in self._requests and (left := deadline - time.monotonic()) > 0:
                self._request_done.wait(left)

    def _do_requests(self) -> None:
        with self.lock:
            for what in self._requests:
                if what == "suspend" and self.state == "active":
                    self.state, self.bound_at = "suspended", 0.0
                    if self.sock is not None:
                        self.sock.close()
                        self.sock = None
                elif what == "resume" and self.state == "suspended":
                    self.state = "active"
                    self._rebind(receiver=False)  # resume() rebinds the receivers itself
                self._publish()
            self._requests.clear()
            self._request_done.notify_all()

    def _rebind(self, *, receiver: bool = True) -> None:
        """Bind the shared sockets afresh: the newest socket on a port gets its unicasts."""
        if self.claims is not None:
            old, self.sock = self.sock, None
            if old is not None:
                old.close()
            try:
                self.sock = _udp_socket("", self.ns_port, reuse=True)
            except MailslotError as e:
                self.stats["rebind_errors"] += 1
                _report_name_event(f"cannot bind UDP {self.ns_port} again: {e.strerror}")
        rx = _process.receivers.get(self.port) if receiver else None
        if rx is not None:
            rx.rebind()
        self.bound_at = time.monotonic()

    # -- the thread -------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # a wake-up is already pending

    def _run(self) -> None:
        while not self.stopping:
            try:
                self._step()
            except Exception as e:  # never a silent death: say it once, count it, go on
                self.stats["errors"] += 1
                if not self._error_reported:
                    self._error_reported = True
                    _report_name_event(f"name service error ({type(e).__name__}: {e}); it goes on")
                time.sleep(0.05)

    def _step(self) -> None:
        now = time.monotonic()
        with self.lock:
            due = self.claims.next_deadline() if self.claims is not None else None
            fds = [self.peers.fileno(), self._wake_r.fileno()]
            fds += [s.fileno() for s in (self.sock, self.client) if s is not None]
        wait = min(NS_LOOP_MAX_WAIT_S, max(0.0, self._next_scan - now))
        if due is not None:
            wait = min(wait, max(0.0, due - now))
        ready = wait_readable(fds, wait)
        if self.stopping:
            return
        if self._wake_r.fileno() in ready:
            try:
                while self._wake_r.recv(64):
                    pass
            except OSError:
                pass
        if self._requests:
            self._do_requests()
        with self.lock:
            changed, hellos = self.peers.read() if self.peers.fileno() in ready else (False, [])
            if hellos:
                self.peers.send(self._entry(hello=False), hellos)
            now = time.monotonic()
            if now >= self._next_scan:
                self._next_scan = now + HOST_SCAN_S
                new = self.peers.scan()
                if new:
                    self.peers.send(self._entry(hello=True), new)
                changed = True
                if self.state == "active" and self.peers.stopped_newer(self.bound_at) and self._leads():
                    self.stats["rebound"] += 1
                    self._rebind()
                    self._publish()
            if changed or now >= self._addresses_at:
                self._refresh_host(now)
            for s in (self.sock, self.client):
                if s is not None and s.fileno() in ready:
                    self._drain(s, now)
            if self.claims is not None:
                self._perform(self.claims.tick(now))

    def _leads(self) -> bool:
        return self.peers.leads(self.bound_at, self.sock is not None, self.state)

    def _refresh_host(self, now: float, *, force_addresses: bool = False) -> None:
        if self.claims is None:
            return
        update: dict[str, Any] = {"host_names": self.peers.names(), "leader": self._leads()}
        if force_addresses or now >= self._addresses_at:
            self._addresses_at = now + ADDRESSES_TTL_S
            routes: list[tuple[str, str]] = []
            sources = {}
            for config in self.configs:
                try:
                    routes += [r for r in broadcast_routes(config) if r not in routes]
                except MailslotError:
                    pass
                for server in config.wins:
                    try:
                        sources[server] = source_address_for(server, self.ns_port)
                    except MailslotError:
                        pass
            update.update(routes=routes, wins_sources=sources)
        self.claims.update_host(**update)

    def _drain(self, s: socket.socket, now: float) -> None:
        assert self.claims is not None
        addresses = _addresses(self.configs[0] if self.configs else Config(port=self.port))
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
            if s is self.client and not p.response:
                self.stats["dropped_unexpected"] += 1
                continue
            if local_ip is None:
                try:
                    local_ip = source_address_for(peer[0], self.ns_port)
                except MailslotError:
                    local_ip = "0.0.0.0"
            to_broadcast = dest in addresses.broadcast if dest is not None else p.broadcast
            try:
                out, word = self.claims.receive(
                    now, p, peer, local_ip=local_ip, to_broadcast=to_broadcast, addresses=addresses
                )
            except (DecodeError, ValueError, OSError):  # hostile bytes never end the service
                self.stats["dropped_error"] += 1
                continue
            self.stats[word] += 1
            self._perform(out)

    def _perform(self, out: NsOutput) -> None:
        """Send what NameClaims said to send; tell the user what it said to tell."""
        published = False
        for item in out:
            if isinstance(item, NsSend):
                s = self.sock if item.via == "server" else self.client
                if s is None:
                    continue
                try:
                    s.sendto(item.data, item.address)
                    self.stats["sent"] += 1
                except OSError:
                    self.stats["send_errors"] += 1
                continue
            message = describe_name_event(item)
            kind = item.kind
            if kind is NameEventKind.CONFLICT:
                self.stats["conflicts"] += 1
                conflict_key = (*nb_key(item.name), self.ns_port)
                _process.conflicts[conflict_key] = message
                _report_name_event(message, "conflict")
            elif kind is NameEventKind.DEFENDED:
                self.stats["defended"] += 1
                _report_name_event(message, "defended")
            elif kind is not NameEventKind.WINS_REGISTERED:
                _report_name_event(message)
            published |= kind in (NameEventKind.CONFLICT, NameEventKind.GROUP_REFUSED, NameEventKind.SERVED_HERE)
        if published:
            self._publish()

    def _entry(self, *, hello: bool) -> bytes:
        names = self.claims.published() if self.claims is not None else list(self.slot_names)
        return _encode_member(
            self.state, self.bound_at, self.sock is not None, names, hello=hello, held=self.slot_names
        )

    def _publish(self, *, hello: bool = False) -> None:
        """Tell every process of the host what this one holds now."""
        self.peers.send(self._entry(hello=hello), list(self.peers.members))

    def close(self) -> None:
        with _process.lock:
            if _process.hosts.get(self.port) is self:
                del _process.hosts[self.port]
        with self.lock:
            self.peers.send(_encode_member("bye", 0.0, False, (), hello=False), list(self.peers.members))
        self.stopping = True
        self._wake()
        if self.thread.is_alive() and self.thread.ident != _get_ident():
            self.thread.join(2.0)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for s in (self.sock, self.client, getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if s is not None:
                s.close()
        self.peers.close()


def _name_service_off_help(port: int, name: str, error: MailslotError) -> str:
    """The note when UDP ``port`` cannot be bound: what it costs, and remedies that work (never
    --port: another datagram port turns the name service off)."""
    cost = f"name service off: Windows peers cannot find {name} by name"
    if isinstance(error, PortPermissionError):
        return (
            f"{cost} (UDP {port} needs privilege). Remedies: {low_port_remedies(port)}; "
            f"or, beside Samba's nmbd, let nmbd answer for the name: netbios aliases = {name} (docs/names.md)"
        )
    return (
        f"{cost} ({error.strerror}). Another program holds UDP {port} without sharing it (macOS: netbiosd); "
        f"where Samba's nmbd runs, let it answer for the name: netbios aliases = {name} (docs/names.md)"
    )


# -- resolver ----------------------------------------------------------------------

HOSTS_FILE = (
    os.path.join(os.environ.get("SYSTEMROOT", "C:\\Windows"), "System32", "drivers", "etc", "hosts")
    if sys.platform == "win32"
    else "/etc/hosts"
)
# A hosts file changed less than this long before it was read is read again at the next lookup:
# more than a tick of any file system's time stamps (FAT: 2 s), so that two changes in one tick
# are not taken for none.
HOSTS_FILE_SETTLE_S = 2.0
NS_CACHE_MAX_S = 600.0  # Windows CacheTimeout: a resolved name is kept at most this long
NS_CACHE_MAX_ENTRIES = 1024
LEARNED_MAX = 1024  # addresses learned from datagrams, kept at most NS_CACHE_MAX_S each


def _cached(name: NetbiosName) -> list[str] | None:
    key = nb_key(name)
    with _process.lock:
        hit = _process.ns_cache.get(key)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            del _process.ns_cache[key]
            return None
        return list(hit[0])


def _cache(name: NetbiosName, addresses: list[str], ttl: int) -> None:
    key = nb_key(name)
    with _process.lock:
        cache = _process.ns_cache
        cache[key] = (tuple(addresses), time.monotonic() + min(max(ttl, 1), NS_CACHE_MAX_S))
        cache.move_to_end(key)
        while len(cache) > NS_CACHE_MAX_ENTRIES:
            cache.popitem(last=False)


def forget_name(name: str, suffix: int = 0x00) -> None:
    """Drop ``name`` (its NetBIOS form) from the name cache (after it stopped answering there, say)."""
    with _process.lock:
        _process.ns_cache.pop((nb_upper(name), suffix), None)


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
    return [e for e in decode_nb_rdata(rr.rdata) if is_host_address(e.address)]


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
    positive answer, ('negative', [], 0) for a negative one, None on silence or when ``stop()``.
    A unicast query counts answers from the address asked only."""
    targets = list(targets)
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
            if not wait_readable([s.fileno()], min(left, 0.05)):
                continue
            try:
                payload, peer = s.recvfrom(NS_MAX_PACKET + 1)
            except OSError:
                continue
            if peer[1] != port or (not broadcast and peer[0] not in targets):
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
    name: str | NetbiosName,
    config: Config | None = None,
    *,
    suffix: int = 0x00,
    stop: Callable[[], bool] | None = None,
) -> list[str]:
    """Addresses of ``name<suffix>`` by the NetBIOS name service, as an H-node asks: the cache,
    each WINS server (3 tries 1.5 s apart), then a broadcast on every route (3 tries 750 ms
    apart).  [] when nobody answers.  ``name``: a name as typed (str) or its NetBIOS form;
    ``stop()``: return [] as soon as it is true."""
    config = config if config is not None else Config.from_env()
    nb = name if isinstance(name, NetbiosName) else NetbiosName(netbios_name(name, config.oem_encoding), suffix)
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


def hosts_file_addresses(name: str, path: str | None = None) -> list[str]:
    """The IPv4 addresses the hosts file gives ``name`` (compared without regard to case); the file
    is read, no name server is asked."""
    return list(_hosts_file_table(path or HOSTS_FILE).get(name.casefold(), ()))


def _hosts_file_table(path: str) -> dict[str, list[str]]:
    """Every name of the hosts file at ``path`` (casefolded) -> its IPv4 host addresses, in the
    file's order; parsed again when the file changed (another inode, size or time stamp).  A file
    changed less than HOSTS_FILE_SETTLE_S before it was parsed is parsed every time: a second
    change within the same tick of the file system's clock would leave the stamp as it was (git's
    "racy clean" index entries)."""
    try:
        st = os.stat(path)
    except OSError:
        return {}
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _process.lock:
        hit = _process.hosts_files.get(path)
    if hit is not None and hit[0] == stamp and max(st.st_mtime_ns, st.st_ctime_ns) < hit[1]:
        return hit[2]
    settled_before = time.time_ns() - int(HOSTS_FILE_SETTLE_S * 1e9)
    table: dict[str, list[str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read(1 << 20).splitlines()
    except OSError:
        return {}
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        address = dotted_quad(fields[0])
        if address is None or not is_host_address(address):
            continue
        for n in fields[1:]:
            found = table.setdefault(n.casefold(), [])
            if address not in found:
                found.append(address)
    with _process.lock:
        _process.hosts_files[path] = (stamp, settled_before, table)
    return table


def dns_addresses(host: str) -> list[str]:
    """The IPv4 addresses of the DNS name ``host``, looked up whole (hosts file, then DNS, as the
    system resolver does); MailslotError when there are none."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as e:
        raise MailslotError(errno.EHOSTUNREACH, f"cannot find {host!r} in DNS or the hosts file: {e}") from None
    found: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if is_host_address(address) and address not in found:
            found.append(address)
    if not found:
        raise MailslotError(errno.EHOSTUNREACH, f"{host!r} has no usable IPv4 address in DNS or the hosts file")
    return found


def _find(target: Target, config: Config, *, dns: bool, stop: Callable[[], bool]) -> tuple[list[str], str, str]:
    """(addresses, how they were found, why not) for a computer target, in lanmsg's order
    (docs/names.md): an address as written; a DNS name through the system resolver; a NetBIOS
    name in the hosts file, the name cache, WINS, a broadcast query, and last the address it
    was heard from (``dns`` False: the NetBIOS name service only)."""
    if target.address is not None:
        return [target.address], "address", ""
    if target.lookup == "dns":
        if not dns:
            return [], "", f"{target.host!r} is a DNS name (it has a dot), and DNS was not to be asked"
        try:
            return dns_addresses(target.host), "dns", ""
        except MailslotError as e:
            return [], "", str(e.strerror)
    if dns:
        found = hosts_file_addresses(target.host or target.name)
        if found:
            return found, "hosts", ""
    found = query_name(NetbiosName(target.name), config, stop=stop)
    if found:
        return found, "netbios", ""
    learned = learned_address(target.name)
    if learned:
        return [learned], "learned", ""
    if not config.ns_port:
        ns = (
            f"the NetBIOS name service is off (the datagram port is {config.port}, not {DEFAULT_PORT}; "
            f"--ns-port {DEFAULT_NS_PORT} turns it on)"
        )
    else:
        ns = "no answer from " + ("WINS or a NetBIOS broadcast" if config.wins else "a NetBIOS broadcast")
    hosts = "not in the hosts file, " if dns else ""
    return [], "", f"{hosts}{ns}, and not heard from in the last {NS_CACHE_MAX_S / 60:g} minutes"


class NameLookup:
    """A computer's address looked up on its own thread (docs/names.md gives the order):
    ``done``, ``addresses`` ([] = not found), ``source`` ("address", "dns", "hosts", "netbios" or
    "learned"), ``error``.  ``dns`` False: the NetBIOS name service only.  A target that is no
    computer's name raises MailslotNameError here, at once."""

    def __init__(self, name: str, config: Config, *, dns: bool = True):
        import threading

        self.name, self.config = name, config
        self.target = classify_target(name, config)
        if self.target.kind == "group":
            raise MailslotNameError(f"{name!r} is a group: messages to it are broadcast, it has no address")
        self.addresses: list[str] = []
        self.source: str | None = None
        self.error: str | None = None
        self._done = threading.Event()
        self._cancelled = False
        self._dns = dns
        if self.target.kind == "local" and self.target.address is None and name.strip() in (".", "localhost"):
            self._finish(["127.0.0.1"], "address", "")
        else:
            threading.Thread(target=self._run, daemon=True).start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Stop asking (the answer came another way); ``done`` soon after."""
        self._cancelled = True

    def wait(self, timeout: float | None = None) -> list[str]:
        self._done.wait(timeout)
        return self.addresses

    def _finish(self, addresses: list[str], source: str, error: str) -> None:
        self.addresses, self.source, self.error = addresses, source or None, error or None
        self._done.set()

    def _run(self) -> None:
        target = self.target
        if target.kind == "local":  # this computer's own name: found as others find it
            target = Target("unique", target.name, None, "netbios", self.name.strip())
        try:
            found, source, error = _find(target, self.config, dns=self._dns, stop=lambda: self._cancelled)
        except (OSError, ValueError) as e:
            found, source, error = [], "", str(e)
        self._finish(found, source, error)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

_DEFAULT = object()

if TYPE_CHECKING:
    from typing import Protocol

    class SlotImpl(Protocol):
        """What a Mailslot asks of its transport's slot (_NativeSlot, _NetbiosSlot)."""

        timeout: float | None

        @property
        def stats(self) -> collections.Counter[str]: ...
        def fds(self) -> list[int] | None: ...
        def try_read(self) -> Message | None: ...
        def read(self, timeout: float | None) -> Message: ...
        def info(self) -> MailslotInfo: ...
        def set_timeout(self, timeout: float | None) -> None: ...
        def close(self) -> None: ...


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
        learn: bool = True,
    ) -> None:
        """``monitor``: other mailslot names whose *broadcast* datagrams this slot also
        reads without owning them (netbios transport only; every socket on the port
        sees every broadcast).  Ignored by the native transport.  ``learn``: remember where
        each sender was heard from (learn_address), the last resort of name resolution; a
        caller that authenticates frames passes False and calls learn_address() for the
        frames that pass."""
        self.name = normalize_mailslot_name(name)
        self.transport = resolve_transport(transport)
        self.config = config if config is not None else Config.from_env()
        if not isinstance(max_size, int) or max_size < 0:
            raise ValueError(f"invalid max_size {max_size!r}")
        self._impl: SlotImpl
        if self.transport == "native":
            self._impl = _NativeSlot(self.name, max_size, read_timeout, self.config)
        else:
            self._impl = _NetbiosSlot(
                self.name,
                max_size,
                read_timeout,
                self.config,
                monitor=[normalize_mailslot_name(m) for m in monitor],
                learn=learn,
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


def suspend() -> None:
    """Give up this process's shared UDP sockets (its datagram ports and the name service's) so that
    the host's other lanmsg processes get the unicasts meant for them while this one is stopped;
    the slots and their names stay this process's.  What was queued is handed to its owners first.
    suspend_on_ctrl_z() calls it on Ctrl-Z."""
    with _process.lock:
        receivers, hosts = list(_process.receivers.values()), list(_process.hosts.values())
    for rx in receivers:
        rx.suspend()
    for host in hosts:
        host.suspend()


def resume() -> None:
    """Take the shared UDP sockets back after suspend()."""
    with _process.lock:
        receivers, hosts = list(_process.receivers.values()), list(_process.hosts.values())
    for rx in receivers:
        try:
            rx.resume()
        except MailslotError as e:
            _report_name_event(f"cannot bind UDP {rx.port} again after a stop: {e.strerror}")
    for host in hosts:
        host.resume()


def read_any(slots: Iterable[Mailslot], timeout: float | None) -> tuple[Mailslot, Message]:
    """Wait for the first message on any of ``slots``; TimeoutError after ``timeout`` seconds."""
    slots = list(slots)
    deadline = None if timeout is None else time.monotonic() + timeout
    impls = [slot._impl for slot in slots if not slot.closed]
    if len(impls) == len(slots) and all(isinstance(i, _NetbiosSlot) and i._own_fds is not None for i in impls):
        return _read_any_netbios(slots, impls, deadline, timeout)  # type: ignore[arg-type]  # checked above
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
            wait_readable([fd for f in fds for fd in f or ()], remaining)
        else:
            time.sleep(NATIVE_POLL_INTERVAL_S if remaining is None else min(remaining, NATIVE_POLL_INTERVAL_S))


def _read_any_netbios(
    slots: list[Mailslot], impls: list[_NetbiosSlot], deadline: float | None, timeout: float | None
) -> tuple[Mailslot, Message]:
    """read_any for netbios slots: one poll() for all of them, then each source read only if it has
    something, the shared receiver once."""
    while True:
        for slot, impl in zip(slots, impls, strict=True):
            slot._check_open()
            msg = impl.pending()
            if msg is not None:
                return slot, msg
        remaining = None if deadline is None else deadline - time.monotonic()
        fds: dict[int, None] = {}
        for impl in impls:
            fds.update(dict.fromkeys(impl.fds() or ()))
        ready = wait_readable(list(fds), None if remaining is None else max(0.0, remaining))
        pumped: list[_Receiver] = []
        for impl in impls:
            first = impl._receiver not in pumped
            impl._take_in(ready, impls, receiver=first)
            if first:
                pumped.append(impl._receiver)
        for slot, impl in zip(slots, impls, strict=True):
            msg = impl.pending()
            if msg is not None:
                return slot, msg
        if remaining is not None and remaining <= 0:
            raise TimeoutError(errno.ETIMEDOUT, f"no message within {timeout:g} s")


def write(
    target: str | Target,
    name: str,
    data: bytes,
    *,
    transport: str | None = None,
    config: Config | None = None,
    address: str | None = None,
) -> int:
    """Write one message to mailslot ``name`` on ``target``; return the bytes written.

    ``target``: "." (this machine), a computer name, an IPv4 address, a DNS name, a
    workgroup/domain name, or "*" (every computer of the primary workgroup); or a Target
    classify_target() already made.  ``address``: the IPv4 address of a computer target
    when the caller knows it (netbios transport).  Messages for other computers are limited
    to ``max_remote_payload(name)``.
    """
    bare = normalize_mailslot_name(name)
    data = bytes(data)
    transport = resolve_transport(transport)
    config = config if config is not None else Config.from_env()
    dest = target if isinstance(target, Target) else classify_target(target, config, address)
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
        host = {"local": ".", "group": "*" if dest.host == "*" else dest.name}.get(dest.kind)
        if host is None:
            host = dest.address if dest.lookup is None and dest.address else dest.host.lstrip("\\")
        return _kernel32_write(f"\\\\{host}\\mailslot\\{bare}", data, remote=dest.kind != "local")
    return _netbios_write(dest, bare, data, config)


def _netbios_write(dest: Target, bare: str, data: bytes, config: Config) -> int:
    if dest.kind == "local":
        _deliver_local(config, bare, data, required=True)
        return len(data)

    def builder(msg_type: int, destination: NetbiosName) -> Callable[[str], bytes]:
        dgm_id = next_dgm_id()
        encode = _template(msg_type, config.name, destination, bare, config.port).encode
        return lambda source_ip: encode(dgm_id, source_ip, data)

    if dest.kind == "group":
        group = NetbiosName(dest.name, 0x00)
        sends = [(bcast, src, True, builder(MSG_DIRECT_GROUP, group)) for src, bcast in broadcast_routes(config)]
        _deliver_local(config, bare, data, required=False)  # as Windows does for \\*\
        _send_datagrams(config, sends)
        return len(data)
    ip, how = (dest.address, "address") if dest.address else _resolve(dest, config)
    if _addresses(config).is_local(ip) and dest.name in ("*", config.name):
        _deliver_local(config, bare, data, required=True)
        return len(data)
    # a name the hosts file or DNS gave an address for need not be that computer's NetBIOS name:
    # write to the address, as to an address (the name last heard from it, else *)
    nb_name = dest.name if how in ("address", "netbios", "learned") else "*"
    if nb_name == "*":
        nb_name = learned_name(ip) or "*"
    msg_type = MSG_DIRECT_GROUP if nb_name == "*" else MSG_DIRECT_UNIQUE
    _send_datagrams(config, [(ip, None, False, builder(msg_type, NetbiosName(nb_name, 0x00)))])
    return len(data)


def _resolve(dest: Target, config: Config) -> tuple[str, str]:
    """The IPv4 address of computer ``dest`` (docs/names.md gives the order), and how it was
    found; MailslotError if nothing knows it."""
    found, how, why = _find(dest, config, dns=True, stop=lambda: False)
    if not found:
        raise MailslotError(
            errno.EHOSTUNREACH, f"cannot find computer {dest.host or dest.name!r}: {why}; give its IPv4 address"
        )
    return found[0], how


def resolve_name(name: str, config: Config | None = None, *, dns: bool = True) -> list[str]:
    """Addresses of computer ``name`` as lanmsg finds them (docs/names.md): an address as written;
    a DNS name (it has a dot) through the system resolver; a NetBIOS name in the hosts file, the
    name cache, WINS and a broadcast NAME QUERY (RFC 1002), then where it was last heard from.
    ``dns`` False: the NetBIOS name service only.  MailslotNameError for text that is no
    computer's name (a typo'd address, a group); MailslotError when nothing knows the name."""
    config = config if config is not None else Config.from_env()
    lookup = NameLookup(name, config, dns=dns)
    found = lookup.wait()
    if found:
        return found
    raise MailslotError(
        errno.EHOSTUNREACH, f"cannot find computer {name.strip()!r}: {lookup.error}; give its IPv4 address"
    )


# --------------------------------------------------------------------------
# python -m mailslot: a small debugging CLI
# --------------------------------------------------------------------------

EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_SYSTEM = 0, 1, 2, 3


def add_transport_arguments(parser: argparse._ActionsContainer) -> None:
    """The options every mailslot command takes (shared with lanmsg's CLI); ``parser`` may be an
    argument group, so that help lists them under their own heading."""
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        help=f"native (Windows kernel32) or netbios (UDP); default {default_transport()} (env LANMSG_TRANSPORT)",
    )
    parser.add_argument(
        "--port",
        type=int,
        metavar="UDP_PORT",
        help="UDP port of the netbios transport, the same on every peer (default 138, env LANMSG_PORT)",
    )
    parser.add_argument(
        "--workgroup", metavar="NAME", help="workgroup or domain name (default WORKGROUP, env LANMSG_WORKGROUP)"
    )
    parser.add_argument(
        "--name", metavar="NAME", help="this computer's NetBIOS name (default the host name, env LANMSG_NAME)"
    )
    parser.add_argument(
        "--broadcast",
        action="append",
        metavar="ADDRESS",
        help="broadcast address for group writes, repeatable (default every up IPv4 "
        "interface, env LANMSG_BROADCAST); 127.255.255.255 keeps them on this machine",
    )
    parser.add_argument(
        "--wins",
        action="append",
        metavar="ADDRESS",
        help="WINS server: register this computer's name there and ask it first when resolving, "
        "repeatable (default none, env LANMSG_WINS)",
    )
    parser.add_argument(
        "--ns-port",
        type=int,
        metavar="UDP_PORT",
        help="UDP port of the NetBIOS name service (default 137 with --port 138, else 0: off; env LANMSG_NS_PORT)",
    )
    parser.add_argument(
        "--oem-encoding",
        metavar="CODEPAGE",
        help=f"DOS code page of NetBIOS names, for names that are not ASCII (default {DEFAULT_OEM_ENCODING}, "
        "as Samba's 'dos charset'; env LANMSG_OEM_ENCODING)",
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
        oem_encoding=getattr(args, "oem_encoding", None),
    )


def suspend_on_ctrl_z(before: Callable[[], object] | None = None, after: Callable[[], object] | None = None) -> None:
    """Ctrl-Z (SIGTSTP) stops this process as usual, but first gives up its shared UDP sockets
    (suspend()), and takes them back when it runs again (resume()), so that the other lanmsg
    processes of the host keep receiving their unicasts meanwhile.  ``before`` and ``after`` run
    around the stop (a full-screen program restores and redraws its terminal there).  Main thread,
    POSIX only; elsewhere nothing happens."""
    import signal

    tstp = getattr(signal, "SIGTSTP", None)
    if tstp is None:
        return

    def on_tstp(signum: int, frame: object) -> None:
        if before is not None:
            before()
        suspend()
        signal.signal(tstp, signal.SIG_DFL)
        os.kill(os.getpid(), tstp)  # stops here until SIGCONT
        signal.signal(tstp, on_tstp)
        resume()
        if after is not None:
            after()

    try:
        signal.signal(tstp, on_tstp)
    except (ValueError, OSError):
        pass  # not the main thread


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


if TYPE_CHECKING:
    from typing import NoReturn

CLI_TOOL = "python -m mailslot"
CLI_TRY_FIRST = """try first, in two terminals on this machine:
  python -m mailslot listen foxapp          print each message written to \\\\.\\mailslot\\foxapp
  python -m mailslot send . foxapp hello    write one message to it
and:
  python -m mailslot resolve DESK3011       a Windows computer's IPv4 address, by its NetBIOS name"""
# name: (summary, usage after the command's name, examples, exit codes)
CLI_COMMANDS = {
    "listen": (
        "create mailslot SLOT on this machine and print each message written to it, until Ctrl-C",
        "[--count N] [--timeout SECONDS] [TRANSPORT OPTIONS] SLOT",
        """  python -m mailslot listen foxapp
  python -m mailslot listen --count 1 --timeout 10 foxapp   one message, or exit 1 after 10 s""",
        """  0  stopped (Ctrl-C, SIGTERM), or --count messages printed
  1  no message within --timeout
  2  bad usage or input (e.g. an invalid mailslot name)
  3  transport or system error (e.g. SLOT exists on this machine, port privilege)""",
    ),
    "send": (
        "write one message to mailslot SLOT on TARGET",
        "[--hex HEX] [TRANSPORT OPTIONS] TARGET SLOT [TEXT]",
        """  python -m mailslot send . foxapp hello        to this machine
  python -m mailslot send '*' foxapp hello      to every computer of the workgroup
  python -m mailslot send DESK3011 foxapp --hex 00ff10""",
        """  0  written (a mailslot write is never confirmed)
  2  bad usage or input (e.g. no TEXT nor --hex, a message too long): nothing was sent
  3  transport or system error (e.g. no mailslot SLOT on this machine, TARGET not found)""",
    ),
    "resolve": (
        "print the IPv4 addresses of computer HOST (hosts file, NetBIOS name service: WINS, broadcast; DNS)",
        "[--no-dns] [TRANSPORT OPTIONS] HOST",
        """  python -m mailslot resolve DESK3011
  python -m mailslot resolve --no-dns --wins 10.0.0.1 DESK3011""",
        """  0  found: one address per line
  1  nothing knows HOST (the error says what was asked)
  2  bad usage or input (text that names no computer)
  3  transport or system error""",
    ),
}


def cli_overview() -> str:
    """What ``python -m mailslot`` alone prints."""
    return (
        f"{CLI_TOOL}: Windows mailslots on every OS; a small tool to watch and write them.\n\n"
        f"{CLI_TRY_FIRST}\n\n"
        f"commands: {', '.join(CLI_COMMANDS)}\n"
        f"'{CLI_TOOL} COMMAND --help' shows a command's options, examples and exit codes.\n"
    )


def cli_parser() -> argparse.ArgumentParser:
    """python -m mailslot's parser (its man page and the docs test read it too)."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            sys.stderr.write(f"mailslot: error: {message}; '{self.prog} --help' shows the usage\n")
            sys.exit(EXIT_USAGE)

    formatter = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog=CLI_TOOL,
        usage=f"{CLI_TOOL} COMMAND [ARGUMENTS]",
        description="Mailslots on every OS: listen on a mailslot, write one message, or find a computer's address.",
        epilog=f"{CLI_TRY_FIRST}\n\nexit codes: 0 ok, 1 nothing received or found in time, "
        "2 bad usage or input, 3 transport or system error",
        formatter_class=formatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", prog=CLI_TOOL, parser_class=Parser)
    parsers = {}
    for name, (summary, usage, examples, codes) in CLI_COMMANDS.items():
        parsers[name] = sub.add_parser(
            name,
            help=summary,
            usage=f"{CLI_TOOL} {name} {usage}",
            description=summary[:1].upper() + summary[1:] + ".",
            epilog=f"examples:\n{examples}\n\nexit codes:\n{codes}",
            formatter_class=formatter,
        )
    p = parsers["listen"]
    p.add_argument("slot", metavar="SLOT", help="the mailslot's name, e.g. foxapp (\\\\.\\mailslot\\SLOT)")
    p.add_argument("--count", type=int, metavar="N", help="exit 0 after N messages (default: never)")
    p.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="exit 1 when no message comes for SECONDS (default: wait)"
    )
    p = parsers["send"]
    p.add_argument(
        "target",
        metavar="TARGET",
        help="'.' this machine, '*' every computer of the workgroup, a computer's name or IPv4 address, "
        "or the workgroup's name",
    )
    p.add_argument("slot", metavar="SLOT", help="the mailslot's name, e.g. foxapp")
    p.add_argument("text", metavar="TEXT", nargs="?", default=None, help="the message, sent as UTF-8")
    p.add_argument("--hex", metavar="HEX", help="send these bytes, written in hex (00ff10), instead of TEXT")
    p = parsers["resolve"]
    p.add_argument("host", metavar="HOST", help="a computer's name, e.g. DESK3011 (or a DNS name)")
    p.add_argument("--no-dns", action="store_true", help="ask the NetBIOS name service only, not the hosts file or DNS")
    for p in parsers.values():
        add_transport_arguments(p.add_argument_group("transport options", "the same on every command"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        sys.stderr.write(cli_overview())
        return EXIT_USAGE
    if hasattr(sys.stdout, "reconfigure"):  # a message the console cannot encode must not end listen
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        config = config_from_args(args)
        if args.command == "resolve":
            try:
                found = resolve_name(args.host, config, dns=not args.no_dns)
            except MailslotError as e:
                _cli_error(e.strerror)
                return EXIT_NOTHING
            print("\n".join(found), flush=True)
            return EXIT_OK
        _stop_on_sigterm()
        if args.command == "send":
            if (args.text is None) == (args.hex is None):
                parser.error("send: give TEXT or --hex HEX (one of them)")
            data = bytes.fromhex(args.hex) if args.hex is not None else args.text.encode("utf-8")
            n = write(args.target, args.slot, data, transport=args.transport, config=config)
            print(f"wrote {n} bytes to \\\\{args.target}\\mailslot\\{normalize_mailslot_name(args.slot)}")
            return EXIT_OK
        with Mailslot(args.slot, transport=args.transport, config=config) as slot:
            suspend_on_ctrl_z()
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
                    _cli_error(
                        f"no message within {args.timeout:g} s on \\\\.\\mailslot\\{slot.name}; "
                        "writers must use the same transport and --port (a longer --timeout waits longer)"
                    )
                    return EXIT_NOTHING
                print(describe(msg), flush=True)
                seen += 1
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK
    except (ValueError, MailslotNameError) as e:
        _cli_error(e)
        return EXIT_USAGE
    except MailslotExistsError as e:
        _cli_error(
            f"{e.strerror}: stop that program, or use another mailslot name, or another --port "
            "(each UDP port is a machine of its own)"
        )
        return EXIT_SYSTEM
    except OSError as e:
        _cli_error(e.strerror or e)
        return EXIT_SYSTEM


def _cli_error(message: object) -> None:
    """The one line a failure of ``python -m mailslot`` prints."""
    sys.stderr.write(f"mailslot: error: {printable(str(message).encode('utf-8'))}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
