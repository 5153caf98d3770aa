"""Wireshark's dissector judges the datagrams mailslot.py really sends.

Each test sends with the public API (``mailslot.write`` over the ``netbios``
transport, real sockets, nothing faked), captures the datagrams on the
loopback interface and asks ``tshark -V`` to dissect them.  A datagram passes
when Wireshark shows a NetBIOS Datagram Service carrying an SMB Trans request
and an SMB MailSlot Protocol write, with the source name, destination name,
mailslot name and data the test sent, and reports nothing malformed and no
expert warning or error.

Capturing.  As root, ``tshark -i lo`` captures live, filtered on the test's
random UDP port.  Where dumpcap cannot capture (not root, no CAP_NET_RAW) the
datagrams are received on plain UDP sockets and written to a pcap file here
(Ethernet / IPv4 / UDP headers around the payload each socket received):
still the bytes that went through the kernel, and a warning says so.
``LANMSG_TSHARK_CAPTURE=live|socket`` forces one way (live then fails
rather than falling back).  In both modes the receiving sockets are open, and a
live capture must match what they received.  The pcap writer is itself
judged: every vector in tests/vectors goes through it and through tshark.

Everything stays on loopback: group writes go to 127.255.255.255 (conftest
forces LANMSG_BROADCAST) and unicast writes go to 127.0.0.2.  A write to a
computer *name* is put on the wire even when its address is a loopback one
(only ".", this computer's own name, or a bare local IP are handed over
locally), so ``write("PEER", ..., address="127.0.0.2")`` sends a real
DIRECT_UNIQUE datagram; 127.0.0.2 rather than 127.0.0.1 lets a plain socket
bound to 127.0.0.2 receive it (with 127.0.0.1 the short-lived sending socket,
bound to *:port and connected to 127.0.0.1:port, is the best match and takes
its own datagram back).

After the writes a marker datagram is sent to the same port; the capture
stops once it has the expected number of packets plus the marker, and the
marker must come last, so "exactly these datagrams and nothing else before
the marker" is checked without any timing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings

import pytest

import mailslot

TSHARK = shutil.which("tshark")
VECTORS = pathlib.Path(__file__).parent / "vectors"
MARKER = b"lanmsg test_tshark end-of-capture marker"
IP_PKTINFO = getattr(socket, "IP_PKTINFO", None) or (8 if sys.platform.startswith("linux") else None)
GUARD_S = 30.0  # upper bound on any wait here; never an assertion about speed

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(
        TSHARK is None,
        reason="tshark (Wireshark's dissector) is not installed; scripts/install-test-tools.sh installs it as root",
    ),
]


# --------------------------------------------------------------------------
# pcap files: a writer (socket mode, vectors) and a reader (live captures)
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Udp:
    """One UDP datagram: addresses, ports and the payload bytes."""

    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228


def _inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet_frame(d: Udp) -> bytes:
    """Ethernet II (zero MACs, as Linux shows lo) + IPv4 + UDP, lengths and checksums right."""
    src, dst = socket.inet_aton(d.src), socket.inet_aton(d.dst)
    udp_len = 8 + len(d.payload)
    udp = struct.pack("!HHHH", d.sport, d.dport, udp_len, 0) + d.payload
    csum = _inet_checksum(src + dst + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, socket.IPPROTO_UDP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _inet_checksum(ip)) + ip[12:]
    return bytes(12) + b"\x08\x00" + ip + udp


def write_pcap(path: pathlib.Path, datagrams, when=None) -> None:
    """Classic pcap (microsecond timestamps, linktype Ethernet)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 0xFFFF, LINKTYPE_ETHERNET))
        for i, d in enumerate(datagrams):
            t = when[i] if when else 1.0 + i / 1000
            frame = ethernet_frame(d)
            f.write(struct.pack("<IIII", int(t), int(t % 1 * 1e6), len(frame), len(frame)) + frame)


def read_pcap(path: pathlib.Path) -> list[Udp]:
    """The IPv4/UDP datagrams of a classic pcap file (as dumpcap writes with -F pcap)."""
    raw = path.read_bytes()
    magic = raw[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise AssertionError(f"{path.name} is not a classic pcap file (magic {magic.hex()})")
    linktype = struct.unpack_from(endian + "I", raw, 20)[0] & 0x0FFFFFFF
    out, pos = [], 24
    while pos + 16 <= len(raw):
        incl, orig = struct.unpack_from(endian + "II", raw, pos + 8)
        frame = raw[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        assert incl == orig, f"capture truncated a packet ({incl} of {orig} bytes)"
        if linktype == LINKTYPE_ETHERNET:
            if frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
        elif linktype == LINKTYPE_LINUX_SLL:
            if frame[14:16] != b"\x08\x00":
                continue
            ip = frame[16:]
        elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
            ip = frame
        else:
            raise AssertionError(f"unexpected pcap linktype {linktype}")
        if ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        sport, dport, udp_len = struct.unpack_from("!HHH", ip, ihl)
        assert ihl + udp_len == total, "IPv4 total length and UDP length disagree"
        out.append(
            Udp(
                socket.inet_ntoa(ip[12:16]),
                sport,
                socket.inet_ntoa(ip[16:20]),
                dport,
                bytes(ip[ihl + 8 : ihl + udp_len]),
            )
        )
    return out


# --------------------------------------------------------------------------
# Getting real datagrams off loopback
# --------------------------------------------------------------------------


def capture_mode() -> str:
    """ "live", "socket", or "auto" (live when dumpcap can capture here, else socket)."""
    forced = os.environ.get("LANMSG_TSHARK_CAPTURE", "")
    assert forced in ("", "live", "socket"), f"LANMSG_TSHARK_CAPTURE={forced!r}: use live or socket"
    if forced:
        return forced
    if _live_capture_failed or not shutil.which("dumpcap"):
        return "socket"
    return "auto"


_live_capture_failed: list = []  # why live capture could not start (then socket mode for the session)


class _Receiver:
    """A plain UDP socket on one loopback address and the test port (it shares the port)."""

    def __init__(self, address: str, port: int):
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if IP_PKTINFO is not None:
            self.sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        self.sock.bind((address, port))
        self.port = port
        self.got: list[tuple[float, Udp]] = []

    def take(self) -> None:
        payload, anc, _, peer = self.sock.recvmsg(0x10000, socket.CMSG_SPACE(12))
        dst = self.address or "127.0.0.1"
        for level, kind, data in anc:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
                dst = socket.inet_ntoa(data[8:12])  # in_pktinfo.ipi_addr: the header's destination
        self.got.append((time.time(), Udp(peer[0], peer[1], dst, self.port, payload)))

    def close(self) -> None:
        self.sock.close()


class _LiveCapture:
    """``tshark -i lo`` writing a pcap file; wait_started() returns once dumpcap is capturing."""

    def __init__(self, pcap: pathlib.Path, port: int, packets: int):
        self.pcap = pcap
        self.stderr: list[str] = []
        self._started = threading.Event()
        self.proc = subprocess.Popen(
            [
                TSHARK,
                "-i",
                "lo",
                "-f",
                f"udp port {port}",
                "-w",
                str(pcap),
                "-F",
                "pcap",
                "-c",
                str(packets),
                "-a",
                f"duration:{int(GUARD_S)}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))
            if "Capture started" in line:
                self._started.set()
        self._started.set()  # exited: wake the waiter

    def wait_started(self) -> bool:
        self._started.wait(GUARD_S)
        if self.proc.poll() is not None or not any("Capture started" in s for s in self.stderr):
            self.stop()
            return False
        return True

    def wait_done(self) -> None:
        try:
            self.proc.wait(GUARD_S + 5)
        except subprocess.TimeoutExpired:
            pass
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # dumpcap closes the file cleanly
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self.proc.stderr.close()


@dataclasses.dataclass
class Wire:
    """What a test's writes put on the wire."""

    pcap: pathlib.Path
    datagrams: list[Udp]  # the test's datagrams, in wire order (the marker removed)
    mode: str


def on_the_wire(tmp_path: pathlib.Path, port: int, send, *, expect: int, listen=("",)) -> Wire:
    """Run ``send()`` and return the datagrams it put on loopback UDP ``port``.

    ``expect``: how many datagrams the writes must produce (0 for none).
    ``listen``: addresses where plain receiving sockets are bound during the send.
    """
    mode = capture_mode()
    pcap = tmp_path / "capture.pcap"
    receivers = [_Receiver(a, port) for a in listen]
    capture = None
    try:
        if mode in ("live", "auto"):
            capture = _LiveCapture(pcap, port, expect + 1)
            if capture.wait_started():
                mode = "live"
            else:
                why = "\n".join(capture.stderr)
                capture = None
                if mode == "live":
                    pytest.fail("tshark could not start a live capture on lo:\n" + why)
                _live_capture_failed.append(why)
                warnings.warn(
                    "tshark cannot capture live here (not root?); datagrams are received on "
                    "sockets and written to a pcap file instead:\n" + why,
                    stacklevel=2,
                )
                mode = "socket"
        try:
            send()
        finally:
            marker_to = listen[0] or "127.0.0.1"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(MARKER, (marker_to, port))
        # collect what the sockets received: every expected datagram and the marker
        deadline = time.monotonic() + GUARD_S
        while time.monotonic() < deadline:
            got = [u for r in receivers for _, u in r.got]
            if sum(u.payload == MARKER for u in got) and len(got) >= expect + 1:
                break
            ready, _, _ = select.select([r.sock for r in receivers], [], [], 0.2)
            for r in receivers:
                if r.sock in ready:
                    r.take()
        received = sorted(((t, u) for r in receivers for t, u in r.got), key=lambda x: x[0])
        if capture is not None:
            capture.wait_done()
    finally:
        if capture is not None:
            capture.stop()
        for r in receivers:
            r.close()

    received_payloads = [u.payload for _, u in received]
    assert MARKER in received_payloads, "the end-of-capture marker never arrived on the receiving socket"
    if mode == "socket":
        received = [x for x in received if x[1].payload != MARKER] + [x for x in received if x[1].payload == MARKER]
        write_pcap(pcap, [u for _, u in received], [t for t, _ in received])
    wire = read_pcap(pcap)
    payloads = [u.payload for u in wire]
    assert payloads and payloads[-1] == MARKER, (
        f"expected {expect} datagram(s) and then the marker on the wire; got {len(wire)} packet(s) "
        f"ending with {payloads[-1][:40]!r}"
        if payloads
        else "nothing was captured"
    )
    ours = wire[:-1]
    assert MARKER not in [u.payload for u in ours]
    assert len(ours) == expect, f"the writes put {len(ours)} datagram(s) on the wire, expected {expect}"
    if mode == "live":
        assert sorted(p for p in received_payloads if p != MARKER) == sorted(u.payload for u in ours), (
            "the receiving sockets did not get exactly the datagrams the capture saw"
        )
    return Wire(pcap, ours, mode)


# --------------------------------------------------------------------------
# tshark as the judge
# --------------------------------------------------------------------------

FIELDS = (
    "nbdgm.type",
    "nbdgm.dgram_id",
    "nbdgm.src.ip",
    "nbdgm.src.port",
    "nbdgm.dgram_len",
    "nbdgm.source_name",
    "nbdgm.destination_name",
    "smb.trans_name",
    "smb.data_offset",
    "smb.dc",
    "mailslot.opcode",
    "mailslot.priority",
    "mailslot.class",
    "mailslot.name",
    "data.data",
    "udp.payload",
    "udp.length",
    "ip.len",
    "ip.checksum.status",
    "udp.checksum.status",
)


@dataclasses.dataclass
class Dissected:
    number: int
    text: str  # this frame's `tshark -V` output
    fields: dict

    @property
    def layers(self) -> list[str]:
        """Top-level lines of the -V tree (one per protocol), hex dumps left out."""
        return [
            ln for ln in self.text.splitlines() if ln and not ln[0].isspace() and not re.match(r"[0-9a-f]{4}  ", ln)
        ]

    def shown(self, label: str) -> str:
        """The value tshark -V shows for ``label`` (first occurrence)."""
        m = re.search(rf"^\s*{re.escape(label)}: (.*)$", self.text, re.M)
        assert m, f"frame {self.number}: tshark -V shows no {label!r}:\n{self.text}"
        return m.group(1)


def _tshark(args) -> str:
    proc = subprocess.run([TSHARK, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"tshark {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout


def dissect(pcap: pathlib.Path, port: int, frames: int, *, verify_checksums: bool = False) -> list[Dissected]:
    """Dissect frames 1..frames of ``pcap`` with UDP ``port`` decoded as NetBIOS datagrams."""
    common = ["-r", str(pcap), "-d", f"udp.port=={port},nbdgm"]
    if verify_checksums:
        common += ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    only = f"frame.number <= {frames}"
    verbose = _tshark([*common, "-V", "-Y", only])
    blocks = re.split(r"^(?=Frame \d+: )", verbose, flags=re.M)
    blocks = [b for b in blocks if b.startswith("Frame ")]
    table = _tshark(
        common
        + ["-Y", only, "-T", "fields", "-E", "header=n", "-E", "occurrence=f"]
        + [a for f in FIELDS for a in ("-e", f)]
    )
    rows = [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in table.splitlines()]
    assert len(blocks) == len(rows) == frames, f"tshark dissected {len(blocks)} frame(s), expected {frames}"
    expert = _tshark([*common, "-q", "-z", f"expert,warn,{only}"])
    assert not re.search(r"^(Errors|Warnings) \(\d+\)", expert, re.M), f"tshark expert info:\n{expert}"
    return [Dissected(i + 1, b, r) for i, (b, r) in enumerate(zip(blocks, rows, strict=True))]


def assert_clean_mailslot_write(f: Dissected) -> None:
    """Wireshark sees a whole, well-formed mailslot write with no complaint."""
    layers = f.layers
    want = ["NetBIOS Datagram Service", "SMB (Server Message Block Protocol)", "SMB MailSlot Protocol"]
    tops = [next((i for i, ln in enumerate(layers) if ln.startswith(w)), None) for w in want]
    assert None not in tops and tops == sorted(tops), (
        f"frame {f.number}: expected layers {want} in order, tshark shows {layers}"
    )
    assert "Malformed" not in f.text, f"frame {f.number} is malformed for tshark:\n{f.text}"
    assert not re.search(r"Expert Info \((Warning|Error)/", f.text), (
        f"frame {f.number}: tshark expert warning/error:\n{f.text}"
    )
    assert f.shown("Opcode") == "Write Mail Slot (1)"
    assert f.shown("Class") == "Unreliable & Broadcast (2)"


def assert_written(
    f: Dissected, wire: Udp, *, msg_type: str, source: str, destination: str, mailslot_name: str, data: bytes
) -> None:
    """tshark shows the datagram the test wrote: types, names, mailslot and data."""
    assert_clean_mailslot_write(f)
    assert f.shown("Message Type") == msg_type
    assert f.shown("Source name").split(" ")[0] == source
    assert f.shown("Destination name").split(" ")[0] == destination
    assert f.shown("Mailslot Name") == mailslot_name
    assert f.shown("Transaction Name") == mailslot_name
    assert f.shown("Data Count") == str(len(data))
    assert f.shown("Total Data Count") == str(len(data))
    assert f.fields["data.data"] == data.hex(), f"frame {f.number}: tshark found other data bytes"
    # the counts agree with each other (tshark itself does not complain about these)
    data_offset = int(f.shown("Data Offset"))
    assert data_offset % 4 == 0, "Windows' WriteFile profile aligns the data to 4 bytes"
    assert int(f.shown("Byte Count (BCC)")) == data_offset - 69 + len(data)  # name, NUL, padding, data
    assert 14 + 2 * 34 + data_offset + len(data) == len(wire.payload)  # data ends the datagram
    # the header tells the truth about where it came from
    assert f.fields["nbdgm.src.ip"] == wire.src
    assert int(f.fields["nbdgm.src.port"]) == wire.sport
    assert int(f.fields["nbdgm.dgram_len"]) == len(wire.payload) - 14
    assert f.fields["udp.payload"] == wire.payload.hex()


# --------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------

# Loopback broadcast (127.255.255.255), the interface name "lo" and IP_PKTINFO are Linux's.
linux_loopback = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="captures on Linux's loopback interface"
)


@pytest.fixture
def cfg(config):
    """The netbios-transport settings of this test (random port, loopback broadcast)."""
    assert config.broadcast == ("127.255.255.255",)
    return config


@linux_loopback
def test_group_write_to_star_is_a_clean_direct_group_datagram(tmp_path, port, cfg):
    data = b"hello from lanmsg"
    wire = on_the_wire(tmp_path, port, lambda: mailslot.write("*", "foxapp", data, config=cfg), expect=1)
    (d,) = wire.datagrams
    assert (d.dst, d.sport, d.dport) == ("127.255.255.255", port, port)
    (f,) = dissect(wire.pcap, port, 1, verify_checksums=wire.mode == "socket")
    assert_written(
        f,
        d,
        msg_type="Direct_group datagram (17)",
        source=f"{cfg.name}<00>",
        destination=f"{cfg.workgroup}<00>",
        mailslot_name="\\MAILSLOT\\foxapp",
        data=data,
    )


@linux_loopback
def test_unicast_to_a_computer_name_is_a_clean_direct_unique_datagram(tmp_path, port, cfg):
    data = "unicast text, UTF-8: \u00e9\u00e8".encode()
    wire = on_the_wire(
        tmp_path,
        port,
        lambda: mailslot.write("PEER", "foxapp", data, address="127.0.0.2", config=cfg),
        expect=1,
        listen=("127.0.0.2",),
    )
    (d,) = wire.datagrams
    assert (d.dst, d.sport, d.dport) == ("127.0.0.2", port, port)
    (f,) = dissect(wire.pcap, port, 1, verify_checksums=wire.mode == "socket")
    assert_written(
        f,
        d,
        msg_type="Direct_unique datagram (16)",
        source=f"{cfg.name}<00>",
        destination="PEER<00>",
        mailslot_name="\\MAILSLOT\\foxapp",
        data=data,
    )


@linux_loopback
@pytest.mark.parametrize("name", ["fox42", "foxapp", "foxapp12"])
def test_largest_message_for_a_5_to_8_character_name(tmp_path, port, cfg, name):
    assert mailslot.max_remote_payload(name) == 424
    data = bytes((i * 7 + 3) & 0xFF for i in range(424))
    wire = on_the_wire(tmp_path, port, lambda: mailslot.write("*", name, data, config=cfg), expect=1)
    (d,) = wire.datagrams
    (f,) = dissect(wire.pcap, port, 1, verify_checksums=wire.mode == "socket")
    assert_written(
        f,
        d,
        msg_type="Direct_group datagram (17)",
        source=f"{cfg.name}<00>",
        destination=f"{cfg.workgroup}<00>",
        mailslot_name="\\MAILSLOT\\" + name,
        data=data,
    )
    # [MS-MAIL] 2.1: the SMB part is exactly the 512 bytes Windows allows; data 4-byte aligned
    assert len(d.payload) - 14 - 2 * 34 == 512
    assert f.shown("Data Offset") == "88"


@linux_loopback
def test_nested_mailslot_name(tmp_path, port, cfg):
    data = b"nested"
    wire = on_the_wire(tmp_path, port, lambda: mailslot.write("*", "a\\b\\c", data, config=cfg), expect=1)
    (f,) = dissect(wire.pcap, port, 1, verify_checksums=wire.mode == "socket")
    assert_written(
        f,
        wire.datagrams[0],
        msg_type="Direct_group datagram (17)",
        source=f"{cfg.name}<00>",
        destination=f"{cfg.workgroup}<00>",
        mailslot_name="\\MAILSLOT\\a\\b\\c",
        data=data,
    )


@linux_loopback
@pytest.mark.parametrize("target", ["*", "PEER"])
def test_425_bytes_to_a_6_character_name_raises_and_sends_nothing(tmp_path, port, cfg, target):
    raised = []

    def send():
        with pytest.raises(mailslot.MessageTooLargeError) as info:
            mailslot.write(target, "foxapp", b"x" * 425, address="127.0.0.2", config=cfg)
        raised.append(info.value)

    wire = on_the_wire(tmp_path, port, send, expect=0, listen=("", "127.0.0.2"))
    assert wire.datagrams == []
    (e,) = raised
    assert (e.size, e.limit) == (425, 424)
    assert "425" in str(e) and "424" in str(e) and "nothing was sent" in str(e)


def _vector(stem):
    text = (VECTORS / f"{stem}.hex").read_text()
    payload = bytes.fromhex(" ".join(ln for ln in text.splitlines() if not ln.startswith("#")))
    return payload, json.loads((VECTORS / f"{stem}.json").read_text())


def test_every_vector_dissects_cleanly_through_our_pcap_writer(tmp_path, port):
    stems = sorted(p.stem for p in VECTORS.glob("*.hex"))
    assert stems, "no vectors found"
    vectors = [_vector(s) for s in stems]
    frames = [
        Udp("127.0.0.1", 138, "127.255.255.255" if want["msg_type"] != 0x10 else "127.0.0.2", port, payload)
        for payload, want in vectors
    ]
    pcap = tmp_path / "vectors.pcap"
    write_pcap(pcap, frames)
    assert [u.payload for u in read_pcap(pcap)] == [p for p, _ in vectors]
    dissected = dissect(pcap, port, len(frames), verify_checksums=True)
    for stem, (payload, want), f in zip(stems, vectors, dissected, strict=True):
        assert_clean_mailslot_write(f)
        fl = f.fields
        # the pcap writer: tshark sees the whole payload with right lengths and checksums
        assert fl["udp.payload"] == payload.hex(), stem
        assert int(fl["udp.length"]) == 8 + len(payload) and int(fl["ip.len"]) == 28 + len(payload), stem
        assert (fl["ip.checksum.status"], fl["udp.checksum.status"]) == ("1", "1"), f"{stem}: bad checksum"
        # tshark's reading agrees with the vector's recorded fields
        assert int(fl["nbdgm.type"]) == want["msg_type"], stem
        assert int(fl["nbdgm.dgram_id"], 0) == want["dgm_id"], stem
        assert fl["nbdgm.src.ip"] == want["source_ip"], stem
        assert int(fl["nbdgm.src.port"]) == want["source_port"], stem
        assert int(fl["nbdgm.dgram_len"]) == want["dgm_length"], stem
        assert fl["nbdgm.source_name"].lower() == want["source_name"].lower(), stem
        assert fl["nbdgm.destination_name"].lower() == want["destination_name"].lower(), stem
        assert fl["mailslot.name"] == want["mailslot"], stem
        assert int(fl["mailslot.priority"]) == want["priority"], stem
        assert int(fl["mailslot.class"]) == want["class"], stem
        assert int(fl["smb.data_offset"]) == want["data_offset"], stem
        if fl["data.data"]:  # \MAILSLOT\BROWSE data goes to the browser dissector instead
            assert fl["data.data"] == want["data_hex"], stem
        else:
            assert "Microsoft Windows Browser Protocol" in f.layers, f"{stem}: {f.layers}"
