"""lanmsg chat with standard input not a terminal (loopback only): lines in, listen's output out."""

import json
import subprocess
import sys
import threading

from lanmsg_proc import ROOT, lanmsg

import mailslot


def raw_frame(sender, msg_id, text, conf=True, system=False):
    return (
        sender.ljust(24).encode("latin-1")
        + str(msg_id).rjust(12).encode()
        + (b"1" if conf else b"0")
        + (b"1" if system else b"0")
        + text
    )


def test_lines_go_to_the_target_and_all_confirmed_exits_0(port):
    r = lanmsg("chat", "--to", ".", input="hello me\n/msg . second 日本\n")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert "chat as LANMSGTEST on mailslot foxapp" in lines[0]
    assert sum(line.endswith("LANMSGTEST: hello me") for line in lines) == 1
    assert sum(line.endswith("LANMSGTEST: second 日本") for line in lines) == 1
    assert sum("confirmed by LANMSGTEST" in line for line in lines) == 2
    assert lines[-1].endswith("left the group (OFFLINE sent)")


def test_emoji_sequences_print_whole_lone_joiners_and_bidi_controls_escaped(port):
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧
    rainbow = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈
    r = lanmsg("chat", "--to", ".", input=f"{family} {rainbow} \u202eevil a\u200db\n")
    assert r.returncode == 0, r.stdout + r.stderr
    shown = f"{family} {rainbow} \\u202eevil a\\u200db"
    assert sum(line.endswith(f"sent to .: {shown}") for line in r.stdout.splitlines()) == 1
    assert sum(line.endswith(f"LANMSGTEST: {shown}") for line in r.stdout.splitlines()) == 1
    assert "\u202e" not in r.stdout


def test_json_events_and_a_to_line(port):
    r = lanmsg("chat", "--json", input="/to .\nvia to\n")
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "listening" and kinds[-1] == "stopped"
    (sent,) = [e for e in events if e["event"] == "sent"]
    (msg,) = [e for e in events if e["event"] == "message"]
    (conf,) = [e for e in events if e["event"] == "confirmed"]
    assert msg["text"] == "via to" and sent["id"] == msg["id"] == conf["id"]


def test_not_delivered_exits_1(port):
    # a broadcast on loopback: nobody but ourselves, and our own broadcasts are not confirmed
    r = lanmsg("chat", input="anyone?\n")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "not delivered to * after 1 attempts" in r.stdout


def test_unknown_name_is_looked_up_like_send_and_fails(port):
    r = lanmsg("chat", "--json", input="/to NOBODY\nhi\n")
    assert r.returncode == 1
    assert "no peer named 'NOBODY' answered" in r.stderr
    failed = [json.loads(line) for line in r.stdout.splitlines() if '"failed"' in line]
    assert failed and failed[0]["text"] == "hi"


def test_too_long_is_refused_and_nothing_sent(port):
    r = lanmsg("chat", "--to", ".", "--json", input="x" * 213 + "\n")
    assert r.returncode == 1
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert next(e for e in events if e["event"] == "refused")["limit"] == 212
    assert not [e for e in events if e["event"] in ("sent", "message")]


def test_received_messages_presence_and_commands_print_like_listen(port, config):
    proc = subprocess.Popen(
        [sys.executable, "-m", "lanmsg", "chat"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    first = proc.stdout.readline()
    assert "chat as" in first
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    mailslot.write(".", "foxapp", raw_frame("ALICE", 3, b"ONLINE", conf=False, system=True), config=config)
    mailslot.write(".", "foxapp", raw_frame("EVIL", 4, b"\x1b[2J\x1b]0;pwned\x07 hi"), config=config)
    mailslot.write(".", "foxapp", raw_frame("EVIL", 4, b"\x1b[2J\x1b]0;pwned\x07 hi"), config=config)
    # a one-shot send from another shell goes through the running chat
    r = lanmsg("send", ".", "from", "a", "shell")
    assert r.returncode == 0, r.stderr
    proc.stdin.write("/who\n")
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    reader.join(timeout=10)
    out = first + "".join(lines)
    assert "* ALICE is online (127.0.0.1)" in out
    assert out.count("EVIL: \\x1b[2J\\x1b]0;pwned\\x07 hi") == 1
    assert "\x1b" not in out and "\x07" not in out
    assert "LANMSGTEST: from a shell" in out
    assert "ALICE  127.0.0.1" in out  # /who
    assert out.rstrip().endswith("left the group (OFFLINE sent)")


def test_log_records_both_directions(port, tmp_path):
    log = str(tmp_path / "chat.jsonl")
    assert lanmsg("chat", "--to", ".", "--log", log, input="remember me\n").returncode == 0
    with open(log, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    assert [(r["dir"], r["text"]) for r in records] == [("out", "remember me"), ("in", "remember me")]


def test_with_a_key_the_budget_is_168_bytes(port, tmp_path):
    key = str(tmp_path / "group.key")
    assert lanmsg("keygen", key).returncode == 0
    r = lanmsg("chat", "--key-file", key, "--to", ".", "--json", input="y" * 169 + "\n" + "y" * 168 + "\n")
    assert r.returncode == 1, r.stderr  # one line refused
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert next(e for e in events if e["event"] == "refused")["limit"] == 168
    assert [e["text"] for e in events if e["event"] == "message"] == ["y" * 168]
    assert any(e["event"] == "confirmed" for e in events)


def test_to_your_own_name_is_this_machine(port):
    r = lanmsg("chat", "--json", input="/to LANMSGTEST\nhi me\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no peer named" not in r.stderr, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["text"] for e in events if e["event"] == "message"] == ["hi me"]
    assert [e["by"] for e in events if e["event"] == "confirmed"] == ["LANMSGTEST"]


def test_a_target_that_is_no_address_exits_2_and_sends_nothing(port):
    r = lanmsg("chat", "--json", input="/to 10.0.0.256\nnot for anyone\n")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("lanmsg: error: /to 10.0.0.256: '10.0.0.256' is not an IPv4 address"), r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert not [e for e in events if e["event"] in ("sent", "message", "failed")], events
    assert events[-1]["event"] == "stopped"  # it left the group (OFFLINE) first
    r = lanmsg("chat", "--to", ".", input="first\n/msg 127.1 second\nthird\n")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "'127.1' is not an IPv4 address" in r.stderr
    assert "LANMSGTEST: first" in r.stdout and "second" not in r.stdout and "third" not in r.stdout
    r = lanmsg("chat", "--to", "0.0.0.7", input="hi\n")
    assert r.returncode == 2 and "lanmsg: error: --to 0.0.0.7: 0.0.0.7 is not a computer's address" in r.stderr, (
        r.stderr
    )


def test_quit_says_what_the_queue_loses(port):
    r = lanmsg("chat", "--json", input="/to NOBODY\nare you there\n/quit\n")
    assert r.returncode == 1, r.stdout + r.stderr
    stopped = json.loads(r.stdout.splitlines()[-1])
    assert stopped["event"] == "stopped" and stopped["queued_dropped"] == 1
    r = lanmsg("chat", input="/to NOBODY\nare you there\n")
    assert r.stdout.splitlines()[-1].endswith("left the group (OFFLINE sent); 1 queued message (to NOBODY) dropped")


def test_a_second_owner_of_the_slot_is_told_the_remedy(port, background):
    background("listen")
    for args in (("chat",), ("listen",)):
        r = lanmsg(*args, input="hi\n")
        assert r.returncode == 3, r.stdout + r.stderr
        (line,) = r.stderr.splitlines()
        assert line.startswith("lanmsg: error: mailslot 'foxapp' already exists on this machine"), line
        assert "lanmsg send, broadcast and detect go through it" in line
        assert 'LANMSG_PEER_PORT (docs/chat.md, "One machine, two peers")' in line and "another --slot" in line


def test_two_chats_on_one_machine_each_on_its_own_port(free_udp_port):
    """docs/chat.md's recipe: each chat on a port of its own, the other's as its peer port."""
    import os

    p1, p2 = free_udp_port(), free_udp_port()
    env = dict(os.environ, LANMSG_PORT=str(p2), LANMSG_PEER_PORT=str(p1), LANMSG_NAME="BOB")
    bob = subprocess.Popen(
        [sys.executable, "-m", "lanmsg", "chat", "--json"], cwd=ROOT, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )  # fmt: skip
    try:
        assert '"listening"' in bob.stdout.readline()
        env = dict(os.environ, LANMSG_PORT=str(p1), LANMSG_PEER_PORT=str(p2), LANMSG_NAME="ALICE")
        r = subprocess.run(
            [sys.executable, "-m", "lanmsg", "chat", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
            input="/to BOB\nhello bob\n", timeout=60,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        events = [json.loads(line) for line in r.stdout.splitlines()]
        assert ("BOB", "127.0.0.1") in [(e["name"], e["address"]) for e in events if e["event"] == "online"]
        assert [e["by"] for e in events if e["event"] == "confirmed"] == ["BOB"]
        bob.stdin.close()
        assert bob.wait(timeout=30) == 0
        heard = [json.loads(line) for line in bob.stdout]
        assert [(e["from"], e["text"]) for e in heard if e["event"] == "message"] == [("ALICE", "hello bob")]
        assert [e["name"] for e in heard if e["event"] in ("online", "offline")] == ["ALICE", "ALICE"]
    finally:
        bob.kill()
        bob.wait(timeout=10)
