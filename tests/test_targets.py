"""Naming a computer (docs/names.md, "Naming a computer"): which text is which kind of target,
which text is refused before anything is sent, the hosts file, and the order in which a name is
looked up (the name service before anything a datagram claimed).  Between real hosts, with a
capture proving that a typo sends nothing: tests/test_lab_field_targets.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import mailslot as M
from lanmsg import auth
from lanmsg import protocol as P
from lanmsg.node import Node
from lanmsg.settings import Settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = M.Config(name="LAB-H1", workgroup="LANTEST", broadcast=("127.255.255.255",))

# (written, kind, NetBIOS name, address, how it is found)
ACCEPTED = [
    (".", "local", ".", None, None),
    ("\\\\.", "local", ".", None, None),
    ("localhost", "local", ".", None, None),
    ("LocalHost", "local", ".", None, None),
    ("lab-h1", "local", "LAB-H1", None, None),  # this computer's own name
    ("*", "group", "LANTEST", None, None),
    ("lantest", "group", "LANTEST", None, None),
    ("10.213.0.7", "unique", "*", "10.213.0.7", None),
    ("127.0.0.1", "unique", "*", "127.0.0.1", None),
    ("223.255.255.254", "unique", "*", "223.255.255.254", None),
    ("desk3011", "unique", "DESK3011", None, "netbios"),
    ("\\\\DESK3011", "unique", "DESK3011", None, "netbios"),
    ("jürgen", "unique", "J\x9aRGEN", None, "netbios"),
    ("ABCDEFGHIJKLMNO", "unique", "ABCDEFGHIJKLMNO", None, "netbios"),  # 15 bytes: the most
    ("0x7f000001", "unique", "0X7F000001", None, "netbios"),  # no dot: a (strange) NetBIOS name, never DNS
    ("pc7.corp.example", "unique", "*", None, "dns"),
    ("pc7.corp.example.", "unique", "*", None, "dns"),
    ("a.b", "unique", "*", None, "dns"),
    ("1st.example", "unique", "*", None, "dns"),
]


@pytest.mark.parametrize(("written", "kind", "name", "address", "lookup"), ACCEPTED)
def test_each_form_a_target_may_take(written, kind, name, address, lookup):
    t = M.classify_target(written, CONFIG)
    assert (t.kind, t.name, t.address, t.lookup) == (kind, name, address, lookup)


# (written, what the one-line error says)
REFUSED = [
    ("10.0.0.256", "not an IPv4 address"),
    ("127.1", "not an IPv4 address"),
    ("1.2.3", "not an IPv4 address"),
    ("1.2.3.4.5", "not an IPv4 address"),
    ("300.1.2.3", "not an IPv4 address"),
    ("1.2.3.4.", "not an IPv4 address"),
    ("10..0.1", "not an IPv4 address"),
    ("010.0.0.1", "not an IPv4 address"),  # octal to the C library, decimal to a person
    ("12345", "not an IPv4 address"),
    ("0x7f.1", "not an IPv4 address"),  # the C library reads it as 127.0.0.1
    ("0.0.0.7", "not a computer's address"),
    ("0.1.2.3", "not a computer's address"),
    ("224.0.0.1", "not a computer's address"),
    ("255.255.255.255", "not a computer's address"),
    ("ABCDEFGHIJKLMNOP", "longer than 15 bytes"),
    ("éééééééééééééééé", "longer than 15 bytes"),
    ("日本", "cannot be written in the DOS code page cp850"),
    ("a..b", "not a DNS name"),
    ("bad*name", "forbids"),
    ("", "target must be"),
    ("   ", "target must be"),
]


@pytest.mark.parametrize(("written", "says"), REFUSED)
def test_text_that_names_no_computer_is_refused(written, says):
    with pytest.raises(M.MailslotNameError, match=says):
        M.classify_target(written, CONFIG)


@pytest.mark.parametrize(("written", "says"), REFUSED[:12])
def test_nothing_is_written_to_a_typo(written, says, port):
    """write() refuses before it opens a socket (the lab test proves no packet leaves)."""
    config = M.Config(port=port, name="LAB-H1", broadcast=("127.255.255.255",))
    with pytest.raises(M.MailslotNameError, match=says):
        M.write(written, "foxapp", b"typo", config=config)


def test_the_transport_itself_refuses_this_network_and_multicast():
    with pytest.raises(M.MailslotError, match="not a computer's address"):
        M._send_datagrams(CONFIG._replace(port=1), [("0.0.0.10", None, False, lambda src: b"x")])


@pytest.mark.parametrize("command", [["send"], ["resolve"]])
def test_python_m_mailslot_says_it_in_one_line_and_exits_2(command, port):
    args = [*command, "10.0.0.256", *(["foxapp", "typo"] if command == ["send"] else [])]
    r = subprocess.run([sys.executable, "-m", "mailslot", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "mailslot: error: '10.0.0.256' is not an IPv4 address: write all four parts in decimal, e.g. 10.0.0.7"
    ]


def test_lanmsg_send_says_it_in_one_line_and_exits_2(port):
    r = subprocess.run(
        [sys.executable, "-m", "lanmsg", "send", "127.1", "typo"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "'127.1' is not an IPv4 address" in r.stderr


# --------------------------------------------------------------------------
# the hosts file: read directly, never through a name server
# --------------------------------------------------------------------------

HOSTS = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost
10.213.0.2   deskpc  DeskPC.corp.example   # the desk
# 10.213.0.3 commented
0.0.0.0 ads.example deskpc
10.213.0.4 printer
10.213.0.5 printer
300.1.2.3 broken
"""


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("deskpc", ["10.213.0.2"]),  # 0.0.0.0, a blackhole entry, is never an address to send to
        ("DESKPC", ["10.213.0.2"]),
        ("deskpc.corp.example", ["10.213.0.2"]),
        ("printer", ["10.213.0.4", "10.213.0.5"]),
        ("localhost", ["127.0.0.1"]),
        ("ip6-localhost", []),
        ("ads.example", []),
        ("broken", []),
        ("commented", []),
        ("nobody", []),
    ],
)
def test_the_hosts_file(tmp_path, name, found):
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    assert M.hosts_file_addresses(name, str(hosts)) == found


def test_an_edit_of_the_hosts_file_counts_at_once(tmp_path):
    """The file is parsed once and kept, but a change (even of the same size, at once) is read."""
    hosts = tmp_path / "hosts"
    hosts.write_text("10.213.0.2 deskpc\n")
    assert M.hosts_file_addresses("deskpc", str(hosts)) == ["10.213.0.2"]
    hosts.write_text("10.213.0.3 deskpc\n")
    assert M.hosts_file_addresses("deskpc", str(hosts)) == ["10.213.0.3"]
    replacement = tmp_path / "hosts.new"
    replacement.write_text("10.213.0.4 deskpc laptop\n")
    os.replace(replacement, hosts)  # as editors and configuration tools write it
    assert M.hosts_file_addresses("laptop", str(hosts)) == ["10.213.0.4"]
    hosts.unlink()
    assert M.hosts_file_addresses("deskpc", str(hosts)) == []


# --------------------------------------------------------------------------
# the order: the name service before anything a datagram claimed (docs/security.md)
# --------------------------------------------------------------------------


@pytest.fixture
def responder(free_udp_port):
    """This process answers for REALNAME on a loopback name-service port."""
    port, ns_port = free_udp_port(), free_udp_port()
    cfg = M.Config(port=port, ns_port=ns_port, name="REALNAME", broadcast=("127.255.255.255",))
    with M.Mailslot("foxapp", config=cfg):
        yield cfg._replace(name="ASKER")
    with M._process.lock:
        M._process.learned.clear()
        M._process.ns_cache.clear()


def test_a_name_the_name_service_resolves_is_never_overridden_by_a_datagrams_claim(responder):
    M.learn_address("REALNAME", "127.0.0.99")  # a forged datagram "from REALNAME"
    assert M.resolve_name("REALNAME", responder, dns=False) == ["127.0.0.1"]
    lookup = M.NameLookup("REALNAME", responder, dns=False)
    assert lookup.wait(30) == ["127.0.0.1"] and lookup.source == "netbios"


def test_an_address_heard_from_a_datagram_is_the_last_resort_and_expires(responder):
    M.learn_address("GHOST", "127.0.0.98")
    lookup = M.NameLookup("GHOST", responder, dns=False)
    assert lookup.wait(30) == ["127.0.0.98"] and lookup.source == "learned"
    with M._process.lock:
        M._process.learned["GHOST"] = ("127.0.0.98", time.monotonic() - 1)  # 10 minutes later
    assert M.learned_address("GHOST") is None
    with pytest.raises(M.MailslotError, match=r"cannot find computer 'GHOST'.*not heard from in the last 10 minutes"):
        M.resolve_name("GHOST", responder, dns=False)


def test_with_the_name_service_off_the_message_says_why(port):
    config = M.Config(port=port, name="ASKER", broadcast=("127.255.255.255",))
    assert config.ns_port == 0
    with pytest.raises(M.MailslotError, match=f"name service is off .the datagram port is {port}, not 138"):
        M.resolve_name("NOBODY-HERE", config, dns=False)


def test_a_group_has_no_address():
    with pytest.raises(M.MailslotNameError, match="is a group"):
        M.NameLookup("*", CONFIG)


# --------------------------------------------------------------------------
# what teaches an address: only frames that pass authentication
# --------------------------------------------------------------------------


def frame_from(sender, data, ip="127.0.0.77"):
    return M.Message(data, "foxapp", sender, ip, "LAB-H1<00>", False, None)


@pytest.fixture
def forget_learned():
    yield
    with M._process.lock:
        M._process.learned.clear()


def test_with_a_key_only_authenticated_frames_teach_an_address(forget_learned):
    key = auth.generate_key()
    node = Node(Settings(config=CONFIG, key=key), None, P.Peer("LAB-H1"))  # type: ignore[arg-type]
    frame = P.encode_frame(P.Frame("FORGER", 7, False, True, "ONLINE"))
    node.receive(frame_from("FORGED", frame))  # no tag
    node.receive(frame_from("FORGED", auth.seal(auth.generate_key(), frame, slot="foxapp", now=time.time())))
    assert M.learned_address("FORGED") is None
    node.receive(frame_from("MEMBER", auth.seal(key, frame, slot="foxapp", now=time.time())))
    assert M.learned_address("MEMBER") == "127.0.0.77"


def test_without_a_key_every_frame_teaches(forget_learned):
    node = Node(Settings(config=CONFIG), None, P.Peer("LAB-H1"))  # type: ignore[arg-type]
    node.receive(frame_from("ANYONE", P.encode_frame(P.Frame("ANYONE", 7, False, True, "ONLINE"))))
    assert M.learned_address("ANYONE") == "127.0.0.77"
