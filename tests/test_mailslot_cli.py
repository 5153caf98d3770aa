"""``python -m mailslot listen/send`` as a user runs it: output, exit codes, error lines.

Exit codes: 0 ok, 1 nothing received in time, 2 bad usage or input, 3 system error.
Everything stays on loopback (``port`` fixture, LANMSG_BROADCAST from conftest).
"""

import os
import queue
import re
import socket
import subprocess
import sys
import threading

import pytest

import mailslot
from mailslot import NetbiosName

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HANG = 20.0
LOCAL_NAME = os.environ["LANMSG_NAME"]
LINE = re.compile(r"^(\d\d):(\d\d):(\d\d) (\S+) (\S+) (\\MAILSLOT\\\S+) (\d+)B (.*)$")


def cli_env(extra=None):
    return {**os.environ, "PYTHONPATH": ROOT, "PYTHONIOENCODING": "utf-8", **(extra or {})}


def run(*args, env=None):
    """Run ``python -m mailslot ARGS``; return (exit code, stdout, stderr) as text."""
    p = subprocess.run(
        [sys.executable, "-m", "mailslot", *args], capture_output=True, timeout=HANG, env=cli_env(env), cwd=ROOT
    )
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


def assert_one_line_error(err, *fragments):
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mailslot: error: "), err
    for f in fragments:
        assert f in lines[0], (f, err)


class Listen:
    """``python -m mailslot listen ...`` in the background."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailslot", "listen", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(env),
            cwd=ROOT,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(raw)
        self.lines.put(None)

    def first_line(self):
        try:
            raw = self.lines.get(timeout=HANG)
        except queue.Empty:
            pytest.fail("listen printed nothing")
        assert raw is not None, self.proc.stderr.read().decode()
        return raw.decode("utf-8").rstrip("\n")

    def finish(self):
        """Wait for exit; return (exit code, raw stdout lines after the first, stderr)."""
        code = self.proc.wait(HANG)
        rest = []
        while (raw := self.lines.get(timeout=HANG)) is not None:
            rest.append(raw)
        err = self.proc.stderr.read().decode("utf-8")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code, rest, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def listen(port):
    started = []

    def start(*args, env=None):
        started.append(Listen(*args, env=env))
        return started[-1]

    yield start
    for lst in started:
        lst.kill()


def send_from_other_computer(port, slot, data):
    d = mailslot.build_datagram(
        msg_type=0x11,
        source="OTHERHOST",
        destination=NetbiosName("WORKGROUP"),
        mailslot=slot,
        data=data,
        source_ip="127.0.0.5",
        dgm_id=7,
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.5", 0))
        s.sendto(mailslot.encode_datagram(d), ("127.0.0.1", port))


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def test_listen_and_send(port, listen):
    lst = listen("foxapp", "--count", "3", "--timeout", str(HANG))
    assert lst.first_line() == f"listening on \\\\.\\mailslot\\foxapp (netbios, UDP {port}, {LOCAL_NAME} in WORKGROUP)"
    assert run("send", ".", "foxapp", "hello") == (0, "wrote 5 bytes to \\\\.\\mailslot\\foxapp\n", "")
    send_from_other_computer(port, "FOXAPP", b"from afar")
    code, out, err = run("send", "*", "FoxApp", "to all of you")
    assert (code, out, err) == (0, "wrote 13 bytes to \\\\*\\mailslot\\FoxApp\n", "")
    code, rest, err = lst.finish()
    assert (code, err) == (0, "")
    lines = [r.decode("utf-8").rstrip("\n") for r in rest]
    assert len(lines) == 3, lines  # "*" is not seen twice
    fields = [LINE.match(line) for line in lines]
    assert all(fields), lines
    for f in fields:
        assert 0 <= int(f[1]) < 24 and 0 <= int(f[2]) < 60 and 0 <= int(f[3]) < 61
        assert f[6] == "\\MAILSLOT\\foxapp"
    assert [(f[4], f[5], f[7], f[8]) for f in fields] == [
        (LOCAL_NAME, "127.0.0.1", "5", "hello"),
        ("OTHERHOST", "127.0.0.5", "9", "from afar"),
        (LOCAL_NAME, "127.0.0.1", "13", "to all of you"),
    ]


UNSAFE = [
    ("1b5b324a", "hex:1b5b324a"),  # ESC [ 2 J: clear screen
    ("1b5d303b6f776e656407", "hex:1b5d303b6f776e656407"),  # OSC title + BEL
    ("00", "hex:00"),
    ("7f41", "hex:7f41"),  # DEL
    ("610a62", "a\\nb"),  # a newline cannot start a fake line
    ("610d62", "a\\rb"),
    ("6109", "a\\t"),
    ("c29b324a", "\\x9b2J"),  # UTF-8 C1 CSI
    ("e280ae6c697665", "\\u202elive"),  # RIGHT-TO-LEFT OVERRIDE
    ("e280a8", "\\u2028"),  # LINE SEPARATOR
    ("68c3a96c6c6f", "h\u00e9llo"),  # UTF-8 text is shown as text
    ("e974e9", "\u00e9t\u00e9"),  # not UTF-8: Windows code page 1252
]


def test_non_printable_data_is_never_written_raw(port, listen):
    lst = listen("foxapp", "--count", str(len(UNSAFE)), "--timeout", str(HANG))
    lst.first_line()
    for hexdata, _ in UNSAFE:
        assert run("send", ".", "foxapp", "--hex", hexdata)[0] == 0
    code, rest, err = lst.finish()
    assert (code, err) == (0, "")
    assert len(rest) == len(UNSAFE)
    for raw, (hexdata, shown) in zip(rest, UNSAFE, strict=True):
        line = raw.decode("utf-8")
        assert line.endswith("\n") and line.count("\n") == 1
        line = line[:-1]
        assert all(c.isprintable() for c in line), repr(line)  # no C0, C1, bidi, separators
        m = LINE.match(line)
        assert m and (m[7], m[8]) == (str(len(bytes.fromhex(hexdata))), shown), (line, shown)


def test_listen_survives_a_message_its_stdout_cannot_encode(port, listen):
    lst = listen("foxapp", "--count", "2", "--timeout", str(HANG), env={"PYTHONIOENCODING": "ascii"})
    lst.first_line()
    assert run("send", ".", "foxapp", "h\u00e9llo \u20ac \u4e2d")[0] == 0
    assert run("send", ".", "foxapp", "after")[0] == 0
    code, rest, err = lst.finish()
    assert (code, err) == (0, "")
    assert [LINE.match(r.decode("ascii").rstrip("\n"))[8] for r in rest] == ["h\\xe9llo \\u20ac \\u4e2d", "after"]


def test_send_hex(port, listen):
    lst = listen("foxapp", "--count", "1", "--timeout", str(HANG))
    lst.first_line()
    assert run("send", "LANMSGTEST", "\\\\.\\mailslot\\foxapp", "--hex", "00ff10") == (
        0,
        "wrote 3 bytes to \\\\LANMSGTEST\\mailslot\\foxapp\n",
        "",
    )
    code, rest, _ = lst.finish()
    assert code == 0 and rest[0].decode().rstrip("\n").endswith(" 3B hex:00ff10")


def test_options_override_environment(port, listen):
    """--port and --name beat LANMSG_PORT / LANMSG_NAME (the listener runs on port+1 as HOSTX)."""
    other = port + 1 if port < 59999 else port - 1
    lst = listen("foxapp", "--count", "1", "--timeout", str(HANG), "--port", str(other), "--name", "hostx")
    assert lst.first_line() == f"listening on \\\\.\\mailslot\\foxapp (netbios, UDP {other}, HOSTX in WORKGROUP)"
    code, _, err = run("send", ".", "foxapp", "wrong port")
    assert code == 3 and "no mailslot 'foxapp'" in err  # nobody on LANMSG_PORT's port
    assert run("send", "hostx", "foxapp", "right", "--port", str(other), "--name", "HOSTX")[0] == 0
    code, rest, _ = lst.finish()
    assert code == 0 and rest[0].decode().rstrip("\n").endswith(" right")


# --------------------------------------------------------------------------
# Exit codes and error lines
# --------------------------------------------------------------------------


def test_listen_timeout_without_message_exits_1(port):
    code, out, err = run("listen", "foxapp", "--timeout", "0.2")
    assert code == 1
    assert out.startswith("listening on ")
    assert_one_line_error(err, "no message within 0.2 s on \\\\.\\mailslot\\foxapp")


def test_listen_count_exits_0_after_the_messages(port, listen):
    lst = listen("foxapp", "--count", "2", "--timeout", str(HANG))
    lst.first_line()
    run("send", ".", "foxapp", "one")
    run("send", ".", "foxapp", "two")
    code, rest, err = lst.finish()
    assert (code, len(rest), err) == (0, 2, "")
    # and the name is free again
    assert run("send", ".", "foxapp", "three")[0] == 3


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["send", ".", "a*b", "hi"], ["invalid mailslot name 'a*b'"]),
        (["send", ".", "", "hi"], ["invalid mailslot name"]),
        (["listen", "what?"], ["invalid mailslot name 'what?'"]),
        (["send", "*", "foxapp", "x" * 425], ["425 bytes", "424", "nothing was sent"]),
        (["send", "WORKGROUP", "abcdefghi", "--hex", "00" * 421], ["420"]),
        (["send", ".", "foxapp", "--hex", "zz"], ["non-hexadecimal"]),
        (["send", ".", "foxapp", "hi", "--port", "0"], ["invalid port 0"]),
        (["listen", "foxapp", "--port", "70000"], ["invalid port 70000"]),
        (["send", "*", "foxapp", "hi", "--broadcast", "nowhere"], ["invalid broadcast address 'nowhere'"]),
        (["send", ".", "foxapp", "hi", "--name", "bad.name"], ["invalid NetBIOS name 'bad.name'"]),
        (["send", ".", "foxapp", "hi", "--workgroup", "x" * 16], ["longer than 15"]),
        (["send", "bad|host", "foxapp", "hi"], ["invalid NetBIOS name"]),
        (["send", ".", "foxapp", "hi", "--transport", "native"], ["needs Windows"]),
    ],
)
def test_bad_input_exits_2_with_one_line(port, args, fragments):
    code, out, err = run(*args)
    assert code == 2, (out, err)
    assert out == ""
    assert_one_line_error(err, *fragments)


def test_bad_environment_exits_2(port):
    code, _, err = run("send", ".", "foxapp", "hi", env={"LANMSG_PORT": "lots"})
    assert code == 2
    assert_one_line_error(err, "LANMSG_PORT", "'lots'")
    code, _, err = run("listen", "foxapp", env={"LANMSG_BROADCAST": "127.0.0.1,nope"})
    assert code == 2
    assert_one_line_error(err, "'nope'")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["send", ".", "foxapp"], "give TEXT or --hex HEX"),
        (["send", ".", "foxapp", "hi", "--hex", "00"], "give TEXT or --hex HEX"),
        (["send", "."], "required: SLOT; 'python -m mailslot send --help' shows the usage"),
        (["shout", "foxapp"], "invalid choice"),
        (["listen", "foxapp", "--count", "many"], "invalid int value"),
        (["listen", "foxapp", "--transport", "carrier-pigeon"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_line(port, args, fragment):
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert_one_line_error(err, fragment)


def test_send_to_missing_local_mailslot_exits_3(port):
    code, out, err = run("send", ".", "nosuch", "hello")
    assert (code, out) == (3, "")
    assert_one_line_error(err, "no mailslot 'nosuch' on this machine")


def test_listen_on_a_name_owned_elsewhere_exits_3(port):
    with mailslot.Mailslot("foxapp"):
        code, out, err = run("listen", "FOXAPP", "--timeout", "1")
    assert (code, out) == (3, "")
    assert_one_line_error(err, "already exists", "183")


def test_port_taken_by_an_exclusive_socket_exits_3(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hog:  # no SO_REUSEADDR: it cannot be shared
        hog.bind(("", port))
        code, out, err = run("listen", "foxapp", "--timeout", "1")
        assert (code, out) == (3, "")
        assert_one_line_error(err, f"UDP port {port} is taken")
        code, out, err = run("send", "*", "foxapp", "hi")
        assert (code, out) == (3, "")
        assert_one_line_error(err, f"UDP port {port} is taken")
    # the failed listen left no claim on the name behind
    assert run("listen", "foxapp", "--timeout", "0.1")[0] == 1
