"""Every failure of every command, as a script sees it: the documented exit code, exactly one line on
stderr in the shared form (``lanmsg: error: ...`` / ``mailslot: error: ...``) that says what
happened and what to try, and nothing on stdout.

One table, ``CASES``: each row is a command line, what runs beside it (a listener, an announcer
whose TCP port is closed, a UDP port held by another program), the exit code and fragments of the
line. Everything stays on loopback (the ``port`` fixture, LANMSG_BROADCAST from conftest).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import NamedTuple

import pytest
from lanmsg_proc import ROOT
from nobody import python_for_nobody

LOCAL_NAME = os.environ["LANMSG_NAME"]


class Case(NamedTuple):
    id: str
    argv: list[str]
    code: int
    fragments: list[str]
    beside: str | None = None  # "listener", "announcer" (TCP port closed), "port-taken"
    stdin: str = ""
    tool: str = "lanmsg"
    env: dict[str, str] | None = None
    stdout: str = ""  # what stdout starts with: nothing, but a long-running command's ready line


CASES = [
    # send
    Case("send-here-nobody-listens", ["send", ".", "hi"], 1, ["nothing on this machine listens", "lanmsg listen"]),
    Case("send-own-name-nobody-listens", ["send", LOCAL_NAME, "hi"], 1, ["nothing on this machine listens"]),
    Case(
        "send-no-confirmation",
        ["send", "--timeout", "1", "--retries", "1", "127.0.0.9", "hi"],
        1,
        ["no confirmation from 127.0.0.9 after 2 attempts", "--retries"],
    ),
    Case("send-unknown-name", ["send", "NOBODYHERE", "hi"], 1, ["cannot find computer 'NOBODYHERE'"]),
    Case("send-empty", ["send", ".", ""], 2, ["the message is empty", "nothing was sent"]),
    Case("send-blank", ["send", ".", "  ", " "], 2, ["the message is empty"]),
    Case("send-blank-stdin", ["send", ".", "-"], 2, ["the message is empty"], stdin=" \n"),
    Case("send-empty-via-listener", ["send", ".", ""], 2, ["the message is empty"], beside="listener"),
    Case("send-too-long", ["send", ".", "x" * 213], 2, ["at most 212", "nothing was sent"]),
    Case("send-bad-address", ["send", "10.0.0.256", "hi"], 2, ["not an IPv4 address"]),
    Case("send-negative-retries", ["send", "--retries", "-1", ".", "hi"], 2, ["must not be negative"]),
    Case("send-unknown-encoding", ["send", "--encoding", "no-such-codec", ".", "hi"], 2, ["no-such-codec"]),
    Case("send-missing-arguments", ["send"], 2, ["required: HOST, TEXT", "lanmsg send --help"]),
    Case("send-bad-number", ["send", "--timeout", "soon", ".", "hi"], 2, ["invalid float value: 'soon'"]),
    Case("send-port-taken", ["send", ".", "hi"], 3, ["is taken"], beside="port-taken"),
    # broadcast
    Case("broadcast-nobody-confirmed", ["broadcast", "--wait", "1", "hi"], 1, ["nobody confirmed within 1 s"]),
    Case(
        "broadcast-nobody-else-via-listener",
        ["broadcast", "--wait", "0.5", "hi"],
        1,
        ["nobody confirmed", "lanmsg detect"],
        beside="listener",
    ),
    Case("broadcast-empty", ["broadcast", ""], 2, ["the message is empty"]),
    Case("broadcast-blank-stdin", ["broadcast", "-"], 2, ["the message is empty"], stdin="\n"),
    # detect
    Case("detect-nobody", ["detect", "--timeout", "0.5"], 1, ["no peer answered within 0.5 s", "--timeout"]),
    Case(
        "detect-only-this-machine",
        ["detect", "--timeout", "0.5"],
        1,
        ["no peer answered", "does not count itself"],
        beside="listener",
    ),
    # listen and chat
    Case("listen-second", ["listen"], 3, ["already exists"], beside="listener"),
    Case("chat-beside-listen", ["chat"], 3, ["already exists"], beside="listener", stdin="hello\n"),
    Case("listen-port-taken", ["listen"], 3, ["is taken"], beside="port-taken"),
    Case("listen-bad-interval", ["listen", "--stats-interval", "-1"], 2, ["--stats-interval"]),
    Case("listen-no-key-file", ["listen", "--key-file", "no-such.key"], 2, ["no-such.key", "lanmsg keygen"]),
    Case("listen-bad-port", ["listen", "--port", "70000"], 2, ["invalid port 70000"]),
    # announce and discover
    Case("announce-bad-port", ["announce", "0"], 2, ["invalid TCP port 0"]),
    Case("announce-bad-interval", ["announce", "5000", "--interval", "0"], 2, ["--interval"]),
    Case("announce-bad-address", ["announce", "5000", "--ip", "1.2.3"], 2, ["1.2.3"]),
    Case("discover-nothing", ["discover", "--timeout", "1"], 1, ["no server answered within 1 s", "lanmsg announce"]),
    Case(
        "discover-check-port-closed",
        ["discover", "--check", "--timeout", "2"],
        1,
        ["found 127.0.0.1:", "(--check)"],
        beside="announcer",
    ),
    # keygen
    Case("keygen-exists", ["keygen", "README.md"], 2, ["already exists", "--force"]),
    Case("keygen-cannot-write", ["keygen", "no-such-dir/group.key"], 3, ["cannot write key file"]),
    Case("keygen-missing-file", ["keygen"], 2, ["required: FILE"]),
    # the command line itself
    Case("unknown-command", ["shout"], 2, ["invalid choice: 'shout'", "lanmsg --help"]),
    Case("unknown-option", ["detect", "--loud"], 2, ["unrecognized arguments: --loud"]),
    # python -m mailslot
    Case(
        "mailslot-listen-nothing",
        ["listen", "--timeout", "0.2", "foxapp"],
        1,
        ["no message within 0.2 s", "--timeout"],
        tool="mailslot",
        stdout="listening on \\\\.\\mailslot\\foxapp (netbios",
    ),
    Case(
        "mailslot-resolve-name-service-off",
        ["resolve", "NOBODYHERE"],
        1,
        ["cannot find computer 'NOBODYHERE'", "name service is off", "--ns-port 137"],
        tool="mailslot",
    ),
    Case("mailslot-resolve-bad-address", ["resolve", "10.0.0.256"], 2, ["not an IPv4 address"], tool="mailslot"),
    Case("mailslot-send-nobody", ["send", ".", "nosuch", "hi"], 3, ["no mailslot 'nosuch'"], tool="mailslot"),
    Case("mailslot-send-no-text", ["send", ".", "foxapp"], 2, ["give TEXT or --hex"], tool="mailslot"),
    Case("mailslot-bad-slot", ["listen", "what?"], 2, ["invalid mailslot name 'what?'"], tool="mailslot"),
    Case("mailslot-unknown-command", ["shout"], 2, ["invalid choice: 'shout'"], tool="mailslot"),
    Case("mailslot-port-taken", ["listen", "foxapp"], 3, ["is taken"], tool="mailslot", beside="port-taken"),
]


def free_tcp_port() -> int:
    """A TCP port on loopback that nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def beside(background, port):
    """Start what a case needs running beside it."""
    held: list[socket.socket] = []

    def start(what: str | None) -> None:
        if what == "listener":
            background("listen", ready=("listening",))
        elif what == "announcer":
            background("announce", str(free_tcp_port()), "--ip", "127.0.0.1", ready=("announcing",))
        elif what == "port-taken":
            hog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no SO_REUSEADDR: it cannot be shared
            hog.bind(("", port))
            held.append(hog)

    yield start
    for s in held:
        s.close()


def run(case: Case, cwd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONIOENCODING": "utf-8", **(case.env or {})}
    module = "lanmsg" if case.tool == "lanmsg" else "mailslot"
    return subprocess.run(
        [sys.executable, "-m", module, *case.argv],
        cwd=cwd,
        env=env,
        input=case.stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_failure_is_one_line_on_stderr_with_its_exit_code(case, beside, tmp_path):
    beside(case.beside)
    (tmp_path / "README.md").write_text("a file that exists\n")  # keygen-exists
    r = run(case, cwd=str(tmp_path))
    lines = r.stderr.splitlines()
    assert r.returncode == case.code, r.stderr
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{case.tool}: error: "), r.stderr
    for fragment in case.fragments:
        assert fragment in lines[0], (fragment, r.stderr)
    if case.stdout:
        assert r.stdout.startswith(case.stdout) and r.stdout.count("\n") == 1, r.stdout
    else:
        assert r.stdout == "", r.stdout


def test_every_command_has_its_failures_in_the_table():
    import mailslot
    from lanmsg.cli import COMMANDS

    for name in COMMANDS:
        assert any(c.tool == "lanmsg" and c.argv[:1] == [name] for c in CASES), name
    for name in mailslot.CLI_COMMANDS:
        assert any(c.tool == "mailslot" and c.argv[:1] == [name] for c in CASES), name


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv"),
    reason="needs root, to run the command as nobody",
)
def test_the_port_permission_error_is_one_line_that_names_the_remedies(tmp_path):
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        if int(f.read()) <= 138:
            pytest.skip("unprivileged users may bind port 138 here")
    python = python_for_nobody()
    if python is None:
        pytest.skip("no Python that user nobody can run with this repository (e.g. it lies under /root)")
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", python, "-m", "lanmsg"]
    env = {**os.environ, "PYTHONPATH": ROOT, "LANMSG_PORT": "138"}
    r = subprocess.run(
        [*argv, "detect", "--timeout", "0"], cwd="/", env=env, capture_output=True, text=True, timeout=60
    )
    lines = r.stderr.splitlines()
    assert r.returncode == 3 and r.stdout == "", r.stderr
    assert len(lines) == 1 and lines[0].startswith("lanmsg: error: cannot bind UDP port 138: permission denied")
    assert "sudo setcap cap_net_bind_service=+ep /" in lines[0]
    assert "every script that interpreter runs" in lines[0] and "--port N" in lines[0]


def test_lanmsg_alone_shows_what_to_try_first_and_exits_2():
    r = subprocess.run([sys.executable, "-m", "lanmsg"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert "lanmsg listen " in r.stderr and "lanmsg send HOST TEXT" in r.stderr
    assert "lanmsg COMMAND --help" in r.stderr


def test_mailslot_alone_shows_what_to_try_first_and_exits_2():
    r = subprocess.run([sys.executable, "-m", "mailslot"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert "python -m mailslot listen foxapp" in r.stderr and "python -m mailslot send . foxapp hello" in r.stderr


def test_with_json_a_failure_is_an_event_on_stdout_and_the_same_line_on_stderr(port):
    r = subprocess.run(
        [sys.executable, "-m", "lanmsg", "broadcast", "--json", "--wait", "0.5", "hi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.startswith("lanmsg: error: nobody confirmed") and len(r.stderr.splitlines()) == 1
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["event"] for e in events] == ["sent", "error"]
    assert events[-1]["exit"] == 1 and r.stderr == f"lanmsg: error: {events[-1]['message']}\n"
