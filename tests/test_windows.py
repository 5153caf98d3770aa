"""lanmsg on Windows Python: the official Windows CPython 3.11 under Wine.

Three parts, every check running the project's code on the Windows Python:

1. ``test_on_windows_python[...]``: the Windows-side suite (tests/windows: mailslot.py's
   native transport, the CLI within one machine, the console; and tests/test_kernel32_decls.py,
   whose Windows-only checks skip on Linux) runs once inside the Windows CPython with its own
   pytest; each of its test functions is reported here as one test.  Checks of
   Windows behaviour that Wine 8.0 lacks are xfailed there, with the reason, under Wine only.
2. Ctrl-C in a terminal (SIGINT, which Wine turns into CTRL_C_EVENT) ends a Windows listener
   and a Linux peer sees it go offline (loopback only).
3. In the network-namespace lab (root): Windows Python on the netbios transport in host 1,
   Linux Python in host 2; messages confirmed and discovery answered both ways.

Skipped, with the reason, when Wine or the Windows Python is missing (``sudo bash
scripts/setup-windows-python.sh`` installs them; .ci/run does), the lab part also without root.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import netlab
import pytest
import winpy

REASON = winpy.unavailable_reason()
pytestmark = [pytest.mark.wine, pytest.mark.skipif(REASON is not None, reason=REASON or "Wine available")]

SUITE_TIMEOUT_S = 300  # the suite takes about 25 s; this only keeps a broken run from hanging CI
HANG = 60


@pytest.fixture(scope="module")
def wine():
    w = winpy.Wine()
    yield w
    w.stop()


# --------------------------------------------------------------------------
# 1. The Windows-side suite
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def windows_suite(wine):
    """Run the Windows-side suite once in the Windows Python; the outcome of each of its tests."""
    with tempfile.TemporaryDirectory(prefix="lanmsg-winsuite-") as tmp:
        junit = os.path.join(tmp, "junit.xml")
        started = time.monotonic()
        try:
            completed = wine.run(
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                "-rfEsxX",
                f"--junitxml={winpy.windows_path(junit)}",
                *winpy.WINDOWS_SUITE,
                timeout=SUITE_TIMEOUT_S,
            )
            problem = None
        except subprocess.TimeoutExpired as e:
            completed = subprocess.CompletedProcess(e.cmd, None, e.stdout or b"", e.stderr or b"")
            problem = f"the Windows suite did not finish within {SUITE_TIMEOUT_S} s"
            wine.stop()  # ends whatever it left running
        result = winpy.SuiteResult(completed, junit, time.monotonic() - started, problem)
    print(f"Windows suite: {result.summary} ({result.seconds:.1f} s with Wine)")
    return result


@pytest.mark.parametrize("test_id", winpy.windows_test_ids())
def test_on_windows_python(windows_suite, test_id):
    cases = windows_suite.cases.get(test_id)
    if not cases:
        pytest.fail(
            f"{test_id} did not run on the Windows Python "
            f"({windows_suite.problem or windows_suite.summary})\n{windows_suite.output[-6000:]}"
        )
    label = {param: f"{test_id}[{param}]" if param else test_id for param, _, _ in cases}
    failed = [(p, d) for p, o, d in cases if o in ("failure", "error")]
    if failed:
        pytest.fail("on the Windows Python:\n\n" + "\n\n".join(f"{label[p]}:\n{d}" for p, d in failed), pytrace=False)
    xfailed = [(p, d) for p, o, d in cases if o == "xfailed"]
    if xfailed:
        pytest.xfail("; ".join(sorted({d for _, d in xfailed})))
    if all(o == "skipped" for _, o, _ in cases):
        pytest.skip("on the Windows Python: " + "; ".join(sorted({d for _, _, d in cases})))


def test_the_windows_suite_ran_every_test(windows_suite):
    assert windows_suite.problem is None, windows_suite.problem + "\n" + windows_suite.output[-6000:]
    assert set(windows_suite.cases) == set(winpy.windows_test_ids()), windows_suite.output[-6000:]


# --------------------------------------------------------------------------
# 2. Ctrl-C in a terminal
# --------------------------------------------------------------------------


class Lines:
    """Collect a process's stdout lines (text) as they come."""

    def __init__(self, stream, encoding="utf-8"):
        self.lines, self.cond = [], threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream, encoding), daemon=True)
        self.thread.start()

    def _read(self, stream, encoding):
        for raw in iter(stream.readline, b""):
            with self.cond:
                self.lines.append(raw.decode(encoding, "replace").rstrip("\r\n"))
                self.cond.notify_all()

    def wait_for(self, pattern, timeout=HANG):
        rx, deadline = re.compile(pattern), time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if rx.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no line matching {pattern!r}:\n" + "\n".join(self.lines))
                self.cond.wait(min(remaining, 0.2))


def test_ctrl_c_in_a_terminal_ends_a_windows_listener_and_a_linux_peer_sees_it_offline(wine, port):
    """A terminal's Ctrl-C is SIGINT to the foreground process group; Wine delivers it to the
    Windows process as CTRL_C_EVENT.  Both listeners use the netbios transport on loopback."""
    slot = "lmwin" + uuid.uuid4().hex[:8]
    env = dict(os.environ, LANMSG_NAME="LINUXPEER", PYTHONPATH=winpy.REPO_ROOT)
    linux = subprocess.Popen(
        [sys.executable, "-m", "lanmsg", "listen", "--json", "--slot", slot],
        cwd=winpy.REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    windows = None
    try:
        linux_out = Lines(linux.stdout)
        linux_out.wait_for('"event": "listening"')
        windows = wine.popen(
            "-m", "lanmsg", "listen", "--json", "--transport", "netbios", "--slot", slot, env={"LANMSG_NAME": "WINPEER"}
        )
        windows_out = Lines(windows.stdout)
        windows_out.wait_for('"event": "listening"')
        linux_out.wait_for(r'"event": "online".*"name": "WINPEER"')
        os.killpg(windows.pid, signal.SIGINT)
        assert windows.wait(HANG) == 0, windows.stderr.read().decode("utf-8", "replace")
        windows_out.thread.join(HANG)
        stopped = json.loads(windows_out.lines[-1])
        assert stopped["event"] == "stopped" and stopped["send_errors"] == 0, stopped
        linux_out.wait_for(r'"event": "offline".*"name": "WINPEER"')
    finally:
        for p in (windows, linux):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(HANG)


# --------------------------------------------------------------------------
# 3. Windows and Linux on the netbios transport, in the lab
# --------------------------------------------------------------------------

WIN, LIN = 1, 2  # lab host 1 runs Windows Python under Wine, host 2 Linux Python
CLOCK = r"^\d\d:\d\d:\d\d "
NON_ASCII = "grüße ☃ 日本"


@contextlib.contextmanager
def no_outside_dns(lab):
    """Lab hosts get an empty resolv.conf (``ip netns exec`` mounts /etc/netns/NS/* over /etc):
    a lookup fails at once instead of waiting 5 s for the machine's name server, which the
    lab cannot reach.  Wine looks up the host name when a process starts."""
    made = [] if os.path.isdir("/etc/netns") else ["/etc/netns"]
    try:
        for i in range(1, lab.hosts + 1):
            d = os.path.join("/etc/netns", lab.ns(i))
            os.makedirs(d, exist_ok=True)
            made.append(d)
            with open(os.path.join(d, "resolv.conf"), "w") as f:
                f.write("# lanmsg lab host: no name server\n")
        yield
    finally:
        for d in reversed(made):
            with contextlib.suppress(OSError):
                if d != "/etc/netns":
                    os.remove(os.path.join(d, "resolv.conf"))
                os.rmdir(d)


@pytest.fixture
def winlab(wine):
    with netlab.Lab(2) as lab, no_outside_dns(lab):
        wine.start_in(lab, WIN)
        try:
            yield lab
        finally:
            wine.stop_in(lab, WIN)


def on_windows(wine, *args):
    """argv for host WIN: lanmsg on the Windows Python, netbios transport."""
    return wine.argv("-m", "lanmsg", *args)


def win_env(wine):
    return dict(wine.wine_env(), LANMSG_TRANSPORT="netbios")


def on_linux(*args):
    return [sys.executable, "-m", "lanmsg", *args]


def lab_test(fn):
    """The lab marker, and a skip with the reason where no lab can be built (not root ...)."""
    for mark in netlab.pytest_marks():
        fn = mark(fn)
    return fn


def _ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    return r.stdout


@lab_test
def test_lab_windows_and_linux_messages_confirmed_both_ways(wine, winlab):
    lab = winlab
    win = lab.popen(WIN, on_windows(wine, "listen", "--json"), env=win_env(wine))
    win.wait_for_line(r'"event": "listening".*"name": "LAB-H1".*"transport": "netbios"', timeout=HANG)
    lin = lab.popen(LIN, on_linux("listen"))
    lin.wait_for_line(CLOCK + r"listening as LAB-H2 on mailslot foxapp \(netbios, UDP 138\)")
    win.wait_for_line(r'"event": "online".*"name": "LAB-H2".*"address": "10\.213\.0\.2"', timeout=HANG)

    # Windows -> Linux, by messenger name (found by DETECT) and by address
    out = _ok(
        lab.run(WIN, on_windows(wine, "send", "LAB-H2", f"from Windows {NON_ASCII}"), env=win_env(wine), timeout=HANG)
    )
    assert out.strip() == "confirmed by LAB-H2 (10.213.0.2)"
    _ok(lab.run(WIN, on_windows(wine, "send", lab.addr(LIN), "by address"), env=win_env(wine), timeout=HANG))
    # Linux -> Windows
    out = _ok(lab.run(LIN, on_linux("send", "LAB-H1", f"from Linux {NON_ASCII}"), timeout=HANG))
    assert out.strip() == "confirmed by LAB-H1 (10.213.0.1)"
    # detect both ways
    assert _ok(lab.run(WIN, on_windows(wine, "detect"), env=win_env(wine), timeout=HANG)).splitlines() == [
        "LAB-H2 10.213.0.2"
    ]
    assert _ok(lab.run(LIN, on_linux("detect"), timeout=HANG)).splitlines() == ["LAB-H1 10.213.0.1"]
    # a broadcast from Windows, confirmed by Linux
    out = _ok(
        lab.run(WIN, on_windows(wine, "broadcast", "--wait", "2", "to everyone"), env=win_env(wine), timeout=HANG)
    )
    assert out.splitlines() == ["LAB-H2 10.213.0.2"]

    lin.wait_for_line(CLOCK + re.escape(f"LAB-H1: from Windows {NON_ASCII}") + "$")
    lin.wait_for_line(CLOCK + r"LAB-H1: to everyone$")
    win.wait_for_line(re.escape(json.dumps(f"from Linux {NON_ASCII}", ensure_ascii=False)), timeout=HANG)
    # Ctrl-C on the Windows side: Linux sees it go offline
    os.killpg(win.pid, signal.SIGINT)
    r = win.finish(HANG)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    texts = [(e["from"], e["text"]) for e in events if e["event"] == "message"]
    assert texts == [("LAB-H2", f"from Linux {NON_ASCII}")], events
    assert events[-1]["event"] == "stopped" and events[-1]["send_errors"] == 0, events[-1]
    lin.wait_for_line(CLOCK + r"\* LAB-H1 is offline \(10\.213\.0\.1\)$")
    lin.terminate()
    out = lin.finish(HANG).stdout
    assert re.findall(CLOCK + r"LAB-H1: (.*)$", out, re.M) == [
        f"from Windows {NON_ASCII}",
        "by address",
        "to everyone",
    ], out


@lab_test
def test_lab_discovery_between_windows_and_linux_both_ways(wine, winlab):
    lab = winlab
    # Windows announces, Linux discovers
    ann = lab.popen(WIN, on_windows(wine, "announce", "5000"), env=win_env(wine))
    ann.wait_for_line(r"^announcing 10\.213\.0\.1:5000 ", timeout=HANG)
    assert _ok(lab.run(LIN, on_linux("discover"), timeout=HANG)).strip() == "10.213.0.1:5000"
    r = lab.run(LIN, on_linux("discover", "--all", "--json", "--timeout", "2"), timeout=HANG)
    found = [json.loads(line) for line in _ok(r).splitlines()]
    assert [(f["ip"], f["port"], f["via"], f["from"]) for f in found] == [("10.213.0.1", 5000, "answer", "LAB-H1")]
    os.killpg(ann.pid, signal.SIGINT)
    assert ann.finish(HANG).returncode == 0
    # Linux announces, Windows discovers
    ann = lab.popen(LIN, on_linux("announce", "6000"))
    ann.wait_for_line(r"^announcing 10\.213\.0\.2:6000 ")
    assert _ok(lab.run(WIN, on_windows(wine, "discover"), env=win_env(wine), timeout=HANG)).strip() == "10.213.0.2:6000"
    ann.terminate()
    assert ann.finish(HANG).returncode == 0
