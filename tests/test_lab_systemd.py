"""docs/library.md's systemd units, run as systemd would run them, between lab hosts.

Each unit is read from docs/library.md (between its markers), so the documented unit is the one
that runs. systemd itself does not run here: the test does what the unit's [Service] lines ask
(the ``ExecStart`` command, its ``Environment``, the user, the capabilities, through setpriv) on a
lab host, stops the process as ``systemctl stop`` does (SIGTERM) and checks what a peer host
sees. The paths the docs install to (a venv in /opt/lanmsg, the bot beside it) point at this
repository here. A key the test does not know fails the test, so a unit cannot grow a line
nobody ran. ``systemd-analyze verify`` checks each unit where systemd's tools are installed.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import netlab
import pytest
from docblocks import doc_block
from test_lab_listener import ping_bot_source
from test_lab_messenger import CLOCK, ok, run, start_listener, stop_listener

UNITS = ("systemd-ping-bot", "systemd-announce")

# What the test does for each [Service] key; keys of the other sections only order the start or
# enable the unit, which has no meaning in the lab.
DONE_HERE = {"ExecStart", "Environment", "DynamicUser", "User", "AmbientCapabilities", "CapabilityBoundingSet"}
NO_EFFECT_HERE = {"Restart", "RestartSec", "TimeoutStopSec"}  # how systemd restarts and waits
OTHER_SECTIONS = {"Unit": {"Description", "Documentation", "Wants", "After"}, "Install": {"WantedBy"}}

# The docs' install paths, and what stands for them here.
VENV = "/opt/lanmsg"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file: {section: {key: [values, in order]}} (keys such as Environment may repeat)."""
    unit: dict[str, dict[str, list[str]]] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            section = unit.setdefault(m.group(1), {})
            continue
        assert section is not None and "=" in line, f"not a unit line: {raw!r}"
        key, value = (part.strip() for part in line.split("=", 1))
        section.setdefault(key, []).append(value)
    return unit


def check_known(unit: dict[str, dict[str, list[str]]], name: str) -> None:
    for section, keys in unit.items():
        known = DONE_HERE | NO_EFFECT_HERE if section == "Service" else OTHER_SECTIONS.get(section, set())
        unknown = sorted(set(keys) - known)
        assert not unknown, f"{name}: the test does not know what [{section}] {unknown} asks; teach it"


def exec_argv(unit, python: str, files: dict[str, str]) -> list[str]:
    """The unit's ExecStart as a command line here: the venv's python and lanmsg are ``python``
    (and ``python -m lanmsg``), and a file of ``files`` is its copy here."""
    (line,) = unit["Service"]["ExecStart"]
    argv = shlex.split(line)
    program, args = argv[0], argv[1:]
    if program == f"{VENV}/bin/python":
        out = [python]
    elif program == f"{VENV}/bin/lanmsg":
        out = [python, "-m", "lanmsg"]
    else:
        raise AssertionError(f"ExecStart runs {program}, not a program of the venv {VENV}")
    return out + [files.get(a, a) for a in args]


def capability(value: str) -> str:
    assert re.fullmatch(r"CAP_[A-Z_]+", value), value
    return value[len("CAP_") :].lower()


def run_as_the_unit_says(unit) -> list[str]:
    """setpriv's options for the unit's user and capabilities (empty: root, as systemd's default)."""
    service = unit["Service"]
    if service.get("DynamicUser", ["no"])[-1] != "yes" and "User" not in service:
        return []
    # DynamicUser: a user made for the service, with no other rights: nobody stands for it
    user = "nobody" if "User" not in service else service["User"][-1]
    pw = pwd.getpwnam(user)
    uid, gid = pw.pw_uid, pw.pw_gid
    opts = [f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs"]
    ambient = [capability(c) for v in service.get("AmbientCapabilities", []) for c in v.split()]
    if ambient:
        caps = ",".join(f"+{c}" for c in ambient)
        opts += [f"--inh-caps={caps}", f"--ambient-caps={caps}"]
    bounding = [capability(c) for v in service.get("CapabilityBoundingSet", []) for c in v.split()]
    if bounding:
        opts.append("--bounding-set=-all," + ",".join(f"+{c}" for c in bounding))
    return [netlab.tool("setpriv"), *opts, "--"]


def environment(unit) -> dict[str, str]:
    env = {}
    for value in unit["Service"].get("Environment", []):
        for assignment in shlex.split(value):
            key, _, val = assignment.partition("=")
            env[key] = val
    return env


class Service:
    """A unit of docs/library.md started on a lab host as its [Service] lines say."""

    def __init__(self, lab, host: int, name: str, files: dict[str, str] | None = None):
        self.unit = parse_unit(doc_block("library.md", name, "ini"))
        check_known(self.unit, name)
        wrap = run_as_the_unit_says(self.unit)
        python = lab.python("nobody" if wrap else None)
        if python is None:
            pytest.skip("no Python >= 3.10 that user nobody can run with this repository")
        self.dir = tempfile.mkdtemp(prefix="lanmsg-unit-")
        os.chmod(self.dir, 0o755)  # the service's user reads its files
        copies = {}
        for path, text in (files or {}).items():
            copies[path] = os.path.join(self.dir, os.path.basename(path))
            with open(copies[path], "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(copies[path], 0o644)
        self.argv = exec_argv(self.unit, python, copies)
        self.proc = lab.popen(host, wrap + self.argv, env=environment(self.unit), cwd=self.dir)

    def wait_for(self, peer, pattern: str, timeout: float = 30.0) -> str:
        """Wait for ``peer`` (a LabProcess) to print a line matching ``pattern``; fail at once, with
        the service's output, if the service ends first (say it could not bind its ports)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return peer.wait_for_line(pattern, timeout=1)
            except netlab.LabTimeout:
                if self.proc.poll() is not None:
                    r = self.proc.finish(10)
                    raise AssertionError(
                        f"the service ended first, exit {r.returncode}:\n{r.stdout}{r.stderr}"
                    ) from None
                if time.monotonic() > deadline:
                    raise

    def stop(self):
        """``systemctl stop``: SIGTERM (KillSignal's default); returns the result once it ended."""
        assert "KillSignal" not in self.unit["Service"]
        self.proc.terminate()
        return self.proc.finish(30)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def services():
    started = []
    yield started
    for s in started:
        s.cleanup()


NEEDS_SETPRIV = pytest.mark.skipif(netlab.tool("setpriv") is None, reason="needs setpriv (util-linux)")


def lab_test(f):
    """A lab test (netlab.pytest_marks) that needs setpriv; the module's verify test is not one."""
    for mark in [*netlab.pytest_marks(), NEEDS_SETPRIV]:
        f = mark(f)
    return f


def credentials(pid: int) -> tuple[int, int]:
    """(uid, effective capabilities) of a running process."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        status = f.read()
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M)
    caps = re.search(r"^CapEff:\s+([0-9a-f]+)", status, re.M)
    assert uid and caps, status
    return int(uid.group(1)), int(caps.group(1), 16)


CAP_NET_BIND_SERVICE = 10


@lab_test
def test_the_ping_bot_unit_answers_and_leaves_with_offline_when_systemd_stops_it(services):
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        bot = Service(lab, 1, "systemd-ping-bot", files={f"{VENV}/pingbot.py": ping_bot_source()})
        services.append(bot)
        # the unit names the bot PINGBOT; as user nobody it still binds UDP 137 and 138
        bot.wait_for(h2, CLOCK + rf"\* PINGBOT is online \({re.escape(lab.addr(1))}\)$")
        uid, caps = credentials(bot.proc.pid)
        assert uid != 0 and caps == 1 << CAP_NET_BIND_SERVICE, (uid, hex(caps), bot.proc.args)
        r = ok(run(lab, 2, "send", "PINGBOT", "ping"))
        assert r.stdout.splitlines() == [f"confirmed by PINGBOT ({lab.addr(1)})"], r.stdout
        h2.wait_for_line(CLOCK + r"PINGBOT: pong$")
        bot.proc.wait_for_line(r"^ping from LAB-H2$")  # what the journal would show
        r = bot.stop()
        assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"  # a clean stop for systemd
        assert "Traceback" not in r.stderr, r.stderr
        h2.wait_for_line(CLOCK + rf"\* PINGBOT is offline \({re.escape(lab.addr(1))}\)$")
        stop_listener(h2)


@lab_test
def test_the_announce_unit_is_found_by_a_peer_and_gone_once_systemd_stops_it(services):
    with netlab.Lab(2) as lab:
        ann = Service(lab, 1, "systemd-announce")
        services.append(ann)
        port = ann.argv[-1]
        ann.proc.wait_for_line(rf"^announcing {re.escape(lab.addr(1))}:{port} ", timeout=30)
        r = ok(run(lab, 2, "discover"))
        assert r.stdout.splitlines() == [f"{lab.addr(1)}:{port}"], r.stdout
        r = ann.stop()
        assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        assert re.search(r"^stopped after \d+ broadcasts and \d+ answers$", r.stdout, re.M), r.stdout
        assert "Traceback" not in r.stderr, r.stderr
        r = run(lab, 2, "discover", "--timeout", 2)
        assert (r.returncode, r.stdout) == (1, ""), r  # nobody announces any more


@pytest.mark.parametrize("name", UNITS)
def test_the_units_pass_systemd_analyze_verify(name, tmp_path):
    """The units as systemd reads them: no unknown key, no bad value (the venv's programs are
    stood in for by this Python, the only change)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("needs systemd-analyze (Debian package systemd)")
    text = doc_block("library.md", name, "ini")
    check_known(parse_unit(text), name)
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    for program in ("python", "lanmsg"):
        os.symlink(sys.executable, stand_in / program)
    (tmp_path / "pingbot.py").write_text(ping_bot_source())
    text = text.replace(f"{VENV}/bin/", f"{stand_in}/").replace(f"{VENV}/pingbot.py", str(tmp_path / "pingbot.py"))
    unit = tmp_path / (name.replace("systemd-", "lanmsg-") + ".service")
    unit.write_text(text)
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (r.stdout + r.stderr).splitlines() if str(unit) in line or "lanmsg-" in line]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr
