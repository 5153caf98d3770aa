"""lanmsg.chat.graphemes: extended grapheme clusters (UAX #29) against Unicode's own test data
(tests/data, see its README), the cases chat users meet, cluster width and safe display."""

import itertools
import os
import re
import subprocess
import sys
import unicodedata

import pytest

from lanmsg.chat import graphemes as G
from lanmsg.chat.graphemes import (
    boundaries,
    break_property,
    char_width,
    cluster_width,
    extended_pictographic,
    graphemes,
    is_boundary,
    next_boundary,
    prev_boundary,
    safe_display,
    width,
)

DATA = os.path.join(os.path.dirname(__file__), "data")
PY_UNICODE = unicodedata.unidata_version


def _read(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read().splitlines()


def _version(lines):
    m = re.match(r"# \w+-(\d+\.\d+\.\d+)\.txt", lines[0])
    assert m, lines[0]
    return m.group(1)


# -- Unicode's GraphemeBreakTest.txt -------------------------------------------------------------

# the test file's names for the properties of its sample characters
_TEST_NAMES = {"Extend_ExtCccZwj": "Extend", "ZWJ_ExtCccZwj": "ZWJ", "RI": "Regional_Indicator", "ExtPict": "ExtPict"}


def _break_test_cases():
    lines = _read("GraphemeBreakTest.txt")
    cases = []
    for number, line in enumerate(lines, 1):
        data, _, comment = line.partition("#")
        if not data.strip():
            continue
        chars, breaks = [], []
        for token in data.split():
            if token in ("÷", "×"):
                breaks.append(token == "÷")
            else:
                chars.append(chr(int(token, 16)))
        props = [_TEST_NAMES.get(p, p) for p in re.findall(r"\(([A-Za-z_]+)\) [÷×] \[", comment)]
        assert len(props) == len(chars) and len(breaks) == len(chars) + 1, line
        cases.append(pytest.param("".join(chars), breaks, props, id=f"line{number}"))
    return cases


BREAK_TEST = _break_test_cases()


def test_the_data_is_of_the_tables_unicode_version():
    assert _version(_read("GraphemeBreakTest.txt")) == G.UNICODE_VERSION
    assert _version(_read("GraphemeBreakProperty.txt")) == G.UNICODE_VERSION
    assert len(BREAK_TEST) == 602  # the file's own count ("# Lines: 602")


def _property(ch, want):
    """The property the test file gives a sample character: its Grapheme_Cluster_Break, or
    ExtPict (for its ExtPict samples; other characters may be Extended_Pictographic too)."""
    if want == "ExtPict":
        return "ExtPict" if extended_pictographic(ch) else break_property(ch)
    return break_property(ch)


@pytest.mark.parametrize(("text", "breaks", "props"), BREAK_TEST)
def test_grapheme_break_test_line(text, breaks, props):
    # A line whose sample character this Python's unicodedata does not know yet (so its
    # category, and what is derived from it, differ) is skipped, and says so: none in 15.0's file
    # on Python 3.10 to 3.13.
    for ch, want in zip(text, props, strict=True):
        got = _property(ch, want)
        if got != want:
            if unicodedata.category(ch) == "Cn":
                pytest.skip(f"U+{ord(ch):04X} is {want} in Unicode {G.UNICODE_VERSION}, unassigned in {PY_UNICODE}")
            pytest.fail(f"U+{ord(ch):04X}: {got}, the test file says {want}")
    want = [i for i, brk in enumerate(breaks) if brk]
    assert boundaries(text) == want
    assert [len(c) for c in graphemes(text)] == [b - a for a, b in itertools.pairwise(want)]
    # the cursor: Right from the start and Left from the end step on exactly these boundaries
    i, right = 0, [0]
    while i < len(text):
        i = next_boundary(text, i)
        right.append(i)
    assert right == want
    i, left = len(text), [len(text)]
    while i > 0:
        i = prev_boundary(text, i)
        left.append(i)
    assert left[::-1] == want
    assert [i for i in range(len(text) + 1) if is_boundary(text, i)] == want
    # from inside a cluster too: the boundaries around the index
    for i in range(len(text)):
        assert next_boundary(text, i) == min(b for b in want if b > i)
        assert prev_boundary(text, i + 1) == max(b for b in want if b <= i)


# -- every code point's property ---------------------------------------------------------------


def _property_file():
    want = {}
    for line in _read("GraphemeBreakProperty.txt"):
        data = line.partition("#")[0].strip()
        if data:
            where, value = (x.strip() for x in data.split(";"))
            lo, _, hi = where.partition("..")
            for cp in range(int(lo, 16), int(hi or lo, 16) + 1):
                want[cp] = value
    return want


# Assigned code points whose General_Category changed between Unicode 13.0 and the table's
# version, so that what is derived from it differs on an older Python: code point -> the
# version whose category the file's property follows.
CATEGORY_CHANGES = {0x1734: "14.0.0"}  # HANUNOO SIGN PAMUDPOD: Mn (Extend) until 13.0, Mc (SpacingMark) since


def _older(version):
    return tuple(map(int, PY_UNICODE.split("."))) < tuple(map(int, version.split(".")))


def _property_mismatches():
    """Code points whose derived Grapheme_Cluster_Break is not the file's: (not explained by the
    Unicode versions, explained: unassigned in this Python or of another category in it)."""
    want = _property_file()
    wrong, older = [], []
    for cp in range(0x110000):
        if 0x40000 <= cp < 0xE0000:
            continue  # planes 4 to 13: nothing assigned, nothing in the file
        ch = chr(cp)
        got = break_property(ch)
        if got != want.get(cp, "Other"):
            newer = unicodedata.category(ch) == "Cn" or (cp in CATEGORY_CHANGES and _older(CATEGORY_CHANGES[cp]))
            (older if newer else wrong).append(f"U+{cp:04X} {got} != {want.get(cp, 'Other')}")
    return wrong, older


_MISMATCHES = []


def _mismatches():
    if not _MISMATCHES:
        _MISMATCHES.append(_property_mismatches())
    return _MISMATCHES[0]


def test_every_code_point_has_the_files_property():
    wrong, older = _mismatches()
    assert wrong == []
    if PY_UNICODE == G.UNICODE_VERSION:
        assert older == []


def test_code_points_newer_than_this_python():
    # Characters added after the running Python's Unicode version are unassigned (Cn) in its
    # unicodedata, so they are Other here unless the table names them, and a character whose
    # category changed since has the property of the older category: counted, not failed.
    _, older = _mismatches()
    if older:
        pytest.skip(
            f"{len(older)} code points have another property in Unicode {G.UNICODE_VERSION} than in "
            f"Python's {PY_UNICODE} (unassigned there, or of another category), e.g. {older[0]}"
        )


# -- what chat users type --------------------------------------------------------------------

WOMAN_TECHNOLOGIST = "\U0001f469\u200d\U0001f4bb"  # 👩‍💻
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧
GERMANY = "\U0001f1e9\U0001f1ea"  # 🇩🇪
THUMBS_UP_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽
E_ACUTE = "e\u0301"  # é as e + COMBINING ACUTE ACCENT
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # 🏴 + tags
HANGUL_JAMO = "\u1100\u1161\u11a8"  # 각 written as L V T


@pytest.mark.parametrize(
    "cluster",
    [WOMAN_TECHNOLOGIST, RAINBOW_FLAG, FAMILY, GERMANY, THUMBS_UP_MEDIUM, SCOTLAND, "\u2764\ufe0f", "1\ufe0f\u20e3"],
)
def test_an_emoji_sequence_is_one_cluster_two_cells_wide_and_shown_as_it_is(cluster):
    text = f"a{cluster}b"
    assert graphemes(text) == ["a", cluster, "b"]
    assert cluster_width(cluster) == 2 and width(text) == 4
    assert safe_display(text) == text
    assert next_boundary(text, 1) == 1 + len(cluster)
    assert prev_boundary(text, 1 + len(cluster)) == 1


def test_flags_pair_up():
    fr = "\U0001f1eb\U0001f1f7"
    assert graphemes(GERMANY + fr + "\U0001f1ee") == [GERMANY, fr, "\U0001f1ee"]
    assert width(GERMANY + fr) == 4


def test_cursor_never_stands_inside_the_family():
    text = f"hi {FAMILY}!"
    stops = [0]
    while stops[-1] < len(text):
        stops.append(next_boundary(text, stops[-1]))
    assert stops == [0, 1, 2, 3, 3 + len(FAMILY), len(text)]


def test_combining_marks_and_hangul_jamo():
    assert graphemes(f"caf{E_ACUTE}!") == ["c", "a", "f", E_ACUTE, "!"]
    assert cluster_width(E_ACUTE) == 1
    assert graphemes(HANGUL_JAMO + "\uac01") == [HANGUL_JAMO, "\uac01"]  # 각 then the precomposed 각
    assert cluster_width(HANGUL_JAMO) == 2 and cluster_width("\uac01") == 2
    assert graphemes("\u1100\u1100\uac00\u11a8\u1161") == ["\u1100\u1100\uac00\u11a8", "\u1161"]  # L L LV T | V
    assert graphemes("\u0915\u094d\u0937") == ["\u0915\u094d", "\u0937"]  # no GB9c (Unicode 15.1) here
    assert graphemes("\u0938\u0903x") == ["\u0938\u0903", "x"]  # a spacing mark stays with its letter
    assert cluster_width("\u0938\u0903") == 2  # ... and takes its own cell, as terminals draw it
    assert graphemes("\u0600\u0661x") == ["\u0600\u0661", "x"]  # Prepend


def test_crlf_is_one_cluster_and_other_controls_stand_alone():
    assert graphemes("a\r\nb") == ["a", "\r\n", "b"]
    assert graphemes("a\n\rb") == ["a", "\n", "\r", "b"]
    assert graphemes("\r\n\u0301") == ["\r\n", "\u0301"]  # nothing extends a control
    assert next_boundary("a\r\nb", 1) == 3 and prev_boundary("a\r\nb", 3) == 1
    assert graphemes("\x1b[31m") == ["\x1b", "[", "3", "1", "m"]


def test_a_lone_zwj_is_escaped_one_inside_an_emoji_is_not():
    assert safe_display("a\u200db") == "a\\u200db"
    assert safe_display("\u200d") == "\\u200d"
    assert safe_display("\U0001f469\u200d") == "\U0001f469\\u200d"  # nothing after it to join
    assert safe_display("\U0001f469\u200dx") == "\U0001f469\\u200dx"
    assert safe_display(f"{WOMAN_TECHNOLOGIST} at work") == f"{WOMAN_TECHNOLOGIST} at work"
    assert graphemes("a\u200d\U0001f4bb") == ["a\u200d", "\U0001f4bb"]  # GB11 needs an emoji before


BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.parametrize("control", list(BIDI_CONTROLS), ids=[f"U+{ord(c):04X}" for c in BIDI_CONTROLS])
def test_bidi_controls_are_escaped_even_inside_an_emoji_sequence(control):
    code = f"\\u{ord(control):04x}"
    assert safe_display(f"abc{control}def") == f"abc{code}def"
    assert safe_display(f"{FAMILY}{control}{FAMILY}") == f"{FAMILY}{code}{FAMILY}"
    assert graphemes(f"\U0001f469\u200d{control}\U0001f4bb") == ["\U0001f469\u200d", control, "\U0001f4bb"]


def test_safe_display_escapes_as_listen_does():
    from lanmsg.output import safe_text

    for text in ["\x1b[2J", "tab\there", "nul\x00", "\x7f\x85", "\ufeffbom", "a\u00a0b", "\U000e0001x", "\udc80"]:
        assert safe_display(text) == safe_text(text)
    # every code point on its own (but the emoji, kept whole either way): as safe_text shows it
    for cp in [*range(0x3000), *range(0xFE00, 0x10000), *range(0x1F000, 0x1FB00), *range(0xE0000, 0xE0200)]:
        ch = chr(cp)
        assert safe_display(ch) == safe_text(ch), hex(cp)


def test_tags_are_kept_only_in_an_emoji_tag_sequence():
    assert safe_display(SCOTLAND) == SCOTLAND
    assert safe_display("x\U000e0067") == "x\\U000e0067"


def _one_code_point_width(ch):
    """A code point's cells by the rule lanmsg.chat.textwidth had before clusters (and terminals'
    wcwidth): zero-width and combining 0, East Asian wide and fullwidth 2, everything else 1."""
    if ch in "\u200b\u200c\u200d\u2060\ufeff" or unicodedata.combining(ch):
        return 0
    if unicodedata.category(ch) in ("Mn", "Me", "Cf") or "\ufe00" <= ch <= "\ufe0f":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def test_char_width_is_the_one_code_point_rule_for_every_code_point():
    from lanmsg.chat import textwidth

    for cp in [*range(0x30000), *range(0xE0000, 0xE1000)]:
        ch = chr(cp)
        assert char_width(ch) == textwidth.char_width(ch) == cluster_width(ch) == _one_code_point_width(ch), hex(cp)


def test_ascii_fast_paths_agree_with_the_rules():
    text = "".join(chr(c) for c in range(128)) + "\r\n\n\r"
    clusters = graphemes(text)
    assert "".join(clusters) == text and "\r\n" in clusters
    assert boundaries(text) == [0, *G._boundaries_after(text, 0)]
    assert [len(c) for c in clusters] == [b - a for a, b in itertools.pairwise(boundaries(text))]
    assert width("hello") == 5 and graphemes("") == [] and boundaries("") == [0]


def test_odd_cursor_positions_are_clamped():
    assert next_boundary("ab", 5) == 2 and next_boundary("ab", -3) == 1 and next_boundary("", 0) == 0
    assert prev_boundary("ab", 9) == 1 and prev_boundary("ab", 0) == 0 and prev_boundary("", 3) == 0


def test_long_runs_of_marks_and_regional_indicators():
    zalgo = "a" + "\u0301" * 500 + "b"
    assert graphemes(zalgo) == [zalgo[:-1], "b"]
    assert prev_boundary(zalgo, len(zalgo) - 1) == 0
    flags = "\U0001f1e6" * 9
    assert graphemes(flags) == ["\U0001f1e6\U0001f1e6"] * 4 + ["\U0001f1e6"]
    assert prev_boundary(flags, 9) == 8 and prev_boundary(flags, 8) == 6 and next_boundary(flags, 3) == 4


def test_import_is_cheap():
    # no module of lanmsg beyond the chat package's own start, no typing; the tables are built on first use
    code = (
        "import sys; import lanmsg.chat; before = set(sys.modules); import lanmsg.chat.graphemes as g; "
        "assert 'typing' not in sys.modules, 'typing'; "
        "assert {m for m in set(sys.modules) - before if m.startswith('lanmsg')} == {'lanmsg.chat.graphemes'}; "
        "assert not g._pairs and not g._cache"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-S", "-c", code], check=True, cwd=root)
