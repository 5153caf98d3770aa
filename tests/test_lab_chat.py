"""lanmsg chat between real hosts: the full screen in a pty (read through pyte) on lab-h1, and
lanmsg listeners (the project's FoxPro-compatible peers) on the other hosts.

Without root (or without pyte) the module skips (docs/testing.md, "The lab").
"""

import os
import re
import shutil
import subprocess
import time

import netlab
import pytest
from test_lab_messenger import lanmsg, ok, run, shown, start_listener, stop_listener

pytest.importorskip("pyte")
pytest.importorskip("curses")

from chatpty import PtyChat

pytestmark = netlab.pytest_marks()


def start_chat(lab, host, *args, cols=100, rows=30, plain=False):
    env = {k: None for k in os.environ if k.startswith("LANMSG_")}
    env.update(lab.env())
    argv = lab.command(host, lanmsg("chat", *(["--plain"] if plain else []), *args))
    c = PtyChat(argv=argv, cols=cols, rows=rows, env=env)
    c.wait_text(f"chat as {lab.hostname(host).upper()}")
    return c


def enter(c, line):
    c.type(line)
    c.key("enter")


def test_chat_talks_with_listeners_queues_for_an_absent_peer_and_leaves_cleanly(tmp_path):
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        c = start_chat(lab, 1)
        try:
            # the chat's DETECT at start: the listener answers, and its ONLINE shows
            c.wait_text(f"* LAB-H2 is online ({lab.addr(2)})")
            h2.wait_for_line(rf"\* LAB-H1 is online \({re.escape(lab.addr(1))}\)$")
            # an incoming message appears once
            ok(run(lab, 2, "send", "LAB-H1", "hello chat"))
            c.wait_text("<LAB-H2> hello chat")
            assert c.text().count("<LAB-H2> hello chat") == 1
            # /to and a line reach the peer; the line turns confirmed
            enter(c, "/to LAB-H2")
            c.wait_for(lambda: c.display()[-1].startswith("to LAB-H2> "), "the target in the prompt")
            enter(c, "first line")
            c.wait_text("-> LAB-H2: first line  [confirmed]")
            h2.wait_for_line(r"LAB-H1: first line$")
            # /who lists the peer with its address; /refresh asks again
            enter(c, "/who")
            c.wait_text(f"LAB-H2  {lab.addr(2)}")
            enter(c, "/refresh")
            c.wait_text("asked who is online")
            # escapes in a received text change neither the screen nor the title
            ok(run(lab, 2, "send", "LAB-H1", "\x1b]0;pwned\x07\x1b[2Jgone?"))
            c.wait_text("<LAB-H2> \\x1b]0;pwned\\x07\\x1b[2Jgone?")
            assert "<LAB-H2> hello chat" in c.text()
            with c.lock:
                assert b"pwned\x07" not in bytes(c.raw)
            # the peer dies without OFFLINE: the next line is not delivered, and queued
            h2.kill()
            h2.wait()
            enter(c, "while you were out")
            c.wait_text("[not delivered to LAB-H2; queued until LAB-H2 is online]", timeout=30)
            # it comes back: its ONLINE brings the queued message, with a new id
            h2 = start_listener(lab, 2)
            c.wait_text("[sent again, confirmed]", timeout=30)
            h2.wait_for_line(r"LAB-H1: while you were out$")
            # /quit puts OFFLINE on the wire and exits 0
            enter(c, "/quit")
            assert c.wait_exit() == 0
            h2.wait_for_line(rf"\* LAB-H1 is offline \({re.escape(lab.addr(1))}\)$")
            out = stop_listener(h2).stdout
            assert shown(out, "LAB-H1") == ["while you were out"], out
        finally:
            c.close()


def test_log_history_reappears_after_a_restart(tmp_path):
    log = tmp_path / "chat.jsonl"
    with netlab.Lab(2) as lab:
        h2 = start_listener(lab, 2)
        c = start_chat(lab, 1, "--log", str(log), "--to", "LAB-H2")
        try:
            c.wait_text("* LAB-H2 is online")
            ok(run(lab, 2, "send", "LAB-H1", "remember this"))
            c.wait_text("<LAB-H2> remember this")
            enter(c, "and this")
            c.wait_text("[confirmed]")
            enter(c, "/quit")
            assert c.wait_exit() == 0
        finally:
            c.close()
        c = start_chat(lab, 1, "--log", str(log), plain=True)
        try:
            c.wait_text("history: the last 2 messages of chat.jsonl")
            c.wait_text("[history] <LAB-H2> remember this")
            c.wait_text("[history] -> LAB-H2: and this")
            c.wait_text("end of history")
            c.key("ctrl-d")
            assert c.wait_exit() == 0
        finally:
            c.close()
        stop_listener(h2)


def test_stdin_mode_delivers_and_exits_as_specified():
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        r = lab.run(1, lanmsg("chat"), input="/to LAB-H2\nline one\nline two\n", timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("confirmed by LAB-H2") == 2, r.stdout
        out = stop_listener(h2).stdout
        assert shown(out, "LAB-H1") == ["line one", "line two"], out
        # nobody on host 3 listens: not delivered, exit 1
        r = lab.run(1, lanmsg("chat", "--to", lab.addr(3)), input="anyone?\n", timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"not delivered to {lab.addr(3)} after 4 attempts" in r.stdout


def test_a_one_shot_send_goes_through_a_running_chat():
    with netlab.Lab(2) as lab:
        h2 = start_listener(lab, 2)
        c = start_chat(lab, 1)
        try:
            c.wait_text("* LAB-H2 is online")
            r = ok(run(lab, 1, "send", "LAB-H2", "from another shell"))
            assert r.stdout.splitlines() == [f"confirmed by LAB-H2 ({lab.addr(2)})"], r.stdout
            h2.wait_for_line(r"LAB-H1: from another shell$")
            c.wait_text("-> LAB-H2: from another shell  [confirmed] (sent by another lanmsg command)")
            c.key("ctrl-c")
            assert c.wait_exit() == 0
        finally:
            c.close()
        h2.wait_for_line(r"\* LAB-H1 is offline")
        stop_listener(h2)


# -- the same in tmux: a real terminal emulator's keys, paste and capture -------------------------


class Tmux:
    """One tmux server of its own (private socket, no configuration), one fixed-size window."""

    def __init__(self, tmp_path, argv, env, cols=90, rows=24):
        self.base = [shutil.which("tmux"), "-S", str(tmp_path / "tmux.sock"), "-f", os.devnull]
        env_args = [f"{k}={v}" for k, v in env.items()]
        self.tmux("new-session", "-d", "-x", str(cols), "-y", str(rows), "env", "-i", *env_args, *argv)

    def tmux(self, *args):
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=30, check=True).stdout

    def screen(self):
        return self.tmux("capture-pane", "-p")

    def wait_for(self, predicate, what, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"not on the screen: {what}\n{self.screen()}")

    def wait_text(self, needle, timeout=20.0):
        self.wait_for(lambda: needle in self.screen(), repr(needle), timeout)

    def keys(self, *keys, literal=False):
        self.tmux("send-keys", *(["-l"] if literal else []), *keys)

    def kill(self):
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=30)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_chat_in_tmux(tmp_path):
    with netlab.Lab(2) as lab:
        h2 = start_listener(lab, 2)
        env = dict(lab.env(), TERM="screen", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        t = Tmux(tmp_path, lab.command(1, lanmsg("chat", "--to", "LAB-H2")), env)
        try:
            t.wait_text("* LAB-H2 is online")
            ok(run(lab, 2, "send", "LAB-H1", "hi from tmux's neighbour"))
            t.wait_text("<LAB-H2> hi from tmux's neighbour")
            t.keys("half", literal=True)
            t.keys("Left", "Left")
            ok(run(lab, 2, "send", "LAB-H1", "mid-edit"))
            t.wait_text("<LAB-H2> mid-edit")
            t.keys("XY", literal=True)
            t.wait_text("to LAB-H2> haXYlf")
            t.wait_for(
                lambda: t.tmux("display", "-p", "#{cursor_x}").strip() == str(len("to LAB-H2> haXY")),
                "the cursor after XY",
            )
            t.keys("Enter")
            t.wait_text("-> LAB-H2: haXYlf  [confirmed]")
            h2.wait_for_line(r"LAB-H1: haXYlf$")
            # tmux pastes with bracketed-paste codes because chat asked for them
            t.tmux("set-buffer", "line one\nline two")
            t.tmux("paste-buffer", "-p")
            t.wait_text("you pasted 2 lines")
            t.keys("Enter")
            t.wait_text("-> LAB-H2: line two  [confirmed]")
            t.keys("/quit", literal=True)
            t.keys("Enter")
            h2.wait_for_line(r"\* LAB-H1 is offline")
        finally:
            t.kill()
        out = stop_listener(h2).stdout
        assert shown(out, "LAB-H1") == ["haXYlf", "line one", "line two"], out


# -- against a Windows-faithful FoxPro peer (tests/peers/winpeer.py) ---------------------------


def test_chat_with_a_windows_faithful_foxpro_peer():
    """winpeer replies only by name (NBNS), as Windows does: chat must be found by its name."""
    from peers.winpeer import read_events, winpeer_argv

    with netlab.Lab(3, empty_resolv_conf=True) as lab:
        c = start_chat(lab, 1)
        try:
            peer = lab.popen(2, winpeer_argv("WINPEER2", broadcast=lab.broadcast_of(2)))
            peer.wait_for_line(r'"event": ?"turned_on"', timeout=30)
            c.wait_text(f"* WINPEER2 is online ({lab.addr(2)})")
            enter(c, "/to winpeer2")
            c.wait_for(lambda: c.display()[-1].startswith("to WINPEER2> "), "the peer's spelling in the prompt")
            enter(c, "hello windows")
            c.wait_text("-> WINPEER2: hello windows  [confirmed]")
            # a one-shot Windows-faithful sender finds chat by NetBIOS name and gets its CONF
            r = lab.run(3, winpeer_argv("WINPEER3", broadcast=lab.broadcast_of(3), send=("LAB-H1", "hi chat"), timeout=10), timeout=60)  # fmt: skip
            assert r.returncode == 0, r.stdout + r.stderr
            c.wait_text("<WINPEER3> hi chat")
            enter(c, "/quit")
            assert c.wait_exit() == 0
            peer.wait_for_line(r'"event": ?"offline".*"from": ?"LAB-H1"', timeout=30)
            peer.terminate()
            events = read_events(peer.finish(20).stdout)
            assert [e["text"] for e in events if e["event"] == "message"] == ["hello windows"]
        finally:
            c.close()
