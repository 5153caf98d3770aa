"""lanmsg listen / send / broadcast / detect on one machine (loopback only).

Multi-host behaviour is in test_lab_messenger.py.  Here a listener and one-shot
commands share this machine, as a user would run them in two terminals.
"""

import json
import random
import signal
import socket
import subprocess
import sys
import time

import pytest
from lanmsg_proc import ROOT, lanmsg

import mailslot
from lanmsg import output


@pytest.fixture
def listener(background):
    """Start ``lanmsg listen ARGS`` with ``listener(*args)``."""
    return lambda *args: background("listen", *args, ready=("listening",))


def raw_frame(sender, msg_id, text, conf=True, system=False):
    return (
        sender.ljust(24).encode("latin-1")
        + str(msg_id).rjust(12).encode()
        + (b"1" if conf else b"0")
        + (b"1" if system else b"0")
        + text
    )


def test_send_to_this_machine_is_confirmed_and_shown_once(listener):
    lst = listener()
    r = lanmsg("send", ".", "hello", "there")
    assert r.returncode == 0, r.stderr
    assert "confirmed by" in r.stdout
    out, _ = lst.stop()
    assert out.count("hello there") == 1
    assert "left the group (OFFLINE sent)" in out


def without_clock(out):
    """listen's lines after the first (listening) and before the last (left the group), less the clock."""
    lines = out.splitlines()
    assert lines[-1].endswith("left the group (OFFLINE sent)"), out
    return [line.split(" ", 1)[1] for line in lines[1:-1]]


def wait_for_output(lst, text, timeout=30.0):
    """Wait until the running listener ``lst`` has printed a line containing ``text``."""
    deadline = time.monotonic() + timeout
    while not any(text in line for line in lst.lines):
        assert lst.proc.poll() is None and time.monotonic() < deadline, f"no {text!r} in {lst.lines}"
        time.sleep(0.05)


def test_listen_marks_what_it_sends_for_the_commands_of_this_machine(listener, config):
    lst = listener()
    # a peer that calls itself by this machine's name is not marked
    mailslot.write(".", "foxapp", raw_frame("LANMSGTEST", 7, b"from a namesake"), config=config)
    wait_for_output(lst, "from a namesake")
    assert lanmsg("send", ".", "note to self").returncode == 0
    assert lanmsg("send", "lanmsgtest", "by my own name").returncode == 0
    assert lanmsg("broadcast", "fire drill at 3").returncode == 0
    # 127.0.0.9 is this machine too: the line as it goes out, then the line as it arrives
    assert lanmsg("send", "--no-wait", "127.0.0.9", "to an address").returncode == 0
    wait_for_output(lst, "(via listener): to an address")
    out, _ = lst.stop()
    assert without_clock(out) == [
        "LANMSGTEST: from a namesake",
        "LANMSGTEST (via listener): note to self",
        "LANMSGTEST (via listener): by my own name",
        "LANMSGTEST -> * (via listener): fire drill at 3",
        "LANMSGTEST -> 127.0.0.9 (via listener): to an address",
        "LANMSGTEST (via listener): to an address",
    ], out


def test_listen_json_and_log_mark_what_it_sends_for_the_commands_of_this_machine(listener, config, tmp_path):
    log = tmp_path / "log.jsonl"
    lst = listener("--json", "--log", str(log))
    mailslot.write(".", "foxapp", raw_frame("LANMSGTEST", 7, b"from a namesake"), config=config)
    wait_for_output(lst, "from a namesake")
    assert lanmsg("send", ".", "note to self").returncode == 0
    assert lanmsg("broadcast", "fire drill at 3").returncode == 0
    assert lanmsg("send", ".", "last").returncode == 0  # shown before it is confirmed
    out, _ = lst.stop()
    events = [json.loads(line) for line in out.splitlines()]
    said = [(e["event"], e.get("from"), e.get("to"), e["text"], e.get("via")) for e in events if "text" in e]
    assert said == [
        ("message", "LANMSGTEST", None, "from a namesake", None),
        ("message", "LANMSGTEST", None, "note to self", "listener"),
        ("relayed", "LANMSGTEST", "*", "fire drill at 3", "listener"),
        ("message", "LANMSGTEST", None, "last", "listener"),
    ], out
    (relayed,) = [e for e in events if e["event"] == "relayed"]
    assert isinstance(relayed["id"], int)
    logged = [(r["dir"], r["text"], r.get("via")) for r in output.read_log(str(log))]
    assert logged == [
        ("in", "from a namesake", None),
        ("out", "note to self", "listener"),
        ("in", "note to self", "listener"),
        ("out", "fire drill at 3", "listener"),
        ("out", "last", "listener"),
        ("in", "last", "listener"),
    ]


def test_send_without_a_listener_to_an_absent_peer_exits_1_within_its_timeout(port):
    start = time.monotonic()
    r = lanmsg("send", "--timeout", "1", "--retries", "1", "127.0.0.9", "anyone?")
    assert r.returncode == 1
    assert "no confirmation" in r.stderr
    assert time.monotonic() - start < 20  # never hangs (generous: the machine is shared)


def test_text_too_long_is_refused_with_exit_2_and_nothing_is_sent(listener):
    lst = listener("--json")
    r = lanmsg("send", ".", "x" * 213)
    assert r.returncode == 2
    assert "at most 212" in r.stderr and "Traceback" not in r.stderr
    assert lanmsg("send", ".", "x" * 212).returncode == 0
    out, _ = lst.stop()
    texts = [json.loads(line).get("text") for line in out.splitlines()[1:] if line.startswith("{")]
    assert texts.count("x" * 212) == 1 and "x" * 213 not in texts


def test_text_from_stdin(listener):
    lst = listener()
    r = lanmsg("send", ".", "-", input="from a pipe\n")
    assert r.returncode == 0, r.stderr
    out, _ = lst.stop()
    assert "from a pipe" in out


def test_escape_sequences_never_reach_the_terminal_raw(listener, config):
    lst = listener()
    hostile = raw_frame("EVIL", 1, b"\x1b[2J\x1b]0;pwned\x07 bell\r\n\x9b31m")
    mailslot.write(".", "foxapp", hostile, config=config)
    assert lanmsg("send", ".", "after").returncode == 0
    out, _ = lst.stop()
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "\\x1b[2J" in out and "EVIL:" in out


def test_a_thousand_random_and_mutated_frames_do_not_stop_the_listener(listener, config):
    lst = listener("--json")
    rng = random.Random(42)
    good = raw_frame("FUZZ", 5, b"valid body")
    for i in range(1000):
        if i % 2:
            frame = bytes(rng.randrange(256) for _ in range(rng.randrange(120)))
        else:
            frame = bytearray(good)
            for _ in range(rng.randrange(1, 5)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
            frame = bytes(frame)
        mailslot.write(".", "foxapp", frame, config=config)
    r = lanmsg("send", ".", "still alive")
    assert r.returncode == 0, r.stderr
    assert lst.proc.poll() is None
    out, err = lst.stop()
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [e["text"] for e in events if e["event"] == "message"][-1] == "still alive"
    (stopped,) = [e for e in events if e["event"] == "stopped"]
    assert sum(stopped["frames_dropped"].values()) > 400  # the broken ones were counted
    assert "Traceback" not in err


def test_json_output_is_valid_utf8_and_round_trips_non_ascii(listener):
    lst = listener("--json")
    text = "grüße, ☃, 日本"
    r = lanmsg("send", "--json", ".", text)
    assert r.returncode == 0
    for line in r.stdout.splitlines():
        json.loads(line)
    out, _ = lst.stop()
    messages = [json.loads(line) for line in out.splitlines() if '"message"' in line]
    assert messages[0]["text"] == text
    assert out.encode("utf-8").decode("utf-8") == out


def test_log_has_every_message_sent_and_received(listener, tmp_path):
    log = tmp_path / "messages.jsonl"
    lst = listener("--log", str(log))
    for i in range(5):
        assert lanmsg("send", ".", f"logged {i}").returncode == 0
    lst.stop()
    records = output.read_log(str(log))
    assert [r["text"] for r in records if r["dir"] == "in"] == [f"logged {i}" for i in range(5)]
    assert [r["text"] for r in records if r["dir"] == "out"] == [f"logged {i}" for i in range(5)]


def test_a_torn_last_line_does_not_break_the_log(tmp_path):
    path = tmp_path / "log.jsonl"
    log = output.MessageLog(str(path))
    log.append({"dir": "in", "text": "one"})
    log.close()
    with open(path, "ab") as f:
        f.write(b'{"dir": "in", "text": "tor')  # a crash mid-write
    log = output.MessageLog(str(path))
    log.append({"dir": "in", "text": "two"})
    log.close()
    assert [r["text"] for r in output.read_log(str(path))] == ["one", "two"]


def test_deeply_nested_json_neither_stops_a_listener_nor_breaks_the_log(listener, config, tmp_path):
    # json.loads raises RecursionError, not ValueError, for "[[[[...": once a local process
    # could end a listener with one control request
    log = tmp_path / "log.jsonl"
    lst = listener("--json", "--log", str(log))
    mailslot.write(".", "LANMSG\\CONTROL\\FOXAPP", b"[" * 50000, config=config)
    r = lanmsg("send", ".", "after the bomb")
    assert r.returncode == 0, r.stderr
    out, err = lst.stop()
    assert "Traceback" not in err
    (stopped,) = [json.loads(line) for line in out.splitlines() if '"stopped"' in line]
    assert stopped["frames_dropped"].get("bad-control-request") == 1
    with open(log, "ab") as f:
        f.write(b"[" * 100000 + b"\n" + b'{"a": 1}\n')
    records = output.read_log(str(log))
    assert records[-1] == {"a": 1}
    assert [r["text"] for r in records if r.get("dir") == "in"] == ["after the bomb"]


def test_a_listener_stopped_in_the_middle_of_a_flood_exits_at_once(listener, port):
    # datagrams still queued when the slot closes once waited 50 ms each for a reader
    # that had gone (about 200 s for a full queue)
    lst = listener("--json")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(30000):
            frame = raw_frame("FLOOD", 100000 + i, b"flood", conf=False)
            d = mailslot.build_datagram(
                msg_type=mailslot.MSG_DIRECT_UNIQUE,
                source="FLOODER",
                destination=mailslot.NetbiosName("LANMSGTEST", 0x00),
                mailslot="FOXAPP",
                data=frame,
                source_ip="127.0.0.1",
                dgm_id=i & 0xFFFF,
            )
            s.sendto(mailslot.encode_datagram(d), ("127.0.0.1", port))
    lst.proc.send_signal(signal.SIGTERM)
    try:
        lst.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the listener was still running 20 s after SIGTERM")
    out, err = lst.stop()
    assert lst.proc.returncode == 0 and "Traceback" not in err
    assert '"stopped"' in out


def test_a_second_listener_on_the_same_machine_is_refused(listener):
    listener()
    r = lanmsg("listen")
    assert r.returncode == 3
    assert "already exists" in r.stderr


def test_detect_and_broadcast_with_nobody_else_exit_1(listener):
    listener()
    assert lanmsg("detect", "--timeout", "0.5").returncode == 1
    r = lanmsg("broadcast", "--wait", "0.5", "anyone")
    assert r.returncode == 1


def test_broadcast_without_wait_only_sends(port):
    r = lanmsg("broadcast", "hello all")
    assert r.returncode == 0, r.stderr


def test_help_documents_the_exit_codes():
    for cmd in ([], ["send"], ["listen"], ["detect"], ["broadcast"], ["announce"], ["discover"]):
        r = lanmsg(*cmd, "--help")
        assert r.returncode == 0
        assert "exit codes:" in r.stdout and "3  transport or system error" in r.stdout


def test_bad_usage_exits_2_with_one_line():
    r = lanmsg("send")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = lanmsg("send", "--retries", "-1", ".", "x")
    assert r.returncode == 2
    r = lanmsg("send", "--encoding", "no-such-codec", ".", "x")
    assert r.returncode == 2


def test_one_shot_sends_in_parallel_all_get_through(listener, port):
    lst = listener()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lanmsg", "send", ".", f"parallel {i}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(5)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * 5
    out, _ = lst.stop()
    for i in range(5):
        assert out.count(f"parallel {i}") == 1


def test_ctrl_c_ends_the_listener_cleanly(listener):
    lst = listener("--json")
    lst.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    lst.proc.wait(timeout=10)
    lst.reader.join(timeout=10)
    events = [json.loads(line) for line in lst.lines if line.startswith("{")]
    assert lst.proc.returncode == 0
    assert events[-1]["event"] == "stopped"


def test_offline_is_broadcast_when_the_listener_stops(listener, config):
    # a second group member on this machine cannot exist (the slot is exclusive), so watch
    # the wire: the OFFLINE frame goes to \\*\mailslot\foxapp, i.e. 127.255.255.255 here
    import socket as _socket

    watch = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    watch.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    watch.bind(("127.255.255.255", config.port))  # bound to the broadcast address: broadcasts only
    watch.settimeout(10)
    try:
        lst = listener()
        lst.proc.send_signal(signal.SIGINT)
        lst.proc.wait(timeout=10)
        bodies = []
        while True:
            try:
                data = watch.recv(2048)
            except TimeoutError:
                break
            bodies.append(mailslot.decode_datagram(data).data[36:])
            if bodies[-1] == b"01OFFLINE":
                break
    finally:
        watch.close()
    assert b"01OFFLINE" in bodies, bodies  # conf 0, system 1, OFFLINE
