"""mailslot's netbios transport between real hosts: network namespaces on UDP port 138.

Each test builds its own lab (tests/netlab.py): hosts lab-h1, lab-h2, ... on
10.213.0.0/24 behind one bridge, each with its own host name and therefore its
own computer name (LAB-H1, ...).  Every process is ``python -m mailslot`` or a
few lines using the public API, run inside a host as a user would run it.
Without root the whole module skips (see docs/testing.md, "The lab").
"""

import re
import subprocess
import sys

import netlab
import pytest

pytestmark = netlab.pytest_marks()

PY = sys.executable
QUIET = 4  # seconds without a message after which a listener in test 2 may stop
LISTEN_RE = re.compile(r"^\d\d:\d\d:\d\d (\S+) (\S+) \\MAILSLOT\\(\S+) (\d+)B (.*)$")

# One process writing by IPv4 address, by computer name with its address, and
# to every computer of the workgroup ("*").
WRITE_THREE = """
import sys, mailslot
ip, name, slot, tag = sys.argv[1:]
mailslot.write(ip, slot, f"{tag}-by-ip".encode())
mailslot.write(name, slot, f"{tag}-by-name".encode(), address=ip)
mailslot.write("*", slot, f"{tag}-broadcast".encode())
"""

# Waits for "go" on stdin, then writes ROUNDS unicasts and broadcasts to each name.
WRITE_MANY = """
import sys, time, mailslot
ip, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("ready", flush=True)
sys.stdin.readline()
for n in range(rounds):
    for slot in names:
        mailslot.write(ip, slot, f"{slot}-unicast-{n}".encode())
        time.sleep(0.005)
        mailslot.write("*", slot, f"{slot}-broadcast-{n}".encode())
        time.sleep(0.005)
print("sent", flush=True)
"""


def mailslot_cli(*args):
    return [PY, "-m", "mailslot", *map(str, args)]


def start_listener(lab, host, slot, *args, env=None, user=None, python=PY):
    p = lab.popen(host, [python, "-m", "mailslot", "listen", slot, *map(str, args)], env=env, user=user)
    p.wait_for_line(r"^listening on ")
    return p


def messages(stdout):
    """(source name, source IP, mailslot, text) of every message a listener printed."""
    found = []
    for line in stdout.splitlines():
        m = LISTEN_RE.match(line)
        if m:
            name, ip, slot, size, text = m.groups()
            assert int(size) == len(text.encode()), line
            found.append((name, ip, slot, text))
    return found


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


# -- the lab itself ----------------------------------------------------------


def test_lab_hosts_are_separate_computers_on_one_lan():
    """Names, addresses and environment that mailslot sees inside the lab hosts."""
    probe = (
        "import os, mailslot; c = mailslot.Config.from_env(); "
        "print(c.name, c.port, c.broadcast, os.environ.get('LANMSG_BROADCAST'), "
        "[(i.address, i.broadcast) for i in mailslot.ipv4_interfaces() if not i.loopback], "
        "mailslot.broadcast_routes(c))"
    )
    with netlab.Lab(2) as lab:
        for i in (1, 2):
            out = ok(lab.run(i, [PY, "-c", probe])).stdout.strip()
            assert out == (
                f"LAB-H{i} 138 () None [('{lab.addr(i)}', '{lab.broadcast}')] [('{lab.addr(i)}', '{lab.broadcast}')]"
            )
        # LANMSG_NAME given explicitly wins over the host name
        out = ok(
            lab.run(
                1, [PY, "-c", "import mailslot; print(mailslot.Config.from_env().name)"], env={"LANMSG_NAME": "boxone"}
            )
        ).stdout.strip()
        assert out == "BOXONE"


@pytest.mark.skipif(
    netlab.nft_unavailable_reason() is not None, reason=netlab.nft_unavailable_reason() or "nft present"
)
def test_lab_loss_cuts_one_host_and_is_undone():
    with netlab.Lab(3) as lab:
        cut = start_listener(lab, 2, "foxapp", "--count", 1, "--timeout", 20)
        witness = start_listener(lab, 3, "foxapp", "--count", 2, "--timeout", 20)
        lab.loss(2, 100)
        ok(lab.run(1, mailslot_cli("send", "*", "foxapp", "while-cut")))
        witness.wait_for_line("while-cut")  # it was on the wire, and host 2 lost it
        lab.loss(2, 0)
        ok(lab.run(1, mailslot_cli("send", "*", "foxapp", "restored")))
        assert [m[3] for m in messages(ok(cut.finish(20)).stdout)] == ["restored"]
        assert [m[3] for m in messages(ok(witness.finish(20)).stdout)] == ["while-cut", "restored"]


# Three plain sockets share one port with SO_REUSEADDR, bound in order 0, 1, 2.
# Prints, per socket, what it received once the unicast "end" has arrived.
SHARED_PORT = """
import select, socket, sys
port = int(sys.argv[1])
socks = []
for _ in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port))
    s.setblocking(False)
    socks.append(s)
print("ready", flush=True)
got = [[] for _ in socks]

def drain():
    for k, s in enumerate(socks):
        try:
            while True:
                got[k].append(s.recv(100).decode())
        except BlockingIOError:
            pass

# "end" is sent last: once it is in, everything sent before it is queued too
while "end" not in got[2] and select.select(socks, [], [], 20)[0]:
    drain()
drain()
for k, g in enumerate(got):
    print(k, " ".join(sorted(g)))
"""

SEND_SHARED = """
import socket, sys
bcast, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for n in range(3):
    s.sendto(f"b{n}".encode(), (bcast, port))
    s.sendto(f"u{n}".encode(), (ip, port))
s.sendto(b"end", (ip, port))
"""


def test_lab_kernel_shares_a_port_as_the_design_assumes():
    """The premise of mailslot's local hand-off (docs/mailslot.md): with SO_REUSEADDR
    every socket on the port gets each broadcast, only the last-bound one a unicast."""
    with netlab.Lab(2) as lab:
        rx = lab.popen(1, [PY, "-c", SHARED_PORT, lab.port])
        rx.wait_for_line("^ready")
        ok(lab.run(2, [PY, "-c", SEND_SHARED, lab.broadcast, lab.addr(1), lab.port]))
        assert ok(rx.finish(30)).stdout.splitlines()[1:] == ["0 b0 b1 b2", "1 b0 b1 b2", "2 b0 b1 b2 end u0 u1 u2"]


# -- issue requirements --------------------------------------------------------


def test_unicast_and_broadcast_in_both_directions():
    """Writes by IP, by computer name and to "*" arrive with their sender's name and address.

    A third host on the same LAN gets the broadcasts and none of the unicasts;
    the owner on the writing host gets its own broadcast exactly once.
    """
    with netlab.Lab(3) as lab:
        bystander = start_listener(lab, 3, "foxapp", "--count", 2, "--timeout", 30)
        h2 = start_listener(lab, 2, "FoxApp", "--count", 4, "--timeout", 30)
        h1 = start_listener(lab, 1, "foxapp", "--count", 3, "--timeout", 30)
        # host 2 -> host 1: the sender's computer name is its host name, upper-cased
        ok(lab.run(2, [PY, "-c", WRITE_THREE, lab.addr(1), "LAB-H1", "foxapp", "h2"]))
        got = messages(ok(h1.finish(20)).stdout)
        assert sorted(got) == sorted(
            [("LAB-H2", lab.addr(2), "foxapp", f"h2-{how}") for how in ("by-ip", "by-name", "broadcast")]
        )
        # host 1 -> host 2, the sender named by LANMSG_NAME; the CLI this time
        boxone = {"LANMSG_NAME": "boxone"}
        ok(lab.run(1, mailslot_cli("send", lab.addr(2), "foxapp", "h1-by-ip"), env=boxone))
        ok(
            lab.run(
                1,
                [
                    PY,
                    "-c",
                    f"import mailslot; mailslot.write('lab-h2', 'FOXAPP', b'h1-by-name', address='{lab.addr(2)}')",
                ],
                env=boxone,
            )
        )
        ok(lab.run(1, mailslot_cli("send", "*", "foxapp", "h1-broadcast"), env=boxone))
        got = messages(ok(h2.finish(20)).stdout)
        own = [m for m in got if m[0] == "LAB-H2"]
        assert len(own) == 1 and own[0][2:] == ("FoxApp", "h2-broadcast"), got
        assert own[0][1] in ("127.0.0.1", lab.addr(2)), got
        assert sorted(m for m in got if m[0] != "LAB-H2") == sorted(
            [("BOXONE", lab.addr(1), "FoxApp", f"h1-{how}") for how in ("by-ip", "by-name", "broadcast")]
        )
        got = messages(ok(bystander.finish(20)).stdout)
        assert got == [
            ("LAB-H2", lab.addr(2), "foxapp", "h2-broadcast"),
            ("BOXONE", lab.addr(1), "foxapp", "h1-broadcast"),
        ]


def test_three_owners_on_one_host_each_get_exactly_their_own():
    """Only the last-bound socket sees a unicast; it hands the others' to them locally.

    Three listeners share UDP 138 on host 1.  Host 2 writes several unicasts
    and broadcasts to each name; every listener must print exactly its own
    messages, each once, and nothing else.
    """
    names = ("alpha", "beta", "gamma")
    rounds = 4  # at most 9: a local inbox queues 10 datagrams (net.unix.max_dgram_qlen)
    with netlab.Lab(2) as lab:
        writer = lab.popen(2, [PY, "-c", WRITE_MANY, lab.addr(1), rounds, *names], stdin=subprocess.PIPE)
        writer.wait_for_line("^ready")
        # --timeout: each exits once nothing more arrives for QUIET s, so late
        # duplicates or other owners' messages would be printed too
        listeners = {slot: lab.popen(1, mailslot_cli("listen", slot, "--timeout", QUIET)) for slot in names}
        for p in listeners.values():
            p.wait_for_line(r"^listening on ")
        writer.stdin.write("go\n")
        writer.stdin.flush()
        ok(writer.finish(30))
        for slot, p in listeners.items():
            result = p.finish(30)
            assert result.returncode == 1 and f"no message within {QUIET} s" in result.stderr, result
            got = messages(result.stdout)
            expected = [
                ("LAB-H2", lab.addr(2), slot, f"{slot}-{kind}-{n}")
                for n in range(rounds)
                for kind in ("unicast", "broadcast")
            ]
            assert sorted(got) == sorted(expected), slot


def test_second_owner_of_a_name_on_one_host_is_refused_other_hosts_may_own_it():
    with netlab.Lab(2) as lab:
        first = start_listener(lab, 1, "foxapp", "--count", 1, "--timeout", 30)
        second = lab.run(1, mailslot_cli("listen", "FOXAPP", "--count", 1, "--timeout", 5), timeout=20)
        assert second.returncode == 3, second
        assert "already exists" in second.stderr and "183" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        assert "listening on" not in second.stdout
        elsewhere = start_listener(lab, 2, "foxapp", "--count", 1, "--timeout", 30)
        # both owners work, and the refused attempt took nothing from the first one
        ok(lab.run(2, mailslot_cli("send", lab.addr(1), "foxapp", "for-h1")))
        ok(lab.run(1, mailslot_cli("send", lab.addr(2), "foxapp", "for-h2")))
        assert messages(ok(first.finish(20)).stdout) == [("LAB-H2", lab.addr(2), "foxapp", "for-h1")]
        assert messages(ok(elsewhere.finish(20)).stdout) == [("LAB-H1", lab.addr(1), "foxapp", "for-h2")]


def test_unprivileged_user_gets_the_port_138_remedies_not_a_traceback():
    if netlab.tool("setpriv") is None:
        pytest.skip("needs `setpriv` (Debian package util-linux) to run as nobody")
    with netlab.Lab(2) as lab:
        py = lab.python("nobody")
        if py is None:
            pytest.skip("no Python >= 3.10 that user nobody can run with this repository")
        for args in (("listen", "foxapp", "--timeout", 5), ("send", "*", "foxapp", "hello")):
            r = lab.run(1, [py, "-m", "mailslot", *map(str, args)], user="nobody", timeout=20)
            assert r.returncode == 3, r
            for remedy in ("CAP_NET_BIND_SERVICE", "setcap", "ip_unprivileged_port_start"):
                assert remedy in r.stderr, r.stderr
            assert "Traceback" not in r.stderr
        # the sysctl remedy the message names works (it is per network namespace)
        lab.sysctl(1, "net.ipv4.ip_unprivileged_port_start", 138)
        p = start_listener(lab, 1, "foxapp", "--count", 1, "--timeout", 20, user="nobody", python=py)
        ok(lab.run(2, mailslot_cli("send", lab.addr(1), "foxapp", "hello-nobody")))
        assert messages(ok(p.finish(20)).stdout) == [("LAB-H2", lab.addr(2), "foxapp", "hello-nobody")]
