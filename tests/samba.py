"""Samba's nmbd and nmblookup inside lab hosts, as reference peers and judges (stdlib only).

nmbd is a real NetBIOS name and datagram server: a B-node (or a WINS server) that
registers and defends names on UDP 137, answers queries and node-status requests,
and listens on UDP 138.  nmblookup asks NetBIOS name questions and prints the
answers.  Both only ever run inside a host of a ``netlab.Lab``: started in the
root namespace nmbd would broadcast on the machine's real network.

    with netlab.Lab(2) as lab, samba.Nmbd(lab, 1, netbios_name="SAMBAHOST") as nmbd:
        r = samba.nmblookup(lab, 2, "-B", lab.broadcast, "SAMBAHOST")
        assert r.returncode == 0 and f"{lab.addr(1)} SAMBAHOST<00>" in r.stdout
        assert "SAMBAHOST" in nmbd.log_text()

Each ``Nmbd`` gets a private directory (smb.conf, lock, state, cache, pid,
private, ncalrpc and ``nmbd:socket dir``, log file) under a temporary directory,
so it never touches /var/lib/samba, /run/samba or another nmbd (two nmbd on one
machine need separate socket dirs: both bind ``<socket dir>/unexpected``).  Its
smb.conf keeps it quiet: ``dns proxy = no`` (else unknown names are looked up in
DNS), ``local master``, ``domain master`` and ``preferred master = no`` and
``os level = 0`` (no browser elections), ``interfaces = eth0`` with
``bind interfaces only = yes``.  It runs in the foreground
(``nmbd -F --no-process-group --debug-stdout -d LEVEL -s CONF``) through
``lab.popen``, so leaving the lab kills it in any case; ``Nmbd`` stops it
(SIGTERM) and removes its directory on exit.

Readiness: nmbd answers a unicast query for its names at once (they are on its
unicast subnet from the start), but a broadcast query only once its broadcast
registrations are over (three, 2 s apart: about 4.0 s after the start on Samba
4.17).  ``Nmbd`` waits for the log line that says so (at ``-d 3`` and up) and
then until ``nmblookup -B <broadcast> NAME`` run on nmbd's own host finds its
netbios name: measured ready after 4.06-4.07 s.

``nmblookup(lab, host, *args)`` runs nmblookup on a lab host with a private
minimal client smb.conf (``-s``), so /etc/samba/smb.conf is never read.

Tests skip, never fail, without Samba: ``pytest_marks()`` adds to
``netlab.pytest_marks()`` a skip with ``unavailable_reason()``.

``Capture(lab, host)`` runs tshark inside a lab host, writing what crosses its
eth0 on UDP 137/138 to a pcap file; ``nbns_problems(pcap)`` is what
``tshark -r FILE -Y 'nbns && (_ws.malformed || _ws.expert)'`` prints (empty when
Wireshark finds nothing wrong), ``count(pcap, "nbns")`` the frames a filter
matches::

    with samba.Capture(lab, 2, pcap=str(tmp_path / "h2.pcap")) as cap:
        samba.nmblookup(lab, 2, "-B", lab.broadcast, "SAMBAHOST")
    assert samba.count(cap.pcap, "nbns") >= 2 and samba.nbns_problems(cap.pcap) == ""

Without ``pcap=`` the file goes to a temporary directory that ``cap.remove()``
deletes (or ``keep=False`` deletes it on leaving the block).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import netlab

READY_TIMEOUT_S = 20.0  # upper bound on nmbd's start-up; never an assertion about speed
STOP_GRACE_S = 5.0


# --------------------------------------------------------------------------
# Availability
# --------------------------------------------------------------------------


def nmbd_path() -> str | None:
    return netlab.tool("nmbd")


def nmblookup_path() -> str | None:
    return netlab.tool("nmblookup")


def unavailable_reason() -> str | None:
    """Why nmbd/nmblookup tests cannot run here (Samba missing, or no lab), or None."""
    missing = [name for name, path in (("nmbd", nmbd_path()), ("nmblookup", nmblookup_path())) if path is None]
    if missing:
        return (
            f"Samba's {' and '.join(missing)} not installed (Debian packages samba, samba-common-bin); "
            "scripts/install-test-tools.sh installs them as root"
        )
    return netlab.unavailable_reason()


def nmblookup_unavailable_reason() -> str | None:
    """Why nmblookup alone cannot run in a lab here, or None."""
    if nmblookup_path() is None:
        return "Samba's nmblookup not installed (Debian package samba-common-bin); scripts/install-test-tools.sh"
    return netlab.unavailable_reason()


def pytest_marks() -> list:
    """Marks for a module that runs nmbd in the lab: the lab marks plus a skip without Samba."""
    import pytest

    reason = unavailable_reason()
    return [*netlab.pytest_marks(), pytest.mark.skipif(reason is not None, reason=reason or "samba available")]


# --------------------------------------------------------------------------
# smb.conf
# --------------------------------------------------------------------------


def _conf_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if "\n" in text:
        raise ValueError(f"smb.conf value with a newline: {text!r}")
    return text


def write_conf(path: str, params: dict) -> None:
    """An smb.conf holding only a [global] section with ``params`` (None values left out)."""
    lines = ["# written by lanmsg's tests/samba.py for one test run", "[global]"]
    for key, value in params.items():
        if value is not None:
            lines.append(f"  {key} = {_conf_value(value)}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def private_dirs(root: str) -> dict:
    """smb.conf parameters that put every directory Samba writes under ``root`` (created)."""
    params = {}
    for key, sub in (
        ("lock directory", "lock"),
        ("state directory", "state"),
        ("cache directory", "cache"),
        ("pid directory", "pid"),
        ("private dir", "private"),
        ("ncalrpc dir", "ncalrpc"),
        ("nmbd:socket dir", "nmbd"),
        ("winbindd socket directory", "winbindd"),
        ("binddns dir", "bind-dns"),
    ):
        path = os.path.join(root, sub)
        os.makedirs(path, mode=0o755, exist_ok=True)
        params[key] = path
    os.makedirs(os.path.join(root, "log"), exist_ok=True)
    params["log file"] = os.path.join(root, "log", "log.%m")
    return params


# --------------------------------------------------------------------------
# nmblookup
# --------------------------------------------------------------------------


def nmblookup(
    lab, host: int, *args, timeout: float = 15.0, socket_dir: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``nmblookup -s <private conf> ARGS`` on lab host ``host``; CompletedProcess.

    The client conf names only the workgroup, ``interfaces = eth0``,
    ``dns proxy = no`` and private directories, so /etc/samba/smb.conf is never
    read.  ``socket_dir``: the ``nmbd:socket dir`` to use (an ``Nmbd``'s
    ``socket_dir``, so that answers arriving at that nmbd's port 137, as for
    ``-r``, reach nmblookup through nmbd); by default a private empty one.
    Exit code 0 when every lookup succeeded, 1 otherwise (see the nbns spec).
    """
    exe = nmblookup_path()
    if exe is None:
        raise netlab.LabUnavailable(nmblookup_unavailable_reason())
    root = tempfile.mkdtemp(prefix="lanmsg-nmblookup-")
    try:
        params = {"workgroup": "WORKGROUP", "interfaces": "eth0", "dns proxy": False, **private_dirs(root)}
        if socket_dir is not None:
            params["nmbd:socket dir"] = socket_dir
        conf = os.path.join(root, "client.conf")
        write_conf(conf, params)
        return lab.run(host, [exe, "-s", conf, *args], timeout=timeout)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def lookup_addresses(result: subprocess.CompletedProcess, name: str, suffix: int = 0x00) -> list[str]:
    """The addresses nmblookup printed for ``NAME<xx>`` (lines ``10.213.0.1 NAME<00>``)."""
    rx = re.compile(rf"^(\d+\.\d+\.\d+\.\d+) {re.escape(name.upper())}<{suffix:02x}>$", re.MULTILINE)
    return rx.findall(result.stdout)


# --------------------------------------------------------------------------
# nmbd
# --------------------------------------------------------------------------


class Nmbd:
    """nmbd on lab host ``host``, with a private smb.conf and directories (see the module doc).

    ``netbios_name``: its computer name.  ``workgroup``.  ``wins_support``: be a
    WINS server.  ``wins_server``: register with this WINS server (an address).
    ``aliases``: more names it registers and answers for (``netbios aliases``).
    ``extra``: more [global] parameters (a dict; None removes a default).
    ``debug_level``: ``-d`` (3 logs each name-service decision; 5 also every
    datagram nmbd ignores or hands on).  ``ready_timeout``: how long start-up may
    take before LabTimeout.  ``wait_ready=False``: return once started.

    Attributes once started: ``proc`` (the LabProcess), ``dir``, ``conf``,
    ``socket_dir`` (its ``nmbd:socket dir``; ``<socket_dir>/unexpected`` is its
    packet server), ``address`` (the host's address), ``ready_seconds``.
    """

    def __init__(
        self,
        lab,
        host: int,
        *,
        netbios_name: str,
        workgroup: str = "WORKGROUP",
        wins_support: bool = False,
        wins_server: str | None = None,
        aliases=(),
        extra: dict | None = None,
        debug_level: int = 3,
        ready_timeout: float = READY_TIMEOUT_S,
        wait_ready: bool = True,
    ):
        for name in (netbios_name, workgroup, *aliases):
            if not re.fullmatch(r"[A-Za-z0-9_.$-]{1,15}", name):
                raise ValueError(f"bad NetBIOS name {name!r} for a test nmbd")
        self.lab = lab
        self.host = host
        self.netbios_name = netbios_name.upper()
        self.workgroup = workgroup.upper()
        self.wins_support = wins_support
        self.wins_server = wins_server
        self.aliases = tuple(a.upper() for a in aliases)
        self.extra = dict(extra or {})
        self.debug_level = int(debug_level)
        self.ready_timeout = ready_timeout
        self.wait_ready = wait_ready
        self.address = lab.addr(host)
        self.dir: str | None = None
        self.conf: str | None = None
        self.socket_dir: str | None = None
        self.proc = None
        self.ready_seconds: float | None = None

    def params(self, root: str) -> dict:
        params = {
            "netbios name": self.netbios_name,
            "workgroup": self.workgroup,
            "server string": "lanmsg test nmbd",
            "server role": "standalone server",
            "interfaces": "eth0",
            "bind interfaces only": True,
            "disable netbios": False,
            "dns proxy": False,
            "local master": False,
            "domain master": False,
            "preferred master": False,
            "os level": 0,
            "wins support": self.wins_support,
            "wins server": self.wins_server,
            "netbios aliases": " ".join(self.aliases) or None,
            "syslog": 0,
            **private_dirs(root),
        }
        return with_overrides(params, self.extra)

    # -- running -----------------------------------------------------------

    def __enter__(self) -> Nmbd:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        exe = nmbd_path()
        if exe is None:
            raise netlab.LabUnavailable(unavailable_reason())
        self.dir = tempfile.mkdtemp(prefix=f"lanmsg-nmbd-h{self.host}-")
        try:
            params = self.params(self.dir)
            self.socket_dir = params.get("nmbd:socket dir")
            self.conf = os.path.join(self.dir, "smb.conf")
            write_conf(self.conf, params)
            started = time.monotonic()
            self.proc = self.lab.popen(
                self.host,
                [exe, "-F", "--no-process-group", "--debug-stdout", "-d", str(self.debug_level), "-s", self.conf],
            )
            if self.wait_ready:
                self.wait_until_ready(started)
        except BaseException:
            self.stop()
            raise

    def wait_until_ready(self, started: float | None = None) -> float:
        """Wait until nmbd answers a broadcast query for its own name; the seconds it took.

        nmbd answers a *unicast* query for its names at once (they are in its
        unicast subnet from the start) but a broadcast query only once its
        broadcast registrations are over.  At ``-d 3`` or more the log says so
        ("Added netbios name NAME<00> ... to subnet ADDRESS"), which is waited
        for first; then ``nmblookup -B <broadcast> NAME`` on nmbd's own host must
        find the name (retried until ``ready_timeout``).
        """
        started = time.monotonic() if started is None else started
        deadline = started + self.ready_timeout
        if self.debug_level >= 3:
            pattern = (
                rf"Added netbios name {re.escape(self.netbios_name)}<00> with first IP {re.escape(self.address)} "
                rf".*to subnet {re.escape(self.address)}$"
            )
            try:
                self.proc.wait_for_line(pattern, max(0.1, deadline - time.monotonic()))
            except netlab.LabTimeout:
                pass  # the query below says what is wrong
        broadcast = self.lab.broadcast_of(self.host)
        while True:
            if self.proc.poll() is not None:
                raise netlab.LabError(f"nmbd on host {self.host} ended ({self.proc.returncode})\n{self.log_text()}")
            r = nmblookup(self.lab, self.host, "-B", broadcast, self.netbios_name, timeout=10)
            if r.returncode == 0 and self.address in lookup_addresses(r, self.netbios_name):
                self.ready_seconds = time.monotonic() - started
                return self.ready_seconds
            if time.monotonic() > deadline:
                raise netlab.LabTimeout(
                    f"nmbd on host {self.host} did not answer a broadcast query for {self.netbios_name} within "
                    f"{self.ready_timeout:g} s\n--- nmblookup ---\n{r.stdout}{r.stderr}--- nmbd ---\n{self.log_text()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM nmbd (SIGKILL after a grace period) and remove its directory."""
        if self.proc is not None:
            self.proc.stop(STOP_GRACE_S)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- what it said -------------------------------------------------------

    def log_text(self) -> str:
        """Everything nmbd logged so far (it logs to stdout; its log file, if any, appended)."""
        text = ""
        if self.proc is not None:
            text = self.proc.stdout_text + self.proc.stderr_text
        if self.dir is not None:
            logdir = os.path.join(self.dir, "log")
            for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else ():
                with open(os.path.join(logdir, name), errors="replace") as f:
                    text += f.read()
        return text

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> str:
        """Wait for a log line matching ``pattern`` (re.search); return it."""
        return self.proc.wait_for_line(pattern, timeout)


def with_overrides(params: dict, extra: dict | None) -> dict:
    """``params`` updated by ``extra``; a value of None removes the parameter."""
    for k, v in (extra or {}).items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = v
    return params


# --------------------------------------------------------------------------
# tshark inside a lab host
# --------------------------------------------------------------------------

TSHARK_GUARD_S = 120.0
STOP_SETTLE_S = 1.0


def tshark_path() -> str | None:
    return netlab.tool("tshark")


def tshark_unavailable_reason() -> str | None:
    """Why a lab capture cannot run here, or None."""
    if tshark_path() is None:
        return "tshark (Wireshark's dissector) not installed; scripts/install-test-tools.sh installs it as root"
    return netlab.unavailable_reason()


class Capture:
    """tshark on lab host ``host`` writing UDP ``ports`` on eth0 to ``pcap`` (a temporary file by default).

    Entering waits until dumpcap captures; leaving stops it with SIGINT, so the
    file is complete.  The file stays (``pcap``) until ``remove()``, or is
    removed at exit when it was a temporary one and ``keep`` is false.
    """

    def __init__(self, lab, host: int, *, ports=(137, 138), pcap: str | None = None, keep: bool = True):
        self.lab = lab
        self.host = host
        self.ports = tuple(ports)
        self._tmp = None if pcap else tempfile.mkdtemp(prefix="lanmsg-capture-")
        self.pcap = pcap or os.path.join(self._tmp, f"h{host}.pcap")
        self.keep = keep
        self.proc = None

    def __enter__(self) -> Capture:
        exe = tshark_path()
        if exe is None:
            raise netlab.LabUnavailable(tshark_unavailable_reason())
        bpf = " or ".join(f"udp port {p}" for p in self.ports)
        self.proc = self.lab.popen(
            self.host,
            [
                exe,
                "-n",
                "-i",
                "eth0",
                "-f",
                bpf,
                "-w",
                self.pcap,
                "-F",
                "pcap",
                "-a",
                f"duration:{int(TSHARK_GUARD_S)}",
            ],
            stderr=subprocess.STDOUT,
        )
        try:
            self.proc.wait_for_line(r"Capturing on|Capture started", timeout=30)
        except BaseException:
            self.proc.stop()
            raise
        time.sleep(0.2)  # "Capturing on" comes just before dumpcap's socket is live
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # dumpcap reads the kernel's buffer in batches; packets still there at SIGINT are lost
            time.sleep(STOP_SETTLE_S)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self.proc.stop()
        if not self.keep:
            self.remove()

    def remove(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        elif os.path.exists(self.pcap):
            os.unlink(self.pcap)


def tshark_read(pcap: str, *args) -> str:
    """``tshark -n -r PCAP ARGS``'s output (reading a file; nothing is sent)."""
    r = subprocess.run([tshark_path(), "-n", "-r", pcap, *args], capture_output=True, text=True, timeout=TSHARK_GUARD_S)
    if r.returncode != 0:
        raise AssertionError(f"tshark -r {pcap} {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def count(pcap: str, display_filter: str) -> int:
    """How many frames of ``pcap`` match ``display_filter``."""
    return len(tshark_read(pcap, "-Y", display_filter).splitlines())


def nbns_problems(pcap: str, proto: str = "nbns") -> str:
    """Frames of ``proto`` (nbns, nbdgm) that Wireshark calls malformed or flags with expert info ("" if none)."""
    return tshark_read(pcap, "-Y", f"{proto} && (_ws.malformed || _ws.expert)").strip()
