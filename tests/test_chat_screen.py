"""lanmsg chat on a screen: a real pty read through pyte, in full screen and in --plain.

Peers are played by frames written to this machine's messenger slot (loopback only).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("pyte")
if sys.platform == "win32":  # pragma: no cover
    pytest.skip("pty screen tests are POSIX-only", allow_module_level=True)
pytest.importorskip("curses")

from chatpty import ROOT, PtyChat

import mailslot
from lanmsg.chat.textwidth import text_width

MODES = {"full": (), "plain": ("--plain",)}
COLOUR_SGR = re.compile(rb"\x1b\[[0-9;]*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


def frame(sender, msg_id, body: bytes, conf=True, system=False):
    return (
        sender.encode("utf-8").ljust(24)
        + str(msg_id).rjust(12).encode()
        + (b"1" if conf else b"0")
        + (b"1" if system else b"0")
        + body
    )


@pytest.fixture
def chat(port):
    started = []

    def start(*args, **kw):
        started.append(PtyChat(*args, **kw))
        return started[-1]

    yield start
    for c in started:
        c.close()


def peer_says(config, sender, msg_id, text):
    mailslot.write(".", "foxapp", frame(sender, msg_id, text.encode("utf-8")), config=config)


def peer_presence(config, sender, msg_id, word):
    mailslot.write(".", "foxapp", frame(sender, msg_id, word.encode(), conf=False, system=True), config=config)


def input_row(c):
    """The input line: the last row that starts with the prompt."""
    return next((line for line in reversed(c.display()) if line.startswith("to ")), "")


@pytest.mark.parametrize("mode", MODES)
def test_half_typed_line_survives_an_incoming_message(chat, config, mode):
    c = chat(*MODES[mode])
    c.wait_text("chat as LANMSGTEST")
    c.type("hello world")
    c.key("left", 3)
    c.wait_for(lambda: c.cursor()[0] == len("to *> hello wo"), "cursor in the middle")
    peer_says(config, "BOB", 1, "interrupting you")
    c.wait_text("<BOB> interrupting you")
    c.wait_for(lambda: input_row(c).rstrip().startswith("to *> hello world"), "the half-typed line redrawn")
    c.type("XY")
    c.wait_for(lambda: "to *> hello woXYrld" in input_row(c), "edited line")

    def cursor_after_xy():
        x, y = c.cursor()
        return x == len("to *> hello woXY") and c.display()[y].startswith("to *> hello woXYrld")

    c.wait_for(cursor_after_xy, "the cursor after XY, on the input line")
    y = c.cursor()[1]
    # the message shows once, above the input line
    c.wait_for(
        lambda: c.text().count("<BOB> interrupting you") == 1 and c.row_with("<BOB> interrupting you") < y,
        "the message once, above the input line",
    )


@pytest.mark.parametrize("mode", MODES)
def test_presence_online_and_offline(chat, config, mode):
    c = chat(*MODES[mode])
    c.wait_text("chat as LANMSGTEST")
    peer_presence(config, "ALICE", 5, "ONLINE")
    c.wait_text("* ALICE is online (127.0.0.1)")
    if mode == "full":
        c.wait_for(lambda: "online 1: ALICE" in c.display()[-2], "status bar with ALICE")
    peer_presence(config, "ALICE", 6, "OFFLINE")
    c.wait_text("* ALICE is offline (127.0.0.1)")
    if mode == "full":
        c.wait_for(lambda: "online 0" in c.display()[-2] and "ALICE" not in c.display()[-2], "status bar without ALICE")


@pytest.mark.parametrize("mode", MODES)
def test_cjk_and_emoji_take_two_cells(chat, config, mode):
    c = chat(*MODES[mode])
    c.wait_text("chat as LANMSGTEST")
    peer_says(config, "李", 2, "你好世界 ☕ end")
    c.wait_text("<李> 你好世界 ☕ end")
    c.type("日本☕x")
    c.wait_for(lambda: "to *> 日本☕x" in input_row(c), "wide input")
    c.wait_for(lambda: c.cursor()[0] == len("to *> ") + 2 + 2 + 2 + 1, "the cursor after the wide input")
    c.key("left", 2)
    c.wait_for(lambda: c.cursor()[0] == len("to *> ") + 4, "cursor before the emoji")
    if mode == "full":
        # the bytes-left count stays flush right: the wide characters took their two cells each
        left = 212 - len("日本☕x".encode())
        c.wait_for(lambda: text_width(input_row(c)) == 80 and input_row(c).endswith(f" {left}"), f"{left} flush right")
        # a received line with wide characters wraps by cells, never past the edge
        long = "你好" * 50
        peer_says(config, "李", 3, long)
        c.wait_text("<李> 你好你好")

        def wrapped_by_cells():
            rows = [line for line in c.display() if "你好" in line]
            return (
                len(rows) >= 2
                and all(text_width(line) == 80 for line in rows)
                and "".join(line.strip() for line in rows).endswith(long)
            )

        c.wait_for(wrapped_by_cells, "the long line wrapped by cells, every row 80 cells, nothing lost")


@pytest.mark.parametrize("mode", MODES)
def test_a_letter_and_its_combining_mark_are_one_cursor_step(chat, config, mode):
    # (pyte, the emulator here, stops drawing at a ZWJ or VS16: emoji sequences are tested on
    # the layout, in test_chat_model.py, and through standard input, in test_chat_stdin.py)
    c = chat(*MODES[mode])
    c.wait_text("chat as LANMSGTEST")
    c.type("ae\u0301b")
    c.wait_for(lambda: "to *> a\u00e9b" in input_row(c), "a, e with its accent, b")
    c.wait_for(lambda: c.cursor()[0] == len("to *> ") + 3, "the cursor after b")
    c.key("left")
    c.wait_for(lambda: c.cursor()[0] == len("to *> ") + 2, "cursor before b")
    c.key("left")
    c.wait_for(lambda: c.cursor()[0] == len("to *> ") + 1, "cursor before the e and its accent, in one step")
    c.key("right")
    c.wait_for(lambda: c.cursor()[0] == len("to *> ") + 2, "cursor after them, in one step")
    os.write(c.fd, b"\x7f")  # Backspace: the accented e goes whole
    c.wait_for(lambda: input_row(c).rstrip().startswith("to *> ab") and "\u00e9" not in input_row(c), "ab")
    c.wait_for(lambda: c.cursor()[0] == len("to *> ") + 1, "the cursor after a")


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧
RAINBOW = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈
WOMAN_TECHNOLOGIST = "\U0001f469\u200d\U0001f4bb"  # 👩‍💻


def column_of(c, y, start):
    """The column of the first cell of row ``y`` whose content starts with ``start``."""
    return next(x for x, cell in enumerate(c.cells(y)) if cell.startswith(start))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("emoji", ["joined", "code points"])
def test_emoji_sequences_are_whole_one_step_and_where_the_terminal_draws_them(chat, config, mode, emoji):
    """The terminal decides how wide 👩‍💻 is (two cells when it joins emoji, four when it draws
    code point by code point); chat asks it, so the rest of the row, the bytes-left count and the
    cursor stand where the terminal put the text."""
    c = chat(*MODES[mode], emoji=emoji)
    c.wait_text("chat as LANMSGTEST")
    peer_says(config, "BOB", 1, f"{FAMILY} and {RAINBOW} ok")
    c.wait_text(f"<BOB> {FAMILY} and {RAINBOW} ok")  # shown whole: no \\u200d, nothing overwritten
    c.type(f"x{WOMAN_TECHNOLOGIST}y")
    c.wait_for(lambda: f"to *> x{WOMAN_TECHNOLOGIST}y" in input_row(c), "the emoji typed, whole")
    y = c.row_with("to *> x")
    after_y = column_of(c, y, "y") + 1
    c.wait_for(lambda: c.cursor() == (after_y, y), f"the cursor after y, at {after_y}")
    if mode == "full":  # the count stays flush right: its last digit in the last column
        left = str(212 - len(f"x{WOMAN_TECHNOLOGIST}y".encode()))
        c.wait_for(lambda: "".join(c.cells(y)[-len(left) :]) == left, f"{left} in the last columns")
    c.key("left")
    c.wait_for(lambda: c.cursor() == (column_of(c, y, "y"), y), "the cursor before y")
    c.key("left")  # one step over the whole emoji
    c.wait_for(lambda: c.cursor() == (column_of(c, y, "\U0001f469"), y), "the cursor before the emoji")
    c.type("Z")
    c.wait_for(lambda: f"to *> xZ{WOMAN_TECHNOLOGIST}y" in input_row(c), "typed before the emoji, not inside it")
    os.write(c.fd, b"\x1b[C\x7f")  # Right, Backspace: the emoji goes whole
    c.wait_for(lambda: "to *> xZy" in input_row(c), "the emoji deleted whole")
    c.wait_for(lambda: c.cursor() == (column_of(c, y, "y"), y), "the cursor before y again")


@pytest.mark.parametrize("mode", MODES)
def test_a_terminal_that_does_not_say_where_its_cursor_is_and_keys_typed_at_once(chat, config, mode):
    """The cursor position is asked once at the start; keys typed meanwhile are kept, and a
    terminal that never answers costs a second, then emoji are measured code point by code point."""
    c = chat(*MODES[mode], emoji="silent")
    c.type("early")
    c.wait_text("chat as LANMSGTEST")
    c.wait_for(lambda: "to *> early" in input_row(c), "the keys typed before the screen was up")
    c.type("!")
    c.wait_for(lambda: "to *> early!" in input_row(c), "still typing")


@pytest.mark.parametrize("mode", MODES)
def test_bell_rings_on_incoming_messages_only_with_bell(chat, config, mode):
    c = chat(*MODES[mode], "--bell")
    c.wait_text("chat as LANMSGTEST")
    peer_presence(config, "ALICE", 1, "ONLINE")
    c.wait_text("* ALICE is online")
    with c.lock:
        assert b"\x07" not in bytes(c.raw)  # presence does not ring
    peer_says(config, "ALICE", 2, "ding")
    c.wait_text("<ALICE> ding")
    c.wait_for(lambda: b"\x07" in bytes(c.raw), "a BEL")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_sizes_and_a_resize(chat, config, mode, size):
    cols, rows = size
    c = chat(*MODES[mode], cols=cols, rows=rows)
    c.wait_text("chat as LANMSGTEST")
    if mode == "full":
        c.wait_for(
            lambda: (
                c.display()[-1].startswith("to *> ")
                and c.display()[-1].rstrip().endswith("212")
                and c.display()[-2].startswith("LANMSGTEST on foxapp | to *")
            ),
            "the input line and the status bar",
        )
    long = "word " * 60
    peer_says(config, "BOB", 3, long.strip())
    c.wait_text("<BOB> word word")
    c.type("typed")
    c.wait_for(lambda: "to *> typed" in input_row(c), "typed text")
    c.resize(50, 12)
    if mode == "full":

        def rewrapped():
            # word-wrapped at the new width: every row of BOB's message ends with a whole word
            rows = [line.rstrip() for line in c.display()[:-2] if "word" in line]
            return len(rows) >= 6 and all(row.endswith("word") and len(row) <= 50 for row in rows)

        c.wait_for(rewrapped, "BOB's message wrapped at 50 columns")
        c.wait_for(
            lambda: c.display()[-2].startswith("LANMSGTEST on foxapp") and c.display()[-1].startswith("to *> typed"),
            "the status bar and the input line at the new size",
        )
    c.type("!")
    c.wait_for(lambda: "to *> typed!" in input_row(c), "still editable after the resize")


@pytest.mark.parametrize("mode", MODES)
def test_no_colour_under_no_color(chat, config, mode):
    c = chat(*MODES[mode], env={"NO_COLOR": "1"})
    c.wait_text("chat as LANMSGTEST")
    c.type("/to .")
    c.key("enter")
    c.type("mine")
    c.key("enter")
    c.wait_text("[confirmed]" if mode == "full" else '"mine" to .: confirmed')
    c.type("/nonsense")
    c.key("enter")
    c.wait_text("unknown command")
    with c.lock:
        raw = bytes(c.raw)
    assert not COLOUR_SGR.search(raw), COLOUR_SGR.findall(raw)[:5]


def test_colour_is_used_when_allowed(chat, config):
    """The check above can see colour: without NO_COLOR, a confirmed line is coloured."""
    c = chat()
    c.wait_text("chat as LANMSGTEST")
    c.type("/to .")
    c.key("enter")
    c.type("mine")
    c.key("enter")
    c.wait_text("[confirmed]")

    def coloured():
        with c.lock:
            return COLOUR_SGR.search(bytes(c.raw))

    c.wait_for(coloured, "a colour SGR")


@pytest.mark.parametrize("mode", MODES)
def test_escape_sequences_in_received_text_change_nothing(chat, config, mode):
    c = chat(*MODES[mode], env={"NO_COLOR": "1"})
    c.wait_text("chat as LANMSGTEST")
    mailslot.write(".", "foxapp", frame("EVIL", 9, b"\x1b[2J\x1b]0;pwned\x07\x1b[31mred"), config=config)
    c.wait_text("<EVIL> \\x1b[2J\\x1b]0;pwned\\x07\\x1b[31mred")
    assert "chat as LANMSGTEST" in c.text()  # the screen was not cleared
    with c.lock:
        raw = bytes(c.raw)
    assert b"\x1b]0;" not in raw and b"pwned\x07" not in raw  # no title was set


@pytest.mark.parametrize("mode", MODES)
def test_multi_line_paste_asks_first(chat, config, mode):
    c = chat(*MODES[mode])
    c.wait_text("chat as LANMSGTEST")
    c.type("/to .")
    c.key("enter")
    c.paste("one\ntwo\n/three")
    c.wait_text("you pasted 3 lines")
    c.key("esc")
    c.wait_text("paste not sent")
    c.paste("four\nfive")
    c.wait_text("you pasted 2 lines")
    c.key("enter")
    c.wait_text("<LANMSGTEST> five")
    c.wait_text("<LANMSGTEST> four")
    assert "<LANMSGTEST> one" not in c.text()  # the cancelled paste: never sent (five came after it)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["quit", "ctrl-d", "ctrl-c", "sigterm"])
def test_leaving_restores_the_terminal_and_exits_0(chat, config, mode, how):
    c = chat(*MODES[mode])
    c.wait_text("chat as LANMSGTEST")
    if how == "quit":
        c.type("/q")
        c.key("enter")
    elif how == "sigterm":
        os.kill(c.pid, signal.SIGTERM)
    else:
        c.key(how)
    assert c.wait_exit() == 0
    with c.lock:
        raw = bytes(c.raw)
    assert raw.rfind(b"\x1b[?2004l") > raw.rfind(b"\x1b[?2004h") >= 0  # bracketed paste off again
    assert b"left the group (OFFLINE sent)" in raw


def test_pgup_scrolls_and_counts_unread(chat, config):
    c = chat(cols=60, rows=10)
    c.wait_text("chat as LANMSGTEST")
    for i in range(15):
        peer_says(config, "BOB", 100 + i, f"line {i}")
    c.wait_text("<BOB> line 14")
    c.key("pgup")
    c.wait_for(lambda: "scrolled back" in c.display()[-2] and "<BOB> line 14" not in c.text(), "scrolled back")
    view = c.display()[:-2]
    peer_says(config, "BOB", 200, "while away")
    c.wait_for(lambda: "scrolled back 8, unread 1" in c.display()[-2], "unread count")
    # the view stays put while lines arrive below it (a wait that fails if it moved)
    c.wait_for(lambda: c.display()[:-2] == view, "the same view")
    c.key("pgdn", 2)
    c.wait_text("<BOB> while away")
    c.wait_for(lambda: "unread" not in c.display()[-2], "no unread count once back at the bottom")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the host's list of processes and /proc are Linux's")
@pytest.mark.parametrize("mode", MODES)
def test_ctrl_z_gives_the_terminal_and_the_hosts_unicasts_back_and_fg_redraws(
    chat, config, mode, port, free_udp_port, tmp_path
):
    """Ctrl-Z: chat gives the terminal back (echo and line editing on, bracketed paste off) and
    its shared sockets up, so another lanmsg process of the host gets the unicasts meant for it
    while chat is stopped; after fg (SIGCONT) chat takes both again and redraws what it showed,
    the half-typed line included."""
    ns_port = str(free_udp_port())  # the name service on a port of its own: the host's list of processes
    env = dict(os.environ, LANMSG_NS_PORT=ns_port)
    out = (tmp_path / "beta.txt").open("w+")
    beta = subprocess.Popen(
        [sys.executable, "-m", "mailslot", "listen", "slotb", "--name", "BETA"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=os.setpgrp,
    )  # fmt: skip
    try:
        wait_until(lambda: "listening on" in (tmp_path / "beta.txt").read_text(), "BETA listening")
        c = chat(*MODES[mode], job=True, env={"LANMSG_NS_PORT": ns_port})  # bound last: the host's unicasts are its
        c.wait_text("chat as LANMSGTEST")
        c.type("half typed")
        c.wait_for(lambda: "to *> half typed" in input_row(c), "the half-typed line")
        os.kill(c.pid, signal.SIGTSTP)
        c.wait_for(lambda: c.state() == "T", "chat stopped")

        import termios

        def terminal_given_back():
            lflag = termios.tcgetattr(c.fd)[3]
            with c.lock:
                raw = bytes(c.raw)
            return (
                lflag & termios.ECHO
                and lflag & termios.ICANON
                and raw.rfind(b"\x1b[?2004l") > raw.rfind(b"\x1b[?2004h")
            )

        c.wait_for(terminal_given_back, "echo, line editing on and bracketed paste off while stopped")
        from_elsewhere(port, "BETA", "slotb", b"while chat sleeps")
        wait_until(lambda: "while chat sleeps" in (tmp_path / "beta.txt").read_text(), "BETA got its unicast")
        c.reset_screen()  # what the shell showed meanwhile
        os.kill(c.pid, signal.SIGCONT)
        c.wait_for(lambda: c.state() != "T", "chat running again")
        c.wait_for(lambda: "to *> half typed" in input_row(c), "the half-typed line redrawn")
        if mode == "full":
            c.wait_text("chat as LANMSGTEST")  # the whole screen
            c.wait_for(lambda: c.display()[-2].startswith("LANMSGTEST on foxapp"), "the status bar")
        c.type("!")
        c.wait_for(lambda: "to *> half typed!" in input_row(c), "typing goes on")
        from_elsewhere(port, "LANMSGTEST", "foxapp", frame("SOMEONE", 7, b"welcome back"))
        c.wait_text("<SOMEONE> welcome back")  # its own unicasts reach it again
    finally:
        beta.terminate()
        beta.wait(timeout=20)
        out.close()


def from_elsewhere(port, name, slot, data):
    """A unicast datagram to this host as another computer's arrives: from a socket not on the
    port, so only the socket the kernel picks on the port gets it (the newest one bound)."""
    d = mailslot.build_datagram(
        msg_type=mailslot.MSG_DIRECT_UNIQUE, source="SOMEONE", destination=mailslot.NetbiosName(name),
        mailslot=slot, data=data, source_ip="127.0.0.1", dgm_id=7, source_port=port,
    )  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(mailslot.encode_datagram(d), ("127.0.0.1", port))


def wait_until(condition, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_two_chats_on_one_machine_talk(chat, free_udp_port):
    """docs/chat.md, "One machine, two peers": two terminals, each chat on a port of its own with
    the other's as its peer port, different names."""
    p1, p2 = str(free_udp_port()), str(free_udp_port())
    alice = chat(env={"LANMSG_PORT": p1, "LANMSG_PEER_PORT": p2, "LANMSG_NAME": "ALICE"})
    alice.wait_text("chat as ALICE")
    # a job of this session: pty.fork while the first terminal's reader thread runs would be a fork of a
    # threaded process (Python 3.12 warns of it)
    bob = chat("--plain", env={"LANMSG_PORT": p2, "LANMSG_PEER_PORT": p1, "LANMSG_NAME": "BOB"}, job=True)
    bob.wait_text("* ALICE is online (127.0.0.1)")
    alice.wait_text("* BOB is online (127.0.0.1)")
    alice.type("/to bob")
    alice.key("enter")
    alice.wait_for(lambda: input_row(alice).startswith("to BOB> "), "the target in the prompt")
    alice.type("hello from the other terminal")
    alice.key("enter")
    bob.wait_text("<ALICE> hello from the other terminal")
    alice.wait_text("-> BOB: hello from the other terminal  [confirmed]")
    bob.type("/reply hi alice")
    bob.key("enter")
    alice.wait_text("<BOB> hi alice")
    bob.wait_text('=> "hi alice" to ALICE: confirmed')
