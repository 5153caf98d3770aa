"""Real NetBIOS mailslot datagrams (Windows, macOS, Samba, [MS-MAIL]) decode to the
fields Wireshark decoded from them, and re-encode to the same bytes."""

import json
import pathlib

import pytest

import mailslot

VECTORS = pathlib.Path(__file__).parent / "vectors"
NAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))


def load(stem):
    text = (VECTORS / f"{stem}.hex").read_text()
    payload = bytes.fromhex(" ".join(line for line in text.splitlines() if not line.startswith("#")))
    return payload, json.loads((VECTORS / f"{stem}.json").read_text())


def test_every_vector_is_here():
    assert len(NAMES) == 7


@pytest.mark.parametrize("stem", NAMES)
def test_vector_decodes_to_wireshark_fields(stem):
    payload, want = load(stem)
    assert len(payload) == want["udp_payload_length"]
    d = mailslot.decode_datagram(payload)
    assert d.msg_type == want["msg_type"]
    assert d.flags == want["flags"]
    assert d.dgm_id == want["dgm_id"]
    assert d.source_ip == want["source_ip"]
    assert d.source_port == want["source_port"]
    assert str(d.source_name).lower() == want["source_name"].lower()
    assert str(d.destination_name).lower() == want["destination_name"].lower()
    assert d.mailslot == want["mailslot"]
    assert d.priority == want["priority"]
    assert d.mailslot_class == want["class"]
    assert d.data.hex() == want["data_hex"]
    assert len(payload) - 14 == want["dgm_length"]
    data_offset = mailslot._smb_data_offset(d.mailslot, d.padding)[0]
    assert data_offset == want["data_offset"]


@pytest.mark.parametrize("stem", NAMES)
def test_vector_reencodes_to_the_same_bytes(stem):
    payload, _ = load(stem)
    assert mailslot.encode_datagram(mailslot.decode_datagram(payload)) == payload


@pytest.mark.parametrize("stem,profile", [("foxapp", {}), ("foxapp_samba_style", mailslot.SAMBA_PROFILE)])
def test_what_lanmsg_builds_is_the_vector_of_its_profile(stem, profile):
    payload, want = load(stem)
    d = mailslot.build_datagram(
        msg_type=mailslot.MSG_DIRECT_GROUP,
        source="FOXHOST",
        destination=mailslot.NetbiosName("WORKGROUP"),
        mailslot="FOXAPP",
        data=b"hello",
        source_ip="192.0.2.10",
        dgm_id=want["dgm_id"],
    )
    assert mailslot.encode_datagram(d._replace(**profile)) == payload
