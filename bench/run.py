#!/usr/bin/env python3
"""lanmsg benchmark suite, part 1: mailslot.py's codec and its loopback transport.

    python3 bench/run.py                               # full run (about 40 s)
    python3 bench/run.py --quick                       # short run (under 20 s)
    python3 bench/run.py --out docs/performance.md     # also write the results page
    python3 bench/run.py --profile                     # cProfile of the codec and write() paths

Every datagram stays on 127.0.0.0/8: LANMSG_BROADCAST is forced to
127.255.255.255, a free high UDP port is used and every target address is
checked to be a loopback address before anything is sent.  Loops are bounded
by a count and a time limit.  Raw results go to bench/out/latest.json.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import ipaddress
import json
import multiprocessing
import os
import platform
import random
import shlex
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Before mailslot reads any of it: keep every broadcast on loopback, use the netbios transport.
LOOPBACK_BROADCAST = "127.255.255.255"
os.environ["LANMSG_BROADCAST"] = LOOPBACK_BROADCAST
os.environ.pop("LANMSG_TRANSPORT", None)

import mailslot  # noqa: E402  (after the environment above is set)

with open(mailslot.__file__, "rb") as _f:  # the code measured, even if the tree changes later
    MAILSLOT_SHA256 = hashlib.sha256(_f.read()).hexdigest()

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
SLOT = "foxapp"  # the receiving mailslot
RX_NAME = "BENCHRX"  # NetBIOS name of the receiving process
TX_NAME = "BENCHTX"  # NetBIOS name of a writer process
BODY_40 = b"FOXHOST: hello FOXAPP, status=ok seq=001"
assert len(BODY_40) == 40
BODY_424 = bytes(random.Random(424).randrange(32, 127) for _ in range(424))
assert len(BODY_424) == mailslot.max_remote_payload("FOXAPP") == 424

SECTION_START = "<!-- bench/run.py:mailslot:start -->"
SECTION_END = "<!-- bench/run.py:mailslot:end -->"


def loopback(ip: str) -> str:
    """``ip`` if it is on 127.0.0.0/8; refuse anything else (this machine has a real LAN)."""
    if ipaddress.IPv4Address(ip) not in LOOPBACK:
        raise SystemExit(f"bench: refusing to send to {ip}: only 127.0.0.0/8 is allowed")
    return ip


def free_udp_port(exclude=()) -> int:
    for _ in range(200):
        port = random.randrange(20000, 60000)
        if port in exclude:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free UDP port")


def summary(values: list[float]) -> dict:
    vals = sorted(values)
    q = statistics.quantiles(vals, n=4, method="inclusive") if len(vals) > 1 else [vals[0]] * 3
    return {
        "median": statistics.median(vals),
        "min": vals[0],
        "max": vals[-1],
        "q1": q[0],
        "q3": q[2],
        "n": len(vals),
        "values": values,
    }


# --------------------------------------------------------------------------
# 1. Codec
# --------------------------------------------------------------------------


def typical_datagram(body: bytes) -> mailslot.Datagram:
    """FOXHOST -> WORKGROUP<00>, \\MAILSLOT\\FOXAPP, as lanmsg sends it (build_datagram)."""
    return mailslot.build_datagram(
        msg_type=mailslot.MSG_DIRECT_GROUP,
        source="FOXHOST",
        destination=mailslot.NetbiosName("WORKGROUP", 0x00),
        mailslot="FOXAPP",
        data=body,
        source_ip="127.0.0.1",
        dgm_id=0x1234,
        source_port=mailslot.DEFAULT_PORT,
    )


_NBT = struct.Struct(">BBH4sHHH")
_SMB = struct.Struct("<4sBIBHH8sHHHHH")
_TRANS = struct.Struct("<BHHHHBBHIHHHHHBB")
_SETUP = struct.Struct("<HHHH")


def bare_struct_codec(d: mailslot.Datagram):
    """The same header fields with nothing but precompiled struct.pack / unpack_from.

    Names are encoded once beforehand, the fields sit in locals, nothing is
    validated and no Datagram object is built: the floor under encode+decode.
    Produces exactly encode_datagram(d).
    """
    names = mailslot.encode_name(d.source_name) + mailslot.encode_name(d.destination_name)
    name_bytes = d.mailslot.encode("latin-1") + b"\x00"
    data_offset, padding = mailslot._smb_data_offset(d.mailslot, d.padding)
    ip4 = socket.inet_aton(d.source_ip)
    tail = name_bytes + padding
    smb_hdr = (
        b"\xffSMB",
        mailslot.SMB_COM_TRANSACTION,
        d.smb_status,
        d.smb_flags,
        d.smb_flags2,
        d.pid_high,
        d.security_features,
        d.smb_reserved,
        d.tid,
        d.pid_low,
        d.uid,
        d.mid,
    )
    head = (d.msg_type, d.flags, d.dgm_id, ip4, d.source_port)
    trans_fields = (
        d.total_parameter_count,
        d.max_parameter_count,
        d.max_data_count,
        d.max_setup_count,
        d.trans_flags,
        d.timeout,
        d.parameter_count,
    )
    setup_fields = (d.opcode, d.priority, d.mailslot_class)
    smb_start = _NBT.size + len(names)

    def encode(data: bytes) -> bytes:
        n = len(data)
        tpc, mpc, mdc, msc, tfl, tmo, pc = trans_fields
        smb = b"".join(
            (
                _SMB.pack(*smb_hdr),
                _TRANS.pack(17, tpc, n, mpc, mdc, msc, 0, tfl, tmo, 0, pc, data_offset, n, data_offset, 3, 0),
                _SETUP.pack(*setup_fields, len(tail) + n),
                tail,
                data,
            )
        )
        return _NBT.pack(*head, len(names) + len(smb), 0) + names + smb

    def decode(buf: bytes):
        h = _NBT.unpack_from(buf, 0)
        s = _SMB.unpack_from(buf, smb_start)
        t = _TRANS.unpack_from(buf, smb_start + 32)
        u = _SETUP.unpack_from(buf, smb_start + 61)
        start = smb_start + t[13]
        return h, s, t, u, buf[start : start + t[12]]

    return encode, decode


def codec_variants():
    out = []
    for label, body in (("40-byte body", BODY_40), ("424-byte body", BODY_424)):
        d = typical_datagram(body)
        wire = mailslot.encode_datagram(d)
        assert mailslot.decode_datagram(wire) == d
        enc, dec = bare_struct_codec(d)
        assert enc(body) == wire, "baseline must produce the codec's bytes"
        assert dec(wire)[-1] == body
        e, dd = mailslot.encode_datagram, mailslot.decode_datagram
        size = f"{label} ({len(wire)} B on the wire)"
        out += [
            (size, "encode_datagram", lambda d=d, e=e: e(d)),
            (size, "decode_datagram", lambda w=wire, dd=dd: dd(w)),
            (size, "encode + decode (round trip)", lambda d=d, e=e, dd=dd: dd(e(d))),
            (size, "baseline: struct pack + unpack", lambda b=body, enc=enc, dec=dec: dec(enc(b))),
        ]
    return out


def timed(fn, n: int) -> tuple[float, float]:
    """Wall-clock and CPU (this thread) seconds for ``n`` calls of ``fn``."""
    loop = range(n)
    c0, t0 = time.thread_time(), time.perf_counter()
    for _ in loop:
        fn()
    return time.perf_counter() - t0, time.thread_time() - c0


def bench_codec(p, log) -> list[dict]:
    variants = codec_variants()
    counts = []
    for _, _, fn in variants:  # calibrate: one trial lasts about p.codec_trial_s
        n, dt = 100, timed(fn, 100)[0]
        while dt < p.codec_trial_s / 4:
            n *= 4
            dt = timed(fn, n)[0]
        counts.append(max(100, int(n * p.codec_trial_s / dt)))
    rates: list[list[float]] = [[] for _ in variants]
    cpu_us: list[list[float]] = [[] for _ in variants]
    for trial in range(p.trials):  # interleaved, so drift hits every variant alike
        for i, (_, _, fn) in enumerate(variants):
            wall, cpu = timed(fn, counts[i])
            rates[i].append(counts[i] / wall)
            cpu_us[i].append(cpu * 1e6 / counts[i])
        log(f"  codec trial {trial + 1}/{p.trials}")
    rows = []
    for (size, op, _), n, r, c in zip(variants, counts, rates, cpu_us, strict=True):
        rows.append({"datagram": size, "operation": op, "iterations": n, "ops_per_s": summary(r), "cpu_us": summary(c)})
    for row in rows:
        base = next(x for x in rows if x["datagram"] == row["datagram"] and x["operation"].startswith("baseline"))
        row["x_baseline"] = row["cpu_us"]["median"] / base["cpu_us"]["median"]
    return rows


# --------------------------------------------------------------------------
# 2. Loopback: worker processes
# --------------------------------------------------------------------------


def rx_config(port: int) -> mailslot.Config:
    return mailslot.Config(port=port, name=RX_NAME, broadcast=(LOOPBACK_BROADCAST,))


def tx_config(port: int) -> mailslot.Config:
    return mailslot.Config(port=port, name=TX_NAME, broadcast=(LOOPBACK_BROADCAST,))


def make_sender(variant: str, port: int, bare_port: int, *, inproc: bool):
    """A callable sending one message the way ``variant`` says.

    Separate-process writers call write() exactly as an application does (the
    configuration comes from the environment: LANMSG_PORT, LANMSG_NAME=BENCHTX).
    In-process writers share the receiver's environment, so they pass
    config=Config(name=BENCHTX) instead (built once).
    """
    kw = {"config": tx_config(port)} if inproc else {}
    w = mailslot.write
    if variant == "bare":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        payload = bare_payload()
        dest = (loopback("127.0.0.1"), bare_port)
        return lambda: s.sendto(payload, dest)
    if variant == "write-ip":
        loopback("127.0.0.1")
        return lambda: w("127.0.0.1", SLOT, BODY_40, **kw)
    if variant == "write-dot":
        return lambda: w(".", SLOT, BODY_40, **kw)
    if variant.startswith("write-name@"):
        addr = loopback(variant.split("@", 1)[1])
        return lambda: w(RX_NAME, SLOT, BODY_40, address=addr, **kw)
    raise ValueError(variant)


def bare_payload() -> bytes:
    """What write(BENCHRX, ...) puts on the wire: the same size for the bare baseline."""
    return mailslot.encode_datagram(
        mailslot.build_datagram(
            msg_type=mailslot.MSG_DIRECT_UNIQUE,
            source=TX_NAME,
            destination=mailslot.NetbiosName(RX_NAME),
            mailslot=SLOT,
            data=BODY_40,
            source_ip="127.0.0.1",
            dgm_id=1,
        )
    )


def send_loop(send, n: int, rate: float | None, max_s: float) -> dict:
    errors, first_error, sent, attempts = 0, None, 0, 0
    c0 = time.thread_time()
    t0 = time.monotonic()
    stop_at = t0 + max_s
    for i in range(n):
        if rate:
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        attempts += 1
        try:
            send()
            sent += 1
        except Exception as e:
            errors += 1
            first_error = first_error or f"{type(e).__name__}: {e}"
        if not i & 63 and time.monotonic() > stop_at:
            break
    return {
        "attempts": attempts,
        "sent": sent,
        "errors": errors,
        "first_error": first_error,
        "t0": t0,
        "t1": time.monotonic(),
        "cpu": time.thread_time() - c0,
    }


class _Receiver:
    """The receiving side: a Mailslot (netbios transport) and a bare UDP socket."""

    def __init__(self, port: int, bare_port: int):
        self.port = port
        self.slot = mailslot.Mailslot(SLOT, config=rx_config(port))
        self.bare = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.bare.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, mailslot.RECV_BUFFER_BYTES)
        self.bare.bind((loopback("127.0.0.1"), bare_port))

    def reopen(self) -> None:
        self.slot.close()
        self.slot = mailslot.Mailslot(SLOT, config=rx_config(self.port))

    def drain(self) -> int:
        """Throw away anything left over from an earlier trial."""
        n = 0
        while self.slot.try_read() is not None:
            n += 1
        self.bare.setblocking(False)
        try:
            while True:
                self.bare.recv(0x10000)
                n += 1
        except (BlockingIOError, InterruptedError):
            pass
        return n

    def count(self, endpoint: str, n_max: int, idle_s: float, writer_done) -> dict:
        """Count messages until all sent ones arrived, or ``idle_s`` after the writer stopped.

        ``writer_done()``: None while the writer runs, then its result dict.
        """
        stats0 = self.slot.stats
        c0 = time.thread_time()
        got, t_first, t_last = 0, None, None
        if endpoint == "bare":
            self.bare.settimeout(0.05)

            def read_one():
                try:
                    self.bare.recv(0x10000)
                    return True
                except TimeoutError:
                    return False
        else:
            slot = self.slot

            def read_one():
                try:
                    slot.read(0.05)
                    return True
                except TimeoutError:
                    return False

        hard_stop = time.monotonic() + 120
        while got < n_max and time.monotonic() < hard_stop:
            if read_one():
                t_last = time.monotonic()
                t_first = t_first or t_last
                got += 1
                continue
            done = writer_done()
            if done is not None:
                if got >= done["sent"]:
                    break
                if time.monotonic() - max(done["t1"], t_last or 0) > idle_s:
                    break
        done = writer_done()
        while done is None and got >= n_max:  # all arrived before the writer said it finished
            time.sleep(0.001)
            done = writer_done()
        cpu = time.thread_time() - c0
        stats1 = self.slot.stats
        delta = {k: v - stats0.get(k, 0) for k, v in stats1.items() if v != stats0.get(k, 0)}
        return {"received": got, "t_first": t_first, "t_last": t_last, "slot_stats": delta, "cpu": cpu}


def receiver_main(conn, port: int, bare_port: int) -> None:
    os.environ.update(LANMSG_PORT=str(port), LANMSG_NAME=RX_NAME)
    rx = _Receiver(port, bare_port)
    conn.send(("up", os.getpid()))
    while True:
        cmd = conn.recv()
        if cmd[0] == "stop":
            rx.slot.close()
            rx.bare.close()
            conn.send(("stopped",))
            return
        if cmd[0] == "reopen":
            rx.reopen()
            conn.send(("ok",))
        elif cmd[0] == "count":  # a writer in another process
            _, endpoint, n_max, idle_s = cmd
            leftovers = rx.drain()
            conn.send(("ready", leftovers))
            box = {}

            def writer_done(box=box):
                if "done" not in box and conn.poll():
                    box["done"] = conn.recv()[1]
                return box.get("done")

            res = rx.count(endpoint, n_max, idle_s, writer_done)
            res["writer"] = box["done"]
            conn.send(("result", res))
        elif cmd[0] == "inproc":  # a writer thread in this process
            _, variant, endpoint, n, rate, max_s, idle_s = cmd
            leftovers = rx.drain()
            send = make_sender(variant, port, bare_port, inproc=True)
            box = {}
            t = threading.Thread(
                target=lambda box=box, job=(send, n, rate, max_s): box.setdefault("done", send_loop(*job))
            )
            t.start()
            res = rx.count(endpoint, n, idle_s, lambda box=box: box.get("done"))
            t.join()
            res["writer"] = box["done"]
            res["leftovers"] = leftovers
            conn.send(("result", res))


def writer_main(conn, port: int, bare_port: int) -> None:
    os.environ.update(LANMSG_PORT=str(port), LANMSG_NAME=TX_NAME)
    own = None
    conn.send(("up", os.getpid()))
    while True:
        cmd = conn.recv()
        if cmd[0] == "stop":
            if own is not None:
                own.close()
            conn.send(("stopped",))
            return
        if cmd[0] == "open-own-slot":
            own = mailslot.Mailslot("benchtx")
            conn.send(("ok",))
        elif cmd[0] == "close-own-slot":
            stats = None
            if own is not None:
                while own.try_read() is not None:  # pump it: where did the datagrams go?
                    pass
                stats = own.stats
                own.close()
                own = None
            conn.send(("ok", stats))
        elif cmd[0] == "send":
            _, variant, n, rate, max_s = cmd
            send = make_sender(variant, port, bare_port, inproc=False)
            conn.send(("result", send_loop(send, n, rate, max_s)))
        elif cmd[0] == "profile":
            _, variant, n = cmd
            conn.send(("result", profile_text(make_sender(variant, port, bare_port, inproc=False), n)))


def profile_text(fn, n: int, top: int = 14) -> str:
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn()
    prof.disable()
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    total = st.total_tt
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # by own time
    out.write(f"{n} calls, {total * 1e6 / n:.1f} us per call under cProfile\n")
    out.write(f"{'own%':>6} {'cum%':>6} {'ncalls':>9}  function\n")
    for (path, line, func), (_cc, nc, tt, ct, _) in rows:
        where = f"{os.path.basename(path)}:{line}" if line else path
        out.write(f"{100 * tt / total:6.1f} {100 * ct / total:6.1f} {nc:9d}  {func} ({where})\n")
    out.write("mailslot.py functions by cumulative share:\n")
    own = sorted(
        ((k, v) for k, v in st.stats.items() if os.path.basename(k[0]) == "mailslot.py"),
        key=lambda kv: kv[1][3],
        reverse=True,
    )[:top]
    for (_path, line, func), (_cc, nc, tt, ct, _) in own:
        out.write(f"{100 * tt / total:6.1f} {100 * ct / total:6.1f} {nc:9d}  {func} (mailslot.py:{line})\n")
    return out.getvalue()


# --------------------------------------------------------------------------
# 2. Loopback: orchestration
# --------------------------------------------------------------------------


class Worker:
    def __init__(self, ctx, target, port, bare_port, label):
        self.label = label
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, port, bare_port), name=label, daemon=True)
        self.proc.start()
        self.expect("up", 30)

    def call(self, *cmd, timeout: float = 60):
        self.conn.send(cmd)
        return self.expect(None, timeout)

    def expect(self, tag, timeout):
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.label} did not answer within {timeout} s")
        msg = self.conn.recv()
        if tag is not None and msg[0] != tag:
            raise RuntimeError(f"{self.label}: expected {tag}, got {msg!r}")
        return msg

    def stop(self):
        try:
            if self.proc.is_alive():
                self.conn.send(("stop",))
                self.conn.poll(5) and self.conn.recv()
        except (OSError, EOFError):
            pass
        self.proc.join(5)
        if self.proc.is_alive():  # only the process this script started
            self.proc.terminate()
            self.proc.join(5)


LOOPBACK_CASES = [
    # key, group, variant, receiving endpoint, description
    ("sep-bare", "separate", "bare", "bare", "baseline: bare UDP socket, `sendto` -> `recv`"),
    ("sep-write-ip", "separate", "write-ip", "slot", '`write("127.0.0.1", ...)`, writer has no slot open'),
    ("sep-write-dot", "separate", "write-dot", "slot", '`write(".", ...)`, writer has no slot open'),
    (
        "sep-write-name2",
        "separate",
        "write-name@127.0.0.2",
        "slot",
        '`write("BENCHRX", ..., address="127.0.0.2")`, writer has no slot open',
    ),
    (
        "sep-write-name1",
        "separate",
        "write-name@127.0.0.1",
        "slot",
        '`write("BENCHRX", ..., address="127.0.0.1")`, writer has no slot open',
    ),
    (
        "own-after",
        "own-slot",
        "write-name@127.0.0.2",
        "slot",
        '`write("BENCHRX", ..., address="127.0.0.2")`, writer\'s own slot bound after the receiver\'s',
    ),
    (
        "own-before",
        "own-slot",
        "write-name@127.0.0.2",
        "slot",
        '`write("BENCHRX", ..., address="127.0.0.2")`, writer\'s own slot bound before the receiver\'s',
    ),
    ("in-bare", "inproc", "bare", "bare", "baseline: bare UDP socket, sender thread -> receiver thread"),
    ("in-write-ip", "inproc", "write-ip", "slot", '`write("127.0.0.1", ...)` from a thread of the receiving process'),
    ("in-write-dot", "inproc", "write-dot", "slot", '`write(".", ...)` from a thread of the receiving process'),
    (
        "in-write-name1",
        "inproc",
        "write-name@127.0.0.1",
        "slot",
        '`write("BENCHRX", ..., address="127.0.0.1", config=<BENCHTX>)` from a thread of the receiving process',
    ),
]


def path_taken(endpoint: str, stats: dict) -> str:
    if endpoint == "bare":
        return "UDP"
    paths = []
    if stats.get("received_local"):
        paths.append("AF_UNIX hand-off")
    if stats.get("received"):
        paths.append("UDP")
    return " + ".join(paths) or "nothing arrived"


def one_trial(case, rx, tx, n, rate, p) -> dict:
    _key, group, variant, endpoint, _ = case
    if group == "inproc":
        res = rx.call("inproc", variant, endpoint, n, rate, p.max_trial_s, p.idle_s, timeout=180)[1]
    else:
        ready = rx.call("count", endpoint, n, p.idle_s, timeout=30)
        res_w = tx.call("send", variant, n, rate, p.max_trial_s, timeout=180)[1]
        rx.conn.send(("done", res_w))
        res = rx.expect("result", 180)[1]
        res["leftovers"] = ready[1]
    w = res["writer"]
    res["lost"] = w["sent"] - res["received"]
    res["rate"] = (res["received"] / (res["t_last"] - w["t0"])) if res["received"] > 1 else 0.0
    res["writer_rate"] = w["attempts"] / (w["t1"] - w["t0"])
    res["writer_cpu_us"] = w["cpu"] * 1e6 / max(1, w["attempts"])
    res["receiver_cpu_us"] = res["cpu"] * 1e6 / res["received"] if res["received"] else None
    return res


def bench_loopback(p, log) -> dict:
    port = free_udp_port()
    bare_port = free_udp_port(exclude=(port,))
    os.environ["LANMSG_PORT"] = str(port)
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    rx = Worker(ctx, receiver_main, port, bare_port, "receiver")
    tx = Worker(ctx, writer_main, port, bare_port, "writer")
    results = {"port": port, "bare_port": bare_port, "cases": []}
    own_slot_note = {}
    try:
        for case in LOOPBACK_CASES:
            key, group, variant, endpoint, desc = case
            if key == "own-after":
                tx.call("open-own-slot")
            if key == "own-before":
                tx.call("open-own-slot")
                rx.call("reopen")  # the receiver's socket is now the newer one
            runs = []
            loss_check = False
            if key in p.probe_first:  # suspected of losing everything: one short trial first
                runs = [one_trial(case, rx, tx, p.n_loss_check, None, p)]
                loss_check = runs[0]["lost"] > 0.5 * runs[0]["writer"]["sent"]
            if not loss_check:
                n = p.n_bare if variant == "bare" else p.n_write
                runs = [one_trial(case, rx, tx, n, None, p) for _ in range(p.trials)]
            n, trials = runs[0]["writer"]["attempts"], len(runs)
            rate_vals = [r["rate"] for r in runs]
            row = {
                "key": key,
                "group": group,
                "description": desc,
                "variant": variant,
                "endpoint": endpoint,
                "n_per_trial": n,
                "trials": trials,
                "loss_check_only": loss_check,
                "rate": summary(rate_vals) if not loss_check else None,
                "writer_rate": summary([r["writer_rate"] for r in runs]),
                "writer_cpu_us": summary([r["writer_cpu_us"] for r in runs]),
                "receiver_cpu_us": (
                    summary([r["receiver_cpu_us"] for r in runs]) if all(r["receiver_cpu_us"] for r in runs) else None
                ),
                "sent": sum(r["writer"]["sent"] for r in runs),
                "lost": sum(r["lost"] for r in runs),
                "errors": sum(r["writer"]["errors"] for r in runs),
                "first_error": next((r["writer"]["first_error"] for r in runs if r["writer"]["first_error"]), None),
                "path": path_taken(endpoint, runs[-1]["slot_stats"]),
                "slot_stats": runs[-1]["slot_stats"],
                "runs": runs,
            }
            # paced: well below what the unpaced loop reached, to check for loss
            if not loss_check:
                rate = min(p.paced_rate, 0.5 * row["rate"]["median"]) or p.paced_rate
                paced = one_trial(case, rx, tx, p.n_paced, rate, p)
                row["paced"] = {
                    "rate_target": rate,
                    "sent": paced["writer"]["sent"],
                    "lost": paced["lost"],
                    "errors": paced["writer"]["errors"],
                    "slot_stats": paced["slot_stats"],
                }
            if key in ("own-after", "own-before"):
                own_slot_note[key] = tx.call("close-own-slot")[1]
                row["writer_own_slot_stats"] = own_slot_note[key]
                if key == "own-before":
                    rx.call("reopen")
            results["cases"].append(row)
            shown = f"{row['rate']['median']:,.0f}/s" if row["rate"] else "loss check"
            log(f"  {key:16s} {shown:>14s}  lost {row['lost']}/{row['sent']}  path {row['path']}")
    finally:
        tx.stop()
        rx.stop()
    for row in results["cases"]:
        base = next(
            r
            for r in results["cases"]
            if r["variant"] == "bare" and (r["group"] == "inproc") == (row["group"] == "inproc")
        )
        row["x_bare"] = (row["rate"]["median"] / base["rate"]["median"]) if row["rate"] else None
    return results


def run_profiles(p, log) -> str:
    """cProfile of the codec round trip and of write() in a writer process (receiver running)."""
    out = []
    d = typical_datagram(BODY_40)
    e, dd = mailslot.encode_datagram, mailslot.decode_datagram
    out.append(
        "== codec: decode_datagram(encode_datagram(d)), 40-byte body ==\n" + profile_text(lambda: dd(e(d)), 20000)
    )
    port = free_udp_port()
    bare_port = free_udp_port(exclude=(port,))
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    rx = Worker(ctx, receiver_main, port, bare_port, "receiver")
    tx = Worker(ctx, writer_main, port, bare_port, "writer")
    try:
        for variant, own in (
            ("write-ip", False),
            ("write-dot", False),
            ("write-name@127.0.0.2", False),
            ("write-name@127.0.0.2", True),
        ):
            if own:
                tx.call("open-own-slot")
                rx.call("reopen")
            rx.call("count", "slot", 2000, p.idle_s, timeout=30)  # someone must read the slot
            text = tx.call("profile", variant, 2000, timeout=120)[1]
            rx.conn.send(("done", {"sent": 2000, "t1": time.monotonic()}))
            rx.expect("result", 60)
            label = f"{variant}" + (" (writer's own slot open: shared socket)" if own else " (no slot open)")
            out.append(f"== writer process: {label} ==\n{text}")
            if own:
                tx.call("close-own-slot")
    finally:
        tx.stop()
        rx.stop()
    return "\n".join(out)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def machine_info() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        commit = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", ROOT, "status", "--porcelain", "--", "mailslot.py"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        commit = commit + (" + uncommitted changes to mailslot.py" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    try:
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
    except OSError:
        load = []
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "kernel": f"{platform.system()} {platform.release()}",
        "commit": commit,
        "mailslot_sha256": MAILSLOT_SHA256,
        "loadavg_at_start": " ".join(load),
    }


def cpu_snapshot() -> dict | None:
    """Busy CPU seconds of the whole machine (/proc/stat) and of this run (self + reaped workers)."""
    try:
        import resource

        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:9]]
        tick = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, ImportError):
        return None
    ru = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return {
        "busy_s": (sum(vals) - vals[3] - vals[4]) / tick,
        "ours_s": sum(r.ru_utime + r.ru_stime for r in ru),
        "t": time.monotonic(),
    }


def other_load(before: dict | None, after: dict | None) -> float | None:
    """Average number of cores that other processes kept busy between two snapshots."""
    if not before or not after:
        return None
    others = (after["busy_s"] - before["busy_s"]) - (after["ours_s"] - before["ours_s"])
    return max(0.0, others / (after["t"] - before["t"]))


def fmt_rate(s: dict) -> str:
    return f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f})"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f}×" if x >= 0.1 else f"{x:.3f}× (1/{1 / x:.0f})"


def other_busy(m: dict) -> str:
    busy = m.get("other_cores_busy")
    if busy is None:
        return "not measured"
    text = f"{busy:.2f} cores on average (from /proc/stat, minus this run's own CPU time)"
    return text + (" — the machine was not idle: treat the figures as lower bounds" if busy > 0.2 else "")


def render_section(res: dict) -> str:
    m, p = res["machine"], res["params"]
    lines = [SECTION_START, "## mailslot.py: codec and loopback", ""]
    lines += [
        (
            f"Measured {res['date']} with `{res['command']}` in {res['elapsed_s']:.0f} s "
            f"({'quick' if p['quick'] else 'default'} run). Reproduce: `python3 bench/run.py --out docs/performance.md`."
        ),
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {m['cpu']} |",
        f"| cores | {m['cores']} ({m['usable_cores']} usable by the run) |",
        f"| Python | {m['python']} |",
        f"| kernel | {m['kernel']} |",
        f"| lanmsg commit | {m['commit']} |",
        f"| mailslot.py measured | sha256 {m['mailslot_sha256'][:16]}… |",
        f"| CPU used by other processes during the run | {other_busy(m)} |",
        "",
        (
            f"Each figure is the median of {p['trials']} trials in one run, with the minimum and maximum "
            'in brackets. Rates are wall-clock; "CPU µs" is the CPU time of the measuring thread '
            "(`time.thread_time()`), which other load on the machine disturbs much less. Run the suite on an "
            "otherwise idle machine: the loopback cases use two processes."
        ),
        "",
        "### Codec",
        "",
        (
            "One `build_datagram` datagram, FOXHOST -> WORKGROUP<00>, `\\MAILSLOT\\FOXAPP`, encoded and decoded "
            f"in a loop (about {p['codec_trial_s']:g} s per trial). The baseline packs and unpacks the same header "
            "fields with precompiled `struct.Struct`s (names pre-encoded, no validation, no `Datagram` object) "
            "and produces the same bytes: it is the floor under the codec. The last column compares CPU "
            "times (codec / baseline)."
        ),
        "",
        "| datagram | operation | per second, median (min–max) | CPU µs each, median (min–max) | CPU time vs baseline |",
        "|---|---|---:|---:|---:|",
    ]
    for r in res["codec"]:
        s = r["ops_per_s"]
        base = r["operation"].startswith("baseline")
        ratio = "1×" if base else f"{r['x_baseline']:.1f}×"
        c = r["cpu_us"]
        lines.append(
            f"| {r['datagram']} | {r['operation']} | {fmt_rate(s)} | "
            f"{c['median']:.2f} ({c['min']:.2f}–{c['max']:.2f}) | {ratio} |"
        )
    lb = res["loopback"]
    lines += [
        "",
        "### Loopback datagrams",
        "",
        (
            f"A receiving process owns mailslot `foxapp` (netbios transport, NetBIOS name {RX_NAME}, UDP port "
            f"{lb['port']}) and counts what `Mailslot.read()` returns; the writer is a separate process "
            f"(name {TX_NAME}) or a thread of the receiving process. The baseline is a plain UDP socket pair on "
            f"127.0.0.1 carrying a datagram of the same size ({len(bare_payload())} B) in the same processes. "
            "Rate = datagrams read / (last read - first send), with the 40-byte body, unpaced loop of "
            f'{p["n_write"]} writes ({p["n_bare"]} for the baseline) per trial. "lost" = sent - read over every '
            f"unpaced trial; the paced check sends {p['n_paced']} more at the rate shown (at most "
            f'{p["paced_rate"]:,}/s). "path" is what the receiver\'s counters saw (`received_local` / `received`). '
            "Separate-process writers call `write()` without `config=`, so every call reads its settings from "
            "the environment (LANMSG_PORT, LANMSG_NAME=BENCHTX, LANMSG_BROADCAST) as an application's would; "
            'in-process writers pass `config=Config(name="BENCHTX", ...)`, built once. '
            "Writer CPU is the CPU time of the sending loop per call; on loopback it includes the kernel's "
            "delivery into the receiving socket, which runs inside `sendto`. Receiver CPU is the CPU time of "
            "the reading loop per message read."
        ),
        "",
    ]
    groups = [
        ("separate", "Writer in a separate process"),
        ("own-slot", "Writer in a separate process that has its own slot open (`write` reuses that socket)"),
        ("inproc", "Writer thread inside the receiving process (`write` reuses the receiver's socket)"),
    ]
    for g, title in groups:
        rows = [r for r in lb["cases"] if r["group"] == g]
        lines += [
            f"**{title}**",
            "",
            (
                "| case | path | datagrams/s, median (min–max) | vs bare | writer CPU µs / datagram "
                "| receiver CPU µs / datagram | lost (unpaced) | paced check: lost |"
            ),
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            if r["rate"]:
                rate, ratio = fmt_rate(r["rate"]), ("1×" if r["variant"] == "bare" else fmt_ratio(r["x_bare"]))
            else:
                rate, ratio = "loss check only", "—"
            share = 100 * r["lost"] / max(1, r["sent"])
            lost = f"{r['lost']} / {r['sent']}" + (f" ({share:.{0 if share >= 1 else 1}f} %)" if r["lost"] else "")
            if r["errors"]:
                lost += f", {r['errors']} errors"
            paced = (
                f"{r['paced']['lost']} / {r['paced']['sent']} @ {r['paced']['rate_target']:,.0f}/s"
                if r.get("paced")
                else "—"
            )
            wcpu = f"{r['writer_cpu_us']['median']:.1f}"
            rcpu = f"{r['receiver_cpu_us']['median']:.1f}" if r["receiver_cpu_us"] else "—"
            lines.append(
                f"| {r['description']} | {r['path']} | {rate} | {ratio} | {wcpu} | {rcpu} | {lost} | {paced} |"
            )
        lines.append("")
    notes = loopback_notes(lb)
    if notes:
        lines += ["Notes from this run:", ""] + [f"* {n}" for n in notes] + [""]
    lines.append(SECTION_END)
    return "\n".join(lines)


def loopback_notes(lb: dict) -> list[str]:
    by = {r["key"]: r for r in lb["cases"]}
    notes = []
    for r in lb["cases"]:
        if r["variant"] == "bare" and r["lost"]:
            rmem = ""
            try:
                with open("/proc/sys/net/core/rmem_max") as f:
                    rmem = f", net.core.rmem_max {int(f.read()):,}"
            except (OSError, ValueError):
                pass
            notes.append(
                f"{r['description']}: the unpaced sender outran the receiving Python loop and the "
                f"kernel dropped {r['lost']} of {r['sent']} datagrams when the receive buffer "
                f"(SO_RCVBUF {mailslot.RECV_BUFFER_BYTES:,} bytes requested{rmem}) was full; "
                "the paced check lost none."
            )
    ip = by.get("sep-write-ip")
    if ip and "UDP" not in ip["path"]:
        notes.append(
            '`write("127.0.0.1", ...)` sends no UDP datagram: a target address of this machine with '
            'no computer name is delivered through the local hand-off (AF_UNIX inbox), like `"."`. '
            "The UDP rows use a computer name and `address=` instead."
        )
    for key in ("sep-write-name1", "own-after"):
        r = by.get(key)
        if r and r["lost"]:
            where = (
                "the writer's short-lived socket is connected to 127.0.0.1:port from 127.0.0.1:port, so "
                "the kernel hands it the writer's own datagram, and `_drain_and_forward` drops it "
                "(`classify_incoming`: not_for_us, the destination is not the writer's name)"
                if key == "sep-write-name1"
                else "the writer's slot socket, bound last with SO_REUSEADDR, receives the unicast datagrams "
                f"and drops them as not_for_us (writer slot counters: {r.get('writer_own_slot_stats')})"
            )
            notes.append(
                f"{r['description']}: {r['lost']} of {r['sent']} datagrams never reached the receiver "
                f"and `write()` raised nothing. Cause (read from mailslot.py at the commit above): {where}. "
                "This needs two computer names on one host (BENCHTX and BENCHRX here); a host has one "
                "NetBIOS name, and a datagram for a name the host does not have is dropped, as Windows "
                "drops it (docs/mailslot.md, Limits)."
            )
    return notes


def empty_page(section: str) -> str:
    return "\n".join(
        [
            "# lanmsg performance",
            "",
            (
                "Measured figures only: every number here comes from a run of the script named in its section, "
                "on the machine described there. Sections without a run say so."
            ),
            "",
            section,
            "",
            "## Discovery latency",
            "",
            "Not measured yet.",
            "",
            "## Messenger throughput",
            "",
            "Not measured yet.",
            "",
        ]
    )


def write_page(path: str, section: str) -> None:
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if SECTION_START in text and SECTION_END in text:
            head, rest = text.split(SECTION_START, 1)
            tail = rest.split(SECTION_END, 1)[1]
            text = head + section + tail
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    else:
        text = empty_page(section)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --------------------------------------------------------------------------


class Params:
    def __init__(self, quick: bool):
        self.quick = quick
        self.trials = 3 if quick else 7
        self.codec_trial_s = 0.05 if quick else 0.2
        self.n_bare = 20000 if quick else 100000
        self.n_write = 500 if quick else 2000
        self.n_loss_check = 100 if quick else 300
        self.n_paced = 200 if quick else 1000
        self.paced_rate = 2000
        self.max_trial_s = 3.0 if quick else 6.0  # a writer loop never runs longer than this
        self.idle_s = 0.3  # the receiver gives up this long after the writer stopped
        # Cases that lost every datagram on the first runs: a short probe trial decides whether
        # the full trials are worth running (they are, as soon as the loss is gone).
        self.probe_first = ("sep-write-name1", "own-after")

    def as_dict(self) -> dict:
        return dict(vars(self))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="lanmsg benchmarks: mailslot.py codec and loopback datagrams")
    ap.add_argument("--quick", action="store_true", help="short run (fewer trials, smaller loops)")
    ap.add_argument(
        "--out",
        metavar="MD",
        help="write the results section into this Markdown page "
        "(e.g. docs/performance.md; other sections of the page are kept)",
    )
    ap.add_argument(
        "--json",
        metavar="PATH",
        default=os.path.join(ROOT, "bench", "out", "latest.json"),
        help="raw results (default bench/out/latest.json)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="only profile (cProfile) the codec and the write() paths, print the hot spots",
    )
    args = ap.parse_args(argv)
    p = Params(args.quick)
    started = time.monotonic()

    def log(msg):
        print(f"[{time.monotonic() - started:5.1f}s] {msg}", flush=True)

    if args.profile:
        text = run_profiles(p, log)
        print(text)
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(os.path.join(os.path.dirname(args.json), "profile.txt"), "w") as f:
            f.write(text)
        return 0

    cmd = "python3 bench/run.py" + "".join(f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
    res = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": cmd,
        "machine": machine_info(),
        "params": p.as_dict(),
    }
    cpu0 = cpu_snapshot()
    log(f"codec ({p.trials} trials)")
    res["codec"] = bench_codec(p, log)
    for r in res["codec"]:
        log(f"  {r['datagram']:32s} {r['operation']:32s} {r['ops_per_s']['median']:>12,.0f}/s")
    log("loopback")
    res["loopback"] = bench_loopback(p, log)
    res["elapsed_s"] = time.monotonic() - started
    res["machine"]["other_cores_busy"] = other_load(cpu0, cpu_snapshot())
    log(f"done in {res['elapsed_s']:.1f} s")
    busy = res["machine"]["other_cores_busy"]
    if busy is not None:
        log(
            f"other processes kept {busy:.2f} of {os.cpu_count()} cores busy during the run"
            + ("  -- NOT an idle machine: figures are depressed and noisy" if busy > 0.2 else "")
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    section = render_section(res)
    if args.out:
        write_page(args.out, section)
        log(f"wrote {args.out}")
    else:
        print()
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
