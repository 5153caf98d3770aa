"""The decoders as they were before the fast ones: the datagram decoder with one struct per part
and every field built by keyword, the frame decoder without its remembered sender names.
tests/test_fuzz.py checks that mailslot.decode_datagram and protocol.decode_frame give the same
result (the same Datagram or DecodeError, the same Frame or BadFrame) for any bytes."""

import re
import socket
import struct

import mailslot
from lanmsg import protocol as P

_SMB_HEADER_FMT = struct.Struct("<BIBHH8sHHHHH")
_TRANS_FMT = struct.Struct("<BHHHHBBHIHHHHHBB")
_SETUP_FMT = struct.Struct("<HHHH")


def decode_datagram(buf: bytes) -> mailslot.Datagram:
    """UDP payload -> Datagram.  Raises only DecodeError, whatever the bytes."""
    buf = bytes(buf)
    if len(buf) < mailslot.NBT_HEADER_BYTES:
        raise mailslot.DecodeError("truncated", f"{len(buf)} bytes")
    msg_type, flags, dgm_id, src_ip, src_port, dgm_length, packet_offset = struct.unpack_from(">BBH4sHHH", buf, 0)
    if msg_type not in mailslot.ACCEPTED_MSG_TYPES:
        raise mailslot.DecodeError("not-a-mailslot-datagram", f"MSG_TYPE 0x{msg_type:02x}")
    if flags & mailslot.FLAG_MORE or not flags & mailslot.FLAG_FIRST or packet_offset:
        raise mailslot.DecodeError("fragment", f"FLAGS 0x{flags:02x} PACKET_OFFSET {packet_offset}")
    if flags & 0xF0:
        raise mailslot.DecodeError("bad-header", f"reserved FLAGS bits 0x{flags:02x}")
    available = len(buf) - mailslot.NBT_HEADER_BYTES
    if dgm_length > available:
        raise mailslot.DecodeError("truncated", f"DGM_LENGTH {dgm_length} > {available} bytes present")
    if dgm_length < available:
        raise mailslot.DecodeError("bad-length", f"DGM_LENGTH {dgm_length} < {available} bytes present")
    source_name, pos = mailslot.decode_name(buf, mailslot.NBT_HEADER_BYTES)
    destination_name, pos = mailslot.decode_name(buf, pos)
    smb = buf[pos:]
    if len(smb) < mailslot.SMB_FIXED_BYTES:
        raise mailslot.DecodeError("truncated", "SMB part shorter than 69 bytes")
    if smb[:4] != mailslot.SMB_HEADER:
        raise mailslot.DecodeError("not-smb", "no \\xffSMB")
    (command, status, smb_flags, smb_flags2, pid_high, security, smb_reserved, tid, pid_low, uid, mid) = (
        _SMB_HEADER_FMT.unpack_from(smb, 4)
    )
    if command != mailslot.SMB_COM_TRANSACTION:
        raise mailslot.DecodeError("not-a-mailslot-datagram", f"SMB command 0x{command:02x}")
    (
        word_count,
        total_param,
        total_data,
        max_param,
        max_data,
        max_setup,
        reserved1,
        trans_flags,
        timeout,
        reserved2,
        param_count,
        param_offset,
        data_count,
        data_offset,
        setup_count,
        reserved3,
    ) = _TRANS_FMT.unpack_from(smb, 32)
    if word_count != 17 or setup_count != 3:
        raise mailslot.DecodeError("not-a-mailslot-datagram", f"WordCount {word_count} SetupCount {setup_count}")
    opcode, priority, mail_class, byte_count = _SETUP_FMT.unpack_from(smb, 61)
    if opcode != mailslot.MAILSLOT_OPCODE_WRITE:
        raise mailslot.DecodeError("not-a-mailslot-datagram", f"mailslot opcode {opcode}")
    if reserved1 or reserved2 or reserved3:
        raise mailslot.DecodeError("bad-header", "reserved transaction fields are not zero")
    if data_count != total_data:
        raise mailslot.DecodeError("fragment", f"DataCount {data_count} != TotalDataCount {total_data}")
    if param_count or total_param:
        raise mailslot.DecodeError("bad-header", "a mailslot write carries no parameters")
    nul = smb.find(b"\x00", mailslot.SMB_FIXED_BYTES)
    if nul < 0:
        raise mailslot.DecodeError("bad-mailslot-name", "name not NUL-terminated")
    raw_name = smb[mailslot.SMB_FIXED_BYTES : nul]
    if len(raw_name) > mailslot.MAILSLOT_NAME_MAX or not raw_name.upper().startswith(mailslot.MAILSLOT_PREFIX.encode()):
        raise mailslot.DecodeError("bad-mailslot-name", "not \\MAILSLOT\\...")
    if any(not 0x20 <= c < 0x7F for c in raw_name):
        raise mailslot.DecodeError("bad-mailslot-name", "non-ASCII or control byte")
    name_end = nul + 1
    if not name_end <= data_offset <= len(smb) or data_offset + data_count > len(smb):
        raise mailslot.DecodeError("bad-offset", f"DataOffset {data_offset} DataCount {data_count} in {len(smb)} bytes")
    padding = smb[name_end:data_offset]
    data_end = data_offset + data_count
    slot_name = raw_name.decode("ascii")
    expected_bc = len(raw_name) + 1 + len(padding) + data_count
    return mailslot.Datagram(
        msg_type=msg_type,
        source_name=source_name,
        destination_name=destination_name,
        mailslot=slot_name,
        data=smb[data_offset:data_end],
        dgm_id=dgm_id,
        source_ip=socket.inet_ntoa(src_ip),
        source_port=src_port,
        flags=flags,
        packet_offset=packet_offset,
        dgm_length=None,
        smb_status=status,
        smb_flags=smb_flags,
        smb_flags2=smb_flags2,
        pid_high=pid_high,
        security_features=security,
        smb_reserved=smb_reserved,
        tid=tid,
        pid_low=pid_low,
        uid=uid,
        mid=mid,
        total_parameter_count=total_param,
        max_parameter_count=max_param,
        max_data_count=max_data,
        max_setup_count=max_setup,
        trans_flags=trans_flags,
        timeout=timeout,
        parameter_count=param_count,
        parameter_offset=None if param_offset == data_offset else param_offset,
        opcode=opcode,
        priority=priority,
        mailslot_class=mail_class,
        padding=None if padding == bytes((-name_end) % 4) else padding,
        byte_count=None if byte_count == expected_bc else byte_count,
        trailing=smb[data_end:],
    )


_DIGITS = re.compile(rb" *([0-9]{1,12})")


def decode_frame(data: bytes) -> P.Frame | P.BadFrame:
    """Bytes -> Frame, or BadFrame with the reason.  Never raises."""
    try:
        data = bytes(data)
    except TypeError:
        return P.BadFrame("not-bytes", 0)
    if len(data) < P.HEADER_SIZE:
        return P.BadFrame("short", len(data))
    sender = P.decode_text(data[: P.NAME_SIZE].rstrip(b" \x00")).strip()
    if not sender or any(not c.isprintable() for c in sender):
        return P.BadFrame("bad-sender", len(data))
    m = _DIGITS.fullmatch(data[P.NAME_SIZE : P.NAME_SIZE + P.MSGID_SIZE])
    if not m:
        return P.BadFrame("bad-id", len(data))
    flags = data[P.NAME_SIZE + P.MSGID_SIZE : P.HEADER_SIZE]
    if any(f not in b"01" for f in flags):
        return P.BadFrame("bad-flag", len(data))
    return P.Frame(
        sender, int(m.group(1)), flags[0:1] == b"1", flags[1:2] == b"1", P.decode_text(data[P.HEADER_SIZE :])
    )
