"""A listener under attack, between real hosts (lab, root): it keeps running, its memory
stays bounded, it counts what it dropped, and it still shows and confirms a valid message.

Host 2 runs ``lanmsg listen --json``.  Host 3 sends, from plain UDP sockets to port 138:

1. the storm: random and mutated datagrams (random UDP payloads; valid NetBIOS
   datagrams carrying random bytes or mutated messenger frames; mutated NetBIOS
   datagrams; truncated and malformed NetBIOS headers; datagrams for other names,
   slots and scopes), some of them to the broadcast address;
2. oversized datagrams: beyond the mailslot limits and the 250-byte frame, up to the
   UDP maximum (65,507 bytes, IP-fragmented on the lab's 1500-byte links);
3. forged source names: NetBIOS source names and addresses and messenger sender
   names of another host, of the listener itself, ``*``, the workgroup, odd bytes;
4. a blast: messages as fast as one process sends them, far more than the listener's
   receive buffer holds (the kernel drops the rest);
5. a flood in two halves: messages and DETECTs, each from a fresh sender name with a
   fresh id, as fast as the listener answers them (at most FLOOD_WINDOW unanswered), so
   that every one is processed and the duplicate, presence and queue tables fill up to
   their caps in the first half.

After the storm, the blast and each flood half a ``lanmsg send`` from host 1 must be
confirmed and shown, and the listener's peak memory (VmHWM) is read: under a generous
bound, and not growing from the first flood half to the second beyond a small slack (the
tables are capped).  At the end every datagram that reached host 2's port is either
counted by the listener (``received`` in its final ``stopped`` event) or by the kernel as
a receive-buffer drop.

The figures are printed (``-s``) and written to ``attack-figures.json`` in the test's
tmp directory.  ``--attack-scale K`` multiplies the storm, blast and flood sizes (nightly).
"""

import json
import re

import netlab
from test_lab_messenger import NEVER_HANGS_S, PY, lanmsg, ok, run

pytestmark = netlab.pytest_marks()

STORM_DATAGRAMS = 10_000  # random and mutated
BLAST_DATAGRAMS = 10_000  # unpaced: more than host 2's receive buffer holds
FLOOD_HALF_DATAGRAMS = 3_000  # per half: with what the storm and the blast left, the
# presence (4,096) and duplicate (10,000) tables are full
# by the end of the first half
FLOOD_WINDOW = 1_500  # unanswered flood datagrams in flight
PEAK_RSS_BOUND_KB = 256 * 1024  # generous: the listener idles at about 20 MB
HALF_TO_HALF_SLACK_KB = 16 * 1024  # allocator noise; an unbounded table would grow far more
SENTINEL_RETRIES = 40  # a send after a flood may first meet a full receive buffer

# Runs on the attacking host: python -c ATTACK CONFIG_JSON; prints one JSON line of counts.
ATTACK = r"""
import json, random, select, socket, struct, sys, time
import mailslot
from mailslot import Datagram, NetbiosName

cfg = json.loads(sys.argv[1])
rng = random.Random(cfg["seed"])
target, port, bcast, me = cfg["target"], cfg["port"], cfg["broadcast"], cfg["self_ip"]
victim = NetbiosName(cfg["name"])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
sent, rejected_by_codec, errors = {}, 0, {}


def send(kind, payload, to=None):
    global rejected_by_codec
    try:
        sock.sendto(payload, (to or target, port))
    except OSError as e:
        errors[f"{kind}: {e.strerror}"] = errors.get(f"{kind}: {e.strerror}", 0) + 1
        return
    sent[kind] = sent.get(kind, 0) + 1
    if cfg.get("check_codec"):
        try:
            mailslot.decode_datagram(payload)
        except mailslot.DecodeError:
            rejected_by_codec += 1


def frame(sender, msg_id, body, conf=b"1", system=b"0"):
    return sender.ljust(24, b" ")[:24] + str(msg_id).rjust(12).encode()[-12:] + conf + system + body


def dgram(data, source=NetbiosName("LAB-H3"), destination=victim, source_ip=None, slot="\\MAILSLOT\\FOXAPP",
          msg_type=0x10):
    return mailslot.encode_datagram(Datagram(msg_type, source, destination, slot, data,
                                             dgm_id=rng.randrange(65536), source_ip=source_ip or me))


def random_bytes(n):
    return rng.randbytes(n)


def mutate(buf):
    buf = bytearray(buf)
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(6)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[at % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[at % len(buf)] = rng.randrange(256)
        elif op == 2:
            del buf[at:]
        elif op == 3:
            buf += random_bytes(rng.randrange(1, 64))
        elif op == 4:
            buf[at:at] = random_bytes(rng.randrange(1, 16))
        else:
            del buf[at:at + rng.randrange(1, 16)]
    return bytes(buf)


def fix_length(buf):
    return buf[:10] + struct.pack(">H", len(buf) - 14) + buf[12:] if 14 <= len(buf) <= 0xFFFF + 14 else buf


def valid_frame():
    return frame(b"STORM%d" % rng.randrange(50), rng.randrange(10**9), b"storm body %d" % rng.randrange(10**6),
                 system=rng.choice([b"0", b"0", b"1"]))


def storm(n):
    for _ in range(n):
        r = rng.random()
        to = bcast if rng.random() < 0.05 else None
        if r < 0.2:
            send("random", random_bytes(rng.randrange(0, 700)), to)
        elif r < 0.4:
            send("netbios-random-data", dgram(random_bytes(rng.randrange(0, 300))), to)
        elif r < 0.6:
            send("netbios-mutated-frame", dgram(mutate(valid_frame())), to)
        elif r < 0.85:
            buf = mutate(dgram(valid_frame()))
            send("mutated-netbios", fix_length(buf) if rng.random() < 0.5 else buf, to)
        elif r < 0.95:
            buf = dgram(valid_frame())
            send("truncated-header", buf[:rng.randrange(0, 82 + 69)], to)
        else:
            dest = rng.choice([NetbiosName("OTHER"), NetbiosName(cfg["name"], 0x20),
                               NetbiosName(cfg["name"], 0, "scope.example")])
            slot = rng.choice(["\\MAILSLOT\\FOXAPP", "\\MAILSLOT\\OTHER", "\\MAILSLOT\\LANMSG\\CONTROL\\FOXAPP"])
            send("not-for-the-listener", dgram(valid_frame(), destination=dest, slot=slot), to)


def oversized():
    overhead = len(dgram(b""))
    for size in (213, 251, 425, 1000, 1472 - overhead, 1473 - overhead, 9000, 32768, 65507 - overhead):
        body = b"O" * (size - 38)
        send("oversized-frame", dgram(frame(b"BIG%d" % size, size, body)))
        time.sleep(0.01)                      # fragments: let reassembly keep up (not the flood)
    for size in (1473, 9000, 65000, 65507):
        send("oversized-random", random_bytes(size))
        time.sleep(0.01)
    big = bytearray(dgram(b"x" * 400))
    big[10:12] = b"\xff\xff"                  # DGM_LENGTH says 65535
    send("oversized-claim", bytes(big))
    try:
        sock.sendto(b"\x00" * 65508, (target, port))
    except OSError as e:                      # beyond UDP: the sender's kernel refuses it
        errors["udp-maximum+1: " + e.strerror] = 1


def forged():
    hosts = [h for h in cfg["hosts"]]
    nb_sources = [NetbiosName(n) for n in hosts + ["*", "WORKGROUP", "\x01\x02__MSBROWSE__\x02", "\xff\xfe\xfd",
                                                   "A\x00B", "\x1b[2J", "", " "]]
    ips = [cfg["addrs"][0], target, "0.0.0.0", "255.255.255.255", "127.0.0.1", bcast]
    senders = [n.encode() for n in hosts] + [b"*", b"WORKGROUP", b".", b"\x1b[2J", b"\xff\xfe",
                                               cfg["addrs"][0].encode(), b"\\\\*", b"\x00LAB"]
    bodies = [(b"1", b"0", b"forged %d"), (b"1", b"1", b"DETECT"), (b"0", b"1", b"ONLINE"),
              (b"0", b"1", b"OFFLINE"), (b"0", b"1", b"CONF 12345")]
    k = 0
    for source in nb_sources:
        for ip in ips:
            for sender in senders:
                conf, system, body = rng.choice(bodies)
                body = body % k if b"%d" in body else body
                dest = rng.choice([victim, NetbiosName("WORKGROUP"), NetbiosName("*")])
                send("forged", dgram(frame(sender, 9000 + k, body, conf, system), source=source,
                                     destination=dest, source_ip=ip, msg_type=rng.choice([0x10, 0x11, 0x12])))
                k += 1


def flood(n, first, window):
    # n fresh messages and DETECTs to the listener, as fast as it answers them: at most
    # `window` unanswered (0: no limit, a blind blast).  Each one asks for one answer (CONF
    # or ONLINE), read here on the port; a stall of STALL_S seconds writes the rest off.
    payloads = []
    for k in range(first, first + n):
        sender = b"F%06d" % k
        if k % 10 == 0:
            data = frame(sender, k, b"DETECT", b"1", b"1")
        else:
            data = frame(sender, k, b"flood %d" % k)
        payloads.append(dgram(data, source=NetbiosName(sender.decode())))
    rx = None
    if window:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        rx.bind(("", port))
        rx.setblocking(False)
    STALL_S = 2.0
    started = last_answer = time.monotonic()
    i = answered = written_off = stalls = 0
    while i < n or (rx and answered + written_off < n):
        while i < n and (not window or i - answered - written_off < window):
            send("flood", payloads[i])
            i += 1
        if rx is None:
            break
        select.select([rx], [], [], 0.05)
        while True:
            try:
                rx.recv(2048)
            except BlockingIOError:
                break
            answered += 1
            last_answer = time.monotonic()
        if time.monotonic() - last_answer > STALL_S:
            written_off, stalls, last_answer = i - answered, stalls + 1, time.monotonic()
    return {"seconds": round(time.monotonic() - started, 3), "answered": answered, "stalls": stalls}


result = {}
phase = cfg["phase"]
if phase == "storm":
    storm(cfg["n"])
    oversized()
    forged()
elif phase == "flood":
    result.update(flood(cfg["n"], cfg["first"], cfg["window"]))
result.update(sent=sent, total=sum(sent.values()), send_errors=errors, rejected_by_codec=rejected_by_codec)
print(json.dumps(result), flush=True)
"""


def start_json_listener(lab, host):
    p = lab.popen(host, lanmsg("listen", "--json"))
    line = p.wait_for_line(r'^\{"event": "listening"')
    assert json.loads(line)["name"] == lab.hostname(host).upper()
    return p


def memory_kb(pid) -> dict:
    """VmRSS and VmHWM (peak) of a process, in kB."""
    with open(f"/proc/{pid}/status") as f:
        return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in ("VmRSS", "VmHWM")}


def udp_socket_drops(lab, host, port) -> int:
    """Datagrams the kernel dropped at host's sockets on ``port`` (receive buffer full)."""
    table = ok(lab.run(host, ["cat", "/proc/net/udp"])).stdout.splitlines()[1:]
    hex_port = f":{port:04X}"
    return sum(int(row.split()[-1]) for row in table if row.split()[1].endswith(hex_port))


def attack(lab, phase, **cfg):
    cfg = dict(
        phase=phase,
        target=lab.addr(2),
        port=lab.port,
        broadcast=lab.broadcast,
        self_ip=lab.addr(3),
        name=lab.hostname(2).upper(),
        hosts=[lab.hostname(i).upper() for i in (1, 2, 3)],
        addrs=[lab.addr(i) for i in (1, 2, 3)],
        seed=1138,
        **cfg,
    )
    r = ok(lab.run(3, [PY, "-c", ATTACK, json.dumps(cfg)], timeout=10 * NEVER_HANGS_S))
    return json.loads(r.stdout)


def sentinel(lab, listener, text):
    """A valid message from host 1 is confirmed (exit 0) and shown by the listener."""
    r = ok(
        run(
            lab,
            1,
            "send",
            "--retries",
            SENTINEL_RETRIES,
            "--timeout",
            SENTINEL_RETRIES * 0.75 + 1,
            lab.addr(2),
            text,
            timeout=NEVER_HANGS_S * 2,
        )
    )
    assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
    listener.wait_for_line(
        r'^\{"event": "message", .*"text": ' + re.escape(json.dumps(text)) + r"\}$", timeout=NEVER_HANGS_S
    )
    assert listener.poll() is None, "the listener stopped"


def test_a_listener_under_attack_keeps_running_bounded_and_still_confirms(request, tmp_path):
    scale = max(1, request.config.getoption("attack_scale"))
    figures = {"scale": scale}
    with netlab.Lab(3) as lab:
        h2 = start_json_listener(lab, 2)
        with open(f"/proc/{h2.pid}/cmdline", "rb") as f:
            assert b"lanmsg" in f.read(), "the lab process is not the listener itself"
        figures["idle_kb"] = memory_kb(h2.pid)

        storm = attack(lab, "storm", n=STORM_DATAGRAMS * scale, check_codec=True)
        figures["storm"] = storm
        sentinel(lab, h2, "after the storm")
        figures["after_storm_kb"] = memory_kb(h2.pid)

        figures["blast"] = attack(lab, "flood", n=BLAST_DATAGRAMS * scale, first=0, window=0)
        sentinel(lab, h2, "after the blast")
        figures["after_blast_kb"] = memory_kb(h2.pid)
        first, n = BLAST_DATAGRAMS * scale, FLOOD_HALF_DATAGRAMS * scale
        for half in (1, 2):
            figures[f"flood_{half}"] = attack(lab, "flood", n=n, first=first + (half - 1) * n, window=FLOOD_WINDOW)
            sentinel(lab, h2, f"after flood half {half}")
            figures[f"after_flood_{half}_kb"] = memory_kb(h2.pid)

        kernel_drops = udp_socket_drops(lab, 2, lab.port)
        h2.terminate()
        result = h2.finish(NEVER_HANGS_S)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    stopped = events[-1]
    assert stopped["event"] == "stopped", events[-3:]
    datagrams, frames_dropped = stopped["datagrams"], stopped["frames_dropped"]
    figures.update(
        kernel_receive_buffer_drops=kernel_drops, stopped=stopped, shown=sum(e["event"] == "message" for e in events)
    )

    sent_to_h2 = sum(figures[k]["total"] for k in ("storm", "blast", "flood_1", "flood_2"))
    print(f"\nattack figures: {json.dumps(figures, indent=1)}")
    (tmp_path / "attack-figures.json").write_text(json.dumps(figures, indent=1))

    # nothing vanished: what the attacker sent was read by the listener or dropped by the kernel
    # (the listener also received the sentinels and its own broadcasts: >=)
    assert datagrams["received"] + kernel_drops >= sent_to_h2, (datagrams, kernel_drops, sent_to_h2)
    assert datagrams["dropped_malformed"] > 0 and datagrams.get("dropped_not_for_us", 0) > 0, datagrams
    assert sum(frames_dropped.values()) > 0, frames_dropped
    # what the codec rejects the listener counts as malformed (some may have been dropped by the kernel)
    assert datagrams["dropped_malformed"] <= storm["rejected_by_codec"], (datagrams, storm)
    # memory: bounded, and not growing from one flood half to the next
    peak = {k: figures[f"after_{k}_kb"]["VmHWM"] for k in ("storm", "blast", "flood_1", "flood_2")}
    assert max(peak.values()) < PEAK_RSS_BOUND_KB, figures
    assert peak["flood_2"] - peak["flood_1"] <= HALF_TO_HALF_SLACK_KB, figures


# -- replies go to the UDP source, whatever the NetBIOS header's SOURCE_IP says ----------------

# On the attacking host: own the messenger slot (to read what comes back), send messages and
# DETECTs whose NetBIOS SOURCE_IP field is forged, from a plain socket; print what comes back.
FORGED_SOURCE_IP = r"""
import json, socket, sys, time, mailslot
from mailslot import NetbiosName
target, victim, forged, seconds = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4])
with mailslot.Mailslot("foxapp") as slot:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i, ip in enumerate(forged):
        for k, (flags, body) in enumerate([(b"10", b"forged ip %d" % i), (b"11", b"DETECT")]):
            frame = b"LAB-H3".ljust(24) + str(8000 + 10 * i + k).rjust(12).encode() + flags + body
            d = mailslot.build_datagram(msg_type=0x10, source="LAB-H3", destination=NetbiosName(victim),
                                        mailslot="FOXAPP", data=frame, source_ip=ip, dgm_id=100 + 10 * i + k)
            s.sendto(mailslot.encode_datagram(d), (target, 138))
    end = time.monotonic() + seconds
    while True:
        try:
            m = slot.read(max(0.0, end - time.monotonic()))
        except TimeoutError:
            break
        print(m.source_ip, m.data[38:].decode(errors="replace"), flush=True)
"""


def test_replies_go_to_the_udp_source_never_to_a_forged_header_address():
    """A forged SOURCE_IP (a third host, the broadcast address, loopback) must not turn the
    listener's CONF and ONLINE answers into a reflection or a broadcast."""
    from test_lab_messenger import COLLECT

    with netlab.Lab(3) as lab:
        h2 = start_json_listener(lab, 2)
        bystander = lab.popen(1, [PY, "-c", COLLECT, "5"])
        bystander.wait_for_line("^ready$")
        forged = [lab.addr(1), "255.255.255.255", lab.broadcast, "127.0.0.1", "0.0.0.0"]
        back = ok(lab.run(3, [PY, "-c", FORGED_SOURCE_IP, lab.addr(2), "LAB-H2", json.dumps(forged), 3.5]))
        seen_by_bystander = bystander.finish(20).stdout.splitlines()[1:]
        h2.terminate()
        out = h2.finish(NEVER_HANGS_S).stdout
    shown = [(e["from"], e["address"], e["text"]) for e in map(json.loads, out.splitlines()) if e["event"] == "message"]
    assert shown == [("LAB-H3", lab.addr(3), f"forged ip {i}") for i in range(len(forged))], out
    answers = sorted(back.stdout.splitlines())
    assert answers == sorted(
        [f"{lab.addr(2)} CONF {8000 + 10 * i}" for i in range(len(forged))] + [f"{lab.addr(2)} ONLINE"] * len(forged)
    ), answers
    assert seen_by_bystander == [], seen_by_bystander
