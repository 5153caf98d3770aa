"""lanmsg announce / discover between real hosts, on UDP port 138.

Each test builds its own lab (tests/netlab.py): hosts lab-h1, lab-h2, lab-h3 on
10.213.0.0/24 behind one bridge.  Every process is ``python -m lanmsg ...`` or a
few lines of the public mailslot API run inside a host as a user would run it,
and every assertion is on what that user sees: the lines and exit code of
``discover``, the bytes an msclient-like reader gets.  The msserver/msclient
wire format is rebuilt here from the seed's C struct
(``{DWORD msg_id; char ipStr[20]; DWORD ip; UINT port;}``, little-endian,
``ip`` = inet_addr()), independently of lanmsg.protocol.
No timing is asserted beyond generous upper bounds: the machine is shared.
Without root the whole module skips (see docs/testing.md, "The lab").
"""

import json
import re
import socket
import struct
import subprocess
import sys
import time

import netlab

pytestmark = netlab.pytest_marks()

PY = sys.executable
NEVER_HANGS_S = 60  # generous upper bound for a one-shot command: the machine is shared
MS_SLOT = "@_MSClient_@"
MS_MESSAGE = struct.Struct("<I20sII")  # the seed's MS_MESSAGE as a Windows (x86) C compiler lays it out
MS_MESSAGE_ID = 0xAABBCCDD

# The seed's msserver: MS_MESSAGE written to \\*\mailslot\@_MSClient_@ every
# second; it reads nothing, so it never answers a discover query.
MSSERVER = r"""
import socket, struct, sys, time
import mailslot
ip, port = sys.argv[1], int(sys.argv[2])
inet_addr = struct.unpack("<I", socket.inet_aton(ip))[0]   # inet_addr(): network-order bytes in a DWORD
data = struct.pack("<I20sII", 0xaabbccdd, ip.encode("ascii"), inet_addr, port)
print("broadcasting", len(data), flush=True)
while True:
    mailslot.write("*", "@_MSClient_@", data)
    time.sleep(1)
"""

# The seed's msclient: owns \\.\mailslot\@_MSClient_@ and reads what arrives.
MSCLIENT = r"""
import sys, mailslot
count = int(sys.argv[1])
with mailslot.Mailslot("@_MSClient_@") as slot:
    print("reading", flush=True)
    for _ in range(count):
        msg = slot.read(20)
        print(msg.source_ip, msg.data.hex(), flush=True)
"""

# A TCP server clients could connect to; reports each connection.
TCP_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    print("accepted", peer[0], flush=True)
    c.close()
"""


def lanmsg(*args):
    return [PY, "-m", "lanmsg", *map(str, args)]


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def discover(lab, host, *args):
    return lab.run(host, lanmsg("discover", *args), timeout=NEVER_HANGS_S)


def start_announcer(lab, host, port, *args):
    p = lab.popen(host, lanmsg("announce", port, *args))
    p.wait_for_line(
        rf"^announcing {re.escape(lab.addr(host))}:{port} on "
        rf"\\\\\*\\mailslot\\@_MSClient_@ every \S+ s \(netbios\); Ctrl-C to stop$"
    )
    return p


def stop_announcer(p):
    p.terminate()
    r = ok(p.finish(20))
    assert re.search(r"^stopped after \d+ broadcasts and \d+ answers$", r.stdout, re.M), r.stdout
    return r


def endpoint(lab, host, port):
    return f"{lab.addr(host)}:{port}"


# -- 1. one announcer, two clients at once ----------------------------------------


def test_two_clients_starting_together_both_find_the_server():
    with netlab.Lab(3) as lab:
        server = start_announcer(lab, 2, 5000)
        # both wait at a shell `read` until released together: two queries in the same moment
        clients = {
            i: lab.popen(
                i, ["sh", "-c", 'echo ready; read go; exec "$@"', "sh", *lanmsg("discover")], stdin=subprocess.PIPE
            )
            for i in (1, 3)
        }
        for p in clients.values():
            p.wait_for_line("^ready$")
        for p in clients.values():
            p.stdin.write("go\n")
            p.stdin.flush()
        for i, p in clients.items():
            r = ok(p.finish(NEVER_HANGS_S))
            assert r.stdout == f"ready\n{endpoint(lab, 2, 5000)}\n", (i, r.stdout)
        stop_announcer(server)


def test_discover_is_answered_between_broadcasts():
    """An announcer that broadcasts only every 60 s is still found at once: it answers the query."""
    with netlab.Lab(2) as lab:
        server = start_announcer(lab, 2, 5000, "--interval", 60)
        time.sleep(0.5)  # its first broadcast is gone: only an answer can reach discover now
        r = ok(discover(lab, 1, "--json"))
        records = [json.loads(line) for line in r.stdout.splitlines()]
        assert [(x["event"], x["ip"], x["port"], x["via"]) for x in records] == [
            ("server", lab.addr(2), 5000, "answer")
        ], r.stdout
        r = stop_announcer(server)
        assert re.search(r"^stopped after 1 broadcasts and [1-9]\d* answers$", r.stdout, re.M), r.stdout


# -- 2. several servers ------------------------------------------------------------


def test_discover_all_lists_every_server_once():
    with netlab.Lab(3) as lab:
        servers = [start_announcer(lab, 2, 5000), start_announcer(lab, 3, 6000)]
        expected = sorted([endpoint(lab, 2, 5000), endpoint(lab, 3, 6000)])
        r = ok(discover(lab, 1, "--all", "--timeout", 3))
        lines = r.stdout.splitlines()
        assert sorted(lines) == expected, r.stdout  # one line each: no duplicates
        r = ok(discover(lab, 1, "--all", "--timeout", 3, "--json"))
        records = [json.loads(line) for line in r.stdout.splitlines()]
        assert all(isinstance(x, dict) and x["event"] == "server" for x in records), r.stdout
        assert sorted(f"{x['ip']}:{x['port']}" for x in records) == expected, r.stdout
        assert all(isinstance(x["port"], int) for x in records), r.stdout
        for p in servers:
            stop_announcer(p)


# -- 3. nobody there -------------------------------------------------------------


def test_discover_with_no_server_exits_1_after_its_timeout():
    with netlab.Lab(2) as lab:
        started = time.monotonic()
        r = discover(lab, 1, "--timeout", 1.5)
        elapsed = time.monotonic() - started
        assert r.returncode == 1, r
        assert r.stdout == "", r.stdout
        assert r.stderr.startswith("lanmsg: error: no server answered within 1.5 s"), r.stderr
        assert len(r.stderr.splitlines()) == 1, r.stderr
        assert elapsed < 30, elapsed  # it returns; generous, the machine is shared


# -- 4. --check --------------------------------------------------------------------


def test_check_lists_only_servers_that_accept_a_connection():
    with netlab.Lab(3) as lab:
        tcp = lab.popen(2, [PY, "-c", TCP_SERVER, 7000])
        tcp.wait_for_line("^ready$")
        servers = [start_announcer(lab, 2, 7000), start_announcer(lab, 3, 7001)]  # nothing on h3:7001
        # both are heard ...
        r = ok(discover(lab, 1, "--all", "--timeout", 3))
        assert sorted(r.stdout.splitlines()) == sorted([endpoint(lab, 2, 7000), endpoint(lab, 3, 7001)]), r.stdout
        # ... and only the open one is listed with --check, which really connected to it
        r = ok(discover(lab, 1, "--all", "--check", "--timeout", 3))
        assert r.stdout.splitlines() == [endpoint(lab, 2, 7000)], r.stdout
        tcp.wait_for_line(rf"^accepted {re.escape(lab.addr(1))}$")
        # --check alone when no server is open: nothing listed, exit 1
        servers[0].terminate()
        ok(servers[0].finish(20))
        r = discover(lab, 1, "--check", "--timeout", 3)
        assert r.returncode == 1 and r.stdout == "", r
        assert r.stderr.startswith(f"lanmsg: error: found {endpoint(lab, 3, 7001)} but no connection"), r.stderr
        assert len(r.stderr.splitlines()) == 1, r.stderr
        stop_announcer(servers[1])


# -- 5. the original msserver -------------------------------------------------------


def test_discover_finds_an_msserver_that_only_broadcasts():
    with netlab.Lab(2) as lab:
        server = lab.popen(2, [PY, "-c", MSSERVER, lab.addr(2), 5000])
        server.wait_for_line("^broadcasting 32$")
        r = ok(discover(lab, 1))
        assert r.stdout == f"{endpoint(lab, 2, 5000)}\n", r.stdout
        r = ok(discover(lab, 1, "--json"))
        records = [json.loads(line) for line in r.stdout.splitlines()]
        assert [(x["ip"], x["port"], x["via"]) for x in records] == [(lab.addr(2), 5000, "broadcast")], r.stdout
        assert "note" not in records[0], records  # read exactly as written, nothing guessed


# -- 6. what announce puts on the wire -------------------------------------------


def test_announce_is_what_msclient_reads():
    with netlab.Lab(2) as lab:
        client = lab.popen(1, [PY, "-c", MSCLIENT, 2])
        client.wait_for_line("^reading$")
        server = start_announcer(lab, 2, 5000)
        r = ok(client.finish(NEVER_HANGS_S))
        stop_announcer(server)
        got = [line.split() for line in r.stdout.splitlines()[1:]]
        assert len(got) == 2, r.stdout  # two of the once-a-second broadcasts
        for source_ip, hexdata in got:
            assert source_ip == lab.addr(2)
            data = bytes.fromhex(hexdata)
            assert len(data) == MS_MESSAGE.size == 32, data
            msg_id, ip_str, ip, port = MS_MESSAGE.unpack(data)
            assert msg_id == MS_MESSAGE_ID
            assert ip_str == lab.addr(2).encode("ascii").ljust(20, b"\0")  # NUL-terminated dotted quad
            assert struct.pack("<I", ip) == socket.inet_aton(lab.addr(2))  # inet_addr(): network order
            assert port == 5000


# -- 7. beside the messenger -----------------------------------------------------


def test_discover_works_beside_a_messenger_listener():
    clock = r"^\d\d:\d\d:\d\d "
    with netlab.Lab(2) as lab:
        listener = lab.popen(1, lanmsg("listen"))
        listener.wait_for_line(
            clock + r"listening as LAB-H1 on mailslot foxapp \(netbios, UDP 138\); "
            r"Ctrl-C to leave$"
        )
        server = start_announcer(lab, 2, 5000, "--interval", 60)  # found by its answer, a unicast
        r = ok(discover(lab, 1))
        assert r.stdout == f"{endpoint(lab, 2, 5000)}\n", r.stdout
        # the listener still gets its unicasts after discover came and went
        ok(lab.run(2, lanmsg("send", lab.addr(1), "after discover"), timeout=NEVER_HANGS_S))
        listener.wait_for_line(clock + r"LAB-H2: after discover$")
        stop_announcer(server)
        assert listener.poll() is None, listener.stdout_text
        listener.terminate()
        r = ok(listener.finish(20))
        assert "@_MSClient_@" not in r.stdout and "LMDQ" not in r.stdout, r.stdout
