"""The bench's additions to the test lab (tests/netlab.py): neighbour table, avahi, in-host timing.

avahi-daemon and dbus-daemon run only inside lab hosts, never in the root
namespace: each lab host gets its own dbus-daemon (a private system bus whose
socket path clients find through DBUS_SYSTEM_BUS_ADDRESS) and its own
avahi-daemon, which always uses /run/avahi-daemon/ for its pid file and
socket, so it runs in a mount namespace of its own with an empty tmpfs on /run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from common import INHOST, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests"))
import netlab

SERVICE_TYPE = "_lanbench._tcp"  # what avahi-publish announces and the browsers look for
SERVICE_PORT = 5000
NEIGH_SYSCTLS = ("gc_thresh1", "gc_thresh2", "gc_thresh3")
NEIGH_PATH = "/proc/sys/net/ipv4/neigh/default/"
# The kernel's neighbour (ARP) table is shared by every namespace; the default hard
# limit (gc_thresh3 = 1024) overflows above about 32 chatty hosts ("neighbour table overflow").
NEIGH_RAISED = {"gc_thresh1": 4096, "gc_thresh2": 8192, "gc_thresh3": 16384}
NEIGH_DEFAULT_HOSTS = 30  # labs up to this size fit the default limits
AVAHI_READY_S = 20.0  # an avahi-daemon reports "Server startup complete" in ~0.3 s idle
PUBLISH_READY_S = 30.0  # avahi-publish: probing takes about a second
LISTENER_READY_S = 30.0  # lanmsg listen prints its first line (many start at once on 2 CPUs)

AVAHI_CONF = """\
[server]
use-ipv4=yes
use-ipv6=no
allow-interfaces=eth0
ratelimit-interval-usec=1000000
ratelimit-burst=1000
enable-dbus=yes

[wide-area]
enable-wide-area=no

[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
publish-domain=no

[reflector]
enable-reflector=no

[rlimits]
"""

DBUS_CONF = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

# Runs inside the host, in its own mount namespace: a private /run, the bus, then avahi.
AVAHI_HOST_SH = r"""
set -e
dir=$1
mount -n -t tmpfs -o mode=0755 lab-run /run
dbus-daemon --config-file="$dir/dbus.conf" --nofork --nopidfile >"$dir/dbus.log" 2>&1 &
i=0
while [ ! -S "$dir/bus" ]; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "no bus"; exit 1; }; sleep 0.05
done
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$dir/bus"
exec avahi-daemon --no-drop-root --no-chroot --no-rlimits --no-proc-title -f "$dir/avahi-daemon.conf" 2>&1
"""


def comparison_tools() -> dict[str, str | None]:
    """Paths of the compared programs, or None when missing."""
    return {name: netlab.tool(name) for name in ("avahi-daemon", "avahi-browse", "avahi-publish", "dbus-daemon")}


def nmblookup_path() -> str | None:
    """Samba's nmblookup (case 6 compares with it; run only inside lab hosts), or None."""
    return netlab.tool("nmblookup")


@contextlib.contextmanager
def neighbour_table(hosts: int):
    """Raise the neighbour-table limits of the root namespace for a lab of ``hosts``; restore them after.

    Labs that fit the defaults leave the machine's settings alone (so that smoke runs
    beside other lab tests never touch them).
    """
    old = {}
    if hosts > NEIGH_DEFAULT_HOSTS:
        try:
            for key in NEIGH_SYSCTLS:
                with open(NEIGH_PATH + key) as f:
                    old[key] = int(f.read())
            for key in reversed(NEIGH_SYSCTLS):  # thresh1 <= thresh2 <= thresh3 at every step
                with open(NEIGH_PATH + key, "w") as f:
                    f.write(str(max(old[key], NEIGH_RAISED[key])))
        except OSError:
            pass  # not fatal: the run may see "neighbour table overflow"
    try:
        yield
    finally:
        for key in NEIGH_SYSCTLS:
            if key in old:
                try:
                    with open(NEIGH_PATH + key, "w") as f:
                        f.write(str(old[key]))
                except OSError:
                    pass


class Avahi:
    """avahi-daemon (with its private D-Bus) on lab hosts, and avahi-publish on them."""

    def __init__(self, lab: netlab.Lab):
        self.lab = lab
        self.dir = tempfile.mkdtemp(prefix="lanmsg-bench-avahi-")
        self.daemons: dict[int, netlab.LabProcess] = {}
        self.publishers: dict[int, netlab.LabProcess] = {}

    def close(self) -> None:
        for p in list(self.publishers.values()) + list(self.daemons.values()):
            p.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def host_dir(self, i: int) -> str:
        return os.path.join(self.dir, f"h{i}")

    def env(self, i: int) -> dict:
        """What an avahi client on host ``i`` needs to find its daemon."""
        return {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={self.host_dir(i)}/bus"}

    def start_daemon(self, i: int) -> netlab.LabProcess:
        d = self.host_dir(i)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "dbus.conf"), "w") as f:
            f.write(DBUS_CONF.format(socket=os.path.join(d, "bus")))
        with open(os.path.join(d, "avahi-daemon.conf"), "w") as f:
            f.write(AVAHI_CONF)
        p = self.lab.popen(
            i, [netlab.tool("unshare"), "--mount", "--propagation", "private", "--", "sh", "-c", AVAHI_HOST_SH, "sh", d]
        )
        self.daemons[i] = p
        return p

    def start_publisher(self, i: int, instance: str) -> netlab.LabProcess:
        p = self.lab.popen(
            i,
            ["sh", "-c", 'exec avahi-publish -s "$0" "$1" "$2" 2>&1', instance, SERVICE_TYPE, SERVICE_PORT],
            env=self.env(i),
        )
        self.publishers[i] = p
        return p

    def serve(self, hosts: list[int], *, browser_hosts: list[int] = ()) -> None:
        """avahi-daemon on ``hosts`` and ``browser_hosts``; a published service on ``hosts``."""
        for i in list(hosts) + list(browser_hosts):
            if i not in self.daemons:
                self.start_daemon(i)
        for i in list(hosts) + list(browser_hosts):
            self.daemons[i].wait_for_line("Server startup complete", AVAHI_READY_S)
        for i in hosts:
            if i not in self.publishers:
                self.start_publisher(i, f"lanmsg-bench-h{i}")
        for i in hosts:
            self.publishers[i].wait_for_line("Established under name", PUBLISH_READY_S)


def run_timer(lab: netlab.Lab, host: int, spec: dict, timeout: float) -> dict:
    """Run inhost/timer.py on ``host`` with ``spec``; its results (see that script)."""
    fd, path = tempfile.mkstemp(prefix="lanmsg-bench-timer-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(spec, f)
    try:
        r = lab.run(host, [sys.executable, os.path.join(INHOST, "timer.py"), path], timeout=timeout)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise RuntimeError(f"timer on host {host} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_json(lab: netlab.Lab, host: int, argv: list, timeout: float, env: dict | None = None) -> dict:
    """Run a script on ``host`` that prints one JSON object last; that object."""
    r = lab.run(host, argv, timeout=timeout, env=env)
    if r.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))} on host {host} failed ({r.returncode}):\n"
            f"{r.stdout[-1500:]}\n{r.stderr[-2000:]}"
        )
    return json.loads(r.stdout.strip().splitlines()[-1])


def start_listener(ctx, host: int, out_path: str, *args) -> netlab.LabProcess:
    """``lanmsg listen ARGS`` on ``host`` with its output going to ``out_path``, as to a terminal
    (no pipe for the bench to drain); returns once it says it is listening."""
    with open(out_path, "w") as out:  # the child keeps its own copy of the descriptor
        p = ctx.lab.popen(host, ctx.lanmsg("listen", *args), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + LISTENER_READY_S
    while time.monotonic() < deadline:
        with open(out_path) as f:
            if "listening" in f.read(4096):
                return p
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.stop()
    with open(out_path) as f:
        raise RuntimeError(f"lanmsg listen on host {host} did not start:\n{f.read()[-2000:]}")


def proc_figures(pid: int) -> dict:
    """CPU seconds, current and peak resident memory (MB) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    kb = lambda key: int(status.get(key, "0 kB").split()[0])  # noqa: E731  (a one-line helper)
    return {
        "cpu_s": (int(fields[11]) + int(fields[12])) / tick,
        "rss_mb": kb("VmRSS") / 1024,
        "peak_rss_mb": kb("VmHWM") / 1024,
    }


def udp_counters(lab: netlab.Lab, host: int) -> dict:
    """The UDP counters of ``host``'s network namespace (/proc/net/snmp)."""
    r = lab.run(host, ["cat", "/proc/net/snmp"], timeout=30)
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], map(int, rows[1][1:]), strict=True))
