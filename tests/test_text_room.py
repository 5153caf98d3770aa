"""The size rule in one place: ``protocol.text_room``, and what the operations say when a text
does not fit (the same words as before the rule moved there); a message's frame is encoded once."""

import pytest

import mailslot
from lanmsg import protocol as P
from lanmsg.chat.commands import bytes_left
from lanmsg.messenger import BroadcastOp, SendOp
from lanmsg.node import Node
from lanmsg.settings import Settings

KEY = bytes(range(32))


def test_text_room_counts_bytes_in_the_encoding_left_in_the_frame():
    assert P.text_room("") == 212
    assert P.text_room("x" * 212) == 0
    assert P.text_room("x" * 213) == -1
    assert P.text_room("é", "utf-8") == 210 and P.text_room("é", "cp1252") == 211
    assert P.text_room("", max_frame=250 - 44) == 168
    with pytest.raises(P.FrameError, match="cannot encode the text as cp1252"):
        P.text_room("日", "cp1252")


def test_encode_frame_goes_by_the_same_rule():
    for text in ("x" * 212, "é" * 106, "x" * 213, "é" * 107):
        frame = P.Frame("A", 1, True, False, text)
        if P.text_room(text) >= 0:
            assert len(P.encode_frame(frame)) <= P.MAX_FRAME
        else:
            with pytest.raises(P.TextTooLong) as e:
                P.encode_frame(frame)
            assert e.value.size == len(text.encode()) and e.value.max_frame == P.MAX_FRAME


def test_the_chat_counts_a_text_its_encoding_cannot_carry_as_never_fitting():
    assert bytes_left("x" * 213, "utf-8", 250) == -1
    assert bytes_left("日", "cp1252", 250) < -(1 << 20)


class RecordingNode(Node):
    """A node whose transport only records what it is given (nothing is sent)."""

    def __init__(self, settings):
        super().__init__(
            settings, None, P.Peer(settings.name, encoding=settings.encoding, max_frame=settings.max_frame)
        )
        self.sent = []

    def transmit(self, t):
        self.sent.append(t)
        return None


def node(key=None, encoding="utf-8"):
    return RecordingNode(
        Settings(transport="netbios", config=mailslot.Config(port=138, name="ALICE"), key=key, encoding=encoding)
    )


TOO_LONG = "message text is 213 bytes as utf-8; at most 212 fit in a 250-byte frame (38-byte header); nothing was sent"
TOO_LONG_KEYED = (
    "message text is 169 bytes as utf-8; at most 168 fit in a 250-byte frame with authentication (38-byte header, "
    "the authentication tag takes 44 bytes; 212 without a key); nothing was sent"
)
CANNOT_ENCODE = (
    "cannot encode the text as cp1252: 'charmap' codec can't encode character '\\u65e5' in position 0: "
    "character maps to <undefined>"
)


@pytest.mark.parametrize("kind", ["send", "broadcast"])
@pytest.mark.parametrize(
    ("key", "encoding", "text", "message"),
    [
        (None, "utf-8", "x" * 213, TOO_LONG),
        (KEY, "utf-8", "x" * 169, TOO_LONG_KEYED),
        (None, "cp1252", "日", CANNOT_ENCODE),
    ],
)
def test_an_operation_refuses_a_text_that_does_not_fit_and_sends_nothing(kind, key, encoding, text, message):
    n, records = node(key, encoding), []
    if kind == "send":
        op = SendOp(records.append, "10.0.0.9", text, timeout=None, resends=0, wait=False)
    else:
        op = BroadcastOp(records.append, text, wait=0)
    op.start(n, 0.0)
    assert records == [{"event": "error", "message": message, "exit": 2}, {"event": "done", "exit": 2}]
    assert n.sent == []


def test_a_message_is_encoded_once(monkeypatch):
    calls = []
    real = P.encode_frame

    def counting(frame, **kw):
        calls.append(frame.body)
        return real(frame, **kw)

    monkeypatch.setattr(P, "encode_frame", counting)
    n, records = node(), []
    SendOp(records.append, "10.0.0.9", "x" * 212, timeout=None, resends=0, wait=False).start(n, 0.0)
    assert [r["event"] for r in records] == ["sent", "done"] and len(n.sent) == 1
    assert calls == ["x" * 212]
