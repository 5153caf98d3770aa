"""Two messenger peers talking in memory, time passed in (no sockets, no clock)."""

import random

from lanmsg import protocol as P


class Wire:
    """Delivers Transmit actions between in-memory peers, optionally losing some."""

    def __init__(self, *peers, loss=0.0, seed=0):
        self.peers = {p.name: p for p in peers}
        self.addresses = {p.name: f"10.0.0.{i + 1}" for i, p in enumerate(peers)}
        self.rng = random.Random(seed)
        self.loss = loss
        self.events = {p.name: [] for p in peers}
        self.sent = 0

    def deliver(self, sender, items, now):
        for item in items:
            if not isinstance(item, P.Transmit):
                self.events[sender.name].append(item)
                continue
            self.sent += 1
            targets = (
                [p for p in self.peers.values() if p is not sender] if item.target == "*" else [self.peers[item.target]]
            )
            for target in targets:
                if self.rng.random() < self.loss:
                    continue
                self.deliver(target, target.receive(now, item.data, self.addresses[sender.name]), now)

    def run(self, until, step=0.05, start=0.0):
        t = start
        while t <= until:
            for p in self.peers.values():
                self.deliver(p, p.tick(t), t)
            t += step

    def of(self, name, kind):
        return [e for e in self.events[name] if isinstance(e, kind)]


def test_a_message_is_shown_once_and_confirmed():
    a, b = P.Peer("ALICE", rng=random.Random(1)), P.Peer("BOB", rng=random.Random(2))
    w = Wire(a, b)
    msg_id, actions = a.send_text(0.0, "BOB", "10.0.0.2", "hello")
    w.deliver(a, actions, 0.0)
    w.run(5.0)
    (shown,) = w.of("BOB", P.MessageReceived)
    assert (shown.sender, shown.text, shown.duplicate) == ("ALICE", "hello", False)
    (conf,) = w.of("ALICE", P.Confirmed)
    assert (conf.msg_id, conf.by) == (msg_id, "BOB")
    assert not w.of("ALICE", P.DeliveryFailed)
    assert w.sent == 2, "one message, one CONF: no resends once confirmed"


def test_lost_confirmations_cause_resends_with_the_same_id_and_duplicates_are_confirmed_again():
    a, b = P.Peer("ALICE", rng=random.Random(1)), P.Peer("BOB", rng=random.Random(2))
    msg_id, actions = a.send_text(0.0, "BOB", None, "ping")
    seen_ids = []
    t = 0.0
    pending = actions
    for attempt in range(3):  # BOB's first two CONFs are lost
        for act in pending:
            seen_ids.append(P.decode_frame(act.data).msg_id)
            replies = b.receive(t, act.data, "10.0.0.1")
            if attempt == 2:
                for r in replies:
                    if isinstance(r, P.Transmit):
                        a.receive(t, r.data, "10.0.0.2")
        t += P.RESEND_INTERVAL_S
        pending = [x for x in a.tick(t) if isinstance(x, P.Transmit)]
    assert seen_ids == [msg_id] * 3
    shown = [e for e in b.receive(t, actions[0].data) if isinstance(e, P.MessageReceived)]
    assert shown[0].duplicate
    assert msg_id not in a.pending_ids()


def test_unanswered_message_fails_after_three_resends_at_750_ms():
    a = P.Peer("ALICE", rng=random.Random(1))
    msg_id, _ = a.send_text(0.0, "NOBODY", "10.0.0.9", "anyone?")
    times, failed = [], None
    t = 0.0
    while failed is None and t < 10:
        t = round(t + 0.05, 2)
        for item in a.tick(t):
            if isinstance(item, P.Transmit):
                times.append(t)
            elif isinstance(item, P.DeliveryFailed):
                failed = item
    assert times == [0.75, 1.5, 2.25]
    assert failed.msg_id == msg_id and failed.attempts == 4 and failed.at == 3.0


def test_with_heavy_loss_ten_resends_deliver_each_message_exactly_once():
    a, b = P.Peer("ALICE", rng=random.Random(1)), P.Peer("BOB", rng=random.Random(2))
    w = Wire(a, b, loss=0.2, seed=11)
    ids = []
    for i in range(100):
        msg_id, actions = a.send_text(i * 10.0, "BOB", None, f"m{i}", resends=10)
        ids.append(msg_id)
        w.deliver(a, actions, i * 10.0)
        w.run(i * 10.0 + 9.0, start=i * 10.0 + 0.05)
    shown = [e.text for e in w.of("BOB", P.MessageReceived) if not e.duplicate]
    assert shown == [f"m{i}" for i in range(100)]
    assert sorted(c.msg_id for c in w.of("ALICE", P.Confirmed)) == sorted(ids)


def test_detect_is_answered_by_unicast_online_after_5_to_1028_ms():
    a, b = P.Peer("ALICE", rng=random.Random(1)), P.Peer("BOB", rng=random.Random(2))
    delays = []
    for i in range(200):
        (detect,) = a.detect(float(i))
        events = b.receive(float(i), detect.data, "10.0.0.1")
        assert not [e for e in events if isinstance(e, P.Transmit)], "never answered at once"
        when = b.next_deadline()
        delays.append(when - i)
        (online,) = b.tick(when)
        assert (online.target, online.address, online.frame.body) == ("ALICE", "10.0.0.1", "ONLINE")
    assert min(delays) >= 0.005 and max(delays) <= 1.028
    assert max(delays) - min(delays) > 0.5, "the answers are spread, not synchronised"


def test_presence_follows_online_detect_and_offline():
    a, b, c = (P.Peer(n, rng=random.Random(i)) for i, n in enumerate(["ALICE", "BOB", "CAROL"]))
    w = Wire(a, b, c)
    for p in (a, b, c):
        w.deliver(p, p.start(0.0), 0.0)
    w.run(2.0)
    assert [p.name for p in a.online_peers()] == ["BOB", "CAROL"]
    w.deliver(c, c.stop(3.0), 3.0)
    assert [p.name for p in a.online_peers()] == ["BOB"]
    offline = [e for e in w.of("ALICE", P.PresenceChanged) if not e.online]
    assert [e.name for e in offline] == ["CAROL"]


def test_own_broadcasts_looped_back_are_ignored_but_a_message_to_self_is_confirmed():
    a = P.Peer("ALICE", rng=random.Random(1))
    for t in a.start(0.0):
        assert a.receive(0.0, t.data) == [P.Dropped("own", 0.0)]
    msg_id, (t,) = a.send_text(1.0, "ALICE", None, "note to self")
    events = a.receive(1.0, t.data)
    (conf,) = [e for e in events if isinstance(e, P.Transmit)]
    assert next(e for e in a.receive(1.0, conf.data) if isinstance(e, P.Confirmed)).msg_id == msg_id


def test_broadcast_collects_every_confirmation_until_its_deadline():
    peers = [P.Peer(n, rng=random.Random(i)) for i, n in enumerate(["ALICE", "BOB", "CAROL", "DAVE"])]
    w = Wire(*peers)
    a = peers[0]
    _msg_id, actions = a.send_text(0.0, "*", None, "all hands", timeout=2.0)
    w.deliver(a, actions, 0.0)
    w.run(3.0)
    assert sorted(c.by for c in w.of("ALICE", P.Confirmed)) == ["BOB", "CAROL", "DAVE"]
    assert not w.of("ALICE", P.DeliveryFailed)


def test_a_transient_peer_neither_confirms_nor_answers_detect():
    quiet = P.Peer("ONESHOT", responsive=False, rng=random.Random(5))
    loud = P.Peer("ALICE", rng=random.Random(6))
    (detect,) = loud.detect(0.0)
    quiet.receive(0.0, detect.data, "10.0.0.1")
    assert quiet.next_deadline() is None
    _, (msg,) = loud.send_text(0.0, "ONESHOT", None, "hi", track=False)
    assert not [e for e in quiet.receive(0.0, msg.data) if isinstance(e, P.Transmit)]


def test_tables_are_bounded():
    b = P.Peer("BOB", rng=random.Random(2))
    for i in range(P.DEDUP_MAX + 500):
        b.receive(0.0, P.encode_frame(P.Frame(f"P{i % 5000}", i, False, False, "x")))
    assert len(b._seen) <= P.DEDUP_MAX
    assert len(b.presence) <= P.PRESENCE_MAX
