"""Crash safety of ``lanmsg listen --log`` between real hosts (lab, root).

Host 2 runs ``lanmsg listen --log FILE``; host 1 streams messages to it and records
each one host 2 confirmed.  At a random moment mid-stream host 2's listener is killed
with SIGKILL (no handler runs, nothing is flushed on the way out).  Every message the
sender saw confirmed must be in the log (the listener fsyncs a record before its
confirmation goes out), and ``lanmsg.output.read_log`` must read the file.  Five rounds
append to the same file, each with a fresh listener.

Then the crash a kill cannot produce but a power cut can: half a record at the end of
the file.  The reader skips it, and a listener restarted on the file goes on appending
complete records after it.

The same under a flood (host 3 sends 5,000 messages/s that ask for confirmation): the listener
then logs batches of messages with one fsync each on its own thread; every message either sender
saw confirmed must still be in the log.

The figures (confirmed vs logged per round) are printed (``-s``) and written to
``crash-figures.json`` in the test's tmp directory.
"""

import json
import os
import random
import signal
import time

import netlab
from test_lab_messenger import NEVER_HANGS_S, PY, ok, run, shown, start_listener, stop_listener

from lanmsg.output import read_log

pytestmark = netlab.pytest_marks()

ROUNDS = 5
MESSAGES_PER_ROUND = 400  # more than any round sends before its kill
KILL_AFTER_CONFIRMED = (5, 80)  # the kill comes after a random number of confirmations in this range
STREAM_WINDOW = 4  # messages in flight at once
STREAM_TIMEOUT_S = 2.0  # the streamer gives a message up after this long
WAIT_STEP_S = 0.02

# On host 1: stream N confirmed messages to host 2 through lanmsg's protocol.Peer, as
# `lanmsg send` does, a few at a time; print one JSON line per outcome as it happens.
STREAM = r"""
import json, sys, time, mailslot
from lanmsg import protocol as P
target, n, prefix, window, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
peer = P.Peer(mailslot.Config.from_env().name, responsive=False)
in_flight, k = {}, 0

def write(t):
    mailslot.write(t.address or t.target, "foxapp", t.data, address=t.address)

with mailslot.Mailslot("foxapp") as slot:
    print("ready", flush=True)
    while k < n or in_flight:
        now = time.monotonic()
        while k < n and len(in_flight) < window:
            text = f"{prefix}-{k:04d}"
            msg_id, actions = peer.send_text(now, target, target, text, timeout=timeout)
            for t in actions:
                write(t)
            in_flight[msg_id] = text
            k += 1
        try:
            m = slot.read(0.05)
            events = peer.receive(time.monotonic(), m.data, m.source_ip)
        except TimeoutError:
            events = []
        events += peer.tick(time.monotonic())
        for e in events:
            if isinstance(e, P.Transmit):
                write(e)
            elif isinstance(e, P.Confirmed) and e.msg_id in in_flight:
                print(json.dumps({"confirmed": in_flight.pop(e.msg_id), "id": e.msg_id}), flush=True)
            elif isinstance(e, P.DeliveryFailed) and e.msg_id in in_flight:
                print(json.dumps({"failed": in_flight.pop(e.msg_id), "id": e.msg_id}), flush=True)
"""


# On host 3: a flood of distinct messages that ask for confirmation, as lanmsg sends them, from UDP
# 138, paced every millisecond; prints "sending", then at the end the texts whose CONF came back.
FLOOD = r"""
import json, socket, sys, threading, time, mailslot
from lanmsg import protocol as P
target_ip, target_name, rate, seconds, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("", 138))
s.connect((target_ip, 138))
source_ip = s.getsockname()[0]
n = int(rate * seconds)
texts = {1000 + i: f"{prefix}-{i:06d}" for i in range(n)}
datagrams = [
    mailslot.encode_datagram(mailslot.build_datagram(
        msg_type=mailslot.MSG_DIRECT_UNIQUE, source="FLOODER", destination=mailslot.NetbiosName(target_name),
        mailslot="foxapp", data=P.encode_frame(P.Frame("FLOODER", msg_id, True, False, text)),
        source_ip=source_ip, dgm_id=msg_id & 0xFFFF))
    for msg_id, text in texts.items()
]
confirmed, stop = set(), threading.Event()

def count():
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            frame = P.decode_frame(mailslot.decode_datagram(s.recv(2048)).data)
        except (OSError, ValueError):
            continue
        conf = P.parse_conf(frame.body) if isinstance(frame, P.Frame) and frame.system else None
        if conf in texts:
            confirmed.add(texts[conf])

reader = threading.Thread(target=count)
reader.start()
print("sending", flush=True)
t0, sent = time.perf_counter(), 0
while sent < n:
    due = min(n, int((time.perf_counter() - t0) * rate) + 1)
    while sent < due:
        try:
            s.send(datagrams[sent])
        except OSError:
            pass
        sent += 1
    time.sleep(0.001)
time.sleep(1.0)  # the last CONFs
stop.set()
reader.join()
print(json.dumps({"sent": sent, "confirmed": sorted(confirmed)}), flush=True)
"""
FLOOD_RATE = 5000  # messages per second from host 3
FLOOD_S = 4.0
FLOOD_ROUNDS = 3
STREAM_UNTIL_KILLED = 10**6  # messages the stream beside the flood would send: it is killed long before
KILL_AFTER_S = (0.5, 2.5)  # after the flood starts


def outcomes(p) -> list[dict]:
    return [json.loads(line) for line in p.stdout_text.splitlines() if line.startswith("{")]


def wait_until(p, predicate, what, timeout=NEVER_HANGS_S):
    deadline = time.monotonic() + timeout
    while not predicate(outcomes(p)):
        assert p.poll() is None or predicate(outcomes(p)), f"the streamer ended before {what}\n{p.stderr_text}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s\n{p.stdout_text[-2000:]}"
        time.sleep(WAIT_STEP_S)


def listen_and_stream(lab, log, messages, prefix):
    """``lanmsg listen --log LOG`` on host 2, and host 1 streaming ``messages`` confirmed messages to it."""
    listener = start_listener(lab, 2, "--log", log)
    streamer = lab.popen(1, [PY, "-c", STREAM, lab.addr(2), messages, prefix, STREAM_WINDOW, STREAM_TIMEOUT_S])
    streamer.wait_for_line("^ready$")
    return listener, streamer


def logged_texts(path) -> list[str]:
    return [r["text"] for r in read_log(path) if r.get("dir") == "in"]


def test_kill_9_mid_stream_loses_no_confirmed_message_and_the_log_stays_readable(tmp_path):
    log = str(tmp_path / "messages.jsonl")
    rng = random.Random(9)
    figures = []
    with netlab.Lab(2) as lab:
        for rnd in range(ROUNDS):
            listener, streamer = listen_and_stream(lab, log, MESSAGES_PER_ROUND, f"r{rnd}")
            kill_after = rng.randint(*KILL_AFTER_CONFIRMED)
            wait_until(
                streamer, lambda o, n=kill_after: sum("confirmed" in x for x in o) >= n, f"{kill_after} confirmations"
            )
            time.sleep(rng.uniform(0, 0.05))  # anywhere between two confirmations
            os.kill(listener.pid, signal.SIGKILL)
            assert listener.wait(NEVER_HANGS_S) == -signal.SIGKILL
            # what was in flight at the kill times out at the sender
            wait_until(streamer, lambda o: any("failed" in x for x in o), "give-up after the kill")
            streamer.terminate()
            streamer.finish(NEVER_HANGS_S)

            confirmed = [x["confirmed"] for x in outcomes(streamer) if "confirmed" in x]
            logged = [t for t in logged_texts(log) if t.startswith(f"r{rnd}-")]
            figures.append(
                {
                    "round": rnd,
                    "kill_after_confirmations": kill_after,
                    "confirmed": len(confirmed),
                    "logged": len(logged),
                    "logged_not_confirmed": sorted(set(logged) - set(confirmed)),
                }
            )
            missing = sorted(set(confirmed) - set(logged))
            assert missing == [], f"round {rnd}: confirmed but not in the log: {missing}"
            assert len(logged) == len(set(logged)), f"round {rnd}: a message logged twice"

        # a power cut mid-write: half a record at the end, no newline
        before = read_log(log)
        record = json.dumps({"dir": "in", "time": time.time(), "from": "TORN", "id": 1, "text": "torn"})
        with open(log, "ab") as f:
            f.write(record[: len(record) // 2].encode())
        assert read_log(log) == before  # the torn tail is skipped, nothing else lost
        listener = start_listener(lab, 2, "--log", log)
        r = ok(run(lab, 1, "send", lab.addr(2), "after the torn line"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
        out = stop_listener(listener).stdout
        assert shown(out, "LAB-H1") == ["after the torn line"], out
    after = read_log(log)
    assert after[: len(before)] == before
    assert [r["text"] for r in after[len(before) :]] == ["after the torn line"], after[len(before) :]
    with open(log, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b"" and any(line.startswith(record[:10].encode()) for line in lines)

    total = {k: sum(f[k] for f in figures) for k in ("confirmed", "logged")}
    print(f"\ncrash figures: {json.dumps({'rounds': figures, 'total': total}, indent=1)}")
    (tmp_path / "crash-figures.json").write_text(json.dumps({"rounds": figures, "total": total}, indent=1))


def test_kill_9_under_a_flood_loses_no_confirmed_message(tmp_path):
    """The listener logs batches of messages with one fsync each, on its own thread, and sends a
    batch's CONFs only after that fsync: killed with SIGKILL while a flood (host 3) and a stream of
    confirmed messages (host 1) arrive, every message either sender saw confirmed is in the log."""
    log = str(tmp_path / "messages.jsonl")
    rng = random.Random(19)
    figures = []
    with netlab.Lab(3) as lab:
        for rnd in range(FLOOD_ROUNDS):
            listener, streamer = listen_and_stream(lab, log, STREAM_UNTIL_KILLED, f"s{rnd}")
            flood = lab.popen(
                3, [PY, "-c", FLOOD, lab.addr(2), lab.hostname(2).upper(), FLOOD_RATE, FLOOD_S, f"f{rnd}"]
            )
            flood.wait_for_line("^sending$", timeout=NEVER_HANGS_S)
            wait_until(streamer, lambda o: sum("confirmed" in x for x in o) >= 1, "a first confirmation")
            time.sleep(rng.uniform(*KILL_AFTER_S))
            os.kill(listener.pid, signal.SIGKILL)
            assert listener.wait(NEVER_HANGS_S) == -signal.SIGKILL
            wait_until(streamer, lambda o: any("failed" in x for x in o), "give-up after the kill")
            streamer.terminate()
            streamer.finish(NEVER_HANGS_S)
            r = flood.finish(FLOOD_S + NEVER_HANGS_S)
            assert r.returncode == 0, r.stderr
            flooded = json.loads(r.stdout.strip().splitlines()[-1])

            logged = set(logged_texts(log))
            confirmed = [x["confirmed"] for x in outcomes(streamer) if "confirmed" in x] + flooded["confirmed"]
            figures.append(
                {
                    "round": rnd,
                    "flood_sent": flooded["sent"],
                    "flood_confirmed": len(flooded["confirmed"]),
                    "stream_confirmed": len(confirmed) - len(flooded["confirmed"]),
                    "logged": sum(1 for t in logged if t.startswith((f"s{rnd}-", f"f{rnd}-"))),
                }
            )
            assert flooded["confirmed"], f"round {rnd}: no flood message was confirmed before the kill"
            missing = sorted(set(confirmed) - logged)
            assert missing == [], f"round {rnd}: confirmed but not in the log: {missing[:20]} ({len(missing)})"
    print(f"\ncrash-under-flood figures: {json.dumps(figures, indent=1)}")
