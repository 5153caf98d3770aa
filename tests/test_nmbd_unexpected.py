"""tests/nmbd_unexpected.py against a stand-in for nmbd's unexpected socket (no lab, no Samba).

The stand-in speaks what Samba's source3/libsmb/unexpected.c does: it reads the
24-byte query and the mailslot name, answers one zero byte, then writes
32-byte headers and packets, here in odd pieces, or misbehaves on purpose.
tests/test_lab_nmbd_unexpected.py checks the same module against a real nmbd.
"""

from __future__ import annotations

import os
import random
import select
import socket
import struct
import sys
import threading
import time

import nmbd_unexpected as nu
import pytest

import mailslot

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="unix sockets")


def frame(data: bytes, ip: str = "10.0.0.2", port: int = 138, packet_type: int = nu.DGRAM_PACKET) -> bytes:
    return nu.HEADER.pack(len(data), packet_type, 1_700_000_000, socket.inet_aton(ip), port) + data


class FakeNmbd:
    """A listening unix socket; ``serve(conn, query)`` runs for the one client in a thread."""

    def __init__(self, path: str, serve, ack: bytes | None = b"\x00"):
        self.path, self.serve, self.ack = path, serve, ack
        self.query: bytes | None = None
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            head = b""
            while len(head) < nu.QUERY.size:
                head += conn.recv(nu.QUERY.size - len(head))
            namelen = nu.QUERY.unpack(head)[1]
            name = b""
            while len(name) < namelen:
                name += conn.recv(namelen - len(name))
            self.query = head + name
            if self.ack is not None:
                conn.sendall(self.ack)
            self.serve(conn)

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "unexpected")


def read_until(client: nu.NmbdUnexpected, n: int, timeout: float = 5.0) -> list[nu.UnexpectedPacket]:
    got: list[nu.UnexpectedPacket] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and not client.closed and time.monotonic() < deadline:
        select.select([client], [], [], 0.05)
        got += client.read()
    return got


def test_struct_layouts_are_samba_s_on_lp64():
    if struct.calcsize("@N") != 8:
        pytest.skip("not an LP64 platform")
    assert nu.QUERY.size == 24 and nu.HEADER.size == 32
    q = nu.encode_query(nu.DGRAM_PACKET, -1, "\\MAILSLOT\\FOXAPP")
    if sys.byteorder == "little":
        assert q[:24] == struct.pack("<i4xQi4x", 1, 16, -1)
    assert q[24:] == b"\\MAILSLOT\\FOXAPP"
    assert nu.encode_query(nu.NMB_PACKET, 0x4242) == nu.QUERY.pack(0, 0, 0x4242)


@pytest.mark.parametrize(
    "args", [(2, -1, None), (1, -2, None), (1, 0x10000, None), (1, -1, "x" * 1025), (1, -1, "a\x00b")]
)
def test_unusable_queries_are_refused(args):
    with pytest.raises(ValueError):
        nu.encode_query(*args)


def test_frames_in_odd_pieces(sock_path):
    packets = [bytes([0x10, 2]) + bytes(range(i, i + 40)) for i in range(5)]
    stream = b"".join(frame(p, port=138 + i) for i, p in enumerate(packets))

    def serve(conn):
        for i in range(0, len(stream), 7):
            conn.sendall(stream[i : i + 7])
            time.sleep(0.001)
        time.sleep(0.2)

    server = FakeNmbd(sock_path, serve)
    with nu.NmbdUnexpected(sock_path, mailslot="\\MAILSLOT\\FOXAPP") as client:
        got = read_until(client, 5)
    server.close()
    assert server.query == nu.encode_query(nu.DGRAM_PACKET, -1, "\\MAILSLOT\\FOXAPP")
    assert [p.data for p in got] == packets
    assert [p.source for p in got] == [("10.0.0.2", 138 + i) for i in range(5)]
    assert {(p.packet_type, p.timestamp) for p in got} == {(nu.DGRAM_PACKET, 1_700_000_000)}


def test_eof_closes_and_keeps_what_was_complete(sock_path):
    server = FakeNmbd(sock_path, lambda conn: conn.sendall(frame(b"one") + frame(b"two")[:20]))
    client = nu.NmbdUnexpected(sock_path)
    got = read_until(client, 2, timeout=2)
    server.close()
    assert [p.data for p in got] == [b"one"]
    assert client.closed and client.close_reason == "nmbd closed the connection" and client.fileno() == -1
    assert client.read() == []


@pytest.mark.parametrize(
    "bad",
    [
        nu.HEADER.pack(nu.PACKET_MAX_BYTES + 1, 1, 0, bytes(4), 138),
        nu.HEADER.pack(10, 7, 0, bytes(4), 138),
        nu.HEADER.pack(10, 1, 0, bytes(4), 70000),
    ],
)
def test_an_out_of_step_stream_closes_the_client(sock_path, bad):
    def serve(conn):
        conn.sendall(frame(b"good") + bad + bytes(64))
        time.sleep(0.5)

    server = FakeNmbd(sock_path, serve)
    client = nu.NmbdUnexpected(sock_path)
    got = read_until(client, 2, timeout=2)
    server.close()
    assert [p.data for p in got] == [b"good"]
    assert client.closed and client.close_reason.startswith("out of step")


@pytest.mark.parametrize(("ack", "error"), [(b"\x01", ConnectionError), (None, ConnectionError), (b"", TimeoutError)])
def test_a_bad_handshake_raises_oserror(sock_path, ack, error):
    # None: nmbd hangs up (as for a mailslot filter over 1024 bytes); b"": nmbd never answers
    def serve(conn):
        if ack == b"":
            time.sleep(0.6)

    server = FakeNmbd(sock_path, serve, ack=ack or None)
    with pytest.raises(error):
        nu.NmbdUnexpected(sock_path, timeout=0.3)
    server.close()


def test_no_socket_and_a_stale_socket_file(sock_path):
    with pytest.raises(FileNotFoundError):
        nu.NmbdUnexpected(sock_path)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock_path)
    stale.close()  # the file stays, nobody listens: what a killed nmbd leaves
    with pytest.raises(ConnectionRefusedError):
        nu.NmbdUnexpected(sock_path)


def test_decode_frames_never_raises_on_random_bytes():
    rng = random.Random(12)
    for _ in range(3000):
        buf = bytearray(rng.randbytes(rng.randrange(0, 120)))
        if rng.random() < 0.5 and len(buf) >= 8:  # plausible lengths too
            buf[0:8] = rng.randrange(0, 64).to_bytes(8, sys.byteorder)
        before = len(buf)
        packets, error = nu.decode_frames(buf)
        assert len(buf) <= before
        assert error is None or isinstance(error, str)
        assert all(isinstance(p.data, bytes) for p in packets)


def test_configured_socket_dir(tmp_path):
    conf = tmp_path / "smb.conf"
    conf.write_text(
        "; a comment\n"
        "[global]\n"
        "   workgroup = WORKGROUP\n"
        "#  nmbd:socket dir = /commented/out\n"
        "   NMBD:Socket  Dir = /srv/\\\n"
        "nmbd\n"
        "[share]\n"
        "   nmbd:socket dir = /not/global\n"
    )
    assert nu.configured_socket_dir(str(conf)) == "/srv/nmbd"
    assert nu.find_socket(str(conf)) == "/srv/nmbd/unexpected"
    conf.write_text("[global]\n  nmbd:socket dir = /run/x/nmbd\n[global]\n")
    assert nu.find_socket(str(conf)) == "/run/x/nmbd/unexpected"
    conf.write_text("[global]\n  workgroup = W\n")
    assert nu.configured_socket_dir(str(conf)) is None
    assert nu.configured_socket_dir(str(tmp_path / "absent.conf")) is None


def test_find_socket_without_configuration_looks_at_the_defaults(tmp_path, monkeypatch):
    d = tmp_path / "nmbd"
    d.mkdir()
    monkeypatch.setattr(nu, "DEFAULT_SOCKET_DIRS", ("/nonexistent/nmbd", str(d)))
    assert nu.find_socket(str(tmp_path / "absent.conf")) is None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(d / "unexpected"))
    try:
        assert nu.find_socket(str(tmp_path / "absent.conf")) == os.path.join(str(d), "unexpected")
    finally:
        s.close()


def test_smb_mailslot_name_is_what_nmbd_s_filter_compares():
    d = mailslot.build_datagram(
        msg_type=0x10,
        source="A",
        destination=mailslot.NetbiosName("B"),
        mailslot="foxapp",
        data=b"hi",
        source_ip="10.0.0.2",
        dgm_id=1,
    )
    raw = mailslot.encode_datagram(d)
    assert nu.smb_mailslot_name(raw) == b"\\MAILSLOT\\foxapp"
    assert nu.smb_mailslot_name(raw[:100]) is None
    assert nu.smb_mailslot_name(b"\x13" + raw[1:]) is None
    rng = random.Random(5)
    for _ in range(2000):
        cut = bytearray(raw[: rng.randrange(len(raw) + 1)])
        if cut and rng.random() < 0.5:
            cut[rng.randrange(len(cut))] = rng.randrange(256)
        nu.smb_mailslot_name(bytes(cut))  # never raises


def test_trusted_socket_dir(tmp_path):
    d = tmp_path / "nmbd"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    assert nu.trusted_socket_dir(str(d / "unexpected"))
    os.chmod(d, 0o777)
    assert not nu.trusted_socket_dir(str(d / "unexpected"))
    assert not nu.trusted_socket_dir(str(tmp_path / "absent" / "unexpected"))


def test_max_payload_via_nmbd_is_the_576_byte_datagram():
    """What tests/test_lab_nmbd_unexpected.py measured: 406 bytes of \\MAILSLOT\\FOXAPP data
    (a 576-byte datagram) arrive whole, one more is lost; Windows allows 424."""
    for name in ("FOXAPP", "A", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        n = nu.max_payload_via_nmbd("\\MAILSLOT\\" + name)
        d = mailslot.build_datagram(
            msg_type=0x10,
            source="LABSENDER",
            destination=mailslot.NetbiosName("SAMBAHOST"),
            mailslot=name,
            data=bytes(n),
            source_ip="10.0.0.2",
            dgm_id=1,
        )
        assert 573 <= len(mailslot.encode_datagram(d)) <= 576
    assert nu.max_payload_via_nmbd("\\MAILSLOT\\FOXAPP") == 406
    assert mailslot.max_remote_payload("FOXAPP") == 424
