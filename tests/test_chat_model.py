"""lanmsg chat's pure parts: width and wrap, the line editor, completion, commands, the byte
budget, the chat model (states, presence, queue) and its rendering, and the key decoders."""

import time

import pytest

from lanmsg.chat import commands
from lanmsg.chat.keys import Key, VTDecoder, windows_key
from lanmsg.chat.lineedit import LineEditor
from lanmsg.chat.model import (
    CONFIRMED,
    FAILED,
    PENDING,
    QUEUE_MAX,
    QUEUE_SENDS_MAX,
    ChatModel,
    Line,
    render,
    render_change,
)
from lanmsg.chat.textwidth import char_width, clip, clip_end, pad, text_width, wrap

# -- width and wrap -------------------------------------------------------------

WOMAN_TECHNOLOGIST = "\U0001f469\u200d\U0001f4bb"  # 👩‍💻
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧
GERMANY = "\U0001f1e9\U0001f1ea"  # 🇩🇪
THUMBS_UP_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽
E_ACUTE = "e\u0301"


def test_width_of_ascii_cjk_emoji_and_combining_marks():
    assert text_width("hello") == 5
    assert text_width("日本語") == 6
    assert text_width("☕") == 2 and text_width("😀") == 2
    assert text_width("e\u0301") == 1  # e + combining acute
    assert text_width("a\u200bb") == 2  # zero-width space
    assert char_width("\ufe0f") == 0


def test_clip_and_pad_never_cut_a_wide_character():
    assert clip("日本語", 5) == "日本"
    assert pad("日本語", 5) == "日本 "
    assert pad("ab", 4) == "ab  "


@pytest.mark.parametrize("width", [2, 3, 5, 8, 13, 40])
def test_wrap_lines_fit_and_keep_every_character(width):
    text = "the quick brown fox 日本語のテキスト jumps over ☕☕ thelazydogwithaverylongname"
    lines = wrap(text, width)
    assert all(text_width(line) <= width for line in lines), lines
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_wrap_breaks_at_spaces_and_indents_continuations():
    assert wrap("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
    assert wrap("aaa bbb ccc", 8, indent=2) == ["aaa bbb", "  ccc"]
    assert wrap("", 10) == [""]
    assert wrap("日本語", 4) == ["日本", "語"]
    assert wrap("a日", 1) == ["a", "日"]  # a wide character alone on a one-cell line
    # text without spaces longer than a line (CJK, a URL) fills the line it starts on
    assert wrap("<李> " + "你好" * 6, 10, indent=2) == ["<李> 你好", "  你好你好", "  你好你好", "  你好"]
    assert wrap("see https://x.org/long/path", 12) == ["see https://", "x.org/long/p", "ath"]


def test_emoji_sequences_are_measured_clipped_and_wrapped_whole():
    for emoji in (WOMAN_TECHNOLOGIST, RAINBOW_FLAG, FAMILY, GERMANY, THUMBS_UP_MEDIUM):
        assert text_width(emoji) == 2 and text_width(f"a{emoji}b") == 4
        assert clip(f"a{emoji}b", 2) == "a" and clip(f"a{emoji}b", 3) == f"a{emoji}"
        assert clip_end(f"a{emoji}b", 2) == "b" and clip_end(f"a{emoji}b", 3) == f"{emoji}b"
        assert pad(f"a{emoji}", 5) == f"a{emoji}  "
        assert wrap(emoji * 5, 4) == [emoji * 2, emoji * 2, emoji]
        assert wrap(emoji, 1) == [emoji]  # alone on a one-cell line, never cut
    assert text_width("Hangul \u1100\u1161\u11a8") == 9
    assert clip(f"caf{E_ACUTE}s", 4) == f"caf{E_ACUTE}" and wrap(f"ab {E_ACUTE}{E_ACUTE}", 2) == ["ab", E_ACUTE * 2]
    assert wrap(" \u0301x y", 3) == [" \u0301x", "y"]  # a mark after a space is part of the word


@pytest.fixture
def code_point_terminal():
    """The layout measures as for a terminal that draws emoji code point by code point."""
    from lanmsg.chat import graphemes

    graphemes.set_joined_kinds(())
    yield
    graphemes.set_joined_kinds(graphemes.EMOJI_KINDS)


def test_emoji_measured_as_a_terminal_that_does_not_join_them_draws_them(code_point_terminal):
    assert text_width(WOMAN_TECHNOLOGIST) == 4  # 👩 and 💻
    assert text_width(FAMILY) == 6
    assert text_width(RAINBOW_FLAG) == 3  # 🏳 (one cell without its VS16) and 🌈
    assert text_width(THUMBS_UP_MEDIUM) == 4
    assert text_width("\u2764\ufe0f") == 1 and text_width("1\ufe0f\u20e3") == 1
    assert text_width(GERMANY) == 2  # a flag: two cells either way
    assert clip(f"a{WOMAN_TECHNOLOGIST}b", 4) == "a" and clip(f"a{WOMAN_TECHNOLOGIST}b", 5) == f"a{WOMAN_TECHNOLOGIST}"
    ed = typed(f"a{WOMAN_TECHNOLOGIST}b")
    ed.left()
    assert ed.cursor_width() == 5  # still one step over it, measured as drawn


def test_some_kinds_joined_others_not():
    from lanmsg.chat import graphemes

    graphemes.set_joined_kinds({"vs16"})  # VS16 widens, ZWJ sequences fall apart
    try:
        assert text_width(RAINBOW_FLAG) == 4 and text_width("\u2764\ufe0f") == 2
    finally:
        graphemes.set_joined_kinds(graphemes.EMOJI_KINDS)
    assert text_width(RAINBOW_FLAG) == 2


def test_curses_is_handed_only_what_it_counts_as_the_terminal_draws():
    from lanmsg.chat.screen import curses_pieces

    assert curses_pieces("plain ascii") == [(0, "plain ascii", True)]
    assert curses_pieces(f"ab{WOMAN_TECHNOLOGIST}c\u65e5{E_ACUTE}!") == [
        (0, "ab", True),
        (2, WOMAN_TECHNOLOGIST, False),
        (4, "c\u65e5" + E_ACUTE + "!", True),
    ]
    assert curses_pieces("\u1100\u1161\u11a8x") == [(0, "\u1100\u1161\u11a8", False), (2, "x", True)]  # jamo
    assert curses_pieces("a" + "\u0301" * 5) == [(0, "a" + "\u0301" * 5, False)]  # more marks than a cell holds


# -- line editor ----------------------------------------------------------------


def typed(text, cursor=None):
    ed = LineEditor()
    ed.insert(text)
    if cursor is not None:
        ed.cursor = cursor
    return ed


def test_insert_and_cursor_moves():
    ed = typed("hello world")
    ed.left()
    ed.left()
    ed.insert("XY")
    assert (ed.text, ed.cursor) == ("hello worXYld", 11)
    ed.home()
    ed.insert(">")
    assert (ed.text, ed.cursor) == (">hello worXYld", 1)
    ed.end()
    assert ed.cursor == len(ed.text)


def test_backspace_delete_and_bounds():
    ed = typed("abc", 1)
    ed.backspace()
    assert (ed.text, ed.cursor) == ("bc", 0)
    ed.backspace()
    assert (ed.text, ed.cursor) == ("bc", 0)
    ed.delete()
    assert (ed.text, ed.cursor) == ("c", 0)
    ed.end()
    ed.delete()
    ed.right()
    assert (ed.text, ed.cursor) == ("c", 1)


def test_word_moves_and_kills():
    ed = typed("one two  three")
    ed.word_left()
    assert ed.cursor == 9
    ed.word_left()
    assert ed.cursor == 4
    ed.word_right()
    assert ed.cursor == 7
    ed.kill_word_back()
    assert (ed.text, ed.cursor) == ("one   three", 4)
    ed.kill_to_end()
    assert ed.text == "one " and ed.killed == "  three"
    ed.yank()
    assert ed.text == "one   three"
    ed.cursor = 4
    ed.kill_to_start()
    assert (ed.text, ed.cursor) == ("  three", 0)


def test_cursor_width_counts_cells_and_skips_combining_marks():
    ed = typed("日本e\u0301x")
    assert ed.cursor_width() == 6
    ed.left()  # before x
    ed.left()  # before e + mark, not between them
    assert ed.cursor == 2 and ed.cursor_width() == 4
    ed.delete()
    assert ed.text == "日本x"


@pytest.mark.parametrize("emoji", [WOMAN_TECHNOLOGIST, RAINBOW_FLAG, FAMILY, GERMANY, THUMBS_UP_MEDIUM, E_ACUTE])
def test_one_cursor_step_over_a_cluster(emoji):
    ed = typed(f"a{emoji}b")
    ed.left()
    assert ed.cursor == 1 + len(emoji) and ed.cursor_width() == 1 + text_width(emoji)
    ed.left()
    assert ed.cursor == 1 and ed.cursor_width() == 1
    ed.right()
    assert ed.cursor == 1 + len(emoji)
    ed.backspace()  # the whole emoji, not its last code point
    assert (ed.text, ed.cursor) == ("ab", 1)
    ed.insert(emoji)
    ed.left()
    ed.delete()
    assert (ed.text, ed.cursor) == ("ab", 1)


def test_typing_inside_the_family_is_not_possible():
    ed = typed(f"{FAMILY}!")
    ed.home()
    ed.right()
    assert ed.cursor == len(FAMILY)  # past all of it: no cursor position splits it
    ed.insert("x")
    assert ed.text == f"{FAMILY}x!"


def test_an_emoji_sequence_typed_in_pieces_joins():
    ed = typed("\U0001f469")
    ed.insert("\u200d")  # a terminal read can end after the joiner
    ed.insert("\U0001f4bb")
    assert ed.text == WOMAN_TECHNOLOGIST and ed.cursor == len(WOMAN_TECHNOLOGIST) and ed.cursor_width() == 2
    ed.left()
    assert ed.cursor == 0


def test_a_mark_typed_before_a_mark_leaves_the_cursor_on_a_boundary():
    ed = typed("\u0301x", 0)
    ed.insert("e")  # e joins the mark that was on its own
    assert ed.text == f"{E_ACUTE}x" and ed.cursor == 2


def test_bidi_controls_and_a_lone_joiner_are_kept_but_shown_escaped():
    ed = typed("abc\u202edef\u200d")
    assert ed.text == "abc\u202edef\u200d"  # chat keeps what you typed ...
    assert ed.cursor_width() == len("abc\\u202edef\\u200d")  # ... and the line shows it escaped
    ed.left()  # a lone joiner belongs to the letter before it (one cluster, as a mark would)
    assert ed.cursor == len("abc\u202ede") and ed.cursor_width() == len("abc\\u202ede")
    ed.cursor = 4
    ed.left()  # a bidi control is a cluster of its own
    assert ed.cursor == 3 and ed.cursor_width() == 3


def test_control_characters_are_not_inserted():
    ed = typed("a\x1b[31mb\x07")
    assert ed.text == "a[31mb"


def test_history_up_down_keeps_the_draft():
    ed = LineEditor()
    for line in ("first", "second", "second", "   "):
        ed.insert(line)
        ed.submit()
    assert ed.history == ["first", "second"]
    ed.insert("draft")
    ed.up()
    assert ed.text == "second"
    ed.up()
    ed.up()
    assert ed.text == "first"
    ed.down()
    assert ed.text == "second"
    ed.down()
    assert (ed.text, ed.cursor) == ("draft", 5)
    ed.down()
    assert ed.text == "draft"


def test_tab_completes_names_most_recent_first_and_commands():
    ed = typed("/to b")
    assert ed.complete(["BOB", "ALICE"], commands.COMMAND_WORDS) == ["BOB"]
    assert (ed.text, ed.cursor) == ("/to BOB ", 8)
    ed = typed("hi al")
    assert ed.complete(["ALBERT", "ALICE"]) == ["ALBERT", "ALICE"]
    assert ed.text == "hi AL"  # the common start
    ed = typed("/re")
    assert ed.complete([], commands.COMMAND_WORDS) == ["/reply", "/refresh"]
    ed = typed("/wh")
    ed.complete([], commands.COMMAND_WORDS)
    assert ed.text == "/who "
    ed = typed("zz")
    assert ed.complete(["BOB"]) == [] and ed.text == "zz"


def test_tab_in_the_middle_of_a_line():
    ed = typed("hi bo there", 5)
    ed.complete(["BOB"])
    assert (ed.text, ed.cursor) == ("hi BOB there", 7)


# -- commands and the byte budget ------------------------------------------------


@pytest.mark.parametrize(
    "line, cmd",
    [
        ("hello", commands.Command("say", text="hello")),
        ("//etc/passwd is a file", commands.Command("say", text="/etc/passwd is a file")),
        ("/to BOB", commands.Command("to", name="BOB")),
        ("/TO *", commands.Command("to", name="*")),
        ("/t bob", commands.Command("to", name="bob")),
        ("/msg BOB  hi there ", commands.Command("msg", name="BOB", text="hi there")),
        ("/m BOB x", commands.Command("msg", name="BOB", text="x")),
        ("/reply", commands.Command("reply")),
        ("/rep thanks", commands.Command("reply", text="thanks")),
        ("/w", commands.Command("who")),
        ("/ref", commands.Command("refresh")),
        ("/h", commands.Command("help")),
        ("/q", commands.Command("quit")),
        ("   ", commands.Command("empty")),
    ],
)
def test_parse(line, cmd):
    assert commands.parse(line) == cmd


@pytest.mark.parametrize(
    "line, words",
    [
        ("/re", "ambiguous: /reply, /refresh"),
        ("/nope", "unknown command /nope"),
        ("/to", "usage: /to NAME"),
        ("/to A B", "usage: /to NAME"),
        ("/msg BOB", "usage: /msg NAME TEXT"),
        ("/who BOB", "takes no arguments"),
        ("/", "a command follows"),
    ],
)
def test_parse_errors(line, words):
    cmd = commands.parse(line)
    assert cmd.verb == "error" and words in cmd.text


def test_byte_budget_212_or_168_with_a_key_in_the_text_encoding():
    assert commands.bytes_left("", "utf-8", 250) == 212
    assert commands.bytes_left("", "utf-8", 250 - 44) == 168
    assert commands.bytes_left("x" * 212, "utf-8", 250) == 0
    assert commands.bytes_left("x" * 213, "utf-8", 250) == -1
    assert commands.bytes_left("é", "utf-8", 250) == 210
    assert commands.bytes_left("é", "cp1252", 250) == 211
    assert commands.bytes_left("日", "cp1252", 250) < 0  # cp1252 cannot carry it: never fits


def test_payload_is_what_a_line_would_send():
    assert commands.payload("hello") == "hello"
    assert commands.payload("//x") == "/x"
    assert commands.payload("/msg BOB hi") == "hi"
    assert commands.payload("/msg BOB") == ""
    assert commands.payload("/who") is None
    assert commands.payload("") == ""


# -- the model ----------------------------------------------------------------------


def model():
    return ChatModel("ME", "foxapp")


def test_incoming_message_rendered_escaped():
    m = model()
    line = m.received("BOB", "10.0.0.2", "hi \x1b]0;title\x07", 0.0)
    text = render(line)
    assert text.endswith("<BOB> hi \\x1b]0;title\\x07")
    assert "\x1b" not in text and m.last_sender == "BOB"


def test_emoji_sequences_are_rendered_whole_and_lone_joiners_and_bidi_controls_escaped():
    m = model()
    line = m.received(
        "BOB", "10.0.0.2", f"{WOMAN_TECHNOLOGIST} {RAINBOW_FLAG} {FAMILY} {GERMANY} {THUMBS_UP_MEDIUM}", 0.0
    )
    assert render(line).endswith(f"<BOB> {WOMAN_TECHNOLOGIST} {RAINBOW_FLAG} {FAMILY} {GERMANY} {THUMBS_UP_MEDIUM}")
    line = m.received("BOB", "10.0.0.2", "a\u200db \u202eevil\u202c \u2066x\u2069 \u200f\u061c", 0.0)
    assert render(line).endswith("<BOB> a\\u200db \\u202eevil\\u202c \\u2066x\\u2069 \\u200f\\u061c")
    out = m.outgoing("BOB", f"my {FAMILY} here", 0.0)
    assert f"-> BOB: my {FAMILY} here  [pending]" in render(m.lines[-1])
    assert out.text == f"my {FAMILY} here"


def test_a_quoted_message_start_never_cuts_an_emoji():
    from lanmsg.chat.model import quote

    text = "x" * 22 + FAMILY + "tail"
    assert quote(text) == '"' + "x" * 22 + '…"'
    assert quote("x" * 18 + FAMILY + "tail") == '"' + "x" * 18 + FAMILY + '…"'  # 23 code points and …


def test_completion_order_is_most_recently_active_first():
    m = model()
    m.peer_online("BOB", None, False, 0.0)
    m.peer_online("ALICE", None, False, 0.0)
    assert m.names() == ["ALICE", "BOB"]
    m.received("BOB", None, "hi", 1.0)
    assert m.names() == ["BOB", "ALICE"]


def test_own_message_states_in_words():
    m = model()
    out = m.outgoing("BOB", "hello")
    line = m.lines[-1]
    assert render(line).endswith("-> BOB: hello  [pending]")
    m.sent(out, 7)
    assert m.pending() == [out]
    m.confirmed(7, "BOB", "10.0.0.2", 1.0)
    assert out.state == CONFIRMED and render(line).endswith("[confirmed]")
    assert m.pending() == []
    (change,) = m.take_changes()
    assert render_change(change).endswith('=> "hello" to BOB: confirmed')  # presence has "*"


def test_a_message_relayed_for_a_one_shot_command_shows_its_state_and_is_not_queued():
    m = model()
    out = m.relayed("BOB", "from a script", 21, 0.0)
    assert render(m.lines[-1]).endswith("-> BOB: from a script  [pending] (sent by another lanmsg command)")
    m.not_delivered(21, 1.0)
    assert out.state == FAILED and not out.queued and m.queue == []


def test_broadcast_is_confirmed_by_n():
    m = model()
    out = m.outgoing("*", "lunch")
    m.sent(out, 9)
    m.confirmed(9, "BOB", None, 1.0)
    m.confirmed(9, "ALICE", None, 1.0)
    m.confirmed(9, "bob", None, 1.0)  # once per peer
    assert render(m.lines[-1]).endswith("[confirmed by 2]")
    assert m.not_delivered(9, 2.0) is None and out.state == CONFIRMED


def test_not_delivered_is_queued_and_sent_again_on_online():
    m = model()
    out = m.outgoing("BOB", "are you there")
    m.sent(out, 11)
    assert m.not_delivered(11, 3.0) is out
    assert out.state == FAILED and out.queued
    assert "[not delivered to BOB; queued until BOB is online]" in render(m.lines[-1])
    assert "queued 1" in m.status()
    assert m.peer_online("CAROL", "10.0.0.3", False, 4.0) == []
    due = m.peer_online("bob", "10.0.0.2", True, 5.0)  # an ONLINE heard again counts
    assert due == [out] and m.queue == []
    m.sent_again(out, 12, 5.0)
    assert out.state == PENDING and "[sent again, pending]" in render(m.lines[-3])
    m.confirmed(12, "BOB", "10.0.0.2", 6.0)
    assert "[sent again, confirmed]" in render(m.lines[-3])
    assert m.confirmed(11, "BOB", None, 6.0) is None  # the old id means nothing now


def test_queue_is_capped_and_each_message_sent_again_a_bounded_number_of_times():
    m = model()
    outs = []
    for i in range(QUEUE_MAX + 2):
        o = m.outgoing("BOB", f"m{i}")
        m.sent(o, 100 + i)
        m.not_delivered(100 + i, 1.0)
        outs.append(o)
    assert len(m.queue) == QUEUE_MAX
    assert not outs[0].queued and outs[-1].queued
    assert "queued until" not in render(m.lines[0])
    o = outs[-1]
    m.queue = [o]
    for n in range(QUEUE_SENDS_MAX):
        assert m.take_queued_for("BOB") == [o]
        m.sent_again(o, 1000 + n, 2.0)
        m.not_delivered(1000 + n, 3.0)
    assert not o.queued and m.queue == []


def test_broadcast_failure_is_not_queued():
    m = model()
    o = m.outgoing("*", "hello?")
    m.sent(o, 5)
    m.not_delivered(5, 1.0)
    assert not o.queued and "[not confirmed by anyone]" in render(m.lines[-1])


def test_presence_lines_and_status_bar():
    m = model()
    m.peer_online("BOB", "10.0.0.2", False, 0.0)
    m.peer_online("ALICE", "10.0.0.3", False, 0.0)
    m.peer_online("BOB", "10.0.0.2", True, 0.0)  # no second line
    assert [render(x, now=0.0).split(" ", 1)[1] for x in m.lines] == [
        "* BOB is online (10.0.0.2)",
        "* ALICE is online (10.0.0.3)",
    ]
    assert m.status() == "ME on foxapp | to * | online 2: ALICE BOB"
    m.peer_offline("BOB", "10.0.0.2", 1.0)
    assert m.status() == "ME on foxapp | to * | online 1: ALICE"
    m.scrolled = True
    m.received("ALICE", None, "psst", 2.0)
    assert m.unread == 1 and "unread" not in m.status()  # the full screen says it, once (layout)


def test_history_from_the_log_is_set_apart():
    m = model()
    records = [{"dir": "in", "from": "BOB", "text": f"old {i}", "time": 0} for i in range(60)]
    records.append({"dir": "out", "to": "BOB", "text": "mine", "time": 0})
    records.append({"garbage": True})
    assert m.history(records, "chat.log") == 50
    texts = [render(x) for x in m.lines]
    assert texts[0].endswith("-- history: the last 50 messages of chat.log")
    assert texts[1].endswith("[history] <BOB> old 11")
    assert texts[-2].endswith("[history] -> BOB: mine")
    assert texts[-1].endswith("-- end of history")


def test_a_line_from_another_day_shows_its_date():
    noon = time.mktime((2026, 12, 6, 12, 0, 0, 0, 0, -1))
    yesterday = noon - 86400
    line = Line("history", yesterday, "<BOB", "from yesterday")
    assert render(line, now=noon) == "2026-12-05 12:00:00 [history] <BOB> from yesterday"
    assert (
        render(Line("history", noon - 3600, "<BOB", "this morning"), now=noon)
        == "11:00:00 [history] <BOB> this morning"
    )
    assert render(Line("in", noon, "BOB", "now"), now=noon) == "12:00:00 <BOB> now"


def test_what_leaving_drops_in_words():
    m = model()
    assert m.dropped_words() == ""
    for i, to in enumerate(["BOB", "CAROL", "BOB"]):
        o = m.outgoing(to, f"m{i}")
        m.sent(o, 10 + i)
        m.not_delivered(10 + i, 1.0)
    pending = m.outgoing("DAVE", "waiting")
    m.sent(pending, 20)
    assert m.queued_to() == "BOB, CAROL"
    assert m.dropped_words() == "3 queued messages (to BOB, CAROL) dropped; 1 message not confirmed yet"


def test_render_kinds():
    assert render(Line("info", 0.0, "", "x")).endswith(" -- x")
    assert render(Line("error", 0.0, "", "bad")).endswith(" !! bad")


# -- keys --------------------------------------------------------------------------


def names(keys):
    return [k.name if k.name not in ("text", "paste") else (k.name, k.text) for k in keys]


def test_vt_decoder_keys_text_and_utf8_split_across_reads():
    d = VTDecoder()
    assert names(d.feed(b"ab\x1b[D\x1b[3~\r\x7f\t")) == [("text", "ab"), "left", "delete", "enter", "backspace", "tab"]
    assert names(d.feed("日".encode()[:2])) == []
    assert names(d.feed("日".encode()[2:])) == [("text", "日")]
    assert names(d.feed(b"\x1b[5~\x1b[6~\x1bOH\x1b[F\x1b[1;5D\x1bf\x01\x05")) == [
        "pgup",
        "pgdn",
        "home",
        "end",
        "word-left",
        "word-right",
        "ctrl-a",
        "ctrl-e",
    ]


def test_vt_decoder_lone_escape_waits_for_flush():
    d = VTDecoder()
    assert d.feed(b"\x1b") == [] and d.waiting
    assert names(d.flush()) == ["esc"]
    assert names(d.feed(b"\x1b[")) == []
    assert names(d.feed(b"A")) == ["up"]


def test_vt_decoder_bracketed_paste_even_when_split():
    d = VTDecoder()
    keys = d.feed(b"x\x1b[200~line one\nline")
    assert names(keys) == [("text", "x")]
    keys = d.feed(b" two\x1b[20")
    assert keys == []
    assert names(d.feed(b"1~y")) == [("paste", "line one\nline two"), ("text", "y")]


def test_windows_keys():
    assert windows_key("\xe0", "K") == Key("left")
    assert windows_key("\x00", "G") == Key("home")
    assert windows_key("\xe0", "S") == Key("delete")
    assert windows_key("\r") == Key("enter")
    assert windows_key("\x08") == Key("backspace")
    assert windows_key("\x04") == Key("ctrl-d")
    assert windows_key("é") == Key("text", "é")


# -- the full screen's layout (pure) -------------------------------------------------


def test_layout_rows_status_and_input_line():
    from lanmsg.chat.screen import STATUS, layout
    from lanmsg.chat.textwidth import text_width

    m = model()
    today = time.time()  # today's lines show no date
    for i in range(10):
        m.received("BOB", None, f"message {i} " + "x" * 30, today)
    m.peer_online("BOB", "10.0.0.2", False, today)
    f = layout(m, "hello 日本", 6, 200, 40, 8)
    assert len(f.rows) == 8 and all(text_width(r.text) <= 40 for r in f.rows)
    assert f.rows[-2].style == STATUS and f.rows[-2].text.startswith("ME on foxapp | to *")
    assert f.rows[-1].text.startswith("to *> hello 日本") and f.rows[-1].text.endswith(" 200")
    assert f.cursor == (7, len("to *> hello "))
    assert "online (10.0.0.2)" in f.rows[-3].text  # the newest line at the bottom of the view
    # scrolled back: older rows, and the status bar says so
    g = layout(m, "", 0, 212, 40, 8, scroll=3)
    assert g.rows[-2].text.startswith("-- scrolled back 3 (PgDn) --")
    m.scrolled = True
    m.received("BOB", None, "while you read", today)
    wide = layout(m, "", 0, 212, 200, 8, scroll=3)
    assert wide.rows[-2].text.startswith("-- scrolled back 3, unread 1 (PgDn) -- | ME on foxapp")
    assert wide.rows[-2].text.count("unread") == 1
    assert g.rows[:-2] != f.rows[:-2]
    assert g.scroll_max >= 3


def test_layout_too_long_input_is_marked_and_the_cursor_stays_visible():
    from lanmsg.chat.screen import BAD, layout

    m = model()
    text = "y" * 300
    f = layout(m, text, 300, -88, 40, 5)
    assert f.rows[-1].style == BAD and f.rows[-1].text.endswith("-88 too long")
    assert f.cursor[1] < 40
    tiny = layout(m, "abc", 1, 209, 10, 3)
    assert len(tiny.rows) == 3 and tiny.cursor[0] == 2


def test_layout_input_line_with_emoji_and_bidi_controls():
    from lanmsg.chat.screen import layout

    m = model()
    text = f"hi {FAMILY}\u202e!"
    f = layout(m, text, len(f"hi {FAMILY}"), 200, 40, 4)
    assert f.rows[-1].text.startswith(f"to *> hi {FAMILY}\\u202e!")
    assert f.cursor == (3, len("to *> hi ") + 2)  # the family takes two cells
    assert text_width(f.rows[-1].text) == 40
    # scrolled sideways: the emoji at the left edge is dropped whole, never cut
    g = layout(m, FAMILY * 30, 30 * len(FAMILY), 200, 40, 4)
    shown = g.rows[-1].text[len("to *> ") :].rstrip(" 0123456789")
    assert shown == FAMILY * (len(shown) // len(FAMILY))
    assert g.cursor[1] == len("to *> ") + text_width(shown)


def test_no_color_rules():
    from lanmsg.chat.screen import colour_allowed

    assert colour_allowed({"TERM": "xterm"})
    assert not colour_allowed({"TERM": "xterm", "NO_COLOR": "1"})
    assert colour_allowed({"TERM": "xterm", "NO_COLOR": ""})  # empty: not set (no-color.org)
    assert not colour_allowed({"TERM": "dumb"})
