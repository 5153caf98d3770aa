"""lanmsg.client.Messenger: the library API, with real sockets.

On loopback (this machine) the Messenger either owns the messenger slot itself
or, when ``lanmsg listen`` runs here, hands each call to that listener, as the
command line does.  Between two lab hosts it sends and confirms by itself.
"""

import json
import socket
import sys
import textwrap

import netlab
import pytest

import mailslot
from lanmsg import auth
from lanmsg import protocol as P
from lanmsg.client import Confirmation, Messenger, NotConfirmed, OnlinePeer, discover
from lanmsg.settings import EXIT_NONE, EXIT_USAGE, LanmsgError, Settings


@pytest.fixture
def listener(background):
    return lambda *args: background("listen", *args, ready=("listening",))


def test_send_to_this_machine_through_the_listener_is_confirmed_and_shown_once(listener):
    lst = listener()
    with Messenger() as m:
        assert m.via_listener
        first = m.send(".", "hello from the library")
        second = m.send(".", "and again")
    assert isinstance(first, Confirmation) and first.by and second.msg_id != first.msg_id
    out, _ = lst.stop()
    assert out.count("hello from the library") == 1 and out.count("and again") == 1


def test_many_sends_from_one_messenger_are_all_confirmed(listener):
    lst = listener()
    with Messenger() as m:
        ids = [m.send(".", f"message {i}").msg_id for i in range(50)]
    assert len(set(ids)) == 50
    out, _ = lst.stop()
    assert all(out.count(f"message {i}\n") == 1 for i in range(50))


def test_text_too_long_raises_exit_2_and_nothing_is_sent(listener):
    lst = listener()
    with Messenger() as m:
        with pytest.raises(LanmsgError) as e:
            m.send(".", "x" * 213)
        assert e.value.exit_code == EXIT_USAGE and "at most 212" in str(e.value)
        m.send(".", "short")
    out, _ = lst.stop()
    assert "x" * 213 not in out and "short" in out


def test_no_listener_owns_the_slot_itself_and_an_absent_peer_raises_not_confirmed(port):
    with Messenger() as m:
        assert not m.via_listener
        with pytest.raises(NotConfirmed) as e:
            m.send("127.0.0.9", "anyone?", timeout=0.5, retries=1)
    assert e.value.exit_code == EXIT_NONE and e.value.msg_id is not None


def test_an_unknown_name_raises_not_confirmed(port):
    with Messenger() as m, pytest.raises(NotConfirmed, match=r"cannot find computer 'NOBODY'"):
        m.send("NOBODY", "hello?", timeout=0.5)


def test_detect_and_broadcast_with_nobody_else_return_empty_lists(port):
    with Messenger() as m:
        assert m.detect(0.3) == []
        assert m.broadcast("anyone?", wait=0.3) == []
        assert isinstance(m.send_nowait("127.0.0.9", "fire and forget"), int)


def test_the_slot_is_free_again_after_close(port):
    with Messenger() as m:
        pass
    with Messenger() as again:
        assert not again.via_listener
    with pytest.raises(ValueError, match="closed"):
        m.detect(0.1)


def test_settings_and_options_are_not_mixed(port):
    with pytest.raises(ValueError, match="either settings or options"):
        Messenger(Settings(), name="X")
    with pytest.raises(ValueError):
        Messenger(port=0)
    with Messenger(name="libtest", slot="benchslot") as m:
        assert m.settings.name == "LIBTEST" and m.settings.slot.lower() == "benchslot"


def test_a_listener_takes_the_same_options_and_the_same_either_or(port):
    from lanmsg.listener import Listener

    with pytest.raises(ValueError, match="either settings or options"):
        Listener(Settings(), name="X")
    with pytest.raises(TypeError):
        Listener(nmae="X")


def test_the_names_programs_import_from_lanmsg_messenger_are_still_there():
    import lanmsg.messenger
    import lanmsg.node
    import lanmsg.settings

    for name in ("Settings", "LanmsgError", "EXIT_OK", "EXIT_NONE", "EXIT_USAGE", "EXIT_SYSTEM", "DETECT_TIMEOUT_S"):
        assert getattr(lanmsg.messenger, name) is getattr(lanmsg.settings, name), name
    assert lanmsg.messenger.Node is lanmsg.node.Node


def test_bad_retries_are_refused(port):
    with Messenger() as m, pytest.raises(ValueError):
        m.send(".", "x", retries=-1)


def test_discover_with_no_server_returns_an_empty_list(port):
    assert discover(timeout=0.3) == []


def test_discover_finds_a_local_announcer(background):
    ann = background("announce", "5000", ready=("announcing",))
    try:
        found = discover(timeout=3)
    finally:
        ann.stop()
    assert found and found[0].port == 5000 and isinstance(found[0], P.Endpoint)


def test_a_keyed_messenger_talks_to_a_keyed_listener_only(listener, tmp_path):
    key_file, other = tmp_path / "group.key", tmp_path / "other.key"
    for path in (key_file, other):
        path.write_text(auth.format_key(auth.generate_key()))
    lst = listener("--key-file", str(key_file))
    with Messenger(key_file=str(key_file)) as m:
        assert m.send(".", "keyed hello").by
    for wrong in ({"key_file": str(other)}, {}):
        with Messenger(**wrong) as m:
            with pytest.raises(LanmsgError) as e:
                m.send(".", "wrong key")
            assert e.value.exit_code == EXIT_USAGE and "key" in str(e.value)
    out, _ = lst.stop()
    assert out.count("keyed hello") == 1 and "wrong key" not in out


def test_discover_with_a_key_finds_only_the_keyed_announcer(background, tmp_path):
    key_file = tmp_path / "group.key"
    key_file.write_text(auth.format_key(auth.generate_key()))
    ann = background("announce", "5001", "--key-file", str(key_file), ready=("announcing",))
    try:
        found = discover(timeout=3, key=auth.load_key(str(key_file)))
        assert discover(timeout=0.5) == []  # an unkeyed client does not take its answer
    finally:
        ann.stop()
    assert found and found[0].port == 5001


# -- between two lab hosts --------------------------------------------------

LAB_SCRIPT = textwrap.dedent("""
    import json, sys
    from lanmsg.client import Messenger, NotConfirmed
    peer_ip, peer_name, absent_ip = sys.argv[1:4]
    seen = []
    with Messenger() as m:
        out = {"via_listener": m.via_listener}
        out["by_address"] = [m.send(peer_ip, f"by address {i}").by for i in range(20)]
        out["by_name"] = m.send(peer_name, "by name").by
        out["detect"] = [list(p) for p in m.detect(1.5, on_peer=seen.append)]
        out["seen"] = len(seen)
        out["broadcast"] = sorted(c.by for c in m.broadcast("to all", wait=1.0))
        try:
            m.send(absent_ip, "nobody", timeout=0.5, retries=1)
        except NotConfirmed as e:
            out["absent"] = e.exit_code
    print(json.dumps(out))
""")


@pytest.mark.lab
@pytest.mark.skipif(netlab.unavailable_reason() is not None, reason=str(netlab.unavailable_reason()))
def test_between_two_hosts_every_message_is_confirmed_by_address_and_by_name():
    with netlab.Lab(3, empty_resolv_conf=True) as lab:
        listeners = {}
        for i in (2, 3):
            listeners[i] = lab.popen(i, [sys.executable, "-m", "lanmsg", "listen"])
            listeners[i].wait_for_line("listening as")
        r = lab.run(
            1, [sys.executable, "-c", LAB_SCRIPT, lab.addr(2), lab.hostname(2).upper(), f"{lab.net}.99"], timeout=60
        )
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout.strip().splitlines()[-1])
        for p in listeners.values():
            p.terminate()
        shown = listeners[2].finish(20).stdout
    assert out["via_listener"] is False
    assert out["by_address"] == ["LAB-H2"] * 20 and out["by_name"] == "LAB-H2"
    assert sorted(name for name, _ in out["detect"]) == ["LAB-H2", "LAB-H3"] and out["seen"] == 2
    assert out["broadcast"] == ["LAB-H2", "LAB-H3"]
    assert out["absent"] == EXIT_NONE
    assert all(shown.count(f"LAB-H1: by address {i}\n") == 1 for i in range(20))
    assert shown.count("LAB-H1: by name") == 1 and shown.count("LAB-H1: to all") == 1


def test_online_peer_and_confirmation_are_plain_tuples():
    assert OnlinePeer("BOB", "10.0.0.2") == ("BOB", "10.0.0.2")
    assert Confirmation(1, "BOB", None).by == "BOB"


def test_a_frame_that_fails_authentication_teaches_no_address(port, tmp_path):
    """Only frames that pass authentication say where their sender is (docs/security.md): a
    forged frame read by a keyed Messenger leaves MALLORY unknown to name resolution."""
    key_file = tmp_path / "group.key"
    key_file.write_text(auth.format_key(auth.generate_key()))
    with Messenger(key_file=str(key_file)) as m:
        config = m.settings.config
        forged = P.encode_frame(P.Frame("MALLORY", 7, False, True, P.ONLINE))
        to_me = mailslot.NetbiosName(config.name)
        datagram = mailslot._template(mailslot.MSG_DIRECT_UNIQUE, "MALLORY", to_me, "foxapp", port).encode(
            1, "127.0.0.2", forged
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.2", port))
            s.sendto(datagram, ("127.0.0.1", port))
        assert m.detect(0.3) == []  # reads the forged frame, which is refused
        stats = m._slot.stats
    assert stats.get("delivered", 0) >= 1, stats  # the datagram was read
    assert mailslot.learned_address("MALLORY") is None
