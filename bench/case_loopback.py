"""mailslot.py's netbios transport on loopback: datagrams per second beside a plain UDP socket pair,
and what is lost (bench/run.py, the suite's last part).

A receiving process owns mailslot ``foxapp``; the writer is a separate process (with and without
its own slot open) or a thread of the receiving process.  Every datagram stays on 127.0.0.0/8:
LANMSG_BROADCAST is forced to 127.255.255.255, a free high UDP port is used and every target
address is checked to be a loopback address before anything is sent.  Loops are bounded by a
count and a time limit.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import socket
import sys
import threading
import time

from common import ROOT, fmt_rate, fmt_ratio, profile_text, summary

# Before mailslot reads any of it: keep every broadcast on loopback, use the netbios transport.
LOOPBACK_BROADCAST = "127.255.255.255"
os.environ["LANMSG_BROADCAST"] = LOOPBACK_BROADCAST
os.environ.pop("LANMSG_TRANSPORT", None)

from case_codec import BODY_40  # noqa: E402  (it imports mailslot, after the environment above is set)

import mailslot  # noqa: E402  (after the environment above is set)

sys.path.insert(0, os.path.join(ROOT, "tests"))
from freeport import free_udp_port  # noqa: E402  (tests/freeport.py, shared with the test suite)

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
SLOT = "foxapp"  # the receiving mailslot
RX_NAME = "BENCHRX"  # NetBIOS name of the receiving process
TX_NAME = "BENCHTX"  # NetBIOS name of a writer process


def loopback(ip: str) -> str:
    """``ip`` if it is on 127.0.0.0/8; refuse anything else (this machine has a real LAN)."""
    if ipaddress.IPv4Address(ip) not in LOOPBACK:
        raise SystemExit(f"bench: refusing to send to {ip}: only 127.0.0.0/8 is allowed")
    return ip


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


# --------------------------------------------------------------------------
# Orchestration
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


def run(p, log) -> dict:
    """Every case of LOOPBACK_CASES: unpaced trials, then a paced check for loss."""
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
                "rate": summary(rate_vals, keep_values=True) if not loss_check else None,
                "writer_rate": summary([r["writer_rate"] for r in runs], keep_values=True),
                "writer_cpu_us": summary([r["writer_cpu_us"] for r in runs], keep_values=True),
                "receiver_cpu_us": (
                    summary([r["receiver_cpu_us"] for r in runs], keep_values=True)
                    if all(r["receiver_cpu_us"] for r in runs)
                    else None
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


def profile(p) -> str:
    """cProfile of write() in a writer process (the receiver running), each way of writing."""
    out = []
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
# The page
# --------------------------------------------------------------------------


def render(lb: dict, p: dict) -> list[str]:
    """The loopback part of the page (``p``: the run's parameters)."""
    lines = [
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
    return lines


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
