"""A client of Samba nmbd's "unexpected" packet socket (stdlib only; lanmsg will adopt it).

Where Samba's nmbd runs, it binds UDP 137 and 138 on the host's own address, so
a *unicast* NetBIOS packet to that address reaches nmbd and never a program
bound to 0.0.0.0 (tests/test_lab_samba_coexist.py).  nmbd hands every packet it
does not use itself to the clients of a unix stream socket,
``<nmbd:socket dir>/unexpected``; Samba's own tools (nmblookup, winbindd, the
NetLogon GetDC code) read their replies that way.  This module is such a client.

The protocol (Samba source3/libsmb/unexpected.c; the same from 4.x through
master).  All integers are in the host's native byte order and C struct layout
(below: x86_64 and every other LP64 Linux).

* Connect a ``SOCK_STREAM`` unix socket to ``<socket dir>/unexpected``.  nmbd
  creates it with umask 0 (mode 0777) in a directory of mode 0755 owned by root,
  so any local user may connect.
* Send one query, ``struct nb_packet_query`` (24 bytes) followed by
  ``mailslot_namelen`` bytes of mailslot name (no NUL)::

      0  int    type              0 NMB_PACKET (UDP 137), 1 DGRAM_PACKET (UDP 138)
      4  (4 bytes padding)
      8  size_t mailslot_namelen  0: no filter; at most 1024, else nmbd hangs up
     16  int    trn_id            NMB only: -1 any, else only that TRN_ID
     20  (4 bytes padding)

  The name filter (DGRAM only) is ``memcmp(smb_buf, name, namelen + 1)`` on the
  SMB bytes of the datagram: exact and **case-sensitive**, NUL included, no
  check that the datagram is an SMB at all.  ``trn_id`` does not filter
  datagrams; Samba's clients send -1.
* nmbd answers one byte, 0x00 (the ack).  From then on the client must never
  write: any byte it sends, or its EOF, makes nmbd drop it.
* Then, for every packet nmbd dispatches that matches the query, nmbd writes
  ``struct nb_packet_client_header`` (32 bytes) and ``len`` bytes of packet::

      0  size_t len        bytes of packet that follow (nmbd's buffer: 1024)
      8  int    type       NMB_PACKET / DGRAM_PACKET
     12  (4 bytes padding)
     16  time_t timestamp  when nmbd read it (seconds since the epoch)
     24  struct in_addr ip UDP source address (network byte order)
     28  int    port       UDP source port (host order)

  The packet is *rebuilt* by nmbd (``build_packet`` of what ``parse_packet``
  made of the UDP payload), not the bytes received: the DGM_LENGTH is
  recomputed, reserved FLAGS bits and anything past the 576 bytes nmbd reads
  from its socket are gone.  For a well-formed datagram of at most 576 bytes
  the rebuilt bytes are the bytes sent (measured: tests/test_lab_nmbd_unexpected.py).

* Several clients each get their own copy.  nmbd keeps at most
  ``nmbd:unexpected_clients`` (default 200) and disconnects the *oldest* one
  beyond that; it skips (drops packets for) a client with more than 10 writes
  queued, that is one that stopped reading.  An nmbd restart re-creates the
  socket: existing clients see EOF and must connect again.

    with NmbdUnexpected(find_socket() or "/run/samba/nmbd/unexpected") as nu:
        select.select([nu], [], [], 5)
        for p in nu.read():
            print(p.source, p.data.hex())

``NmbdUnexpected.read()`` never raises: a malformed or out-of-step stream, an
EOF or a socket error closes the client (``closed`` true, ``close_reason`` says
why) and returns what was already complete.

What nmbd hands on (source3/nmbd/nmbd_packets.c, measured in the lab): every
datagram for a name nmbd does not have, unchecked; for one of its own names
only an SMB_COM_TRANSACTION with DataCount > 0 lying within the datagram and not
for ``\\MAILSLOT\\BROWSE``, ``LANMAN``, ``NET\\NETLOGON``, ``NET\\NTLOGON``
(those nmbd consumes); name-service *responses* to queries nmbd did not send
(never requests).  It reads at most 576 bytes of a datagram: to its own name a
longer one is dropped, to another name it is handed on cut to 576 bytes.  A
broadcast arrives once per nmbd socket that got it (twice), besides the copy on
lanmsg's own 0.0.0.0 socket.

Adopting it in mailslot.py (Linux, port 138 only):

* ``_Receiver`` holds at most one ``NmbdUnexpected(find_socket(), mailslot=None)``
  (nmbd's filter is case-sensitive; lanmsg matches names itself), made only when
  ``trusted_socket_dir()``; when absent or closed it retries now and then (every
  few seconds: nmbd may start later, restart, or drop the oldest client).
* ``fds()`` adds its descriptor; ``pump()`` also takes ``read()`` and passes each
  ``decode_datagram(p.data)`` with peer ``p.source`` through ``classify_incoming``
  to the slots *of this process* (owner or monitor), never ``_forward``: every
  lanmsg process on the host has a client of its own and gets its own copy.
* The slots' duplicate check, keyed on (source address, DGM_ID, CRC of the raw
  bytes), already folds the copies of a broadcast together: the rebuilt bytes of a
  well-formed datagram are the bytes sent.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import struct
import time
from typing import NamedTuple

NMB_PACKET = 0  # enum packet_type (source3/include/nameserv.h)
DGRAM_PACKET = 1
PACKET_TYPES = (NMB_PACKET, DGRAM_PACKET)

SOCKET_NAME = "unexpected"
DEFAULT_SMB_CONF = "/etc/samba/smb.conf"
# Samba's compiled-in NMBDSOCKETDIR = ${SOCKET_DIR}/nmbd: /run/samba/nmbd on Debian/Ubuntu
# (--with-sockets-dir=/run/samba), older distributions /var/run/samba/nmbd, a source build
# /usr/local/samba/var/run/nmbd.  `smbd -b` does not print it.
DEFAULT_SOCKET_DIRS = ("/run/samba/nmbd", "/var/run/samba/nmbd", "/usr/local/samba/var/run/nmbd")

MAILSLOT_FILTER_MAX = 1024  # nb_packet_client_more(): a longer name makes nmbd hang up
PACKET_MAX_BYTES = 0x10000  # nmbd builds at most 1024; beyond 64 KiB the stream is out of step
HANDSHAKE_TIMEOUT_S = 2.0
READ_MAX_BYTES = 1 << 20  # one read() takes at most this much from the socket
RECV_CHUNK = 0x10000


def _time_t_code() -> str:
    """struct code of C time_t: 8 bytes on LP64 and on 32-bit ABIs with 64-bit time."""
    import ctypes

    time_t = getattr(ctypes, "c_time_t", ctypes.c_long)  # ctypes.c_time_t: Python 3.12+
    return "q" if ctypes.sizeof(time_t) == 8 else "l"


# "@": native order, size and alignment; a trailing "0N" pads to size_t alignment as C does.
QUERY = struct.Struct("@iNi0N")  # struct nb_packet_query {type; mailslot_namelen; trn_id}
HEADER = struct.Struct(f"@Ni{_time_t_code()}4si0N")  # struct nb_packet_client_header


class UnexpectedPacket(NamedTuple):
    """One packet nmbd handed on: ``data`` is the UDP payload as nmbd rebuilt it."""

    packet_type: int
    timestamp: int
    source: tuple[str, int]
    data: bytes


def encode_query(packet_type: int = DGRAM_PACKET, trn_id: int = -1, mailslot: str | bytes | None = None) -> bytes:
    """The client's one message: struct nb_packet_query and the mailslot name (ValueError if unusable)."""
    if packet_type not in PACKET_TYPES:
        raise ValueError(f"packet type {packet_type!r} is neither NMB_PACKET (0) nor DGRAM_PACKET (1)")
    if not -1 <= trn_id <= 0xFFFF:
        raise ValueError(f"trn_id {trn_id} is neither -1 nor 0..65535")
    name = mailslot.encode("latin-1") if isinstance(mailslot, str) else (mailslot or b"")
    if len(name) > MAILSLOT_FILTER_MAX or b"\x00" in name:
        raise ValueError(f"mailslot filter {mailslot!r}: at most {MAILSLOT_FILTER_MAX} bytes, no NUL")
    return QUERY.pack(packet_type, len(name), trn_id) + name


def decode_frames(buf: bytearray, limit: int = 1 << 30) -> tuple[list[UnexpectedPacket], str | None]:
    """Take the complete frames (at most ``limit``) off the front of ``buf``.

    Returns the packets and None, or the packets before the trouble and why the
    stream is out of step (a length beyond PACKET_MAX_BYTES or an unknown type).
    """
    packets: list[UnexpectedPacket] = []
    pos = 0
    error: str | None = None
    while len(packets) < limit and len(buf) - pos >= HEADER.size:
        length, packet_type, timestamp, ip, port = HEADER.unpack_from(buf, pos)
        if length > PACKET_MAX_BYTES or packet_type not in PACKET_TYPES or not 0 <= port <= 0xFFFF:
            error = f"bad header: len {length} type {packet_type} port {port}"
            break
        end = pos + HEADER.size + length
        if end > len(buf):
            break
        packets.append(
            UnexpectedPacket(packet_type, timestamp, (socket.inet_ntoa(ip), port), bytes(buf[pos + HEADER.size : end]))
        )
        pos = end
    del buf[:pos]
    return packets, error


class NmbdUnexpected:
    """One connected client of nmbd's unexpected socket at ``path``.

    Construction connects, sends the query and waits (at most ``timeout``) for
    the ack; it raises OSError when nmbd is not there (FileNotFoundError,
    ConnectionRefusedError for a stale socket file), PermissionError, TimeoutError,
    or ConnectionError when nmbd hangs up instead of acknowledging.  ValueError
    for an unusable query.  ``mailslot``: nmbd's case-sensitive filter (see the
    module doc); None asks for every datagram.  Afterwards the socket is
    non-blocking: select() on the object, then ``read()``.
    """

    def __init__(
        self,
        path: str,
        *,
        packet_type: int = DGRAM_PACKET,
        mailslot: str | bytes | None = None,
        trn_id: int = -1,
        timeout: float = HANDSHAKE_TIMEOUT_S,
    ) -> None:
        query = encode_query(packet_type, trn_id, mailslot)
        self.path = path
        self.close_reason: str | None = None
        self._buf = bytearray()
        self._sock: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(path)
            self._sock.sendall(query)
            ack = self._recv_exactly(1, time.monotonic() + timeout)
            if ack != b"\x00":
                raise ConnectionError(f"nmbd's unexpected socket {path}: ack {ack.hex()}, expected 00")
            self._sock.setblocking(False)
        except BaseException:
            self.close("handshake failed")
            raise

    def _recv_exactly(self, n: int, deadline: float) -> bytes:
        assert self._sock is not None
        data = b""
        while len(data) < n:
            self._sock.settimeout(max(0.0, deadline - time.monotonic()))
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"nmbd's unexpected socket {self.path} closed during the handshake")
            data += chunk
        return data

    @property
    def closed(self) -> bool:
        return self._sock is None

    def fileno(self) -> int:
        """The socket's descriptor (-1 once closed) for select()/poll()."""
        return -1 if self._sock is None else self._sock.fileno()

    def read(self, max_packets: int = 1024) -> list[UnexpectedPacket]:
        """Every complete packet already received (up to ``max_packets``); never blocks, never raises."""
        packets, error = decode_frames(self._buf, max_packets)
        taken = 0
        while error is None and self._sock is not None and len(packets) < max_packets and taken < READ_MAX_BYTES:
            try:
                chunk = self._sock.recv(RECV_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                self.close(f"socket error: {e}")
                break
            if not chunk:
                self.close("nmbd closed the connection")
                break
            taken += len(chunk)
            self._buf += chunk
            more, error = decode_frames(self._buf, max_packets - len(packets))
            packets += more
        if error is not None:
            self.close(f"out of step: {error}")
        return packets

    def close(self, reason: str = "closed") -> None:
        if self._sock is not None:
            self.close_reason = reason
            sock, self._sock = self._sock, None
            sock.close()
        self._buf.clear()

    def __enter__(self) -> NmbdUnexpected:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------
# Where the socket is
# --------------------------------------------------------------------------

_SECTION = re.compile(r"^\s*\[([^\]]*)\]")


def configured_socket_dir(conf: str = DEFAULT_SMB_CONF, max_bytes: int = 1 << 20) -> str | None:
    """``nmbd:socket dir`` from the [global] section of smb.conf ``conf``, or None.

    Read as Samba's lib/util/tini.c does: ``#``/``;`` comment lines, a ``\\`` at
    the end of a line joins the next, runs of blanks count as one, keys are
    case-insensitive, the last setting wins.  ``include =`` and ``config file =``
    are not followed.  None as well when the file cannot be read.
    """
    try:
        with open(conf, encoding="utf-8", errors="replace") as f:
            text = f.read(max_bytes)
    except OSError:
        return None
    section = "global"
    found: str | None = None
    for line in re.sub(r"\\[ \t]?\r?\n", "", text).splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        m = _SECTION.match(stripped)
        if m:
            section = m.group(1).strip().lower()
            continue
        if section != "global" or "=" not in stripped:
            continue
        key, value = stripped.split("=", 1)
        if " ".join(key.split()).lower() == "nmbd:socket dir":
            found = " ".join(value.split()) or None
    return found


def is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def find_socket(conf: str = DEFAULT_SMB_CONF) -> str | None:
    """Path of nmbd's unexpected socket: the configured directory's, else the first
    default directory's that holds one; None when there is none (no nmbd, or never
    run).  The configured path is returned when set, even if absent: nmbd may
    start later.  A socket file can outlive its nmbd (ConnectionRefusedError)."""
    configured = configured_socket_dir(conf)
    if configured is not None:
        return os.path.join(configured, SOCKET_NAME)
    for d in DEFAULT_SOCKET_DIRS:
        path = os.path.join(d, SOCKET_NAME)
        if is_socket(path):
            return path
    return None


def trusted_socket_dir(path: str) -> bool:
    """Whether the directory holding socket ``path`` can only have been set up by root or
    by us: owned by uid 0 or our effective uid, not writable by group or others.  Anyone
    who can place a socket there can feed us packets with any source address."""
    try:
        st = os.stat(os.path.dirname(path) or ".")
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid in (0, os.geteuid()) and not st.st_mode & 0o022


NMBD_READ_BYTES = 576  # MAX_DGRAM_SIZE: nmbd's recvfrom() buffer; the rest of a datagram is lost


def max_payload_via_nmbd(mailslot: str, scope: str = "") -> int:
    """Largest mailslot message that still arrives whole through nmbd, for mailslot name
    ``mailslot`` as written on the wire (``\\MAILSLOT\\FOXAPP``) and NetBIOS ``scope``:
    576 bytes less the datagram header (14), the two names (34 each, plus the scope) and the
    SMB up to the data (69 fixed bytes, the name, its NUL, padding to 4 bytes)."""
    names = 2 * (34 + (len(scope) + 1 if scope else 0))
    smb_head = 69 + len(mailslot.encode("latin-1")) + 1
    return max(0, NMBD_READ_BYTES - 14 - names - (smb_head + 3) // 4 * 4)


def smb_mailslot_name(data: bytes) -> bytes | None:
    """The mailslot name bytes nmbd's filter compares (no NUL), or None.

    Samba's ``match_mailslot_name``: the SMB starts after the datagram header
    and the two names; the name is the SMB's byte area, at 35 + 2 * WordCount
    bytes into it.  Only for datagram types 0x10-0x12, which carry names.
    """
    if len(data) < 14 or data[0] not in (0x10, 0x11, 0x12):
        return None
    pos = 14
    for _ in range(2):  # source and destination names: length-prefixed labels
        for _labels in range(64):
            if pos >= len(data):
                return None
            n = data[pos]
            if n == 0:
                pos += 1
                break
            if n & 0xC0:
                return None  # a pointer; datagram names carry none
            pos += 1 + n
        else:
            return None
    if pos + 33 >= len(data):
        return None
    start = pos + 35 + 2 * data[pos + 32]
    end = data.find(b"\x00", start)
    return None if start > len(data) or end < 0 else data[start:end]
