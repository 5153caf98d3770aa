"""ipv4_interfaces(): every IPv4 address of every up interface (issue 16, "Every address").

Without root: the rtnetlink parser on messages built here from the kernel's layouts and on a
reply captured from a lab host (truncated, garbage and huge-length ones included); the dump
reader on a socketpair; the fallback to ioctls; the getifaddrs walker of macOS and the BSDs
on memory laid out as they lay it out, and on glibc's own getifaddrs.

In the lab (root; see tests/netlab.py): iproute2 (``ip -4 -o addr show``, ``ip -o link
show``) judges every field of every address, with secondary addresses, an address without
``brd``, /31 and /32, a second interface and a down one, point-to-point addresses; group
writes and the name service reach a subnet the host has a secondary address on, once each.
"""

from __future__ import annotations

import ctypes
import errno
import json
import random
import socket
import struct
import subprocess
import sys
import threading

import netlab
import pytest

import mailslot

PY = sys.executable
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="rtnetlink and ioctls are Linux's")


def lab_test(fn):
    """Marks of the lab tests (tests/netlab.py): the ``lab`` marker, and a skip without root."""
    for mark in netlab.pytest_marks():
        fn = mark(fn)
    return fn


# --------------------------------------------------------------------------
# rtnetlink messages built from the kernel's layouts (host byte order)
# --------------------------------------------------------------------------
# <linux/netlink.h> struct nlmsghdr, 16 bytes:
#   0 u32 nlmsg_len (header included)  4 u16 nlmsg_type  6 u16 nlmsg_flags  8 u32 nlmsg_seq
#   12 u32 nlmsg_pid (the port id of the socket asked)
# <linux/if_addr.h> struct ifaddrmsg, 8 bytes:
#   0 u8 ifa_family  1 u8 ifa_prefixlen  2 u8 ifa_flags  3 u8 ifa_scope  4 u32 ifa_index
# <linux/rtnetlink.h> struct rtattr, 4 bytes, then the value, padded to 4 bytes:
#   0 u16 rta_len (header included, padding not)  2 u16 rta_type
# NLMSG_DONE and NLMSG_ERROR carry an int: 0 or -errno (NLMSG_ERROR: then the request's header).

SEQ, PORT = 7, 4242
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, RTM_NEWADDR = 1, 2, 3, 20
NLM_F_MULTI, NLM_F_DUMP_INTR = 0x2, 0x10
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 3, 4, 6, 8
NLA_F_NET_BYTEORDER = 0x4000
IFA_F_SECONDARY, IFA_F_PERMANENT = 0x01, 0x80
IFF_UP, IFF_BROADCAST, IFF_LOOPBACK, IFF_POINTOPOINT = 0x1, 0x2, 0x8, 0x10  # <net/if.h>
IFF_RUNNING, IFF_NOARP, IFF_MULTICAST = 0x40, 0x80, 0x1000
AF_INET6 = 10  # Linux


def pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def rtattr(kind: int, value: bytes) -> bytes:
    return pad4(struct.pack("=HH", 4 + len(value), kind) + value)


def nlmsg(kind: int, payload: bytes, *, seq: int = SEQ, port: int = PORT, flags: int = NLM_F_MULTI) -> bytes:
    return pad4(struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, port) + payload)


def done(error: int = 0, **kw) -> bytes:
    return nlmsg(NLMSG_DONE, struct.pack("=i", error), **kw)


def ip(a: str) -> bytes:
    return socket.inet_aton(a)


def ifaddrmsg(index, prefix, *attrs, family=socket.AF_INET, flags=IFA_F_PERMANENT, scope=0) -> bytes:
    return struct.pack("=BBBBI", family, prefix, flags, scope, index) + b"".join(attrs)


def newaddr(index, address, prefix, *, brd=None, peer=None, label=None, ifa_flags=IFA_F_PERMANENT, **kw) -> bytes:
    """An RTM_NEWADDR as the kernel writes it: IFA_ADDRESS (the peer's, if any), IFA_LOCAL,
    IFA_BROADCAST, IFA_LABEL, IFA_FLAGS, IFA_CACHEINFO."""
    attrs = [rtattr(IFA_ADDRESS, ip(peer or address)), rtattr(IFA_LOCAL, ip(address))]
    if brd:
        attrs.append(rtattr(IFA_BROADCAST, ip(brd)))
    attrs.append(rtattr(IFA_LABEL, (label or f"if{index}").encode() + b"\0"))
    attrs.append(rtattr(IFA_FLAGS, struct.pack("=I", IFA_F_PERMANENT)))
    attrs.append(rtattr(IFA_CACHEINFO, struct.pack("=IIII", 0xFFFFFFFF, 0xFFFFFFFF, 1000, 1000)))
    return nlmsg(RTM_NEWADDR, ifaddrmsg(index, prefix, *attrs, flags=ifa_flags), **kw)


def addresses(*datagrams: bytes) -> list[tuple[int, str, str, str, bool]]:
    """_netlink_addresses of a reply, dotted: (index, address, netmask, broadcast or "", peer)."""
    messages = []
    for i, d in enumerate(datagrams):
        got, end = mailslot._netlink_messages(d, SEQ, PORT)
        assert end == (i == len(datagrams) - 1), (i, end)
        messages += got
    return [
        (index, dot(address), dot(mask), dot(brd) if brd else "", peer)
        for index, address, mask, brd, peer in mailslot._netlink_addresses(messages)
    ]


def dot(x: int) -> str:
    return socket.inet_ntoa(struct.pack("!I", x))


def test_a_reply_in_two_datagrams_gives_every_address_in_the_kernels_order():
    first = (
        newaddr(1, "127.0.0.1", 8, label="lo")
        + newaddr(2, "10.213.0.1", 24, brd="10.213.0.255", label="eth0")
        + newaddr(2, "10.213.5.1", 24, brd="10.213.5.255", label="eth0")
        + newaddr(2, "10.213.6.1", 24, label="eth0")  # added without brd
    )
    second = newaddr(2, "10.213.0.77", 24, label="eth0", ifa_flags=IFA_F_PERMANENT | IFA_F_SECONDARY) + newaddr(
        3, "10.9.0.1", 32, peer="10.9.0.2", label="v0"
    )
    assert mailslot._netlink_messages(first, SEQ, PORT)[1] is False
    assert addresses(first, second, done()) == [
        (1, "127.0.0.1", "255.0.0.0", "", False),
        (2, "10.213.0.1", "255.255.255.0", "10.213.0.255", False),
        (2, "10.213.5.1", "255.255.255.0", "10.213.5.255", False),
        (2, "10.213.6.1", "255.255.255.0", "", False),
        (2, "10.213.0.77", "255.255.255.0", "", False),
        (3, "10.9.0.1", "255.255.255.255", "", True),
    ]
    # DONE in the datagram of the last addresses, as well
    assert addresses(first + second + done())[-1] == (3, "10.9.0.1", "255.255.255.255", "", True)


def test_messages_of_another_request_or_socket_are_skipped_and_do_not_end_the_answer():
    datagram = (
        newaddr(2, "192.0.2.9", 24, seq=SEQ + 1)
        + newaddr(2, "192.0.2.8", 24, port=PORT + 1)
        + done(seq=SEQ - 1)
        + nlmsg(NLMSG_ERROR, struct.pack("=i", -errno.EPERM) + bytes(16), port=0)
        + newaddr(2, "192.0.2.7", 24)
    )
    messages, end = mailslot._netlink_messages(datagram, SEQ, PORT)
    assert not end
    assert [m[0] for m in messages] == [RTM_NEWADDR]
    assert addresses(datagram, done()) == [(2, "192.0.2.7", "255.255.255.0", "", False)]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (
            nlmsg(NLMSG_ERROR, struct.pack("=i", -errno.EPERM) + struct.pack("=IHHII", 24, 22, 0x301, SEQ, 0)),
            errno.EPERM,
        ),
        (nlmsg(NLMSG_ERROR, struct.pack("=i", -errno.EOPNOTSUPP)), errno.EOPNOTSUPP),
        (done(-errno.ENOBUFS), errno.ENOBUFS),
        (newaddr(2, "192.0.2.7", 24) + done(-errno.EINTR), errno.EINTR),
    ],
)
def test_an_error_answer_raises_oserror_with_its_errno(answer, code):
    with pytest.raises(OSError) as e:
        mailslot._netlink_messages(answer, SEQ, PORT)
    assert e.value.errno == code


def test_an_acknowledgement_or_a_done_without_payload_ends_the_answer():
    assert mailslot._netlink_messages(nlmsg(NLMSG_ERROR, struct.pack("=i", 0) + bytes(16)), SEQ, PORT) == ([], True)
    assert mailslot._netlink_messages(nlmsg(NLMSG_DONE, b""), SEQ, PORT) == ([], True)
    # what follows the end is not read
    assert mailslot._netlink_messages(done() + b"\xff" * 7, SEQ, PORT) == ([], True)


VALID = newaddr(2, "10.213.0.1", 24, brd="10.213.0.255")


@pytest.mark.parametrize(
    "datagram",
    [
        pytest.param(VALID[:10], id="10 bytes: no whole header"),
        pytest.param(VALID[:40], id="cut inside a message"),
        pytest.param(VALID + VALID[:16], id="a second message cut after its header"),
        pytest.param(VALID + b"\0\0\0", id="3 stray bytes after a message"),
        pytest.param(struct.pack("=IHHII", 0, RTM_NEWADDR, 2, SEQ, PORT), id="length 0 (would never advance)"),
        pytest.param(struct.pack("=IHHII", 15, RTM_NEWADDR, 2, SEQ, PORT) + bytes(8), id="length 15"),
        pytest.param(struct.pack("=IHHII", 0xFFFFFFFF, RTM_NEWADDR, 2, SEQ, PORT) + bytes(64), id="length 2**32-1"),
        pytest.param(struct.pack("=IHHII", 0x7FFF_FFF0, NLMSG_DONE, 2, SEQ, PORT) + bytes(4), id="huge DONE"),
        pytest.param(nlmsg(NLMSG_ERROR, b""), id="NLMSG_ERROR without its error code"),
    ],
)
def test_a_malformed_datagram_raises_valueerror(datagram):
    with pytest.raises(ValueError, match="netlink"):
        mailslot._netlink_messages(datagram, SEQ, PORT)


def message_with(payload: bytes) -> list[tuple[int, int, bytes]]:
    return [(RTM_NEWADDR, NLM_F_MULTI, payload)]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x02\x18\x80\x00", id="payload shorter than ifaddrmsg"),
        pytest.param(ifaddrmsg(2, 33, rtattr(IFA_LOCAL, ip("10.0.0.1"))), id="prefix length 33"),
        pytest.param(ifaddrmsg(2, 255, rtattr(IFA_LOCAL, ip("10.0.0.1"))), id="prefix length 255"),
        pytest.param(ifaddrmsg(2, 24, struct.pack("=HH", 2, IFA_LOCAL)), id="attribute length 2"),
        pytest.param(ifaddrmsg(2, 24, struct.pack("=HH", 0, IFA_LOCAL)), id="attribute length 0"),
        pytest.param(ifaddrmsg(2, 24, struct.pack("=HH", 12, IFA_LOCAL) + ip("10.0.0.1")), id="attribute past the end"),
        pytest.param(ifaddrmsg(2, 24, struct.pack("=HH", 0xFFFF, IFA_LABEL) + b"eth0"), id="attribute length 65535"),
        pytest.param(ifaddrmsg(2, 24, rtattr(IFA_LOCAL, bytes(16))), id="IFA_LOCAL of 16 bytes"),
        pytest.param(ifaddrmsg(2, 24, rtattr(IFA_BROADCAST, b"\1\2\3")), id="IFA_BROADCAST of 3 bytes"),
        pytest.param(ifaddrmsg(2, 24, rtattr(IFA_LABEL, b"eth0\0")), id="no address attribute"),
    ],
)
def test_a_malformed_address_message_raises_valueerror(payload):
    with pytest.raises(ValueError, match="netlink"):
        mailslot._netlink_addresses(message_with(payload))


def test_other_families_messages_and_attributes_are_passed_over():
    datagram = (
        nlmsg(NLMSG_NOOP, b"")
        + nlmsg(RTM_NEWADDR, ifaddrmsg(2, 64, rtattr(IFA_ADDRESS, bytes(15) + b"\1"), family=AF_INET6))
        + nlmsg(RTM_NEWADDR, ifaddrmsg(2, 8, rtattr(IFA_LOCAL, ip("0.0.0.0"))))  # no address
        + nlmsg(
            RTM_NEWADDR,
            ifaddrmsg(
                4,
                16,
                rtattr(99, b"an attribute of a later kernel"),
                rtattr(IFA_LOCAL | NLA_F_NET_BYTEORDER, ip("172.16.0.1")),
                rtattr(IFA_LOCAL, ip("172.16.9.9")),  # a second one: the first counts
                rtattr(IFA_BROADCAST, ip("172.16.255.255")),
                b"\0\0",  # stray bytes after the last attribute
            ),
        )
        + nlmsg(RTM_NEWADDR, ifaddrmsg(5, 24, rtattr(IFA_ADDRESS, ip("198.51.100.4"))))  # IFA_ADDRESS alone
    )
    assert addresses(datagram, done()) == [
        (4, "172.16.0.1", "255.255.0.0", "172.16.255.255", False),
        (5, "198.51.100.4", "255.255.255.0", "", False),
    ]


UP_ETHER = IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST


@pytest.mark.parametrize(
    ("flags", "address", "prefix", "brd", "peer", "expected"),
    [
        (UP_ETHER, "10.1.2.3", 24, "10.1.2.255", False, "10.1.2.255"),
        (UP_ETHER, "10.1.2.3", 24, None, False, "10.1.2.255"),  # no brd: address | ~mask
        (UP_ETHER, "10.1.2.3", 24, "10.1.2.7", False, "10.1.2.7"),  # the one set wins
        (UP_ETHER, "10.1.2.3", 20, None, False, "10.1.15.255"),
        (UP_ETHER, "10.1.2.3", 0, None, False, "255.255.255.255"),
        (UP_ETHER, "10.1.2.3", 30, None, False, "10.1.2.3"),  # .0/30: .3 is the broadcast address
        (UP_ETHER, "10.1.2.2", 31, None, False, ""),  # RFC 3021: no broadcast on /31
        (UP_ETHER, "10.1.2.2", 31, "10.1.2.3", False, ""),
        (UP_ETHER, "10.1.2.2", 32, None, False, ""),
        (UP_ETHER, "10.1.2.2", 32, "10.1.2.2", False, ""),
        (UP_ETHER, "10.9.0.1", 32, None, True, ""),  # point-to-point
        (UP_ETHER, "10.9.1.1", 24, None, True, ""),  # point-to-point to a /24
        (UP_ETHER, "10.9.2.1", 24, "10.9.2.255", True, "10.9.2.255"),  # ... with brd set
        (IFF_UP | IFF_POINTOPOINT | IFF_NOARP, "10.8.1.1", 24, None, False, ""),  # tun: cannot broadcast
        (IFF_UP | IFF_LOOPBACK | IFF_RUNNING, "127.0.0.1", 8, None, False, ""),
    ],
)
def test_the_broadcast_address_of_a_record(flags, address, prefix, brd, peer, expected):
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    a = struct.unpack("!I", ip(address))[0]
    b = struct.unpack("!I", ip(brd))[0] if brd else 0
    got = mailslot._interface("x0", flags, a, mask, b, peer)
    assert got == mailslot.Interface("x0", address, dot(mask), expected, bool(flags & IFF_LOOPBACK))


# A reply captured from a lab host (Linux 6.18, x86_64) by an RTM_GETADDR dump request
# (seq 7) on a netlink socket bound to port id 24561, with these addresses (ip -4 -o addr show):
#   1: lo    inet 127.0.0.1/8 scope host lo
#   2: eth0  inet 10.213.0.1/24 brd 10.213.0.255 scope global eth0
#   2: eth0  inet 10.213.5.1/24 brd 10.213.5.255 scope global eth0
#   2: eth0  inet 10.213.6.1/24 scope global eth0
#   2: eth0  inet 10.213.7.1/24 brd 10.213.7.255 scope global eth0:sec
#   2: eth0  inet 10.213.8.1/32 scope global eth0
#   2: eth0  inet 10.213.9.0/31 scope global eth0
#   2: eth0  inet 10.213.0.77/24 scope global secondary eth0
#   3: t0    inet 10.8.0.1 peer 10.8.0.2/32 scope global t0      (tun: POINTOPOINT,NOARP,UP)
#   4: v1    inet 172.31.0.1/24 brd 172.31.0.255 scope global v1  (down)
#   5: v0    inet 10.9.0.1 peer 10.9.0.2/32 scope global v0      (veth: BROADCAST,UP)
# Captured with: s = socket.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE); s.bind((0, 0));
# s.send(struct.pack("=IHHII", 24, 22, 0x301, 7, 0) + struct.pack("=BBBBI", 2, 0, 0, 0, 0));
# then s.recv(65536) until NLMSG_DONE: the addresses in one datagram, NLMSG_DONE in a second.
CAPTURED_PORT, CAPTURED_SEQ = 24561, 7
CAPTURED = [
    bytes.fromhex(
        "4c0000001400020007000000f15f0000020880fe01000000080001007f000001080002007f000001070003006c6f0000"
        "080008008000000014000600ffffffffffffffffae640100ae640100580000001400020007000000f15f000002188000"
        "02000000080001000ad50001080002000ad50001080004000ad500ff0900030065746830000000000800080080000000"
        "14000600ffffffffffffffffae640100ae640100580000001400020007000000f15f0000021880000200000008000100"
        "0ad50501080002000ad50501080004000ad505ff090003006574683000000000080008008000000014000600ffffffff"
        "ffffffffaf640100af640100500000001400020007000000f15f00000218800002000000080001000ad5060108000200"
        "0ad50601090003006574683000000000080008008000000014000600ffffffffffffffffaf640100af6401005c000000"
        "1400020007000000f15f00000218800002000000080001000ad50701080002000ad50701080004000ad507ff0d000300"
        "657468303a73656300000000080008008000000014000600ffffffffffffffffb0640100b06401005000000014000200"
        "07000000f15f00000220800002000000080001000ad50801080002000ad5080109000300657468300000000008000800"
        "8000000014000600ffffffffffffffffb0640100b0640100500000001400020007000000f15f0000021f800002000000"
        "080001000ad50900080002000ad50900090003006574683000000000080008008000000014000600ffffffffffffffff"
        "b0640100b0640100500000001400020007000000f15f00000218810002000000080001000ad5004d080002000ad5004d"
        "090003006574683000000000080008008100000014000600ffffffffffffffffb0640100b06401004c00000014000200"
        "07000000f15f00000220800003000000080001000a080002080002000a08000107000300743000000800080080000000"
        "14000600ffffffffffffffffb0640100b0640100540000001400020007000000f15f0000021880000400000008000100"
        "ac1f000108000200ac1f000108000400ac1f00ff0700030076310000080008008000000014000600ffffffffffffffff"
        "b1640100b16401004c0000001400020007000000f15f00000220800005000000080001000a090002080002000a090001"
        "0700030076300000080008008000000014000600ffffffffffffffffb1640100b1640100"
    ),
    bytes.fromhex("140000000300020007000000f15f000000000000"),
]
# the flags SIOCGIFFLAGS gave (ip -o link show)
CAPTURED_LINKS = {
    1: ("lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING),
    2: ("eth0", UP_ETHER),
    3: ("t0", IFF_UP | IFF_POINTOPOINT | IFF_NOARP | IFF_MULTICAST),
    4: ("v1", IFF_BROADCAST | IFF_MULTICAST),
    5: ("v0", IFF_UP | IFF_BROADCAST | IFF_MULTICAST),
}
CAPTURED_EXPECTED = [
    ("lo", "127.0.0.1", "255.0.0.0", "", True),
    ("eth0", "10.213.0.1", "255.255.255.0", "10.213.0.255", False),
    ("eth0", "10.213.5.1", "255.255.255.0", "10.213.5.255", False),
    ("eth0", "10.213.6.1", "255.255.255.0", "10.213.6.255", False),
    ("eth0", "10.213.7.1", "255.255.255.0", "10.213.7.255", False),
    ("eth0", "10.213.8.1", "255.255.255.255", "", False),
    ("eth0", "10.213.9.0", "255.255.255.254", "", False),
    ("eth0", "10.213.0.77", "255.255.255.0", "10.213.0.255", False),
    ("t0", "10.8.0.1", "255.255.255.255", "", False),
    ("v0", "10.9.0.1", "255.255.255.255", "", False),
]
little_endian_only = pytest.mark.skipif(sys.byteorder != "little", reason="captured on a little-endian host")


def parse_captured(datagrams) -> list[mailslot.Interface]:
    messages = []
    for d in datagrams:
        got, end = mailslot._netlink_messages(d, CAPTURED_SEQ, CAPTURED_PORT)
        messages += got
    assert end
    return mailslot._netlink_records(mailslot._netlink_addresses(messages), CAPTURED_LINKS)


@little_endian_only
def test_a_captured_reply_gives_every_address_of_the_up_interfaces():
    assert [tuple(i) for i in parse_captured(CAPTURED)] == CAPTURED_EXPECTED


@little_endian_only
def test_damaged_replies_raise_nothing_but_oserror_or_valueerror():
    """Truncations, bit flips, overwritten lengths and garbage of the captured reply: every
    one either parses or raises OSError/ValueError (which ipv4_interfaces turns into the
    ioctl fallback), never anything else, never a hang."""
    rng = random.Random(16)
    whole = CAPTURED[0] + CAPTURED[1]
    offsets = [0]  # where each message starts
    while offsets[-1] < len(whole):
        offsets.append(offsets[-1] + ((struct.unpack_from("=I", whole, offsets[-1])[0] + 3) & ~3))
    outcomes = {"parsed": 0, "OSError": 0, "ValueError": 0}
    cases = [whole[:n] for n in range(len(whole))]
    for _ in range(3000):
        b = bytearray(whole)
        kind = rng.randrange(5)
        if kind == 0:  # flipped bits
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # a message length: small, large, huge
            at = rng.choice(offsets[:-1])
            struct.pack_into("=I", b, at, rng.choice([0, 1, 15, 16, 17, 0xFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)]))
        elif kind == 2:  # an attribute length
            at = rng.randrange(len(b) - 2)
            struct.pack_into("=H", b, at, rng.choice([0, 1, 3, 4, 5, 0xFFFF, rng.randrange(1 << 16)]))
        elif kind == 3:  # a prefix length or a family
            at = rng.choice(offsets[:-1]) + 16 + rng.randrange(2)
            b[at] = rng.randrange(256)
        else:  # garbage
            b = bytearray(rng.randbytes(rng.randrange(200)))
        cases.append(bytes(b))
    for case in cases:
        try:
            messages, _ = mailslot._netlink_messages(case, CAPTURED_SEQ, CAPTURED_PORT)
            mailslot._netlink_records(mailslot._netlink_addresses(messages), CAPTURED_LINKS)
            outcomes["parsed"] += 1
        except ValueError:
            outcomes["ValueError"] += 1
        except OSError:
            outcomes["OSError"] += 1
    assert outcomes["parsed"] and outcomes["ValueError"], outcomes


# --------------------------------------------------------------------------
# The dump reader (on a socketpair standing in for the kernel) and the fallback
# --------------------------------------------------------------------------


@pytest.fixture
def kernel():
    """(the reader's end, the kernel's end) of a datagram socketpair; the reader's non-blocking."""
    reader, kernel_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    reader.setblocking(False)
    yield reader, kernel_end
    reader.close()
    kernel_end.close()


def test_the_dump_request_and_an_answer_in_three_datagrams(kernel):
    reader, kernel_end = kernel
    answer = [newaddr(2, "10.1.0.1", 16), newaddr(2, "10.2.0.1", 16) + newaddr(3, "10.3.0.1", 16), done()]
    for d in answer:
        kernel_end.send(d)
    body = struct.pack("=BBBBI", socket.AF_INET, 0, 0, 0, 0)
    messages, interrupted = mailslot._netlink_dump(reader, 22, body, SEQ, PORT)
    # nlmsghdr: 24 bytes, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, pid 0 (to the kernel); ifaddrmsg AF_INET
    assert kernel_end.recv(100) == struct.pack("=IHHII", 24, 22, 0x301, SEQ, 0) + body
    assert [m[0] for m in messages] == [RTM_NEWADDR] * 3
    assert not interrupted
    assert [a[1] for a in mailslot._netlink_addresses(messages)] == [0x0A010001, 0x0A020001, 0x0A030001]


def test_a_dump_the_kernel_flags_as_interrupted_says_so(kernel):
    reader, kernel_end = kernel
    kernel_end.send(newaddr(2, "10.1.0.1", 16) + newaddr(2, "10.2.0.1", 16, flags=NLM_F_MULTI | NLM_F_DUMP_INTR))
    kernel_end.send(done(flags=NLM_F_MULTI | NLM_F_DUMP_INTR))
    assert mailslot._netlink_dump(reader, 22, b"", SEQ, PORT)[1] is True


def test_a_datagram_longer_than_the_buffer_is_refused_not_read_in_part(kernel, monkeypatch):
    reader, kernel_end = kernel
    monkeypatch.setattr(mailslot, "_NETLINK_BUFSIZE", 64)
    kernel_end.send(newaddr(2, "10.1.0.1", 16) + done())  # 80 bytes
    with pytest.raises(ValueError, match="longer than 64"):
        mailslot._netlink_dump(reader, 22, b"", SEQ, PORT)


def test_an_answer_without_end_is_refused(kernel, monkeypatch):
    reader, kernel_end = kernel
    monkeypatch.setattr(mailslot, "_NETLINK_MAX_READS", 3)
    for _ in range(3):
        kernel_end.send(newaddr(2, "10.1.0.1", 16))
    with pytest.raises(ValueError, match="no NLMSG_DONE"):
        mailslot._netlink_dump(reader, 22, b"", SEQ, PORT)


def test_a_silent_kernel_is_waited_for_then_given_up_on(kernel, monkeypatch):
    reader, _ = kernel
    monkeypatch.setattr(mailslot, "_NETLINK_TIMEOUT_S", 0.05)
    with pytest.raises(OSError) as e:
        mailslot._netlink_dump(reader, 22, b"", SEQ, PORT)
    assert e.value.errno == errno.ETIMEDOUT


def test_an_answer_that_comes_late_is_waited_for(kernel):
    """The reader does not poll before each read, but it does wait when a read would block."""
    reader, kernel_end = kernel
    t = threading.Thread(target=lambda: (kernel_end.recv(100), kernel_end.send(newaddr(2, "10.1.0.1", 16) + done())))
    t.start()
    messages, _ = mailslot._netlink_dump(reader, 22, b"", SEQ, PORT)
    t.join()
    assert len(messages) == 1


@linux_only
def test_an_interrupted_dump_is_done_again(monkeypatch):
    calls = []

    def dump(sock, kind, body, seq, port):
        calls.append(seq)
        return mailslot._netlink_messages(newaddr(1, f"127.0.0.{seq}", 8), SEQ, PORT)[0], len(calls) < 3

    monkeypatch.setattr(mailslot, "_netlink_dump", dump)
    assert [i.address for i in mailslot._netlink_interfaces()] == ["127.0.0.3"]
    assert calls == [1, 2, 3]
    calls.clear()
    monkeypatch.setattr(mailslot, "_NETLINK_TRIES", 2)  # still interrupted at the last try: that answer is used
    assert [i.address for i in mailslot._netlink_interfaces()] == ["127.0.0.2"]


@linux_only
@pytest.mark.parametrize("error", [ValueError("netlink: message length 0"), OSError(errno.EPERM, "netlink")])
def test_when_netlink_fails_the_ioctls_answer(monkeypatch, error):
    def dump(*args):
        raise error

    monkeypatch.setattr(mailslot, "_netlink_dump", dump)
    assert mailslot.ipv4_interfaces() == mailslot._ioctl_interfaces()
    assert any(i.loopback for i in mailslot.ipv4_interfaces())


@linux_only
def test_a_reply_cut_short_by_the_kernel_falls_back_to_the_ioctls(monkeypatch):
    """The real kernel's reply into a 20-byte buffer: MSG_TRUNC, ValueError, the ioctls."""
    monkeypatch.setattr(mailslot, "_NETLINK_BUFSIZE", 20)
    with pytest.raises(ValueError, match="longer than 20"):
        mailslot._netlink_interfaces()
    assert mailslot.ipv4_interfaces() == mailslot._ioctl_interfaces()


@linux_only
def test_on_this_machine_netlink_sees_every_address_the_ioctls_see():
    via_netlink = mailslot._netlink_interfaces()
    assert via_netlink == mailslot.ipv4_interfaces()
    assert {i.address for i in mailslot._ioctl_interfaces()} <= {i.address for i in via_netlink}
    assert ("lo", "127.0.0.1", "255.0.0.0", "", True) in [tuple(i) for i in via_netlink]


@linux_only
def test_interface_names_and_flags_by_index():
    lo = socket.if_nametoindex("lo")
    unused = max(i for i, _ in socket.if_nameindex()) + 1000
    links = mailslot._link_flags([lo, unused])
    assert list(links) == [lo]
    name, flags = links[lo]
    assert name == "lo"
    assert flags & IFF_LOOPBACK and flags & IFF_UP and not flags & IFF_BROADCAST


def test_importing_mailslot_loads_no_interface_module_and_linux_never_needs_ctypes():
    probe = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import mailslot\n"
        "at_import = set(sys.modules) - before\n"
        "mailslot.ipv4_interfaces()\n"
        "by_call = set(sys.modules) - before - at_import\n"
        "print(json.dumps([sorted(at_import & {'fcntl', 'ctypes'}), sorted(by_call & {'fcntl', 'ctypes'})]))\n"
    )
    out = subprocess.run([PY, "-c", probe], capture_output=True, text=True, check=True, cwd=netlab.REPO_ROOT)
    at_import, by_call = json.loads(out.stdout)
    assert at_import == []
    if sys.platform.startswith("linux"):
        assert "ctypes" not in by_call


# --------------------------------------------------------------------------
# getifaddrs(3): the walker on memory laid out as macOS/BSD and Linux lay it out
# --------------------------------------------------------------------------


class IfAddrs(ctypes.Structure):
    """<ifaddrs.h> struct ifaddrs as the C compiler lays it out (the walker's struct format
    must agree)."""

    _fields_ = [
        ("ifa_next", ctypes.c_void_p),
        ("ifa_name", ctypes.c_void_p),
        ("ifa_flags", ctypes.c_uint),
        ("ifa_addr", ctypes.c_void_p),
        ("ifa_netmask", ctypes.c_void_p),
        ("ifa_broadaddr", ctypes.c_void_p),  # ifa_dstaddr on a point-to-point interface
        ("ifa_data", ctypes.c_void_p),
    ]


class Memory:
    """Made-up process memory: blocks at made-up addresses, read like ctypes.string_at, and
    a read past the end of a block fails the test (a walker must not over-read)."""

    def __init__(self):
        self.blocks: dict[int, bytes] = {}
        self.top = 0x7F0000001000

    def put(self, data: bytes) -> int:
        at = self.top
        self.blocks[at] = data
        self.top += (len(data) + 64) // 16 * 16
        return at

    def string_at(self, pointer: int, size: int = -1) -> bytes:
        for base, data in self.blocks.items():
            if base <= pointer < base + len(data):
                offset = pointer - base
                if size < 0:
                    return data[offset : data.index(b"\0", offset)]
                assert offset + size <= len(data), f"read of {size} bytes past a block at {pointer:#x}"
                return data[offset : offset + size]
        raise AssertionError(f"read of unmapped address {pointer:#x}")

    def ifaddrs_list(self, entries) -> int:
        """Lay out a list of (name, flags, addr, netmask, broadaddr) (sockaddrs as bytes or None);
        return its head."""
        head = 0
        for name, flags, *sockaddrs in reversed(entries):
            pointers = [self.put(sa) if sa is not None else None for sa in sockaddrs]
            head = self.put(bytes(IfAddrs(head, self.put(name.encode() + b"\0"), flags, *pointers, None)))
        return head


AF_LINK_BSD, AF_INET6_MACOS = 18, 30


def bsd_sin(address: str, sa_len: int = 16, family: int = socket.AF_INET) -> bytes:
    """<netinet/in.h> (BSD) struct sockaddr_in: u8 sin_len, u8 sin_family, u16 port, in_addr, 8 zeros;
    the first sa_len bytes of it."""
    return (bytes([sa_len, family]) + bytes(2) + ip(address) + bytes(8))[: max(sa_len, 2)]


def linux_sin(address: str, family: int = socket.AF_INET) -> bytes:
    """struct sockaddr_in (Linux, Solaris): u16 sin_family, u16 port, in_addr, 8 zeros."""
    return struct.pack("=HH4s8x", family, 0, ip(address))


def test_the_walker_reads_macos_and_bsd_sockaddrs():
    mem = Memory()
    lo = IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_MULTICAST
    en = UP_ETHER
    head = mem.ifaddrs_list(
        [
            ("lo0", lo, bytes([20, AF_LINK_BSD]) + bytes(18), None, None),  # AF_LINK: passed over
            ("lo0", lo, bsd_sin("127.0.0.1"), bsd_sin("255.0.0.0", sa_len=5, family=0), None),
            ("lo0", lo, bytes([28, AF_INET6_MACOS]) + bytes(26), None, None),  # AF_INET6: passed over
            ("en0", en, bsd_sin("192.168.1.20"), bsd_sin("255.255.255.0"), bsd_sin("192.168.1.255")),
            # an alias; its netmask as the routing socket shortens it: sa_len 7, family 0
            ("en0", en, bsd_sin("10.0.5.9"), bsd_sin("255.255.255.0", sa_len=7, family=0), bsd_sin("10.0.5.255")),
            ("en0", en, bsd_sin("10.0.6.9"), bsd_sin("255.255.0.0", sa_len=6, family=0), None),  # no broadaddr
            ("en0", en, bsd_sin("10.0.7.9"), bsd_sin("255.255.255.255"), bsd_sin("10.0.7.9")),  # /32
            ("en1", IFF_BROADCAST | IFF_MULTICAST, bsd_sin("10.0.8.9"), bsd_sin("255.0.0.0"), None),  # down
            ("en2", en, None, None, None),  # no address at all
            (
                "utun3",
                IFF_UP | IFF_POINTOPOINT | IFF_RUNNING,
                bsd_sin("10.8.0.1"),
                bsd_sin("255.255.255.0"),
                bsd_sin("10.8.0.2"),
            ),
            ("bridge0", en, bsd_sin("10.0.9.1"), bsd_sin("0.0.0.0", sa_len=0, family=0) + bytes(6), None),  # mask 0
            ("gif0", en, bsd_sin("0.0.0.0"), bsd_sin("255.0.0.0"), None),  # 0.0.0.0: passed over
        ]
    )
    got = mailslot._walk_ifaddrs(head, mem.string_at, bsd=True)
    assert [tuple(i) for i in got] == [
        ("lo0", "127.0.0.1", "255.0.0.0", "", True),
        ("en0", "192.168.1.20", "255.255.255.0", "192.168.1.255", False),
        ("en0", "10.0.5.9", "255.255.255.0", "10.0.5.255", False),
        ("en0", "10.0.6.9", "255.255.0.0", "10.0.255.255", False),
        ("en0", "10.0.7.9", "255.255.255.255", "", False),
        ("utun3", "10.8.0.1", "255.255.255.0", "", False),
        ("bridge0", "10.0.9.1", "0.0.0.0", "255.255.255.255", False),
    ]


def test_the_walker_reads_linux_sockaddrs_and_glibcs_broadcast_address():
    mem = Memory()
    head = mem.ifaddrs_list(
        [
            ("eth0", UP_ETHER, bytes([17, 0]) + bytes(18), None, None),  # AF_PACKET: passed over
            ("eth0", UP_ETHER, linux_sin("10.213.0.1"), linux_sin("255.255.255.0"), linux_sin("10.213.0.255")),
            # glibc gives the address itself as broadaddr when the kernel holds no broadcast address
            ("eth0", UP_ETHER, linux_sin("10.213.6.1"), linux_sin("255.255.255.0"), linux_sin("10.213.6.1")),
            ("eth0:sec", UP_ETHER, linux_sin("10.213.7.1"), linux_sin("255.255.255.0"), linux_sin("10.213.7.255")),
            ("eth0", UP_ETHER, struct.pack("=HHI16sI", AF_INET6, 0, 0, bytes(15) + b"\1", 0), None, None),  # AF_INET6
        ]
    )
    assert [tuple(i) for i in mailslot._walk_ifaddrs(head, mem.string_at, bsd=False)] == [
        ("eth0", "10.213.0.1", "255.255.255.0", "10.213.0.255", False),
        ("eth0", "10.213.6.1", "255.255.255.0", "10.213.6.255", False),
        ("eth0:sec", "10.213.7.1", "255.255.255.0", "10.213.7.255", False),
    ]


def test_a_list_that_does_not_end_is_refused(monkeypatch):
    mem = Memory()
    entry = mem.put(bytes(ctypes.sizeof(IfAddrs)))
    mem.blocks[entry] = bytes(IfAddrs(entry, mem.put(b"loop0\0"), IFF_UP, None, None, None, None))  # points to itself
    monkeypatch.setattr(mailslot, "_IFADDRS_MAX", 50)
    with pytest.raises(ValueError, match="no end"):
        mailslot._walk_ifaddrs(entry, mem.string_at, bsd=True)


def test_the_struct_format_is_the_c_layout():
    assert mailslot._IFADDRS.size == ctypes.sizeof(IfAddrs)
    fields = mailslot._IFADDRS.unpack(bytes(IfAddrs(1, 2, 3, 4, 5, 6, 7)))
    assert fields == (1, 2, 3, 4, 5, 6, 7)


@linux_only
def test_glibcs_getifaddrs_walked_agrees_with_netlink():
    """The ctypes path of macOS and the BSDs, run on glibc's getifaddrs (Linux sockaddrs)."""
    walked = mailslot._getifaddrs_interfaces()
    via_netlink = mailslot._netlink_interfaces()
    assert [(i.address, i.netmask, i.loopback) for i in walked] == [
        (i.address, i.netmask, i.loopback) for i in via_netlink
    ]


# --------------------------------------------------------------------------
# The lab: iproute2 is the judge
# --------------------------------------------------------------------------

# Run on a lab host: secondary addresses, another subnet, no brd, a label, /32, /31, a
# broadcast address set by hand, a second interface (veth v0) with point-to-point addresses,
# a down interface (its peer v1), a tun (point-to-point, cannot broadcast) when /dev/net/tun
# exists, a second loopback address.
ASSORTMENT = """
ip addr add 10.213.0.77/24 dev eth0
ip addr add 10.213.5.1/24 brd + dev eth0
ip addr add 10.213.6.1/24 dev eth0
ip addr add 10.213.7.1/24 brd + dev eth0 label eth0:sec
ip addr add 10.213.8.1/32 dev eth0
ip addr add 10.213.9.0/31 dev eth0
ip addr add 10.213.10.1/24 brd 10.213.10.7 dev eth0
ip link add v0 type veth peer name v1
ip addr add 172.30.0.1/16 brd + dev v0
ip addr add 10.9.0.1 peer 10.9.0.2/32 dev v0
ip addr add 10.9.1.1 peer 10.9.1.0/24 dev v0
ip addr add 10.9.2.1 peer 10.9.2.0/24 brd 10.9.2.255 dev v0
ip link set v0 up
ip addr add 172.31.0.1/24 brd + dev v1
if [ -c /dev/net/tun ]; then
    ip tuntap add mode tun name t0
    ip addr add 10.8.0.1 peer 10.8.0.2 dev t0
    ip addr add 10.8.1.1/24 dev t0
    ip link set t0 up
fi
ip addr add 10.7.0.1/8 dev lo
"""

PROBE = """
import json, mailslot
print(json.dumps({
    "ipv4_interfaces": mailslot.ipv4_interfaces(),
    "ioctl": mailslot._ioctl_interfaces(),
    "getifaddrs": mailslot._getifaddrs_interfaces(),
}))
"""


def judge(addr_show: str, link_show: str) -> tuple[list[tuple], set[str]]:
    """What ipv4_interfaces() must say, from ``ip -4 -o addr show`` and ``ip -o link show``
    alone, by the rules of its docstring; and the addresses that are point-to-point ones
    without brd on an interface that can broadcast (glibc's getifaddrs reports their peer as
    the broadcast address)."""
    import ipaddress

    flags = {}
    for line in link_show.splitlines():
        # 2: eth0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 ...
        _, name, brackets, *_ = line.split()
        flags[name.rstrip(":").split("@")[0]] = set(brackets.strip("<>").split(","))
    expected, peers_without_brd = [], set()
    for line in addr_show.splitlines():
        # 2: eth0    inet 10.213.0.1/24 brd 10.213.0.255 scope global eth0\       valid_lft ...
        # 5: v0    inet 10.9.0.1 peer 10.9.0.2/32 scope global v0\ ...
        tokens = line.split("\\")[0].split()
        name, family, local = tokens[1], tokens[2], tokens[3]
        assert family == "inet", line
        peer = tokens[4] == "peer"
        network = ipaddress.IPv4Network(tokens[5] if peer else local, strict=False)
        address = local.split("/")[0]
        brd = tokens[tokens.index("brd") + 1] if "brd" in tokens else None
        f = flags[name]
        if "UP" not in f:
            continue
        if "BROADCAST" not in f or network.prefixlen >= 31:
            broadcast = ""
        elif brd:
            broadcast = brd
        elif peer:
            broadcast = ""
        else:
            broadcast = str(ipaddress.IPv4Network(f"{address}/{network.prefixlen}", strict=False).broadcast_address)
        if peer and not brd and "BROADCAST" in f:
            peers_without_brd.add(address)
        expected.append((name, address, str(network.netmask), broadcast, "LOOPBACK" in f))
    return expected, peers_without_brd


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def field_by_field(got: list[tuple], expected: list[tuple]) -> str:
    lines = []
    for n in range(max(len(got), len(expected))):
        g = got[n] if n < len(got) else None
        e = expected[n] if n < len(expected) else None
        lines.append(f"{'  ' if g == e else '!!'} got {g}  iproute2 {e}")
    return "\n".join(lines)


@lab_test
def test_lab_every_address_of_every_up_interface_as_iproute2_reports_it():
    with netlab.Lab(1) as lab:
        ok(lab.run(1, ["sh", "-ec", ASSORTMENT]))
        addr_show = ok(lab.run(1, ["ip", "-4", "-o", "addr", "show"])).stdout
        link_show = ok(lab.run(1, ["ip", "-o", "link", "show"])).stdout
        out = json.loads(ok(lab.run(1, [PY, "-c", PROBE])).stdout)
    expected, peers_without_brd = judge(addr_show, link_show)
    got = [tuple(i) for i in out["ipv4_interfaces"]]
    assert got == expected, f"\n{field_by_field(got, expected)}\n{addr_show}\n{link_show}"
    # the judge saw what was set up: secondaries, another interface, a down one
    assert len([e for e in expected if e[0] == "eth0"]) == 8
    assert ("v0", "10.9.1.1", "255.255.255.0", "", False) in expected
    assert "172.31.0.1" in addr_show and "172.31.0.1" not in {e[1] for e in expected}

    # the fallback: the first address of each up interface
    first = {}
    for e in expected:
        first.setdefault(e[0], e)
    assert [tuple(i) for i in out["ioctl"]] == list(first.values())

    # glibc's getifaddrs through the walker of macOS and the BSDs: every address but the
    # point-to-point ones on eth0 or v0; names are labels there (eth0:sec)
    walked = [(i[0].split(":")[0], *i[1:]) for i in out["getifaddrs"] if i[1] not in peers_without_brd]
    assert walked == [e for e in expected if e[1] not in peers_without_brd]


BROADCAST_ROUTES = """
import os, mailslot
print(os.environ.get("LANMSG_BROADCAST"), mailslot.broadcast_routes(mailslot.Config()))
"""


@lab_test
def test_lab_broadcast_routes_reach_a_subnet_of_a_secondary_address_once():
    """Issue 16: lanmsg sent group writes and name registrations to the first address's subnet
    only.  A secondary address on that subnet adds no route (its datagrams would go twice)."""
    with netlab.Lab(1) as lab:
        ok(lab.run(1, ["sh", "-ec", "ip addr add 10.213.0.77/24 dev eth0\nip addr add 10.213.5.1/24 brd + dev eth0"]))
        ok(lab.run(1, ["ip", "addr", "add", "10.213.6.1/24", "dev", "eth0"]))  # no brd
        out = ok(lab.run(1, [PY, "-c", BROADCAST_ROUTES])).stdout.strip()
    assert out == (
        "None [('10.213.0.1', '10.213.0.255'), ('10.213.5.1', '10.213.5.255'), ('10.213.6.1', '10.213.6.255')]"
    )


def listen(lab, host, slot, *args):
    p = lab.popen(host, [PY, "-m", "mailslot", "listen", slot, *map(str, args)])
    p.wait_for_line(r"^listening on ")
    return p


def received(stdout: str) -> list[tuple[str, str, str]]:
    """(source name, source IP, text) of each message a listener printed
    (``HH:MM:SS NAME IP \\MAILSLOT\\slot NB text``)."""
    out = []
    for line in stdout.splitlines():
        parts = line.split(" ", 5)
        if len(parts) == 6 and parts[3].startswith("\\MAILSLOT\\"):
            out.append((parts[1], parts[2], parts[5]))
    return out


@lab_test
def test_lab_a_host_on_the_secondary_subnet_only_gets_group_writes_and_finds_the_name():
    """Host 1: 10.213.0.1/24, a secondary 10.213.0.77/24 and 10.213.5.1/24 on eth0.  Host 2:
    10.213.5.2/24 only.  Host 3: 10.213.0.3/24.  Host 1's group writes reach both, once each;
    host 2 resolves LAB-H1 to 10.213.5.1 and writes to it by name."""
    with netlab.Lab(3) as lab:
        ok(lab.run(1, ["sh", "-ec", "ip addr add 10.213.0.77/24 dev eth0\nip addr add 10.213.5.1/24 brd + dev eth0"]))
        ok(lab.run(2, ["sh", "-ec", "ip addr flush dev eth0\nip addr add 10.213.5.2/24 brd + dev eth0"]))
        on_secondary = listen(lab, 2, "foxapp", "--count", 2, "--timeout", 20)
        on_primary = listen(lab, 3, "foxapp", "--count", 2, "--timeout", 20)
        for text in ("first", "second"):
            ok(lab.run(1, [PY, "-m", "mailslot", "send", "*", "foxapp", text]))
        assert received(ok(on_secondary.finish(30)).stdout) == [
            ("LAB-H1", "10.213.5.1", "first"),
            ("LAB-H1", "10.213.5.1", "second"),
        ]
        assert received(ok(on_primary.finish(30)).stdout) == [
            ("LAB-H1", "10.213.0.1", "first"),
            ("LAB-H1", "10.213.0.1", "second"),
        ]

        owner = listen(lab, 1, "other", "--count", 1, "--timeout", 20)  # registers LAB-H1 on both subnets
        resolved = ok(lab.run(2, [PY, "-m", "mailslot", "resolve", "--no-dns", "LAB-H1"])).stdout.split()
        assert resolved == ["10.213.5.1"]
        ok(lab.run(2, [PY, "-m", "mailslot", "send", "LAB-H1", "other", "by-name"]))
        assert received(ok(owner.finish(30)).stdout) == [("LAB-H2", "10.213.5.2", "by-name")]
