"""tests/samba.py: Samba's nmbd and nmblookup in lab hosts, as reference peers for lanmsg.

Checks the helper itself: a private nmbd is ready when another host finds it by
broadcast, answers as a B-node, stops and leaves nothing behind; two nmbd run at
once; and in a routed lab a WINS server on one subnet serves a client on the
other, which broadcasts cannot reach.  Skips without root or without Samba.
"""

import os
import time

import netlab
import pytest
import samba

pytestmark = samba.pytest_marks()


def test_private_nmbd_answers_as_a_b_node_and_cleans_up():
    with netlab.Lab(2) as lab:
        with samba.Nmbd(lab, 1, netbios_name="SambaHost") as nmbd:
            assert nmbd.ready_seconds is not None and nmbd.ready_seconds < samba.READY_TIMEOUT_S
            with open(nmbd.conf) as f:
                conf = f.read()
            for line in ("dns proxy = no", "local master = no", "os level = 0", "interfaces = eth0"):
                assert line in conf
            assert "/var/lib/samba" not in conf and "/run/samba" not in conf
            r = samba.nmblookup(lab, 2, "-B", lab.broadcast, "SAMBAHOST")
            assert r.returncode == 0 and samba.lookup_addresses(r, "SAMBAHOST") == [lab.addr(1)], r.stdout
            t = time.monotonic()
            r = samba.nmblookup(lab, 2, "-U", lab.addr(1), "NOSUCHNAME")
            assert r.returncode == 1 and "name_query failed to find name NOSUCHNAME" in r.stdout
            assert time.monotonic() - t < 2, "a negative answer, not a time-out"
            r = samba.nmblookup(lab, 2, "-A", lab.addr(1))
            assert r.returncode == 0 and "SAMBAHOST" in r.stdout and "WORKGROUP" in r.stdout, r.stdout
            assert "Added netbios name SAMBAHOST<00>" in nmbd.log_text()
            home, pid = nmbd.dir, nmbd.proc.pid
        assert not os.path.exists(home)
        assert nmbd.proc.poll() is not None and pid not in netlab.namespace_pids(lab.ns(1))


def test_wins_server_serves_the_other_subnet_which_broadcasts_cannot_reach():
    with (
        netlab.Lab(3, subnets=2) as lab,  # h1 (WINS), h2 | router | h3
        samba.Nmbd(lab, 1, netbios_name="WINSSRV", wins_support=True) as wins,
        samba.Nmbd(lab, 3, netbios_name="FARHOST", wins_server=lab.addr(1)) as far,
    ):
        assert wins.socket_dir != far.socket_dir  # two nmbd on one machine need their own
        deadline = time.monotonic() + 15
        while True:
            r = samba.nmblookup(lab, 2, "-U", lab.addr(1), "--recursion", "FARHOST")
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert samba.lookup_addresses(r, "FARHOST") == [lab.addr(3)], r.stdout + far.log_text()[-2000:]
        r = samba.nmblookup(lab, 2, "-B", lab.broadcast_of(2), "FARHOST")
        assert r.returncode == 1, r.stdout
        r = samba.nmblookup(lab, 2, "-B", lab.broadcast_of(3), "FARHOST")
        assert r.returncode == 1, "a directed broadcast crossed the router: " + r.stdout


@pytest.mark.skipif(samba.tshark_unavailable_reason() is not None, reason=samba.tshark_unavailable_reason() or "-")
def test_wireshark_finds_nothing_wrong_in_nmbds_name_service(tmp_path):
    """A capture on another host while nmbd starts, registers and answers: every NBNS and
    NetBIOS datagram frame dissects without malformed or expert flags."""
    with netlab.Lab(2) as lab:
        with samba.Capture(lab, 2, pcap=str(tmp_path / "h2.pcap")) as cap, samba.Nmbd(lab, 1, netbios_name="SAMBAHOST"):
            samba.nmblookup(lab, 2, "-B", lab.broadcast, "SAMBAHOST")
            samba.nmblookup(lab, 2, "-U", lab.addr(1), "NOSUCHNAME")
            samba.nmblookup(lab, 2, "-A", lab.addr(1))
        registrations = samba.count(cap.pcap, "nbns.flags.opcode == 5")
        answers = samba.count(cap.pcap, "nbns.flags.response == 1")
        assert registrations >= 3 and answers >= 3, samba.tshark_read(cap.pcap)
        assert samba.nbns_problems(cap.pcap) == ""
        assert samba.nbns_problems(cap.pcap, "nbdgm") == ""
