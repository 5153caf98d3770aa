"""mailslot.py's codec: ``encode_datagram`` / ``decode_datagram`` round trips per second beside
bare ``struct`` pack/unpack of the same header fields (bench/run.py, the suite's last part).

A typical ``build_datagram`` datagram, FOXHOST -> WORKGROUP<00>, ``\\MAILSLOT\\FOXAPP``, with a
40-byte and a 424-byte body (the most a remote mailslot message to FOXAPP carries).  Nothing is
sent.
"""

from __future__ import annotations

import random
import socket
import struct
import time

from common import fmt_rate, profile_text, summary

import mailslot

BODY_40 = b"FOXHOST: hello FOXAPP, status=ok seq=001"
assert len(BODY_40) == 40
BODY_424 = bytes(random.Random(424).randrange(32, 127) for _ in range(424))
assert len(BODY_424) == mailslot.max_remote_payload("FOXAPP") == 424


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
        # what lanmsg's writes use: a template per (type, names, mailslot, port), the same bytes
        template = mailslot._template(d.msg_type, "FOXHOST", d.destination_name, "FOXAPP", d.source_port)
        assert template.encode(d.dgm_id, d.source_ip, body) == wire
        size = f"{label} ({len(wire)} B on the wire)"
        out += [
            (size, "encode_datagram", lambda d=d, e=e: e(d)),
            (
                size,
                "template encode (mailslot.write's path)",
                lambda t=template, d=d, b=body: t.encode(d.dgm_id, d.source_ip, b),
            ),
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


def run(p, log) -> list[dict]:
    """Every variant, trials interleaved (so drift hits every variant alike); one row each."""
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
        rows.append(
            {
                "datagram": size,
                "operation": op,
                "iterations": n,
                "ops_per_s": summary(r, keep_values=True),
                "cpu_us": summary(c, keep_values=True),
            }
        )
    for row in rows:
        base = next(x for x in rows if x["datagram"] == row["datagram"] and x["operation"].startswith("baseline"))
        row["x_baseline"] = row["cpu_us"]["median"] / base["cpu_us"]["median"]
    return rows


def profile(n: int = 20000) -> str:
    """cProfile of the round trip with the 40-byte body."""
    d = typical_datagram(BODY_40)
    e, dd = mailslot.encode_datagram, mailslot.decode_datagram
    return "== codec: decode_datagram(encode_datagram(d)), 40-byte body ==\n" + profile_text(lambda: dd(e(d)), n)


def render(rows: list[dict], trial_s: float) -> list[str]:
    """The codec's part of the page."""
    lines = [
        "### Codec",
        "",
        (
            "One `build_datagram` datagram, FOXHOST -> WORKGROUP<00>, `\\MAILSLOT\\FOXAPP`, encoded and decoded "
            f"in a loop (about {trial_s:g} s per trial). The baseline packs and unpacks the same header "
            "fields with precompiled `struct.Struct`s (names pre-encoded, no validation, no `Datagram` object) "
            "and produces the same bytes: it is the floor under the codec. `mailslot.write` encodes with a "
            "template per (type, names, mailslot, port) instead of `encode_datagram` (the same bytes). The "
            "last column compares CPU times (codec / baseline)."
        ),
        "",
        "| datagram | operation | per second, median (min–max) | CPU µs each, median (min–max) | CPU time vs baseline |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        s = r["ops_per_s"]
        base = r["operation"].startswith("baseline")
        ratio = "1×" if base else f"{r['x_baseline']:.1f}×"
        c = r["cpu_us"]
        lines.append(
            f"| {r['datagram']} | {r['operation']} | {fmt_rate(s)} | "
            f"{c['median']:.2f} ({c['min']:.2f}–{c['max']:.2f}) | {ratio} |"
        )
    return lines
