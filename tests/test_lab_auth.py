"""A keyed lanmsg group between real hosts, and an attacker on the same LAN.

Each test builds its own lab (tests/netlab.py): hosts lab-h1.. on 10.213.0.0/24
behind one bridge.  The group's members run ``python -m lanmsg ... --key-file``;
the attacker (a host without the key) captures what it can hear on UDP 138 with a
plain socket and sends it again unchanged, or forges frames with a key of its own.
Assertions are on what a user sees: exit codes, the lines a listener shows, and
the drop counts of its ``stopped`` event.  Without root the module skips.
"""

import json
import re
import sys

import netlab

pytestmark = netlab.pytest_marks()

PY = sys.executable
NEVER_HANGS_S = 60  # generous upper bound for a one-shot command: the machine is shared
REPLAY_AFTER_S = 3.0  # past the transport's 2 s duplicate filter, well inside the window
SHORT_WINDOW_S = 10  # the victim's --auth-window in the replay test
STALE_AFTER_S = SHORT_WINDOW_S + 2.0


def lanmsg(*args):
    return [PY, "-m", "lanmsg", *map(str, args)]


def keygen(lab, tmp_path, name):
    path = tmp_path / name
    r = lab.run(1, lanmsg("keygen", path))
    assert r.returncode == 0, r.stderr
    return str(path)


def start_listener(lab, host, *args):
    p = lab.popen(host, lanmsg("listen", "--json", *args))
    p.wait_for_line(r'^\{"event": "listening"')
    return p


def stop_listener(p):
    """SIGTERM; returns (texts shown with their senders, the stopped event)."""
    p.terminate()
    r = p.finish(20)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    (stopped,) = [e for e in events if e["event"] == "stopped"]
    return [(e["from"], e["text"]) for e in events if e["event"] == "message"], stopped


def run(lab, host, *args):
    return lab.run(host, lanmsg(*args), timeout=NEVER_HANGS_S)


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


# -- 1. a keyed group works across hosts; outsiders are not confirmed --------------------------------


def test_a_keyed_group_talks_across_hosts_and_a_sender_without_the_key_is_not_confirmed(tmp_path):
    with netlab.Lab(3) as lab:
        key, other = keygen(lab, tmp_path, "group.key"), keygen(lab, tmp_path, "other.key")
        h2 = start_listener(lab, 2, "--key-file", key)
        h3 = start_listener(lab, 3, "--key-file", key)
        r = ok(run(lab, 1, "detect", "--key-file", key, "--timeout", 3))
        assert sorted(r.stdout.splitlines()) == [f"LAB-H2 {lab.addr(2)}", f"LAB-H3 {lab.addr(3)}"], r.stdout
        r = ok(run(lab, 1, "send", "--key-file", key, lab.addr(2), "keyed by address"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
        r = ok(run(lab, 1, "send", "--key-file", key, "LAB-H2", "keyed by name"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
        r = ok(run(lab, 1, "broadcast", "--key-file", key, "--wait", 2, "keyed to all"))
        assert sorted(r.stdout.splitlines()) == [f"LAB-H2 {lab.addr(2)}", f"LAB-H3 {lab.addr(3)}"], r.stdout

        r = run(lab, 1, "send", "--retries", 1, lab.addr(2), "no key")
        assert r.returncode == 1, r
        assert f"no confirmation from {lab.addr(2)}" in r.stderr
        r = run(lab, 1, "send", "--retries", 1, "--key-file", other, lab.addr(2), "other key")
        assert r.returncode == 1, r
        for args in (["--key-file", other], []):  # the members do not answer an outsider's DETECT
            r = run(lab, 1, "detect", "--timeout", 2, *args)
            assert r.returncode == 1 and r.stdout == "", r

        shown2, stopped2 = stop_listener(h2)
        shown3, _ = stop_listener(h3)
    assert shown2 == [("LAB-H1", "keyed by address"), ("LAB-H1", "keyed by name"), ("LAB-H1", "keyed to all")]
    assert shown3 == [("LAB-H1", "keyed to all")]
    dropped = stopped2["frames_dropped"]
    assert dropped.get("auth-untagged", 0) >= 3, dropped  # 2 copies of "no key" + the plain DETECT
    assert dropped.get("auth-bad-tag", 0) >= 3, dropped  # 2 copies of "other key" + its DETECT


# -- 2. a LAN attacker without the key --------------------------------------------------------------------

# On the attacker's host: capture the first keyed datagram that carries MARKER (a
# plain socket on UDP 138, as any program on the LAN can), send it unchanged to the
# victim twice: inside the window, then once it has passed.
CAPTURE_AND_REPLAY = r"""
import socket, sys, time
victim, marker, replay_after, stale_after = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(("", 138))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    if marker in data and data[-44:-40] == b"LMA1":
        break
captured = time.monotonic()
print("captured", len(data), "bytes from", peer[0], flush=True)
time.sleep(replay_after)
s.sendto(data, (victim, 138))
print("replayed", flush=True)
time.sleep(max(0.0, captured + stale_after - time.monotonic()))
s.sendto(data, (victim, 138))
print("replayed late", flush=True)
"""

# On the attacker's host: frames in the name of a member, with a key of its own and with none.
FORGE = r"""
import sys, time, mailslot
from lanmsg import auth
victim, sender = sys.argv[1], sys.argv[2].encode()
def frame(msg_id, body):
    return sender.ljust(24, b" ") + str(msg_id).rjust(12).encode() + b"10" + body
mailslot.write(victim, "foxapp", auth.seal(auth.generate_key(), frame(901, b"forged with a wrong key"),
                                           slot="foxapp", now=time.time()))
mailslot.write(victim, "foxapp", frame(902, b"forged without a key"))
print("forged", flush=True)
"""


def test_a_captured_frame_sent_again_is_dropped_as_replayed_then_as_stale_and_forgeries_as_bad(tmp_path):
    with netlab.Lab(3) as lab:
        key = keygen(lab, tmp_path, "group.key")
        victim = start_listener(lab, 2, "--key-file", key, "--auth-window", SHORT_WINDOW_S)
        attacker = lab.popen(
            3, [PY, "-c", CAPTURE_AND_REPLAY, lab.addr(2), "fire drill at 3", REPLAY_AFTER_S, STALE_AFTER_S]
        )
        attacker.wait_for_line("^ready$")
        ok(run(lab, 1, "broadcast", "--key-file", key, "fire drill at 3"))
        attacker.wait_for_line(rf"^captured \d+ bytes from {re.escape(lab.addr(1))}$")
        attacker.wait_for_line("^replayed$")
        attacker.wait_for_line("^replayed late$", timeout=STALE_AFTER_S + 30)
        assert attacker.finish(10).returncode == 0
        r = ok(lab.run(3, [PY, "-c", FORGE, lab.addr(2), "LAB-H1"], timeout=NEVER_HANGS_S))
        assert r.stdout == "forged\n"
        # the group still works after the attack
        r = ok(run(lab, 1, "send", "--key-file", key, lab.addr(2), "still here"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
        shown, stopped = stop_listener(victim)
    assert shown == [("LAB-H1", "fire drill at 3"), ("LAB-H1", "still here")], shown
    dropped = stopped["frames_dropped"]
    assert {k: dropped.get(k, 0) for k in ("auth-replayed", "auth-stale", "auth-bad-tag", "auth-untagged")} == {
        "auth-replayed": 1,
        "auth-stale": 1,
        "auth-bad-tag": 1,
        "auth-untagged": 1,
    }, dropped


# -- 3. discovery with a key ----------------------------------------------------------------------------


def test_keyed_discovery_finds_the_keyed_server_and_outsiders_find_nothing(tmp_path):
    with netlab.Lab(2) as lab:
        key, other = keygen(lab, tmp_path, "group.key"), keygen(lab, tmp_path, "other.key")
        server = lab.popen(2, lanmsg("announce", "--json", "--key-file", key, 5000))
        server.wait_for_line(r'^\{"event": "announcing"')
        r = ok(run(lab, 1, "discover", "--key-file", key))
        assert r.stdout.splitlines() == [f"{lab.addr(2)}:5000"], r.stdout
        r = run(lab, 1, "discover", "--key-file", other, "--timeout", 2)
        assert (r.returncode, r.stdout) == (1, ""), r
        r = run(lab, 1, "discover", "--timeout", 2)
        assert (r.returncode, r.stdout) == (1, ""), r
        assert "this group uses a key" in r.stderr, r.stderr
        server.terminate()
        result = server.finish(20)
    assert result.returncode == 0, result.stderr
    (stopped,) = [json.loads(line) for line in result.stdout.splitlines() if '"stopped"' in line]
    assert stopped["answers"] >= 1
    assert stopped["frames_dropped"].get("auth-bad-tag", 0) >= 1, stopped
    assert stopped["frames_dropped"].get("auth-untagged", 0) >= 1, stopped
