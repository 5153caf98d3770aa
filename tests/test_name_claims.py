"""The name claim state machine (mailslot.NameClaims) in memory: every rule, with time passed in.

No sockets and no clocks: each test feeds packets built with the codec (checked against Samba and
tshark elsewhere), and reads what the machine says to send and to report.  The last part runs
random sequences of claims, packets and time through it (hypothesis) and checks the rules that
must hold whatever happens.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailslot as M

PORT = 137
ME = M.NetbiosName("LAB-H1")
GROUP = M.NetbiosName("LANTEST")
OTHER = M.NetbiosName("LAB-H2")  # held by another lanmsg process of this host
ROUTES = [("10.213.0.1", "10.213.0.255"), ("10.213.5.1", "10.213.5.255")]  # a secondary subnet too
WINS = "10.213.1.9"
ADDRESSES = M.LocalAddresses(
    [
        ("10.213.0.1", "255.255.255.0", "10.213.0.255", False),
        ("10.213.5.1", "255.255.255.0", "10.213.5.255", False),
        ("127.0.0.1", "255.0.0.0", "", True),
    ]
)
NEIGHBOUR = ("10.213.0.7", 137)
SECOND_SUBNET_NEIGHBOUR = ("10.213.5.7", 137)
FAR = ("10.99.0.7", 137)  # across a router


def machine(*, leader=True, host=(), wins_sources=None):
    ids = itertools.count(0x100)
    m = M.NameClaims(PORT, new_id=lambda: next(ids))
    m.update_host(
        routes=ROUTES, host_names=list(host), leader=leader, wins_sources=wins_sources or {WINS: "10.213.0.1"}
    )
    return m


def sends(out):
    return [(o.via, o.address, M.decode_ns_packet(o.data)) for o in out if isinstance(o, M.NsSend)]


def events(out):
    return [o for o in out if isinstance(o, M.NameEvent)]


def kinds(out):
    return [e.kind for e in events(out)]


def run_until(m, t):
    """Call tick at every deadline up to ``t``, as the host service's loop does; what it said."""
    out = []
    while (due := m.next_deadline()) is not None and due <= t:
        out += m.tick(due)
    return out


def receive(m, now, data, peer, *, to_broadcast=False, local_ip="10.213.0.1"):
    out, word = m.receive(
        now, M.decode_ns_packet(data), peer, local_ip=local_ip, to_broadcast=to_broadcast, addresses=ADDRESSES
    )
    return out, word


def claimed(*, wins=()):
    """A machine that claimed ME (unique) and GROUP at t=0, and its registration packets."""
    m = machine()
    out = m.claim(0.0, ME, False, wins=wins) + m.claim(0.0, GROUP, True)
    return m, out


def refusal(request, rcode=M.NS_RCODE_ACT_ERR, *, name=None):
    """A negative registration answer to ``request`` (an NSPacket we sent), as nmbd sends it."""
    entry = M.decode_nb_rdata(request.additional[0].rdata)[0]
    return M.ns_registration_answer(request.trn_id, name or request.questions[0].name, entry, rcode)


# --------------------------------------------------------------------------
# claiming a name: broadcast registration (RFC 1002 5.1.1.1)
# --------------------------------------------------------------------------


def test_a_claim_registers_on_every_subnet_with_that_subnets_address():
    _, out = claimed()
    packets = sends(out)
    assert [(via, addr) for via, addr, _ in packets] == [
        ("client", ("10.213.0.255", 137)),
        ("client", ("10.213.5.255", 137)),
    ] * 2
    mine = [p for _, _, p in packets if p.questions[0].name == ME]
    assert [M.decode_nb_rdata(p.additional[0].rdata)[0] for p in mine] == [
        M.NBEntry(0, "10.213.0.1"),
        M.NBEntry(0, "10.213.5.1"),
    ]
    assert all(p.flags == 0x2910 and p.additional[0].ttl == M.NS_ANSWER_TTL_S for _, _, p in packets)
    group = [p for _, _, p in packets if p.questions[0].name == GROUP]
    assert all(M.decode_nb_rdata(p.additional[0].rdata)[0].flags == M.NB_FLAG_GROUP for p in group)
    assert mine[0].trn_id != group[0].trn_id, "one transaction id per name"


def test_three_tries_750_ms_apart_then_the_name_is_registered():
    m, out = claimed()
    first = {p.trn_id for _, _, p in sends(out)}
    assert m.state(ME) is M.ClaimState.REGISTERING and m.next_deadline() == pytest.approx(0.75)
    assert sends(m.tick(0.7)) == []
    second = sends(m.tick(0.75))
    third = sends(m.tick(1.5))
    assert len(second) == len(third) == 4 and {p.trn_id for _, _, p in second + third} == first
    assert sends(m.tick(2.25)) == [] and m.state(ME) is M.ClaimState.REGISTERED
    assert m.state(GROUP) is M.ClaimState.REGISTERED and m.next_deadline() is None


def test_a_refused_group_name_is_a_note_and_the_computer_name_stays():
    """Regression: another host holding WORKGROUP<00> as a unique name (RFC 1002 5.1.1.5 allows it)
    refuses our group registration; that used to end `listen` as a conflict on the computer name."""
    m, out = claimed()
    group_request = next(p for _, _, p in sends(out) if p.questions[0].name == GROUP)
    got, word = receive(m, 0.1, refusal(group_request), NEIGHBOUR)
    assert word == "refused" and kinds(got) == [M.NameEventKind.GROUP_REFUSED] and events(got)[0].name == GROUP
    assert "LANTEST<00>" in M.describe_name_event(events(got)[0]) and "unique" in M.describe_name_event(events(got)[0])
    run_until(m, 2.25)
    assert m.state(ME) is M.ClaimState.REGISTERED and m.state(GROUP) is M.ClaimState.REFUSED
    assert [h.name for h in m.published()] == [ME]


def test_an_answer_counts_only_if_its_record_name_is_the_claims():
    m, out = claimed()
    my_request = next(p for _, _, p in sends(out) if p.questions[0].name == ME)
    _, word = receive(m, 0.1, refusal(my_request, name=GROUP), NEIGHBOUR)  # right id, wrong name
    assert word == "mismatched" and m.state(ME) is M.ClaimState.REGISTERING


def test_a_refused_unique_name_is_a_conflict_naming_the_holder():
    m, out = claimed()
    my_request = next(p for _, _, p in sends(out) if p.questions[0].name == ME)
    got, _ = receive(m, 0.2, refusal(my_request), NEIGHBOUR)
    (event,) = events(got)
    assert (event.kind, event.name, event.peer, event.rcode) == (M.NameEventKind.CONFLICT, ME, "10.213.0.7", 6)
    assert M.describe_name_event(event).startswith("the NetBIOS name LAB-H1<00> belongs to 10.213.0.7 (ACT_ERR")
    assert m.state(ME) is M.ClaimState.REFUSED and ME not in [h.name for h in m.answered()]
    assert [p.questions[0].name for _, _, p in sends(m.tick(0.75))] == [GROUP, GROUP], "no more tries for it"


def test_a_refusal_from_this_host_means_another_name_server_here_serves_it():
    m, out = claimed()
    my_request = next(p for _, _, p in sends(out) if p.questions[0].name == ME)
    got, _ = receive(m, 0.2, refusal(my_request), ("10.213.0.1", 137))
    assert kinds(got) == [M.NameEventKind.SERVED_HERE] and m.state(ME) is M.ClaimState.SERVED_HERE


def test_a_late_refusal_and_one_from_another_port_are_not_heeded():
    m, out = claimed()
    my_request = next(p for _, _, p in sends(out) if p.questions[0].name == ME)
    assert receive(m, 0.2, refusal(my_request), ("10.213.0.7", 50000))[1] == "unexpected"
    run_until(m, 2.25)
    got, word = receive(m, 3.0, refusal(my_request), NEIGHBOUR)
    assert (got, word) == ([], "unexpected") and m.state(ME) is M.ClaimState.REGISTERED


# --------------------------------------------------------------------------
# WINS (RFC 1002 5.1.2; Samba's WINS server)
# --------------------------------------------------------------------------


def wins_request(out):
    return next(p for via, addr, p in sends(out) if addr == (WINS, 137))


def grant(request, ttl=600):
    entry = M.decode_nb_rdata(request.additional[0].rdata)[0]
    return M.ns_registration_answer(request.trn_id, request.questions[0].name, entry, M.NS_RCODE_OK, ttl)


def wack(request, ttl):
    record = M.NSRecord(request.questions[0].name, M.NS_TYPE_NULL, M.NS_CLASS_IN, ttl, b"\x29\x00")
    flags = M.NS_FLAG_RESPONSE | (M.NS_OP_WACK << 11) | M.NS_FLAG_AA
    return M.encode_ns_packet(M.NSPacket(request.trn_id, flags, (), (record,)))


def test_wins_registration_claims_the_address_towards_the_server_as_an_h_node():
    _, out = claimed(wins=[WINS])
    request = wins_request(out)
    assert request.flags == 0x2900 and request.questions[0].name == ME
    assert M.decode_nb_rdata(request.additional[0].rdata) == [M.NBEntry(M.NB_ONT_H, "10.213.0.1")]
    assert [addr for _, addr, p in sends(out) if p.questions[0].name == GROUP and addr[0] == WINS] == []


def test_wins_answers_count_only_from_the_server_asked():
    m, out = claimed(wins=[WINS])
    request = wins_request(out)
    for rcode in (M.NS_RCODE_ACT_ERR, M.NS_RCODE_RFS_ERR):
        got, word = receive(m, 0.1, refusal(request, rcode), ("10.213.0.66", 137))
        assert (got, word) == ([], "not-from-server")
    assert m.wins_state(ME, WINS) is M.WinsState.REGISTERING
    got, _ = receive(m, 0.2, grant(request), (WINS, 137))
    assert kinds(got) == [M.NameEventKind.WINS_REGISTERED] and m.wins_state(ME, WINS) is M.WinsState.REGISTERED


def test_a_wack_answering_the_last_try_extends_the_wait_until_the_grant():
    """Regression: the WACK that answered the third try was lost with the try's timer, so the
    grant that followed was dropped as unexpected and the server reported silent."""
    m, out = claimed(wins=[WINS])
    request = wins_request(out)
    tries = [request] + [p for t in (1.5, 3.0) for _, addr, p in sends(m.tick(t)) if addr[0] == WINS]
    assert len(tries) == 3 and {p.trn_id for p in tries} == {request.trn_id}
    receive(m, 3.2, wack(request, 5), (WINS, 137))
    assert m.wins_state(ME, WINS) is M.WinsState.WAITING
    for t in (4.5, 6.0, 8.0):  # past the third try's timeout, within the WACK's 5 s
        assert kinds(m.tick(t)) == [] and [a for _, a, _ in sends(m.tick(t)) if a[0] == WINS] == []
    got, _ = receive(m, 8.1, grant(request, 600), (WINS, 137))
    assert kinds(got) == [M.NameEventKind.WINS_REGISTERED] and m.wins_state(ME, WINS) is M.WinsState.REGISTERED


def test_a_wack_whose_grant_never_comes_is_silence_after_its_ttl():
    m, out = claimed(wins=[WINS])
    request = wins_request(out)
    receive(m, 0.1, wack(request, 5), (WINS, 137))
    assert kinds(m.tick(6.5)) == []
    assert kinds(m.tick(6.7)) == [M.NameEventKind.WINS_SILENT] and m.wins_state(ME, WINS) is M.WinsState.SILENT


def test_silence_is_reported_and_the_server_asked_again_ten_minutes_later():
    m, _ = claimed(wins=[WINS])
    assert kinds(run_until(m, 4.5)) == [M.NameEventKind.WINS_SILENT]
    assert m.next_deadline() == pytest.approx(4.5 + M.NS_WINS_RETRY_S)
    again = sends(m.tick(4.5 + M.NS_WINS_RETRY_S))
    assert [(addr, p.flags) for _, addr, p in again] == [((WINS, 137), 0x2900)]


def test_refresh_at_half_the_ttl_and_rfs_err_registers_afresh_from_the_new_address():
    """Samba answers a refresh from an address not in the record with RFS_ERR (a DHCP change)."""
    m, out = claimed(wins=[WINS])
    request = wins_request(out)
    receive(m, 0.1, grant(request, 600), (WINS, 137))
    run_until(m, 2.25)  # the broadcast registration's tries
    assert m.next_deadline() == pytest.approx(0.1 + 300)
    m.update_host(wins_sources={WINS: "10.213.0.44"})  # the host's address changed
    (refresh,) = [p for _, addr, p in sends(m.tick(300.1)) if addr[0] == WINS]
    assert M.decode_ns_packet(M.encode_ns_packet(refresh)).opcode == M.NS_OP_REFRESH
    assert M.decode_nb_rdata(refresh.additional[0].rdata)[0].address == "10.213.0.44"
    got, _ = receive(m, 300.2, refusal(refresh, M.NS_RCODE_RFS_ERR), (WINS, 137))
    assert kinds(got) == [M.NameEventKind.WINS_REREGISTER]
    (again,) = [p for _, addr, p in sends(got)]
    assert (
        again.opcode == M.NS_OP_REGISTRATION
        and M.decode_nb_rdata(again.additional[0].rdata)[0].address == "10.213.0.44"
    )
    assert m.state(ME) is M.ClaimState.REGISTERED and "registering it afresh" in M.describe_name_event(events(got)[0])
    got, _ = receive(m, 300.3, grant(again), (WINS, 137))
    assert m.wins_state(ME, WINS) is M.WinsState.REGISTERED and kinds(got) == []


def test_a_refused_wins_registration_is_a_conflict():
    m, out = claimed(wins=[WINS])
    got, _ = receive(m, 0.1, refusal(wins_request(out), M.NS_RCODE_ACT_ERR), (WINS, 137))
    assert [(e.kind, e.peer) for e in events(got)] == [(M.NameEventKind.CONFLICT, WINS)]
    assert m.state(ME) is M.ClaimState.REFUSED


# --------------------------------------------------------------------------
# letting names go
# --------------------------------------------------------------------------


def test_the_last_owner_releases_once_per_subnet_and_once_to_each_wins_server():
    """As nmbd does at exit (terminate(): release_wins_names(), then exit): one release each, no retry."""
    m, out = claimed(wins=[WINS])
    m.claim(0.0, ME, False, wins=[WINS])  # a second slot of the same name
    receive(m, 0.1, grant(wins_request(out)), (WINS, 137))
    assert m.unclaim(5.0, ME, others_hold=False) == []  # one owner left
    released = sends(m.unclaim(5.0, ME, others_hold=False))
    assert [(addr, p.flags) for _, addr, p in released] == [
        (("10.213.0.255", 137), 0x3010),
        (("10.213.5.255", 137), 0x3010),
        ((WINS, 137), 0x3000),
    ]
    m.unclaim(5.0, GROUP, others_hold=True)
    assert sends(m.tick(10.0)) == [] and m.next_deadline() is None and m.state(ME) is None


def test_no_release_while_another_process_of_the_host_holds_the_name():
    m, _ = claimed()
    assert m.unclaim(3.0, ME, others_hold=True) == [] and m.state(ME) is None
    assert m.unclaim(3.0, GROUP, others_hold=False) != []


def test_no_wins_release_where_the_name_was_never_granted():
    m, _ = claimed(wins=[WINS])
    assert all(addr[0] != WINS for _, addr, _ in sends(m.unclaim(1.0, ME, others_hold=False)))


# --------------------------------------------------------------------------
# answering for every name held on the host
# --------------------------------------------------------------------------


def answering(*, leader=True):
    m = machine(leader=leader, host=[M.HostName(OTHER, False), M.HostName(GROUP, True)])
    m.claim(0.0, ME, False)
    m.claim(0.0, GROUP, True)
    return m


def answer_to(m, data, peer=NEIGHBOUR, **kw):
    out, word = receive(m, 1.0, data, peer, **kw)
    packets = sends(out)
    return (packets[0][2] if packets else None), word


@pytest.mark.parametrize("recursion", [False, True])
@pytest.mark.parametrize("name", [ME, OTHER])
def test_a_unicast_query_for_any_name_of_the_host_is_answered(name, recursion):
    """Whichever process's socket gets it: the other process's name is answered too."""
    p, word = answer_to(answering(), M.ns_name_query(7, name, broadcast=False, recursion=recursion))
    assert word == "answered" and p.trn_id == 7 and p.flags == 0x8500
    assert M.decode_nb_rdata(p.answers[0].rdata) == [M.NBEntry(0, "10.213.0.1")]


def test_the_answer_carries_this_hosts_address_on_the_asking_subnet():
    p, _ = answer_to(answering(), M.ns_name_query(7, ME, broadcast=True), SECOND_SUBNET_NEIGHBOUR, to_broadcast=True)
    assert M.decode_nb_rdata(p.answers[0].rdata) == [M.NBEntry(0, "10.213.5.1")]


def test_unknown_names_nam_err_only_to_a_unicast_rd0_query():
    nobody = M.NetbiosName("NOBODY")
    m = answering()
    p, word = answer_to(m, M.ns_name_query(7, nobody, broadcast=False, recursion=False))
    assert word == "denied" and p.rcode == M.NS_RCODE_NAM_ERR
    assert answer_to(m, M.ns_name_query(7, nobody, broadcast=False, recursion=True)) == (None, "ignored")
    assert answer_to(m, M.ns_name_query(7, nobody, broadcast=True), to_broadcast=True) == (None, "ignored")


def test_a_query_with_the_b_bit_is_never_answered_negatively_whatever_its_destination():
    """A B=1 query that reached us by unicast (or at a broadcast address we do not know, such as a
    secondary subnet's): still a broadcast query, so never NAM_ERR."""
    b_rd0 = M.encode_ns_packet(M.NSPacket(7, M.NS_FLAG_B, (M.NSQuestion(M.NetbiosName("NOBODY"), M.NS_TYPE_NB),)))
    assert answer_to(answering(), b_rd0, to_broadcast=False) == (None, "ignored")


def test_broadcasts_are_the_leaders_and_off_link_ones_nobodys():
    query = M.ns_name_query(7, ME, broadcast=True)
    assert answer_to(answering(leader=False), query, to_broadcast=True) == (None, "left-to-leader")
    assert answer_to(answering(), query, FAR, to_broadcast=True) == (None, "off-link")
    p, _ = answer_to(answering(leader=False), M.ns_name_query(7, ME, broadcast=False))
    assert p.rcode == 0, "a unicast query is answered by whoever gets it"


def test_node_status_lists_every_name_of_the_host_once():
    p, word = answer_to(answering(), M.ns_node_status_query(3))
    names, unit = M.decode_node_status(p.answers[0].rdata)
    assert word == "status" and unit == bytes(6)
    assert [(n.name, n.flags) for n in names] == [("LAB-H1", 0x0400), ("LANTEST", 0x8400), ("LAB-H2", 0x0400)]
    assert answer_to(answering(), M.ns_node_status_query(3, M.NetbiosName("NOBODY"))) == (None, "ignored")


def test_node_status_only_on_link_and_rate_limited_per_source():
    m = answering()
    assert answer_to(m, M.ns_node_status_query(3), FAR) == (None, "status-off-link")
    words = [receive(m, 10.0 + i * 0.01, M.ns_node_status_query(i), NEIGHBOUR)[1] for i in range(10)]
    assert words == ["status"] * M.NS_STATUS_BURST + ["status-limited"] * (10 - M.NS_STATUS_BURST)
    assert receive(m, 10.1, M.ns_node_status_query(99), SECOND_SUBNET_NEIGHBOUR)[1] == "status", "per source"
    assert receive(m, 10.2, M.ns_node_status_query(99), NEIGHBOUR)[1] == "status-limited"
    assert receive(m, 11.2, M.ns_node_status_query(99), NEIGHBOUR)[1] == "status", "one more each second"


def test_the_leader_defends_every_unique_name_of_the_host():
    def claim(name, address):
        return M.ns_name_request(9, M.NS_OP_REGISTRATION, name, M.NBEntry(0, address), ttl=0, broadcast=True)

    for name in (ME, OTHER):
        out, word = receive(answering(), 1.0, claim(name, "10.213.0.9"), ("10.213.0.9", 137), to_broadcast=True)
        (_, addr, p), event = sends(out)[0], events(out)[0]
        assert word == "defended" and addr == ("10.213.0.9", 137) and p.flags == 0xAD86
        assert (event.kind, event.name, event.peer) == (M.NameEventKind.DEFENDED, name, "10.213.0.9")
    follower = receive(answering(leader=False), 1.0, claim(ME, "10.213.0.9"), ("10.213.0.9", 137), to_broadcast=True)
    assert follower == ([], "left-to-leader")
    ours = receive(answering(), 1.0, claim(ME, "10.213.5.1"), ("10.213.5.1", 137), to_broadcast=True)
    assert ours == ([], "ignored"), "this host's own addresses: another lanmsg process here"
    group = M.ns_name_request(9, M.NS_OP_REGISTRATION, GROUP, M.NBEntry(0x8000, "10.213.0.9"), ttl=0, broadcast=True)
    assert receive(answering(), 1.0, group, ("10.213.0.9", 137), to_broadcast=True) == ([], "ignored")


def test_scoped_names_and_requests_with_two_questions_are_ignored():
    scoped = M.ns_name_query(7, M.NetbiosName("LAB-H1", 0, "corp"), broadcast=False, recursion=False)
    assert answer_to(answering(), scoped) == (None, "ignored")


# --------------------------------------------------------------------------
# anything at all: random sequences (hypothesis)
# --------------------------------------------------------------------------

names = st.sampled_from([ME, OTHER, GROUP, M.NetbiosName("NOBODY"), M.NetbiosName("*")])
peers = st.sampled_from(
    [NEIGHBOUR, SECOND_SUBNET_NEIGHBOUR, FAR, (WINS, 137), ("10.213.0.1", 137), ("10.213.0.7", 999)]
)


@st.composite
def packets(draw):
    name = draw(names)
    trn_id = draw(st.sampled_from([0x100, 0x101, 0x102, 0x103, draw(st.integers(0, 0xFFFF))]))
    kind = draw(st.integers(0, 6))
    entry = M.NBEntry(draw(st.sampled_from([0, 0x8000, 0x6000])), draw(st.sampled_from(["10.213.0.9", "10.213.0.1"])))
    if kind == 0:
        return M.ns_name_query(trn_id, name, broadcast=draw(st.booleans()), recursion=draw(st.booleans()))
    if kind == 1:
        return M.ns_node_status_query(trn_id, name)
    if kind == 2:
        return M.ns_name_request(trn_id, M.NS_OP_REGISTRATION, name, entry, ttl=0, broadcast=draw(st.booleans()))
    if kind == 3:
        rcode = draw(st.sampled_from([0, M.NS_RCODE_ACT_ERR, M.NS_RCODE_RFS_ERR, M.NS_RCODE_CFT_ERR]))
        return M.ns_registration_answer(trn_id, name, entry, rcode, draw(st.integers(0, 10**6)))
    if kind == 4:
        return wack(M.decode_ns_packet(M.ns_name_query(trn_id, name, broadcast=False)), draw(st.integers(0, 100)))
    if kind == 5:
        return M.ns_positive_answer(trn_id, name, [entry], 300)
    flags = draw(st.integers(0, 0xFFFF))
    return M.encode_ns_packet(M.NSPacket(trn_id, flags, (M.NSQuestion(name, draw(st.sampled_from([0x20, 0x21]))),)))


steps = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), names.filter(lambda n: n.name != "*"), st.booleans()),
        st.tuples(st.just("unclaim"), names, st.booleans()),
        st.tuples(st.just("packet"), packets(), peers, st.booleans()),
        st.tuples(st.just("tick"), st.floats(0, 700)),
        st.tuples(st.just("host"), st.booleans(), st.lists(names.filter(lambda n: n.name != "*"), max_size=2)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_whatever_happens_the_rules_hold(sequence):
    m = machine()
    now = 0.0
    for step in sequence:
        out: list = []
        if step[0] == "claim":
            out = m.claim(now, step[1], step[2], wins=[WINS])
        elif step[0] == "unclaim":
            out = m.unclaim(now, step[1], others_hold=step[2])
        elif step[0] == "tick":
            now += step[1]
            out = m.tick(now)
        elif step[0] == "host":
            m.update_host(leader=step[1], host_names=[M.HostName(n, False) for n in step[2]])
        else:
            _, data, peer, to_broadcast = step
            request = M.decode_ns_packet(data)
            out, word = m.receive(
                now, request, peer, local_ip="10.213.0.1", to_broadcast=to_broadcast, addresses=ADDRESSES
            )
            assert isinstance(word, str)
            for via, address, answer in sends(out):
                if via != "server":
                    continue
                assert address == peer and answer.response and answer.trn_id == request.trn_id
                if to_broadcast or request.broadcast:
                    assert answer.rcode in (0, M.NS_RCODE_ACT_ERR), "never a negative answer to a broadcast"
                    assert m.leader
                if answer.opcode == M.NS_OP_QUERY and answer.answers[0].rtype == M.NS_TYPE_NB and answer.rcode == 0:
                    held = [M.nb_key(h.name) for h in m.answered()]
                    assert M.nb_key(request.questions[0].name) in held, "an answer only for a name of this host"
                    for e in M.decode_nb_rdata(answer.answers[0].rdata):
                        assert ADDRESSES.is_local(e.address), "an answer only with this host's address"
        for o in out:
            assert isinstance(o, M.NsSend | M.NameEvent)
            if isinstance(o, M.NsSend):
                assert len(o.data) <= M.NS_MAX_PACKET
                M.decode_ns_packet(o.data)
        deadline = m.next_deadline()
        assert deadline is None or deadline >= now - 700
    for h in list(m.published()):
        while m.state(h.name) is not None:
            m.unclaim(now, h.name, others_hold=False)
    assert m.published() == []
