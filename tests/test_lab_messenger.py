"""lanmsg between real hosts: listen, send, broadcast, detect on UDP port 138.

Each test builds its own lab (tests/netlab.py): hosts lab-h1, lab-h2, lab-h3 on
10.213.0.0/24 behind one bridge, each with its own computer name (LAB-H1, ...).
Every process is ``python -m lanmsg ...`` (or ``python -m mailslot``, or a few
lines of the public mailslot API for hostile frames) run inside a host as a user
would run it, and every assertion is on what that user sees: the lines a
listener prints, the lines and exit code of a one-shot command.  A listener's
output is collected as it is produced, so a full pipe never blocks it.
Without root the whole module skips (see docs/testing.md, "The lab").
"""

import collections
import concurrent.futures
import datetime
import json
import re
import subprocess
import sys
import time

import netlab
import pytest

pytestmark = netlab.pytest_marks()

PY = sys.executable
NEVER_HANGS_S = 60  # generous upper bound for a one-shot command: the machine is shared
CLOCK = r"^\d\d:\d\d:\d\d "


def lanmsg(*args):
    return [PY, "-m", "lanmsg", *map(str, args)]


def start_listener(lab, host, *args):
    p = lab.popen(host, lanmsg("listen", *args))
    p.wait_for_line(
        CLOCK + rf"listening as {lab.hostname(host).upper()} on mailslot foxapp "
        r"\(netbios, UDP 138\); Ctrl-C to leave$"
    )
    return p


def stop_listener(p):
    """SIGTERM, as a service manager stops it; it leaves the group and exits 0."""
    p.terminate()
    r = p.finish(20)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert re.search(CLOCK + r"left the group \(OFFLINE sent\)$", r.stdout, re.M), r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    return r


def shown(stdout, sender):
    """Texts a listener showed from ``sender``, in order (one line per message)."""
    rx = re.compile(CLOCK + re.escape(sender) + r": (.*)$")
    return [m.group(1) for m in map(rx.match, stdout.splitlines()) if m]


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def run(lab, host, *args, timeout=NEVER_HANGS_S):
    return lab.run(host, lanmsg(*args), timeout=timeout)


def raw_frame(sender: bytes, msg_id, body: bytes, conf=b"1", system=b"0") -> bytes:
    """A messenger frame as the FoxPro program builds it: PADR(name, 24) + STR(id, 12) + flags + body."""
    return sender.ljust(24, b" ") + str(msg_id).rjust(12).encode() + conf + system + body


# -- 1. detect ---------------------------------------------------------------


def test_detect_lists_every_listening_peer():
    with netlab.Lab(3) as lab:
        listeners = [start_listener(lab, i) for i in (2, 3)]
        # a window wider than the 1.5 s default: ONLINE answers come after a random
        # 5-1028 ms, and a shared machine may delay a process a little more
        r = ok(run(lab, 1, "detect", "--timeout", 3))
        assert sorted(r.stdout.splitlines()) == [f"LAB-H2 {lab.addr(2)}", f"LAB-H3 {lab.addr(3)}"], r.stdout
        assert r.stderr == ""
        for p in listeners:
            stop_listener(p)


# -- 2. send by address and by name ------------------------------------------------


def test_send_by_address_and_by_messenger_name_is_confirmed_and_shown_once():
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        h3 = start_listener(lab, 3)
        r = ok(run(lab, 1, "send", lab.addr(2), "hello by address"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
        # a messenger name: the one-shot command finds LAB-H2 with a DETECT
        r = ok(run(lab, 1, "send", "LAB-H2", "hello", "by", "name"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
        out2 = stop_listener(h2).stdout
        out3 = stop_listener(h3).stdout
        assert shown(out2, "LAB-H1") == ["hello by address", "hello by name"], out2
        assert shown(out3, "LAB-H1") == [], out3  # unicasts: the bystander sees nothing


# -- 3. an absent host ---------------------------------------------------------------


def test_send_to_an_absent_host_exits_1_and_never_hangs():
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)  # someone is online, just not the addressee
        absent = f"{lab.net}.9"
        started = time.monotonic()
        r = run(lab, 1, "send", absent, "anyone there?")
        assert r.returncode == 1, r
        assert r.stderr.startswith(f"lanmsg: error: no confirmation from {absent} after 4 attempts; "), r.stderr
        assert len(r.stderr.splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr
        # by a messenger name nobody answers to
        r = run(lab, 1, "send", "LAB-H9", "anyone there?")
        assert r.returncode == 1, r
        assert r.stderr.startswith("lanmsg: error: cannot find computer 'LAB-H9'"), r.stderr
        assert time.monotonic() - started < NEVER_HANGS_S
        assert shown(stop_listener(h2).stdout, "LAB-H1") == []


# -- 4. broadcast ----------------------------------------------------------------------


def test_broadcast_reaches_every_listener_once_and_lists_the_confirmers():
    with netlab.Lab(3) as lab:
        listeners = {i: start_listener(lab, i) for i in (2, 3)}
        r = ok(run(lab, 1, "broadcast", "fire drill at 3"))
        assert r.stdout == "", r.stdout  # without --wait it only sends
        r = ok(run(lab, 1, "broadcast", "--wait", 2, "lunch is served"))
        assert sorted(r.stdout.splitlines()) == [f"LAB-H2 {lab.addr(2)}", f"LAB-H3 {lab.addr(3)}"], r.stdout
        for i, p in listeners.items():
            out = stop_listener(p).stdout
            assert shown(out, "LAB-H1") == ["fire drill at 3", "lunch is served"], (i, out)


# -- 5. presence -------------------------------------------------------------------------


def test_a_stopped_listener_is_shown_offline_by_the_others():
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        h3 = start_listener(lab, 3)
        h2.wait_for_line(CLOCK + rf"\* LAB-H3 is online \({re.escape(lab.addr(3))}\)$")
        stop_listener(h3)  # SIGTERM
        h2.wait_for_line(CLOCK + rf"\* LAB-H3 is offline \({re.escape(lab.addr(3))}\)$")
        out = stop_listener(h2).stdout
        assert len(re.findall(r"\* LAB-H3 is offline", out)) == 1, out


# -- 6. one-shot commands next to a listener -------------------------------------------------


def test_send_on_a_host_with_a_listener_goes_through_it():
    """The one-shot command hands the job to the local listener (control mailslot);
    the confirmation comes back to the listener and from it to the command."""
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        h3 = start_listener(lab, 3)
        h2.wait_for_line(CLOCK + r"\* LAB-H3 is online ")
        r = ok(run(lab, 2, "send", lab.addr(3), "via the listener"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H3 ({lab.addr(3)})"], r.stdout
        r = ok(run(lab, 2, "send", "LAB-H3", "by name, from the presence table"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H3 ({lab.addr(3)})"], r.stdout
        r = ok(run(lab, 2, "send", ".", "note to self"))
        assert r.stdout.startswith("confirmed by LAB-H2"), r.stdout
        ok(run(lab, 2, "broadcast", "--wait", 1, "to all, via the listener"))
        h3.wait_for_line(CLOCK + r"LAB-H2: to all, via the listener$")
        out2 = stop_listener(h2).stdout
        out3 = stop_listener(h3).stdout
        # the peer sees LAB-H2's messages, unmarked; h2's listener marks what it sent for the commands
        assert shown(out3, "LAB-H2") == [
            "via the listener",
            "by name, from the presence table",
            "to all, via the listener",
        ], out3
        assert "via listener" not in out3, out3
        assert shown(out2, "LAB-H2") == [], out2  # never as if a peer named LAB-H2 had sent them
        relayed = re.findall(CLOCK + r"LAB-H2 (-> \S+ )?\(via listener\): (.*)$", out2, re.M)
        assert relayed == [
            (f"-> {lab.addr(3)} ", "via the listener"),
            ("-> LAB-H3 ", "by name, from the presence table"),
            ("", "note to self"),
            ("-> * ", "to all, via the listener"),
        ], out2


# -- 7. packet loss ---------------------------------------------------------------------------


def _link_packets(lab, i):
    """(sent, received) frames counted by host i's eth0 (sent: before the loss; received: after it)."""
    r = ok(
        lab.run(i, ["cat", "/sys/class/net/eth0/statistics/tx_packets", "/sys/class/net/eth0/statistics/rx_packets"])
    )
    tx, rx = map(int, r.stdout.split())
    return tx, rx


def _nft_drops(lab):
    """Frames the lab's loss rules dropped: {"out": n, "in": n} for host 2's link (best effort)."""
    r = subprocess.run(
        [
            netlab.tool("ip"),
            "netns",
            "exec",
            lab.switch,
            netlab.tool("nft"),
            "list",
            "table",
            "netdev",
            netlab.NFT_TABLE,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    drops = {}
    for chain, body in re.findall(r"chain h2_(\w+) \{(.*?)\n\t\}", r.stdout, re.S):
        m = re.search(r"counter packets (\d+)", body)
        if m:
            drops[chain] = int(m.group(1))
    return drops


@pytest.mark.skipif(
    netlab.nft_unavailable_reason() is not None, reason=netlab.nft_unavailable_reason() or "nft present"
)
def test_one_hundred_sends_through_20_percent_loss_all_confirmed_each_shown_once():
    n, workers = 100, 3
    texts = [f"m{k:03d}" for k in range(n)]
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        lab.loss(2, 20)  # both directions of h2's link
        tx0, rx0 = _link_packets(lab, 2)

        def send(text):
            t0 = time.monotonic()
            r = run(lab, 1, "send", "--json", "--retries", 10, lab.addr(2), text)
            return text, r, time.monotonic() - t0

        started = time.monotonic()
        # a few at a time: one-shot commands on h1 take turns on its messenger slot
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(send, texts))
        elapsed = time.monotonic() - started
        drops = _nft_drops(lab)
        tx, rx = _link_packets(lab, 2)
        tx, rx = tx - tx0, rx - rx0
        lab.loss(2, 0)
        out = stop_listener(h2).stdout

        attempts = collections.Counter()
        for text, r, _ in results:
            assert r.returncode == 0, f"{text}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
            events = [json.loads(line) for line in r.stdout.splitlines()]
            by_kind = {e["event"]: e for e in events}
            assert by_kind["confirmed"]["by"] == "LAB-H2", events
            # which copy was confirmed: copies go out every 750 ms, the round trip is short
            delay = (
                datetime.datetime.fromisoformat(by_kind["confirmed"]["time"])
                - datetime.datetime.fromisoformat(by_kind["sent"]["time"])
            ).total_seconds()
            attempts[int(delay / 0.75) + 1] += 1
        counts = collections.Counter(shown(out, "LAB-H1"))
        assert {t: counts[t] for t in texts} == dict.fromkeys(texts, 1)
        assert set(counts) == set(texts), counts
        print(
            f"\n20 % loss both ways on h2: {n} sends, {workers} at a time, all confirmed in {elapsed:.1f} s "
            f"(slowest command {max(r[2] for r in results):.1f} s); confirmed copy (estimated from the "
            f"confirmation delay): {dict(sorted(attempts.items()))}; h2's frames lost on the way out "
            f"{drops.get('out', '?')}/{tx}, on the way in {drops.get('in', '?')}/{rx + drops.get('in', 0)}"
        )


# -- 8. hostile frames -----------------------------------------------------------------------------

# One process in h1 writes N random and mutated frames (and a few crafted ones) to h2's foxapp.
FUZZ = r"""
import random, sys, mailslot
ip, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1138)

def frame(sender, msg_id, body, conf=b"1", system=b"0"):
    return sender.ljust(24, b" ") + str(msg_id).rjust(12).encode() + conf + system + body

good = frame(b"FUZZ", 5, b"valid body")
crafted = [
    b"", b"x", b"\x00" * 38, b"\xff" * 250,
    frame(b"*", 7, b"sender is everyone"), frame(b".", 8, b"sender is here"),
    frame(b"WORKGROUP", 9, b"sender is the workgroup"), frame(b"10.213.0.3", 10, b"sender is an address"),
    frame(b"a.b.c", 11, b"sender has dots"), frame(b"\\\\*", 12, b"sender has backslashes"),
    frame(b"LAB-H2", 13, b"sender is the receiver"), frame(b"X" * 24, 999999999999, b"largest id"),
    frame(b"\xe9t\xe9", 14, b"cp1252 sender"), frame("\u202eRTL".encode(), 15, b"bidi override sender"),
    frame(b"EVIL", 16, b"DETECT", b"1", b"1"), frame(b"*", 17, b"DETECT", b"1", b"1"),
    frame(b".", 18, b"DETECT", b"1", b"1"), frame(b"EVIL", 19, b"CONF 12345", b"0", b"1"),
    frame(b"EVIL", 20, b"OFFLINE", b"0", b"1"), frame(b"EVIL", 21, b"\x00" * 200, b"0", b"1"),
    frame(b"EVIL", 22, "\x1b]0;title\x07 \x9b2J \u202eevil\u200b \U0010ffff".encode()),   # UTF-8
    frame(b"EVIL", 23, b"\x1b[31m \x9b2J \x81\x8d\x7f"),                                    # cp1252
]
for i in range(n):
    if i < len(crafted):
        data = crafted[i]
    elif i % 2:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(120)))
    else:
        data = bytearray(good)
        for _ in range(rng.randrange(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    mailslot.write(ip, "foxapp", data)
print("wrote", n, flush=True)
"""


def test_escape_sequences_and_hostile_frames_do_not_reach_the_terminal_or_stop_the_listener():
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        frame = raw_frame(b"EVIL", 1, b"\x1b[2J clear screen")
        r = ok(lab.run(1, [PY, "-m", "mailslot", "send", lab.addr(2), "foxapp", "--hex", frame.hex()]))
        assert r.stdout.startswith("wrote 55 bytes"), r.stdout
        line = h2.wait_for_line(CLOCK + "EVIL: ")
        assert line.endswith(r"EVIL: \x1b[2J clear screen"), repr(line)

        ok(lab.run(1, [PY, "-c", FUZZ, lab.addr(2), 1000], timeout=NEVER_HANGS_S))
        r = ok(run(lab, 1, "send", lab.addr(2), "still listening"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
        h2.wait_for_line(CLOCK + "LAB-H1: still listening$")
        assert h2.poll() is None, "the listener stopped"
        result = stop_listener(h2)
        for text in (result.stdout, result.stderr):
            assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text, repr(text)
            assert "\u202e" not in text, repr(text)
        assert shown(result.stdout, "LAB-H1") == ["still listening"]
        assert result.stderr == "", result.stderr


# -- 9. many peers at once ---------------------------------------------------------------------------

# One process in h1 writes, back to back, what N peers would send at the same moment:
# an ONLINE answer (the seed answers DETECT at once) and a message each.
BURST = r"""
import sys, mailslot
ip, n = sys.argv[1], int(sys.argv[2])
def frame(sender, msg_id, body, conf, system):
    return sender.ljust(24, b" ") + str(msg_id).rjust(12).encode() + conf + system + body
for k in range(n):
    mailslot.write(ip, "foxapp", frame(b"PEER%02d" % k, 500 + k, b"ONLINE", b"0", b"1"))
for k in range(n):
    mailslot.write(ip, "foxapp", frame(b"PEER%02d" % k, 1000 + k, b"hello from peer %02d" % k, b"1", b"0"))
"""


def test_a_burst_from_many_peers_is_shown_completely():
    """More unicast frames at once than a local queue holds (Linux: 10 datagrams).

    The listener owns two mailslots (foxapp and its control slot) on UDP 138; the
    socket bound last receives every unicast and hands the other slot's frames on
    inside the same process.  None may be lost and the listener must not stall.
    """
    n = 40
    with netlab.Lab(2) as lab:
        h2 = start_listener(lab, 2)
        ok(lab.run(1, [PY, "-c", BURST, lab.addr(2), n]))
        h2.wait_for_line(CLOCK + rf"PEER{n - 1:02d}: hello from peer {n - 1:02d}$")
        r = ok(run(lab, 1, "send", lab.addr(2), "after the burst"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
        out = stop_listener(h2).stdout
        for k in range(n):
            assert shown(out, f"PEER{k:02d}") == [f"hello from peer {k:02d}"], (k, out)
            assert (
                len(re.findall(CLOCK + rf"\* PEER{k:02d} is online \({re.escape(lab.addr(1))}\)$", out, re.M)) == 1
            ), (k, out)
        assert shown(out, "LAB-H1") == ["after the burst"]


# -- 10. confirmations go back to the source, whatever the sender name says ----------------------

COLLECT = r"""
import socket, sys, time, mailslot
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 138)); s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(2048)
    except socket.timeout:
        continue
    try:
        d = mailslot.decode_datagram(data)
        print(peer[0], d.destination_name, d.data[38:].decode(errors="replace"), flush=True)
    except ValueError:
        print(peer[0], "undecodable", flush=True)
"""

SPOOF_AND_COLLECT = r"""
import sys, time, mailslot
target, third, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
# like a lanmsg peer: own the messenger slot, send from its socket, read the confirmations
with mailslot.Mailslot("foxapp") as slot:
    for i, sender in enumerate([b"*", b"WORKGROUP", third.encode()]):
        frame = sender.ljust(24, b" ") + str(7000 + i).rjust(12).encode() + b"10" + b"spoofed %d" % i
        mailslot.write(target, "foxapp", frame)
    end = time.monotonic() + seconds
    while True:
        try:
            m = slot.read(max(0.0, end - time.monotonic()))
        except TimeoutError:
            break
        print(m.source_ip, m.destination, m.data[38:].decode(errors="replace"), flush=True)
"""


def test_confirmations_go_to_the_source_never_to_a_sender_name_meaning_everyone_or_another_host():
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        third = lab.popen(3, [PY, "-c", COLLECT, "4"])
        third.wait_for_line("^ready$")
        got_back = ok(lab.run(1, [PY, "-c", SPOOF_AND_COLLECT, lab.addr(2), lab.addr(3), 3])).stdout.splitlines()
        seen_by_third = third.finish(20).stdout.splitlines()[1:]
        stop_listener(h2)
    confs = sorted(line.split()[-1] for line in got_back if " CONF " in f" {line} ")
    assert confs == ["7000", "7001", "7002"], got_back  # each confirmed, to 10.213.x.1
    assert all(line.startswith(lab.addr(2) + " ") for line in got_back), got_back
    assert seen_by_third == [], seen_by_third  # no broadcast, no reflection
