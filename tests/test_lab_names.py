"""lanmsg's NetBIOS name service between real hosts, judged by independent parts.

* Samba's nmblookup is the client: it finds a lanmsg host by broadcast, reads its names with a
  node status query, and asks a WINS server (Samba's nmbd) across a router.
* Samba's nmbd is a peer: it holds names lanmsg must not take, claims lanmsg's name after it,
  receives a mailslot write addressed to it by name alone.
* winpeer (tests/peers/winpeer.py, written from RFC 1002 and the FoxPro seed, not from lanmsg's
  code) behaves as a Windows PC running the original messenger: it replies to a sender only by
  resolving the sender's *name*, never to the address a frame came from.
* tshark judges every name-service packet lanmsg put on the wire.

Hosts are lab-hI, so their computer names are LAB-HI.  Without root, or without Samba, the module
skips and says why (docs/testing.md).
"""

from __future__ import annotations

import re
import sys
import time

import netlab
import pytest
import samba
from peers.winpeer import read_events, winpeer_argv

pytestmark = samba.pytest_marks()

PY = sys.executable
NEVER_HANGS_S = 60  # upper bound for one-shot commands on a shared machine; not a speed assertion
CLOCK = r"^\d\d:\d\d:\d\d "


def lanmsg(*args):
    return [PY, "-m", "lanmsg", *map(str, args)]


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def start_listener(lab, host, *args):
    p = lab.popen(host, lanmsg("listen", *args))
    p.wait_for_line(CLOCK + r"listening as \S+ on mailslot foxapp")
    return p


OWNERS = {
    "lanmsg listen": (lambda: lanmsg("listen"), CLOCK + r"listening as "),
    "lanmsg announce": (lambda: lanmsg("announce", "5000"), r"announcing "),
    "python -m mailslot listen": (lambda: [PY, "-m", "mailslot", "listen", "foxapp"], r"^listening on "),
}


def names_of(status_output: str) -> dict[str, str]:
    """nmblookup -A lines ``\tNAME <00> - <GROUP> B <ACTIVE>`` as {NAME<00>: flags text}."""
    out = {}
    for m in re.finditer(r"^\s+(\S+)\s+<([0-9a-f]{2})> - (.*)$", status_output, re.M):
        out[f"{m.group(1)}<{m.group(2)}>"] = m.group(3).strip()
    return out


@pytest.mark.parametrize("owner", list(OWNERS))
def test_nmblookup_finds_a_lanmsg_host_and_reads_its_names_then_sees_them_released(owner):
    argv, ready = OWNERS[owner]
    with netlab.Lab(3) as lab, samba.Capture(lab, 1, ports=(137,)) as cap:
        p = lab.popen(2, argv())
        p.wait_for_line(ready)
        found = samba.nmblookup(lab, 1, "-B", lab.broadcast, "LAB-H2")
        assert samba.lookup_addresses(found, "LAB-H2") == [lab.addr(2)], found.stdout + found.stderr
        status = samba.nmblookup(lab, 1, "-A", lab.addr(2))
        assert status.returncode == 0, status.stdout + status.stderr
        names = names_of(status.stdout)
        assert names.get("LAB-H2<00>") == "B <ACTIVE>", status.stdout
        assert names.get("WORKGROUP<00>") == "<GROUP> B <ACTIVE>", status.stdout
        unknown = samba.nmblookup(lab, 1, "-U", lab.addr(2), "NOSUCH")  # RD=0: a negative answer
        assert unknown.returncode == 1 and "name_query failed to find name NOSUCH" in unknown.stdout
        p.terminate()
        r = p.finish(20)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
        gone = samba.nmblookup(lab, 1, "-B", lab.broadcast, "LAB-H2")
        assert gone.returncode == 1, gone.stdout
    assert samba.nbns_problems(cap.pcap) == ""
    fields = samba.tshark_read(
        cap.pcap, "-Y", f"nbns && ip.src == {lab.addr(2)}", "-T", "fields", "-E", "occurrence=f",
        "-e", "nbns.flags", "-e", "nbns.name",
    )  # fmt: skip
    sent = {(flags, name.split(" ")[0]) for flags, name in (line.split("\t") for line in fields.splitlines())}
    assert ("0x2910", "LAB-H2<00>") in sent  # registration, broadcast
    assert ("0x8500", "LAB-H2<00>") in sent  # positive answer
    assert ("0x8503", "NOSUCH<00>") in sent  # negative answer to a unicast RD=0 question
    assert ("0x3010", "LAB-H2<00>") in sent  # release, broadcast
    assert any(flags == "0x8400" for flags, _ in sent)  # node status answer


def test_a_name_nmbd_holds_is_refused_and_listen_exits_3_naming_its_address():
    with netlab.Lab(2) as lab, samba.Nmbd(lab, 1, netbios_name="SAMBAHOST"):
        r = lab.run(2, lanmsg("listen", "--name", "SAMBAHOST"), timeout=NEVER_HANGS_S)
        assert r.returncode == 3, r.stdout + r.stderr
        errors = [line for line in r.stderr.splitlines() if line.startswith("lanmsg: error:")]
        assert len(errors) == 1 and "SAMBAHOST<00>" in errors[0] and lab.addr(1) in errors[0], r.stderr
        assert "Traceback" not in r.stderr
        found = samba.nmblookup(lab, 2, "-B", lab.broadcast, "SAMBAHOST")
        assert samba.lookup_addresses(found, "SAMBAHOST") == [lab.addr(1)]


def test_lanmsg_defends_its_name_against_a_later_nmbd_and_keeps_it():
    with netlab.Lab(3) as lab:
        listener = start_listener(lab, 2)
        time.sleep(2.5)  # its own registration is over (3 tries 750 ms apart)
        with samba.Nmbd(lab, 3, netbios_name="SAMBAHOST", aliases=("LAB-H2",)) as nmbd:
            nmbd.wait_for_log(r"Failed to register my name LAB-H2<00>", timeout=30)
            found = samba.nmblookup(lab, 1, "-B", lab.broadcast, "LAB-H2")
            assert samba.lookup_addresses(found, "LAB-H2") == [lab.addr(2)], found.stdout
        listener.terminate()
        r = listener.finish(20)
        assert re.search(
            r"lanmsg: note: defended LAB-H2<00> against a registration by " + re.escape(lab.addr(3)), r.stderr
        ), r.stderr


def test_a_test_senders_registration_of_our_name_gets_act_err():
    script = (
        "import socket, sys, mailslot as M\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\n"
        "s.settimeout(3)\n"
        "p = M.ns_name_request(0x4242, M.NS_OP_REGISTRATION, M.NetbiosName('LAB-H2'), M.NBEntry(0, sys.argv[1]),"
        " ttl=0, broadcast=True)\n"
        "s.sendto(p, (sys.argv[2], 137)); data, peer = s.recvfrom(600); a = M.decode_ns_packet(data)\n"
        "print(hex(a.flags), peer[0], M.decode_nb_rdata(a.answers[0].rdata)[0].address)\n"
    )
    with netlab.Lab(3) as lab:
        listener = start_listener(lab, 2)
        r = ok(lab.run(1, [PY, "-c", script, lab.addr(1), lab.broadcast], timeout=NEVER_HANGS_S))
        assert r.stdout.split() == ["0xad86", lab.addr(2), lab.addr(1)]
        found = samba.nmblookup(lab, 3, "-B", lab.broadcast, "LAB-H2")
        assert samba.lookup_addresses(found, "LAB-H2") == [lab.addr(2)]
        listener.terminate()
        listener.finish(20)


def test_python_m_mailslot_send_reaches_nmbd_by_name_alone():
    with (
        netlab.Lab(2, empty_resolv_conf=True) as lab,
        samba.Nmbd(lab, 1, netbios_name="SAMBAHOST", debug_level=5) as nmbd,
    ):
        r = ok(lab.run(2, [PY, "-m", "mailslot", "send", "SAMBAHOST", "FOXAPP", "hi"], timeout=NEVER_HANGS_S))
        assert "wrote 2 bytes to \\\\SAMBAHOST\\mailslot\\FOXAPP" in r.stdout
        res = ok(lab.run(2, [PY, "-m", "mailslot", "resolve", "sambahost"], timeout=NEVER_HANGS_S))
        assert res.stdout.split() == [lab.addr(1)]
        nmbd.wait_for_log(r"(?i)process_dgram|FOXAPP", timeout=15)
        miss = lab.run(2, [PY, "-m", "mailslot", "resolve", "NOBODY"], timeout=NEVER_HANGS_S)
        assert miss.returncode == 1 and miss.stdout == ""


# --------------------------------------------------------------------------
# a Windows-faithful peer: replies only by name
# --------------------------------------------------------------------------


def start_winpeer(lab, host, name, **options):
    p = lab.popen(host, winpeer_argv(name, broadcast=lab.broadcast_of(host), **options))
    p.wait_for_line(r'"event": ?"turned_on"', timeout=30)
    return p


def test_a_windows_faithful_peer_gets_its_conf_and_is_confirmed_and_detected():
    with netlab.Lab(3, empty_resolv_conf=True) as lab:
        listener = start_listener(lab, 2)
        # the peer sends to lanmsg's name and gets its CONF
        r = lab.run(1, winpeer_argv("WINPEER1", broadcast=lab.broadcast, send=("LAB-H2", "hello lanmsg"), timeout=10),
                    timeout=NEVER_HANGS_S)  # fmt: skip
        events = read_events(r.stdout)
        assert r.returncode == 0, r.stdout + r.stderr
        assert any(
            e["event"] == "resolved" and e["name"].startswith("LAB-H2") and e["address"] == lab.addr(2) for e in events
        )
        # lanmsg sends to the peer, which must resolve LAB-H2 by NBNS for the CONF
        peer = start_winpeer(lab, 3, "WINPEER3")
        sent = ok(lab.run(2, lanmsg("send", "WINPEER3", "hi from lanmsg"), timeout=NEVER_HANGS_S))
        assert "confirmed by WINPEER3" in sent.stdout, sent.stdout
        detected = ok(lab.run(2, lanmsg("detect"), timeout=NEVER_HANGS_S))
        assert f"WINPEER3 {lab.addr(3)}" in detected.stdout.splitlines(), detected.stdout
        peer.terminate()
        out = peer.finish(20).stdout
        conf = [e for e in read_events(out) if e["event"] == "conf_sent"]
        assert conf and conf[0]["address"] == lab.addr(2), out
        listener.terminate()
        shown = listener.finish(20).stdout
        assert re.search(CLOCK + r"WINPEER1: hello lanmsg$", shown, re.M), shown


def test_a_one_shot_send_answers_for_its_own_name_while_it_waits():
    """No listener: the `send` process itself must answer the peer's name query, or the CONF is lost."""
    with netlab.Lab(2, empty_resolv_conf=True) as lab:
        peer = start_winpeer(lab, 1, "WINPEER1")
        sent = ok(lab.run(2, lanmsg("send", "WINPEER1", "one shot"), timeout=NEVER_HANGS_S))
        assert "confirmed by WINPEER1" in sent.stdout
        peer.terminate()
        events = read_events(peer.finish(20).stdout)
        assert any(
            e["event"] == "resolved" and e["name"].startswith("LAB-H2") and e["via"] == "broadcast" for e in events
        )


# --------------------------------------------------------------------------
# two subnets: WINS
# --------------------------------------------------------------------------


def test_wins_carries_names_across_a_router():
    # h1 (WINS server, nmbd) and h2 (lanmsg) on one subnet; h3 (the Windows-faithful H-node) on the other
    with netlab.Lab(3, subnets=2, split=2, empty_resolv_conf=True) as lab:
        assert lab.side(3) != lab.side(2)
        wins = lab.addr(1)
        with samba.Nmbd(lab, 1, netbios_name="WINSSRV", wins_support=True):
            listener = start_listener(lab, 2, "--wins", wins)
            deadline = time.monotonic() + 20
            while True:  # the registration goes out before the first frame; WINS answers in milliseconds
                found = samba.nmblookup(lab, 3, "-U", wins, "--recursion", "LAB-H2")
                if samba.lookup_addresses(found, "LAB-H2") == [lab.addr(2)] or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert samba.lookup_addresses(found, "LAB-H2") == [lab.addr(2)], found.stdout
            # the H-node on the other subnet sends to lanmsg's name and gets its CONF through WINS
            r = lab.run(3, winpeer_argv("WINPEER3", broadcast=lab.broadcast_of(3), wins=wins,
                                        send=("LAB-H2", "across"), timeout=15), timeout=NEVER_HANGS_S)  # fmt: skip
            assert r.returncode == 0, r.stdout + r.stderr
            # lanmsg crosses the router by name
            peer = start_winpeer(lab, 3, "WINPEER3", wins=wins)
            sent = ok(lab.run(2, lanmsg("send", "--wins", wins, "WINPEER3", "over the router"), timeout=NEVER_HANGS_S))
            assert "confirmed by WINPEER3" in sent.stdout
            peer.terminate()
            events = read_events(peer.finish(20).stdout)
            assert any(
                e["event"] == "resolved" and e["name"].startswith("LAB-H2") and e["via"] == "wins" for e in events
            )
            listener.terminate()
            assert listener.finish(20).returncode == 0
            gone = samba.nmblookup(lab, 3, "-U", wins, "--recursion", "LAB-H2")
            assert gone.returncode == 1, gone.stdout


COUNT_ANSWERS = (
    "import socket, sys, time, mailslot as M\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\n"
    "s.sendto(M.ns_name_query(0x5151, M.NetbiosName(sys.argv[1]), broadcast=True), (sys.argv[2], 137))\n"
    "s.settimeout(0.2); got = []\n"
    "end = time.monotonic() + 1.0\n"
    "while time.monotonic() < end:\n"
    "    try: data, peer = s.recvfrom(600)\n"
    "    except TimeoutError: continue\n"
    "    got.append(peer[0])\n"
    "print(' '.join(got))\n"
)


def test_processes_of_one_host_share_the_name_and_the_last_one_releases_it():
    with netlab.Lab(2) as lab:
        first = lab.popen(2, [PY, "-m", "mailslot", "listen", "one"])
        first.wait_for_line(r"^listening on ")
        second = lab.popen(2, [PY, "-m", "mailslot", "listen", "two"])
        second.wait_for_line(r"^listening on ")
        time.sleep(2.5)  # past the registration: the second process must not have fought the first
        answers = ok(lab.run(1, [PY, "-c", COUNT_ANSWERS, "LAB-H2", lab.broadcast], timeout=NEVER_HANGS_S))
        assert answers.stdout.split() == [lab.addr(2)]  # one answer for the host, not one per process
        first.terminate()
        r1 = first.finish(20)
        assert r1.returncode == 0 and "NetBIOS" not in r1.stderr, r1.stderr
        still = samba.nmblookup(lab, 1, "-B", lab.broadcast, "LAB-H2")
        assert samba.lookup_addresses(still, "LAB-H2") == [lab.addr(2)], still.stdout
        second.terminate()
        assert second.finish(20).returncode == 0
        gone = samba.nmblookup(lab, 1, "-B", lab.broadcast, "LAB-H2")
        assert gone.returncode == 1, gone.stdout


def test_wins_refresh_at_half_the_ttl_and_challenges_answered_keep_the_name():
    with netlab.Lab(3, empty_resolv_conf=True) as lab, samba.Capture(lab, 2, ports=(137,)) as cap:
        wins = lab.addr(1)
        short = {"min wins ttl": "6", "max wins ttl": "6"}
        with samba.Nmbd(lab, 1, netbios_name="WINSSRV", wins_support=True, extra=short):
            listener = start_listener(lab, 2, "--wins", wins)
            time.sleep(4.5)  # granted 6 s: the refresh goes out at 3 s
            # another host claims LAB-H2 at WINS: WINS challenges lanmsg, which answers, so the claim fails
            claim = lab.run(
                3, winpeer_argv("LAB-H2", broadcast=lab.broadcast, wins=wins, duration=1), timeout=NEVER_HANGS_S
            )
            assert claim.returncode == 3, claim.stdout + claim.stderr
            assert any(e["event"] == "conflict" for e in read_events(claim.stdout))
            found = samba.nmblookup(lab, 3, "-U", wins, "--recursion", "LAB-H2")
            assert samba.lookup_addresses(found, "LAB-H2") == [lab.addr(2)], found.stdout
            listener.terminate()
            assert listener.finish(20).returncode == 0
    assert samba.nbns_problems(cap.pcap) == ""
    fields = samba.tshark_read(cap.pcap, "-Y", f"nbns && ip.src == {lab.addr(2)} && ip.dst == {wins}",
                               "-T", "fields", "-e", "nbns.flags")  # fmt: skip
    flags = fields.split()
    assert flags[0] == "0x2900" and "0x4000" in flags and flags[-1] == "0x3000", flags  # register, refresh, release
    challenged = samba.tshark_read(cap.pcap, "-Y", f"nbns && ip.src == {lab.addr(2)} && nbns.flags == 0x8500",
                                   "-T", "fields", "-e", "ip.dst")  # fmt: skip
    assert wins in challenged.split(), challenged  # lanmsg answered the server's challenge


def test_beside_nmbd_on_its_host_lanmsg_gets_unicasts_through_nmbd_and_says_how_to_share_the_name():
    """Samba's nmbd holds 137 and 138 on host 1's address, so unicasts to host 1 reach nmbd only.
    lanmsg reads them from nmbd's unexpected socket; nmbd owns the name (netbios name or alias)."""
    with (
        netlab.Lab(2, empty_resolv_conf=True) as lab,
        samba.Nmbd(lab, 1, netbios_name="SAMBAHOST", aliases=("LAB-H1",)) as nmbd,
    ):
        listener = lab.popen(1, lanmsg("listen"), env={"LANMSG_SMB_CONF": nmbd.conf})  # its private socket dir
        listener.wait_for_line(CLOCK + r"listening as LAB-H1 on mailslot foxapp")
        r = lab.run(2, winpeer_argv("WINPEER2", broadcast=lab.broadcast, send=("LAB-H1", "via nmbd"), timeout=10),
                    timeout=NEVER_HANGS_S)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        peer = start_winpeer(lab, 2, "WINPEER2")
        sent = ok(lab.run(1, lanmsg("send", "WINPEER2", "confirmed through nmbd"), timeout=NEVER_HANGS_S))
        assert "confirmed by WINPEER2" in sent.stdout
        peer.terminate()
        peer.finish(20)
        listener.terminate()
        out = listener.finish(20)
        assert out.returncode == 0, out.stdout + out.stderr
        assert re.search(CLOCK + r"WINPEER2: via nmbd$", out.stdout, re.M), out.stdout
        assert "netbios aliases = LAB-H1" in out.stderr, out.stderr


def test_a_received_oem_name_never_breaks_a_later_send():
    """A datagram whose source name holds bytes 0xFF, 0xB5 and 0xDF reaches a listener; a later
    `lanmsg send <that address>` (handed to the listener, which knows the name) still works."""
    script = (
        "import socket, sys, mailslot as M\n"
        "frame = b'PC\\xff\\xb5\\xdfX'.ljust(24) + b'1'.rjust(12) + b'00' + b'hello'\n"
        "d = M.build_datagram(msg_type=M.MSG_DIRECT_UNIQUE, source='PC\\xff\\xb5\\xdfX', destination=M.NetbiosName('LAB-H2'),"
        " mailslot='foxapp', data=frame, source_ip=sys.argv[1], dgm_id=7)\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('', 138)); s.sendto(M.encode_datagram(d), (sys.argv[2], 138))\n"
    )
    with netlab.Lab(2) as lab:
        listener = start_listener(lab, 2)
        ok(lab.run(1, [PY, "-c", script, lab.addr(1), lab.addr(2)], timeout=NEVER_HANGS_S))
        listener.wait_for_line(r"hello$")
        r = lab.run(2, lanmsg("send", "--no-wait", lab.addr(1), "back to you"), timeout=NEVER_HANGS_S)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "codec" not in r.stderr and "too long" not in r.stderr
        listener.terminate()
        assert listener.finish(20).returncode == 0
