"""A lab of Linux network namespaces for lanmsg's multi-host tests (stdlib only).

``Lab(n)`` builds n "hosts" joined by one Ethernet switch::

    <prefix>-sw   switch namespace: bridge br0 (STP off), ports p1..pn
    <prefix>-hI   host I: eth0 = 10.213.0.I/24, broadcast 10.213.0.255 set
                  explicitly, lo up, default route via eth0, IPv6 off

Every veth is created with one end in a host and the other in the switch, so
nothing appears in the root namespace and no packet can leave the lab: the
bridge has no uplink.  Use it as a context manager; leaving the block kills
every process in the lab's namespaces and deletes them, even after a failure::

    with Lab(3) as lab:
        p = lab.popen(2, [sys.executable, "-m", "mailslot", "listen", "foxapp"])
        p.wait_for_line(r"^listening on ")
        lab.run(1, [sys.executable, "-m", "mailslot", "send", lab.addr(2), "foxapp", "hi"])
        lab.loss(2, 20)                   # 20 % loss on host 2's link, both ways (nftables)
        print(p.finish(10).stdout)

``Lab(n, subnets=2)`` builds two such LANs joined by a router::

    <prefix>-sw   switch namespace: bridges br0 (subnet 1) and br1 (subnet 2)
    <prefix>-rt   router: eth1 = 10.213.0.254/24 on br0, eth2 = 10.213.1.254/24
                  on br1, IPv4 forwarding on, IPv6 off
    <prefix>-hI   hosts 1..k on subnet 1 (10.213.0.I/24), hosts k+1..n on
                  subnet 2 (10.213.1.I/24), k = ``split`` (default: half of n,
                  rounded up); default route via the router's leg on its subnet

Unicast crosses the router; broadcasts do not (the kernel never forwards the
limited broadcast 255.255.255.255, and forwards a directed broadcast only with
the bc_forwarding sysctl, which stays off).  ``addr(i)``, ``broadcast_of(i)``,
``side(i)``, ``hosts_on(side)`` and ``router_addr(side)`` give the addresses::

    with Lab(3, subnets=2) as lab:       # h1, h2 on 10.213.0.0/24; h3 on 10.213.1.0/24
        lab.addr(3), lab.broadcast_of(3)  # "10.213.1.3", "10.213.1.255"
        lab.router_addr(2), lab.side(3)   # "10.213.1.254", 2

Each process runs in its host's network namespace and in a UTS namespace of
its own whose host name is ``lab-hI`` (so each host has its own computer name),
with the repository on PYTHONPATH and an environment cleaned of every
``LANMSG_*`` variable of the caller (the test session confines broadcasts to
loopback with LANMSG_BROADCAST; inside the lab broadcasts must go to the lab
bridge).  LANMSG_PORT is set to the lab's port (138 by default).

Building a lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), ``ip`` (iproute2),
``unshare`` and ``hostname``; ``loss()`` needs ``nft``; ``user=`` needs
``setpriv``.  Pytest modules use ``pytest_marks()`` so that lab tests skip,
never fail, where a lab cannot be built.  See docs/testing.md, "The lab".

Command line (as root)::

    python3 tests/netlab.py check [N]    build an N-host lab, check a broadcast reaches every host
    python3 tests/netlab.py check-routed build a routed 4-host lab (two subnets), check unicast
                                         crosses the router and broadcasts do not
    python3 tests/netlab.py cleanup      remove labs left behind by killed test runs
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_NET = "10.213.0"  # first three octets of the lab's /24 (a routed lab's second: third octet + 1)
DEFAULT_PORT = 138
MAX_HOSTS = 250
ROUTER_HOST = 254  # last octet of the router's leg on each subnet of a routed lab
NFT_TABLE = "lanmsglab"
NETNS_ETC = "/etc/netns"  # ip netns exec mounts /etc/netns/<ns>/FILE over /etc/FILE
COMMAND_TIMEOUT_S = 30  # for the ip/nft/sh commands that build and tear down a lab

# <prefix> is "lm" + the owning process id + a per-process letter sequence.
_PREFIX_RE = re.compile(r"^lm(\d+)([a-z]+)-(?:sw|rt|h\d+)$")
_SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_lab_numbers = itertools.count()


class LabError(RuntimeError):
    """The lab could not be built or a lab command failed."""


class LabUnavailable(LabError):
    """This machine cannot provide what was asked (not root, a tool missing)."""


class LabTimeout(LabError):
    """A process in the lab did not do what was awaited in time."""


# --------------------------------------------------------------------------
# Tools and availability
# --------------------------------------------------------------------------


def wait_until(condition, timeout: float, interval: float = 0.3):
    """Poll ``condition()`` until it returns something true or ``timeout`` seconds pass; its last
    value (a test waits for a state of the lab, never asserts it at one instant)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def tool(name: str) -> str | None:
    """Absolute path of an external tool, looking in PATH and the sbin directories."""
    path = os.environ.get("PATH", os.defpath) + os.pathsep + os.pathsep.join(_SBIN)
    return shutil.which(name, path=path)


def _need(name: str, package: str) -> str:
    found = tool(name)
    if found is None:
        raise LabUnavailable(f"the lab needs `{name}` (Debian package {package})")
    return found


@functools.cache
def unavailable_reason() -> str | None:
    """Why no lab can be built here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "the network-namespace lab needs Linux"
    if os.geteuid() != 0:
        return "lab tests need root to build network namespaces; run them as root, e.g. sudo python3 -m pytest -m lab"
    for name, package in (("ip", "iproute2"), ("unshare", "util-linux"), ("hostname", "hostname")):
        if tool(name) is None:
            return f"lab tests need `{name}` (Debian package {package})"
    try:  # root in a container may still lack CAP_SYS_ADMIN: try what the lab does
        probe = subprocess.run(
            [tool("unshare"), "--net", "--uts", "--", tool("ip"), "link", "set", "lo", "up"],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot create network namespaces here ({e})"
    if probe.returncode != 0:
        return f"cannot create network namespaces here ({probe.stderr.strip() or probe.returncode})"
    return None


def nft_unavailable_reason() -> str | None:
    """Why ``Lab.loss`` cannot work here, or None."""
    return None if tool("nft") else "packet loss needs `nft` (Debian package nftables)"


def with_overrides(env: dict, extra: dict | None) -> dict:
    """``env`` updated by ``extra``, where a value of None removes the variable."""
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def pytest_marks() -> list:
    """Marks for a lab test module: ``pytestmark = netlab.pytest_marks()``.

    The ``lab`` marker, and a skip with the reason when this machine cannot
    build a lab (not root, iproute2/util-linux missing, no namespaces).
    """
    import pytest

    reason = unavailable_reason()
    return [pytest.mark.lab, pytest.mark.skipif(reason is not None, reason=reason or "lab available")]


def _run(argv, *, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)}: no answer in {COMMAND_TIMEOUT_S} s") from None
    if check and r.returncode != 0:
        raise LabError(
            f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}" + (f"\ninput:\n{input}" if input else "")
        )
    return r


def list_namespaces() -> list[str]:
    ip = tool("ip")
    if ip is None:
        return []
    r = _run([ip, "netns", "list"], check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def namespace_pids(ns: str) -> list[int]:
    r = _run([_need("ip", "iproute2"), "netns", "pids", ns], check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


def _kill_namespace_processes(ns: str, grace: float = 2.0) -> None:
    """Stop every process in namespace ``ns`` (all of them were started by a lab)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = namespace_pids(ns)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and namespace_pids(ns):
            time.sleep(0.05)


def _delete_namespace(ns: str) -> None:
    _kill_namespace_processes(ns)
    _run([_need("ip", "iproute2"), "netns", "del", ns], check=False)
    etc = os.path.join(NETNS_ETC, ns)
    if _PREFIX_RE.match(ns) and os.path.isdir(etc):
        shutil.rmtree(etc, ignore_errors=True)


def _write_netns_resolv_conf(ns: str) -> None:
    """An empty resolv.conf that ``ip netns exec`` shows as /etc/resolv.conf inside ``ns``."""
    etc = os.path.join(NETNS_ETC, ns)
    os.makedirs(etc, exist_ok=True)
    with open(os.path.join(etc, "resolv.conf"), "w") as f:
        f.write("# lanmsg lab host: no name server (the lab has no route to one)\n")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale() -> list[str]:
    """Delete lab namespaces whose owning test process is gone; return their names."""
    removed = []
    names = list_namespaces()
    # hosts before switches: a host's veth goes with its namespace
    for ns in sorted(names, key=lambda n: n.endswith("-sw")):
        m = _PREFIX_RE.match(ns)
        if m and not _pid_alive(int(m.group(1))):
            _delete_namespace(ns)
            removed.append(ns)
    return removed


def _letters(n: int) -> str:
    out = ""
    while True:
        out = chr(ord("a") + n % 26) + out
        n = n // 26 - 1
        if n < 0:
            return out


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


class LabProcess(subprocess.Popen):
    """A Popen started inside a lab host whose output is collected as it arrives.

    Use ``wait_for_line`` to wait for readiness and ``finish`` to collect the
    result; do not call ``communicate()`` (reader threads own the pipes).
    """

    def __init__(self, argv, *, host: int, **kwargs):
        self.host = host
        self._cond = threading.Condition()
        self._lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._open_streams = 0
        super().__init__(argv, **kwargs)
        self._readers = []
        for which in ("stdout", "stderr"):
            stream = getattr(self, which)
            if stream is not None:
                self._open_streams += 1
                t = threading.Thread(target=self._read, args=(stream, which), daemon=True, name=f"lab-h{host}-{which}")
                t.start()
                self._readers.append(t)

    def _read(self, stream, which: str) -> None:
        try:
            for line in iter(stream.readline, ""):
                with self._cond:
                    self._lines[which].append(line)
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self._open_streams -= 1
                self._cond.notify_all()

    @property
    def stdout_text(self) -> str:
        with self._cond:
            return "".join(self._lines["stdout"])

    @property
    def stderr_text(self) -> str:
        with self._cond:
            return "".join(self._lines["stderr"])

    def _describe(self) -> str:
        return (
            f"host {self.host}: {' '.join(map(str, self.args))}\n"
            f"--- stdout ---\n{self.stdout_text}--- stderr ---\n{self.stderr_text}"
        )

    def wait_for_line(self, pattern: str, timeout: float = 15.0) -> str:
        """Wait until a stdout line matches ``pattern`` (re.search); return that line.

        Raises LabTimeout, with everything the process printed, when the
        process ends or ``timeout`` seconds pass first.
        """
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                lines = self._lines["stdout"]
                for line in lines[seen:]:
                    if rx.search(line):
                        return line.rstrip("\n")
                seen = len(lines)
                if self._open_streams == 0 or (self.stdout is None and self.poll() is not None):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.5))
        self.poll()
        state = "ended" if self.returncode is not None else f"still running after {timeout:g} s"
        raise LabTimeout(
            f"no stdout line matching {pattern!r}; the process {state} "
            f"(exit code {self.returncode})\n{self._describe()}"
        )

    def finish(self, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Wait for the process to end; return its exit code and complete output.

        A process still running after ``timeout`` seconds is killed and
        LabTimeout is raised with its output.
        """
        try:
            self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise LabTimeout(f"still running after {timeout:g} s; killed\n{self._describe()}") from None
        self._join()
        return subprocess.CompletedProcess(self.args, self.returncode, self.stdout_text, self.stderr_text)

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; reap the process."""
        if self.poll() is None:
            try:
                self.terminate()
                self.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
                self.wait()
            except ProcessLookupError:
                pass
        self._join()

    def _join(self) -> None:
        for t in self._readers:
            t.join(5)
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


# --------------------------------------------------------------------------
# The lab
# --------------------------------------------------------------------------


class Lab:
    """n hosts on one bridge, each in its own network namespace (see the module doc).

    ``net``: the first three octets of the lab's /24 (default 10.213.0, or
    LANMSG_LAB_NET).  ``port``: LANMSG_PORT given to every process.
    ``subnets``: 1 (one LAN) or 2 (two LANs joined by a router; the second /24
    is ``net`` with its third octet plus one).  ``split``: how many hosts are on
    subnet 1 when there are two (default: half, rounded up; at least one host
    on each).
    ``unprivileged_ports``: let every uid bind ports below 1024 in the hosts.
    ``empty_resolv_conf``: give every host an empty /etc/resolv.conf (through
    /etc/netns/<ns>/, which ``ip netns exec`` mounts over /etc), so nothing in
    the lab waits for the machine's name server, which the lab cannot reach.
    """

    def __init__(
        self,
        hosts: int = 2,
        *,
        net: str | None = None,
        port: int = DEFAULT_PORT,
        unprivileged_ports: bool = False,
        empty_resolv_conf: bool = False,
        subnets: int = 1,
        split: int | None = None,
    ):
        if not isinstance(hosts, int) or not 1 <= hosts <= MAX_HOSTS:
            raise ValueError(f"hosts must be 1..{MAX_HOSTS}")
        if subnets not in (1, 2):
            raise ValueError("subnets must be 1 or 2")
        net = net or os.environ.get("LANMSG_LAB_NET") or DEFAULT_NET
        try:
            network = ipaddress.IPv4Network(f"{net}.0/24")
        except ValueError:
            raise ValueError(f"bad lab net {net!r}: want three octets such as 10.213.0") from None
        self.nets = [net]
        if subnets == 2:
            if hosts < 2:
                raise ValueError("a lab with two subnets needs at least two hosts")
            split = (hosts + 1) // 2 if split is None else split
            if not isinstance(split, int) or not 1 <= split < hosts:
                raise ValueError(f"split must be 1..{hosts - 1}: at least one host on each subnet")
            a, b, c = net.split(".")
            if int(c) >= 255:
                raise ValueError(f"lab net {net!r} leaves no room for a second /24 after it")
            self.nets.append(f"{a}.{b}.{int(c) + 1}")
        else:
            split = hosts
        self.hosts = hosts
        self.subnets = subnets
        self.split = split
        self.net = net
        self.network = network
        self.networks = [ipaddress.IPv4Network(f"{n}.0/24") for n in self.nets]
        self.port = port
        self.unprivileged_ports = unprivileged_ports
        self.empty_resolv_conf = empty_resolv_conf
        self.prefix = f"lm{os.getpid()}{_letters(next(_lab_numbers))}"
        self.switch = f"{self.prefix}-sw"
        self.router = f"{self.prefix}-rt" if subnets == 2 else None
        self._procs: list[LabProcess] = []
        self._created: list[str] = []
        self._up = False

    # -- names and addresses ------------------------------------------------

    def ns(self, i: int) -> str:
        """Network namespace name of host ``i``."""
        self._check(i)
        return f"{self.prefix}-h{i}"

    def addr(self, i: int) -> str:
        """IPv4 address of host ``i``."""
        return f"{self.nets[self.side(i) - 1]}.{i}"

    @property
    def broadcast(self) -> str:
        """The directed broadcast address of subnet 1 (of every host in a one-subnet lab)."""
        return str(self.network.broadcast_address)

    def side(self, i: int) -> int:
        """The subnet (1 or 2) host ``i`` is on; always 1 in a one-subnet lab."""
        self._check(i)
        return 1 if i <= self.split else 2

    def hosts_on(self, side: int) -> list[int]:
        """The hosts on subnet ``side`` (1 or 2)."""
        self._check_side(side)
        return [i for i in range(1, self.hosts + 1) if self.side(i) == side]

    def broadcast_of(self, i: int) -> str:
        """The directed broadcast address of host ``i``'s subnet."""
        return str(self.networks[self.side(i) - 1].broadcast_address)

    def router_addr(self, side: int) -> str:
        """The router's address on subnet ``side`` (a routed lab only): the hosts' gateway there."""
        if self.subnets != 2:
            raise ValueError("this lab has one subnet and no router (use Lab(n, subnets=2))")
        self._check_side(side)
        return f"{self.nets[side - 1]}.{ROUTER_HOST}"

    def _check_side(self, side: int) -> None:
        if side not in range(1, self.subnets + 1):
            raise ValueError(f"no subnet {side!r} in a lab with {self.subnets}")

    @staticmethod
    def hostname(i: int) -> str:
        """Host name seen by processes on host ``i`` (their computer name is its upper case)."""
        return f"lab-h{i}"

    def _check(self, i: int) -> None:
        if not isinstance(i, int) or not 1 <= i <= self.hosts:
            raise ValueError(f"no host {i!r} in a {self.hosts}-host lab")

    # -- building and tearing down ------------------------------------------

    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> None:
        reason = unavailable_reason()
        if reason:
            raise LabUnavailable(reason)
        ip = _need("ip", "iproute2")
        cleanup_stale()
        for ns in list_namespaces():  # our pid was reused: those are stale too
            if ns.startswith(self.prefix + "-"):
                _delete_namespace(ns)
        try:
            self._add_namespace(self.switch)
            self._sysctls(self.switch, {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1})
            bridges = [f"br{k}" for k in range(self.subnets)]
            _run(
                [ip, "-n", self.switch, "-batch", "-"],
                input="\n".join(
                    ["link set lo up"]
                    + [f"link add {br} type bridge stp_state 0 mcast_snooping 0\nlink set {br} up" for br in bridges]
                )
                + "\n",
            )
            if self.router:
                self._add_router(ip)
            for i in range(1, self.hosts + 1):
                ns = self.ns(i)
                a, b, c = (int(x) for x in self.nets[self.side(i) - 1].split("."))
                self._add_namespace(ns)
                if self.empty_resolv_conf:
                    _write_netns_resolv_conf(ns)
                # before eth0 exists, so that it inherits "default"
                sysctls = {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1}
                if self.unprivileged_ports:
                    sysctls["net.ipv4.ip_unprivileged_port_start"] = 0
                self._sysctls(ns, sysctls)
                mac = f"02:{a:02x}:{b:02x}:{c:02x}:00:{i:02x}"
                _run(
                    [ip, "-n", ns, "-batch", "-"],
                    input="\n".join(
                        [
                            "link set lo up",
                            f"link add eth0 address {mac} type veth peer name p{i} netns {self.switch}",
                            f"addr add {self.addr(i)}/24 broadcast {self.broadcast_of(i)} dev eth0",
                            "link set eth0 up",
                            (
                                f"route add default via {self.router_addr(self.side(i))} dev eth0"
                                if self.router
                                else "route add default dev eth0"
                            ),
                        ]
                    )
                    + "\n",
                )
            _run(
                [ip, "-n", self.switch, "-batch", "-"],
                input="".join(f"link set p{i} master br{self.side(i) - 1} up\n" for i in range(1, self.hosts + 1)),
            )
        except BaseException:
            self.down()
            raise
        self._up = True

    def _add_router(self, ip: str) -> None:
        """The router namespace: leg ethK (K = 1, 2) on bridge br(K-1), forwarding on."""
        self._add_namespace(self.router)
        self._sysctls(
            self.router,
            {
                "net.ipv6.conf.all.disable_ipv6": 1,
                "net.ipv6.conf.default.disable_ipv6": 1,
                "net.ipv4.ip_forward": 1,
                # the kernel's defaults, stated: directed broadcasts are not forwarded
                "net.ipv4.conf.all.bc_forwarding": 0,
                "net.ipv4.conf.default.bc_forwarding": 0,
            },
        )
        lines = ["link set lo up"]
        for side in (1, 2):
            a, b, c = (int(x) for x in self.nets[side - 1].split("."))
            lines += [
                (
                    f"link add eth{side} address 02:{a:02x}:{b:02x}:{c:02x}:00:{ROUTER_HOST:02x} "
                    f"type veth peer name r{side} netns {self.switch}"
                ),
                (
                    f"addr add {self.router_addr(side)}/24 broadcast {self.networks[side - 1].broadcast_address} "
                    f"dev eth{side}"
                ),
                f"link set eth{side} up",
            ]
        _run([ip, "-n", self.router, "-batch", "-"], input="\n".join(lines) + "\n")
        _run(
            [ip, "-n", self.switch, "-batch", "-"],
            input="link set r1 master br0 up\nlink set r2 master br1 up\n",
        )

    def _add_namespace(self, ns: str) -> None:
        _run([_need("ip", "iproute2"), "netns", "add", ns])
        self._created.append(ns)

    def _sysctls(self, ns: str, values: dict) -> None:
        script = []
        for key, value in values.items():
            if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", key):
                raise ValueError(f"bad sysctl name {key!r}")
            path = "/proc/sys/" + key.replace(".", "/")
            if key.startswith("net.ipv6.") or key.endswith(".bc_forwarding"):
                # a kernel without IPv6 has nothing to disable; one without bc_forwarding
                # (before 5.3) never forwards directed broadcasts
                script.append(f"[ ! -e {path} ] || echo {int(value)} > {path}")
            else:
                script.append(f"echo {int(value)} > {path}")
        _run([_need("ip", "iproute2"), "netns", "exec", ns, "sh", "-ec", "\n".join(script)])

    def sysctl(self, i: int, key: str, value: int) -> None:
        """Set a (network-namespace) sysctl on host ``i``, e.g. net.ipv4.ip_unprivileged_port_start."""
        self._sysctls(self.ns(i), {key: value})

    def down(self) -> None:
        """Kill every process in the lab and delete its namespaces (safe to call twice)."""
        errors = []
        for p in self._procs:
            try:
                p.stop()
            except Exception as e:  # keep tearing down
                errors.append(e)
        self._procs.clear()
        hosts = [ns for ns in self._created if ns != self.switch]
        for ns in hosts + [ns for ns in self._created if ns == self.switch]:
            try:
                _delete_namespace(ns)
            except Exception as e:
                errors.append(e)
        self._created.clear()
        self._up = False
        if errors:
            raise LabError(f"lab teardown: {errors}")

    # -- processes ----------------------------------------------------------

    def env(self, extra: dict | None = None) -> dict:
        """Environment of lab processes: the caller's without LANMSG_*, plus ``extra``.

        PYTHONPATH starts with the repository, LANMSG_PORT is the lab port.
        A value of None in ``extra`` removes that variable.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANMSG_")}
        env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        env["LANMSG_PORT"] = str(self.port)
        return with_overrides(env, extra)

    def command(self, i: int, argv, *, user: str | int | None = None) -> list[str]:
        """The command line that runs ``argv`` on host ``i`` (as ``user``, if given)."""
        wrapped = [
            _need("ip", "iproute2"),
            "netns",
            "exec",
            self.ns(i),
            _need("unshare", "util-linux"),
            "--uts",
            "--",
            "sh",
            "-c",
            'hostname "$0" && exec "$@"',
            self.hostname(i),
        ]
        if user is not None:
            uid, gid = _uid_gid(user)
            wrapped += [_need("setpriv", "util-linux"), f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
        return wrapped + [str(a) for a in argv]

    def popen(
        self,
        i: int,
        argv,
        *,
        env: dict | None = None,
        user: str | int | None = None,
        cwd: str | None = None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        new_session: bool = True,
    ) -> LabProcess:
        """Start ``argv`` on host ``i``; its output is collected (see LabProcess).

        ``env``: variables added to (None: removed from) ``self.env()``.
        ``user``: run as this user name or uid instead of root.
        ``new_session=False``: start it in a process group of its own inside the caller's
        session instead of a new session.  Its group then has a parent (this process) in
        another group of the same session, so it is not orphaned and the kernel delivers
        SIGTSTP to it, as Ctrl-Z in a terminal does (a new session's group is orphaned and
        the kernel discards SIGTSTP, SIGTTIN and SIGTTOU sent to it).
        """
        if not self._up:
            raise LabError("the lab is not up")
        if new_session:
            group = {"start_new_session": True}
        elif sys.version_info >= (3, 11):
            group = {"process_group": 0}
        else:
            group = {"preexec_fn": os.setpgrp}
        p = LabProcess(
            self.command(i, argv, user=user),
            host=i,
            env=self.env(env),
            cwd=cwd or REPO_ROOT,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=True,
            errors="replace",
            **group,
        )
        self._procs.append(p)
        return p

    def run(
        self,
        i: int,
        argv,
        *,
        env: dict | None = None,
        user: str | int | None = None,
        timeout: float = 30.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` on host ``i`` to completion; LabTimeout after ``timeout`` seconds."""
        p = self.popen(i, argv, env=env, user=user, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
        if input is not None:
            try:
                p.stdin.write(input)
                p.stdin.close()
            except BrokenPipeError:
                pass
        return p.finish(timeout)

    def python(self, user: str | int | None = None) -> str | None:
        """A Python >= 3.10 that ``user`` can run with this repository, or None.

        Root gets this interpreter.  Another user may not be able to reach it
        (e.g. one under /root), so the system's python3 is tried as well.
        """
        if user is None:
            return sys.executable
        candidates = []
        for c in (
            sys.executable,
            os.path.realpath(sys.executable),
            shutil.which("python3", path=os.defpath),
            shutil.which("python3"),
        ):
            if c and c not in candidates:
                candidates.append(c)
        # os.access: an interpreter under a directory the user cannot enter may still
        # start, then fall back to another installation's standard library
        probe = (
            "import os, sys, mailslot; "
            "sys.exit(0 if sys.version_info >= (3, 10) and os.access(sys.executable, os.X_OK) else 1)"
        )
        for c in candidates:
            try:
                if self.run(1, [c, "-c", probe], user=user, timeout=20).returncode == 0:
                    return c
            except LabTimeout:
                continue
        return None

    # -- impairments --------------------------------------------------------

    def loss(self, i: int, percent: float, direction: str = "both") -> None:
        """Drop ``percent`` % of host ``i``'s frames at random (0 turns it off).

        ``direction``: "out" (frames host i sends), "in" (frames delivered to
        it) or "both".  Implemented with nftables netdev hooks on host i's
        bridge port in the switch namespace (numgen random): ingress of pI for
        "out", egress of pI for "in" (kernel >= 5.16).  Frames dropped on the
        way out are lost for every receiver alike, as on a bad cable.
        """
        self._check(i)
        if direction not in ("in", "out", "both"):
            raise ValueError("direction must be 'in', 'out' or 'both'")
        if not 0 <= percent <= 100:
            raise ValueError("percent must be 0..100")
        nft = tool("nft")
        if nft is None:
            raise LabUnavailable(nft_unavailable_reason())
        basis_points = round(percent * 100)
        lines = [f"add table netdev {NFT_TABLE}"]
        for d, hook in (("out", "ingress"), ("in", "egress")):
            chain = f"h{i}_{d}"
            lines.append(
                f"add chain netdev {NFT_TABLE} {chain} {{ type filter hook {hook} "
                f'device "p{i}" priority 0; policy accept; }}'
            )
            if basis_points and direction in (d, "both"):
                lines.append(f"flush chain netdev {NFT_TABLE} {chain}")
                match = f"numgen random mod 10000 < {basis_points} " if basis_points < 10000 else ""
                lines.append(f"add rule netdev {NFT_TABLE} {chain} {match}counter drop")
            else:
                lines.append(f"delete chain netdev {NFT_TABLE} {chain}")
        _run([_need("ip", "iproute2"), "netns", "exec", self.switch, nft, "-f", "-"], input="\n".join(lines) + "\n")


def _uid_gid(user: str | int) -> tuple[int, int]:
    try:
        pw = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
    except KeyError:
        raise LabUnavailable(f"no user {user!r} on this machine") from None
    return pw.pw_uid, pw.pw_gid


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

_CHECK_RECEIVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[1])))
s.settimeout(10)
print("ready", socket.gethostname(), flush=True)
data, peer = s.recvfrom(100)
print(peer[0], data.decode())
"""

_CHECK_SENDER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.sendto(b"netlab-check", (sys.argv[1], int(sys.argv[2])))
"""


def _check(n: int) -> int:
    port = 1138
    started = time.monotonic()
    with Lab(n) as lab:
        built = time.monotonic() - started
        receivers = {i: lab.popen(i, [sys.executable, "-c", _CHECK_RECEIVER, port]) for i in range(2, n + 1)}
        for p in receivers.values():
            p.wait_for_line("^ready")
        lab.run(1, [sys.executable, "-c", _CHECK_SENDER, lab.broadcast, port])
        ok = 0
        for i, p in receivers.items():
            out = p.finish(15).stdout
            if f"{lab.addr(1)} netlab-check" in out:
                ok += 1
            else:
                print(f"host {i}: {out.strip() or p.stderr_text.strip()}", file=sys.stderr)
    print(
        f"check: {ok}/{n - 1} hosts received the broadcast from host 1 "
        f"(lab built in {built:.2f} s, {time.monotonic() - started:.2f} s in all)"
    )
    return 0 if ok == n - 1 else 1


_ROUTED_RECEIVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[1])))
s.settimeout(10)
print("ready", flush=True)
got = []
while True:
    data, peer = s.recvfrom(100)
    if data == b"end":
        break
    got.append(data.decode())
print("got", " ".join(sorted(got)))
"""

_ROUTED_SENDER = r"""
import socket, sys, time
port, targets = int(sys.argv[1]), sys.argv[2:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for t in targets:
    tag, addr = t.split("=")
    s.sendto(tag.encode(), (addr, port))
time.sleep(0.2)  # the broadcasts before the end markers, whatever path they take
for t in targets:
    tag, addr = t.split("=")
    if tag.startswith("u"):
        s.sendto(b"end", (addr, port))
"""


def routed_check(port: int = 1138) -> dict[int, list[str]]:
    """In a routed 4-host lab (h1, h2 | router | h3, h4) h1 sends to 255.255.255.255 ("lb"),
    its own subnet's broadcast ("b1"), the other subnet's broadcast ("b2") and unicast to each
    other host ("uI"); returns {host: sorted tags received}.  Expected: {2: [b1, lb, u2],
    3: [u3], 4: [u4]}: unicast crosses the router, no broadcast does."""
    with Lab(4, subnets=2) as lab:
        receivers = {i: lab.popen(i, [sys.executable, "-c", _ROUTED_RECEIVER, port]) for i in (2, 3, 4)}
        for p in receivers.values():
            p.wait_for_line("^ready")
        targets = ["lb=255.255.255.255", f"b1={lab.broadcast_of(1)}", f"b2={lab.broadcast_of(3)}"]
        targets += [f"u{i}={lab.addr(i)}" for i in receivers]
        lab.run(1, [sys.executable, "-c", _ROUTED_SENDER, port, *targets])
        out = {}
        for i, p in receivers.items():
            line = p.wait_for_line("^got")
            out[i] = line.split()[1:]
            p.finish(5)
        return out


ROUTED_EXPECTED = {2: ["b1", "lb", "u2"], 3: ["u3"], 4: ["u4"]}


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["check"] and len(args) <= 2:
        reason = unavailable_reason()
        if reason:
            print(f"netlab: {reason}", file=sys.stderr)
            return 2
        return _check(int(args[1]) if len(args) == 2 else 3)
    if args == ["check-routed"]:
        reason = unavailable_reason()
        if reason:
            print(f"netlab: {reason}", file=sys.stderr)
            return 2
        got = routed_check()
        print(f"check-routed: received {got}, expected {ROUTED_EXPECTED}")
        return 0 if got == ROUTED_EXPECTED else 1
    if args == ["cleanup"]:
        removed = cleanup_stale()
        print(f"netlab: removed {len(removed)} stale namespaces" + (f": {' '.join(removed)}" if removed else ""))
        return 0
    print(__doc__.split("Command line (as root)::")[1].rstrip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
