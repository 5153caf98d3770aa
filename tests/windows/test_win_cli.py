"""The lanmsg command line on Windows Python, within one machine, as a Windows user runs it.

``lanmsg listen`` in one console, ``lanmsg send`` in another: on the native transport (the
Windows default: kernel32 mailslots) and on the netbios transport (its local inbox is a
kernel32 mailslot too).  What a Windows without remote mailslots answers for ``\\\\*\\``
(Wine; 24H2 and Server 2025 by default), what the console shows, and how Ctrl-C, Ctrl-Break
and closing the console window end a listener.  Each listener uses a slot name of its own.
"""

import json
import locale
import socket
import time

import pytest
from winsupport import (
    CTRL_BREAK_EVENT,
    CTRL_C_EVENT,
    CTRL_CLOSE_EVENT,
    HANG,
    WINE,
    Proc,
    child_env,
    computer_name,
    only_without_remote_mailslots,
    run,
    send_console_event,
    unique,
    wine_gap,
)

import mailslot

CLOCK = r"^\d\d:\d\d:\d\d "
NAME = "LANMSGTEST"  # LANMSG_NAME of the test session (tests/conftest.py)


def lanmsg(*args, env=None, input=None):
    return run("-m", "lanmsg", *args, env=env, input=input)


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


@pytest.fixture
def slot():
    return unique("lmcli")


@pytest.fixture
def listener(slot):
    """Start ``lanmsg listen --slot SLOT ARGS`` and wait until it listens."""
    started = []

    def start(*args, env=None):
        p = Proc("-m", "lanmsg", "listen", "--slot", slot, *args, env=env)
        started.append(p)
        p.wait_for(r'"event": "listening"' if "--json" in args else CLOCK + r"listening as ")
        return p

    yield start
    for p in started:
        p.kill()


def close_console(p: Proc) -> int:
    """Close the listener's console window (CTRL_CLOSE_EVENT); its exit code."""
    send_console_event(p.pid, CTRL_CLOSE_EVENT)
    return p.finish()


def shown(p: Proc, sender: str = NAME) -> list[str]:
    """The texts a listener showed from ``sender``: ``NAME: TEXT``, or ``NAME (via listener): TEXT``
    for a message a command of this machine handed to it (docs/messenger.md)."""
    out = []
    for line in p.text().splitlines():
        for prefix in (f" {sender}: ", f" {sender} (via listener): "):
            if prefix in line:
                out.append(line.split(prefix, 1)[1])
    return out


def assert_one_line_error(r, *fragments):
    err = text(r.stderr)
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lanmsg: error: "), err
    for f in fragments:
        assert f in err, (f, err)


# --------------------------------------------------------------------------
# listen and send on the native transport
# --------------------------------------------------------------------------


def test_listen_and_send_to_dot_confirm_each_other(listener, slot):
    lst = listener()
    assert lst.wait_for(CLOCK + "listening").endswith(
        f"listening as {NAME} on mailslot {slot} (native); Ctrl-C to leave"
    )
    r = lanmsg("send", "--slot", slot, ".", "hello", "there")
    assert r.returncode == 0, text(r.stderr)
    assert text(r.stdout).strip() == f"confirmed by {NAME}"
    r = lanmsg("send", "--slot", slot, ".", "again")
    assert r.returncode == 0, text(r.stderr)
    assert close_console(lst) == 0, lst.describe()
    assert shown(lst) == ["hello there", "again"]
    assert lst.wait_for(CLOCK + r"left the group \(OFFLINE sent\)$")


def test_send_to_this_computers_own_name(listener, slot):
    """Without LANMSG_NAME both use the computer name Windows reports (GetComputerNameW)."""
    env = child_env(drop=("LANMSG_NAME",))
    own = computer_name()
    lst = listener(env=env)
    lst.wait_for(CLOCK + f"listening as {own} on mailslot {slot} ")
    r = lanmsg("send", "--slot", slot, own.lower(), "to my own name", env=env)
    assert r.returncode == 0, text(r.stderr)
    assert text(r.stdout).strip() == f"confirmed by {own}"
    assert close_console(lst) == 0, lst.describe()
    assert shown(lst, own) == ["to my own name"]


def test_a_second_listener_is_refused_with_exit_3(listener, slot):
    first = listener()
    r = lanmsg("listen", "--slot", slot)
    assert r.returncode == 3
    assert_one_line_error(r, "already exists")
    assert first.proc.poll() is None
    assert close_console(first) == 0


def test_one_shot_sends_in_parallel_all_get_through(listener, slot):
    lst = listener()
    procs = [Proc("-m", "lanmsg", "send", "--slot", slot, ".", f"parallel {i}") for i in range(6)]
    codes = [p.finish() for p in procs]
    assert codes == [0] * 6, [p.describe() for p in procs]
    assert close_console(lst) == 0
    assert sorted(shown(lst)) == [f"parallel {i}" for i in range(6)]


def test_a_zero_length_write_does_not_stop_the_listener(listener, slot):
    """Wine reads a zero-length message as ERROR_BROKEN_PIPE; lanmsg takes it as the empty
    message Windows delivers (and drops it as a malformed frame)."""
    lst = listener()
    mailslot.write(".", slot, b"", transport="native")
    r = lanmsg("send", "--slot", slot, ".", "still there?")
    assert r.returncode == 0, text(r.stderr) + lst.describe()
    assert lst.proc.poll() is None, lst.describe()
    assert close_console(lst) == 0, lst.describe()
    assert shown(lst) == ["still there?"]


# --------------------------------------------------------------------------
# No remote mailslots: \\*\ answers ERROR_PATH_NOT_FOUND under Wine (3025 on 24H2)
# --------------------------------------------------------------------------

HELP = ("24H2", "Server 2025", "EnableMailslots", "--transport netbios")


@only_without_remote_mailslots
@pytest.mark.parametrize("with_listener", [False, True], ids=["alone", "via-the-listener"])
def test_detect_and_broadcast_explain_missing_remote_mailslots(listener, slot, with_listener):
    lst = listener() if with_listener else None
    for args in (["detect"], ["broadcast", "fire drill"], ["broadcast", "--wait", "1", "fire drill"]):
        r = lanmsg(args[0], "--slot", slot, *args[1:])
        assert r.returncode == 3, (args, text(r.stdout), text(r.stderr))
        assert_one_line_error(r, *HELP, "\\\\*\\mailslot\\" + slot)
        assert text(r.stdout) == ""
    if lst is not None:
        assert lst.proc.poll() is None, lst.describe()
        r = lanmsg("send", "--slot", slot, ".", "local still works")
        assert r.returncode == 0, text(r.stderr)
        assert close_console(lst) == 0


@only_without_remote_mailslots
def test_detect_in_json_mode_reports_the_error_as_json_too(slot):
    r = lanmsg("detect", "--json", "--slot", slot)
    assert r.returncode == 3
    records = [json.loads(line) for line in text(r.stdout).splitlines()]
    assert records[0]["event"] == "error" and all(f in records[0]["message"] for f in HELP)


@only_without_remote_mailslots
def test_announce_explains_missing_remote_mailslots(slot):
    r = lanmsg("announce", "5000", "--slot", slot)
    assert r.returncode == 3
    assert_one_line_error(r, *HELP)


# --------------------------------------------------------------------------
# What the console shows: non-ASCII text, --json
# --------------------------------------------------------------------------

NON_ASCII = "grüße, ☃, 日本語, 🙂"


def test_non_ascii_text_round_trips_and_json_output_is_utf8(listener, slot):
    lst = listener("--json")
    r = lanmsg("send", "--json", "--slot", slot, ".", NON_ASCII)
    assert r.returncode == 0, text(r.stderr)
    sent = [json.loads(line) for line in r.stdout.decode("utf-8").splitlines()]  # strict UTF-8
    assert [e["event"] for e in sent] == ["sent", "confirmed"]
    assert close_console(lst) == 0
    raw = b"".join(lst.out)
    events = [json.loads(line) for line in raw.decode("utf-8").splitlines()]  # strict UTF-8
    assert [e["text"] for e in events if e["event"] == "message"] == [NON_ASCII]
    assert NON_ASCII.encode("utf-8") in raw  # the text itself, not \\u escapes
    assert events[0]["event"] == "listening" and events[-1]["event"] == "stopped"


def test_human_output_shows_what_the_code_page_has_and_escapes_the_rest(listener, slot):
    """Output to a pipe is in the ANSI code page (cp1252 under Wine): what it cannot show is
    escaped (\\u2603), never a crash.  A real console gets every character (WriteConsoleW)."""
    lst = listener()
    r = lanmsg("send", "--slot", slot, ".", NON_ASCII)
    assert r.returncode == 0, text(r.stderr)
    assert close_console(lst) == 0
    encoding = locale.getpreferredencoding(False)
    out = b"".join(lst.out).decode(encoding)
    expected = NON_ASCII.encode(encoding, "backslashreplace").decode(encoding)
    assert f" {NAME} (via listener): {expected}" in out, (encoding, out)


def test_text_from_standard_input(listener, slot):
    lst = listener()
    r = lanmsg("send", "--slot", slot, ".", "-", input="piped text\r\n".encode(locale.getpreferredencoding(False)))
    assert r.returncode == 0, text(r.stderr)
    assert close_console(lst) == 0
    assert shown(lst) == ["piped text"]


# --------------------------------------------------------------------------
# Ctrl-C, Ctrl-Break, closing the console window: OFFLINE goes out
# --------------------------------------------------------------------------


def frames_until(watch: socket.socket, last: bytes) -> list[bytes]:
    """Bodies of the messenger frames seen on the port, up to one ending with ``last``."""
    bodies = []
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        watch.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data, _ = watch.recvfrom(4096)
        except TimeoutError:
            break
        try:
            bodies.append(mailslot.decode_datagram(data).data[36:])
        except mailslot.DecodeError:
            continue
        if bodies[-1].endswith(last):
            break
    return bodies


@pytest.mark.parametrize(
    "event", [CTRL_C_EVENT, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT], ids=["ctrl-c", "ctrl-break", "close-window"]
)
def test_console_events_end_the_listener_and_offline_goes_out(listener, slot, port, event):
    """netbios transport on loopback, so that ONLINE and OFFLINE can be watched on the wire."""
    watch = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        watch.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        watch.bind(("", port))  # every socket on the port gets each broadcast
        lst = listener("--json", "--transport", "netbios")
        online = frames_until(watch, b"01ONLINE")  # in the group: its console handler is in place
        assert online[-1:] == [b"01ONLINE"], (online, lst.describe())
        send_console_event(lst.pid, event)
        bodies = frames_until(watch, b"01OFFLINE")
    finally:
        watch.close()
    assert bodies[-1:] == [b"01OFFLINE"], (bodies, lst.describe())  # conf 0, system 1, OFFLINE
    code = lst.finish()
    if WINE is not None or event != CTRL_CLOSE_EVENT:  # Windows may end a closed console's process
        assert code == 0, lst.describe()
        stopped = [json.loads(line) for line in lst.text().splitlines()][-1]
        assert stopped["event"] == "stopped" and stopped["send_errors"] == 0, stopped
    assert "Traceback" not in b"".join(lst.err).decode("utf-8", "replace")


@wine_gap(
    "the C runtime does not turn CTRL_BREAK_EVENT into SIGBREAK: Wine's default handler ends "
    "the process (lanmsg handles Ctrl-Break in its own console handler, so it does not depend on it)"
)
def test_the_c_runtime_turns_ctrl_break_into_sigbreak():
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGBREAK, lambda *a: (print('SIGBREAK', flush=True), sys.exit(7)))\n"
        "print('ready', flush=True)\n"
        "for _ in range(300):\n"
        "    time.sleep(0.1)\n"
    )
    p = Proc("-c", code)
    p.wait_for("^ready$")
    send_console_event(p.pid, CTRL_BREAK_EVENT)
    assert p.finish() == 7, p.describe()
    assert "SIGBREAK" in p.text()


def test_closing_the_console_ends_a_native_listener_cleanly(listener, slot):
    lst = listener("--json")
    assert lanmsg("send", "--slot", slot, ".", "before closing").returncode == 0  # it is in its loop
    assert close_console(lst) == 0, lst.describe()
    stopped = [json.loads(line) for line in lst.text().splitlines()][-1]
    assert stopped["event"] == "stopped", stopped
    if WINE is not None:  # no remote mailslots: ONLINE and OFFLINE to \\*\ could not go out
        assert stopped["send_errors"] >= 2, stopped
    assert "Traceback" not in b"".join(lst.err).decode("utf-8", "replace")


# --------------------------------------------------------------------------
# The netbios transport on Windows, within this machine (loopback only)
# --------------------------------------------------------------------------


def test_netbios_transport_listen_and_send_on_this_machine(listener, slot, port):
    lst = listener("--transport", "netbios")
    lst.wait_for(CLOCK + f"listening as {NAME} on mailslot {slot} \\(netbios, UDP {port}\\)")
    for target in (".", NAME):
        r = lanmsg("send", "--transport", "netbios", "--slot", slot, target, f"to {target}")
        assert r.returncode == 0, text(r.stderr)
        assert text(r.stdout).strip() == f"confirmed by {NAME}"
    r = lanmsg("broadcast", "--transport", "netbios", "--slot", slot, "--wait", "0.5", "to all")
    assert r.returncode == 1, text(r.stderr)  # nobody else in the group: as on Linux
    assert close_console(lst) == 0
    assert shown(lst) == ["to .", f"to {NAME}"]


def test_netbios_announce_and_discover_on_this_machine(slot, port):
    server = Proc("-m", "lanmsg", "announce", "4321", "--transport", "netbios", "--slot", slot)
    try:
        server.wait_for(r"^announcing ")
        r = lanmsg("discover", "--transport", "netbios", "--slot", slot, "--timeout", "10")
        assert r.returncode == 0, text(r.stderr)
        assert text(r.stdout).strip() == "127.0.0.1:4321"
    finally:
        send_console_event(server.pid, CTRL_C_EVENT)
        server.finish()
