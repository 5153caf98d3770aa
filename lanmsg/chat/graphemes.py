"""Extended grapheme clusters (Unicode UAX #29), their width in terminal cells, and text made
safe to show without taking emoji apart (standard library only, no import from lanmsg).

A grapheme cluster is what a reader takes for one character: ``e`` plus a combining accent, a
Hangul syllable written as jamo, a flag (two regional indicators), 👍🏽 (a skin tone modifier),
👩‍💻 and 👨‍👩‍👧 (emoji joined by ZERO WIDTH JOINER), 🏳️‍🌈.  The chat's cursor steps over
one cluster at a time, and a cluster is measured and shown whole.

The rules are UAX #29's extended grapheme cluster rules of Unicode 15.0 (GB1-GB13, GB999;
GB9c, added in 15.1 for Indic conjuncts, is not applied).  The properties they need:

* General_Category comes from the running Python's ``unicodedata`` (Unicode 13.0 on Python
  3.10, 14.0 on 3.11, 15.0 on 3.12, 15.1 on 3.13): Mn and Me are Extend, Mc is SpacingMark,
  Cc, Cf, Zl and Zp are Control, everything else is Other.
* The code points where Grapheme_Cluster_Break is not what its category says (CR, LF, ZWJ,
  Prepend, the regional indicators, the Hangul jamo, the Mc and Cf that are Extend, the Mc
  that are not SpacingMark, ...) and Extended_Pictographic are one table of code point ranges
  below, generated from the Unicode data files by scripts/gen-grapheme-tables.py (its version
  is ``UNICODE_VERSION``).  Hangul syllables are LV or LVT by arithmetic.

So a character that the running Python does not know yet is Other, as its Unicode version says,
unless the table (a newer version) names it.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

# Grapheme_Cluster_Break values; PICT is Other with Extended_Pictographic=Yes (no code point is both
# Extended_Pictographic and anything but Other).
OTHER, CR, LF, CONTROL, EXTEND, ZWJ, RI, PREPEND, SPACINGMARK, L, V, T, LV, LVT, PICT = range(15)
_N = 15
_DERIVE, _HANGUL = 15, 16  # in the table only: "from the category", "LV or LVT by arithmetic"

PROPERTY_NAMES = (
    "Other",
    "CR",
    "LF",
    "Control",
    "Extend",
    "ZWJ",
    "Regional_Indicator",
    "Prepend",
    "SpacingMark",
    "L",
    "V",
    "T",
    "LV",
    "LVT",
    "Other",  # PICT: Extended_Pictographic
)

_ZWJ = "\u200d"
_VS16 = "\ufe0f"  # VARIATION SELECTOR-16: emoji presentation
_KEYCAP_BASES = "0123456789#*"


def _from_category(cat: str) -> int:
    """The Grapheme_Cluster_Break a General_Category gives, where the table says nothing."""
    if cat in ("Mn", "Me"):
        return EXTEND
    if cat == "Mc":
        return SPACINGMARK
    if cat in ("Cc", "Cf", "Zl", "Zp"):
        return CONTROL
    return OTHER


def _lookup(cp: int) -> int:
    v = _VALUES[bisect_right(_STARTS, cp) - 1]
    if v == _DERIVE:
        return _from_category(unicodedata.category(chr(cp)))
    if v == _HANGUL:
        return LV if (cp - 0xAC00) % 28 == 0 else LVT
    return v


_cache: dict[str, int] = {}
_CACHE_MAX = 4096


def _prop(ch: str) -> int:
    p = _cache.get(ch)
    if p is None:
        p = _lookup(ord(ch))
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[ch] = p
    return p


def break_property(ch: str) -> str:
    """Grapheme_Cluster_Break of one code point, by its UCD name ("Extend", "Regional_Indicator", ...)."""
    return PROPERTY_NAMES[_prop(ch)]


def extended_pictographic(ch: str) -> bool:
    return _prop(ch) == PICT


# -- the rules ---------------------------------------------------------------------------------

_BREAK, _JOIN, _GB11, _GB12 = 0, 1, 2, 3  # pair table values; _GB11/_GB12: it depends on what came before
_pairs: list[int] = []


def _pair_table() -> list[int]:
    """What UAX #29's rules say about two adjacent code points, by their properties (built on first use)."""
    if not _pairs:
        _pairs[:] = [_pair(a, b) for a in range(_N) for b in range(_N)]
    return _pairs


def _pair(a: int, b: int) -> int:
    if a == CR and b == LF:
        return _JOIN  # GB3
    if a in (CONTROL, CR, LF) or b in (CONTROL, CR, LF):
        return _BREAK  # GB4, GB5
    if a == L and b in (L, V, LV, LVT):
        return _JOIN  # GB6
    if a in (LV, V) and b in (V, T):
        return _JOIN  # GB7
    if a in (LVT, T) and b == T:
        return _JOIN  # GB8
    if b in (EXTEND, ZWJ, SPACINGMARK) or a == PREPEND:
        return _JOIN  # GB9, GB9a, GB9b
    if a == ZWJ and b == PICT:
        return _GB11  # ExtPict Extend* ZWJ × ExtPict
    if a == RI and b == RI:
        return _GB12  # GB12, GB13: regional indicators pair up
    return _BREAK  # GB999


def _boundaries_after(text: str, start: int) -> Iterator[int]:
    """The cluster boundaries after ``start`` (which must be one no context can take away), up to
    and including ``len(text)``."""
    n = len(text)
    if start >= n:
        return
    pairs = _pair_table()
    prop = _prop
    prev = prop(text[start])
    pict = 1 if prev == PICT else 0  # 1: after ExtPict Extend*, 2: after ExtPict Extend* ZWJ
    ri = 1 if prev == RI else 0  # regional indicators in a row, up to here
    for k in range(start + 1, n):
        cur = prop(text[k])
        r = pairs[prev * _N + cur]
        if r == _BREAK or (r == _GB11 and pict != 2) or (r == _GB12 and ri % 2 == 0):
            yield k
        if cur == PICT:
            pict = 1
        elif cur == EXTEND:
            pict = 1 if pict == 1 else 0
        elif cur == ZWJ:
            pict = 2 if pict == 1 else 0
        else:
            pict = 0
        ri = ri + 1 if cur == RI else 0
        prev = cur
    yield n


def _sure_break(text: str, i: int) -> bool:
    """There is a boundary before ``text[i]`` whatever comes before ``text[i - 1]``."""
    return _pair_table()[_prop(text[i - 1]) * _N + _prop(text[i])] == _BREAK


def _sure_start(text: str, i: int) -> int:
    """The last position at or before ``i`` that is a boundary whatever came before it."""
    while i > 0 and not _sure_break(text, i):
        i -= 1
    return i


def graphemes(text: str) -> list[str]:
    """``text`` cut into extended grapheme clusters."""
    if text.isascii():
        if "\r\n" not in text:
            return list(text)
        out: list[str] = []
        for i, part in enumerate(text.split("\r\n")):
            if i:
                out.append("\r\n")
            out.extend(part)
        return out
    out = []
    start = 0
    for end in _boundaries_after(text, 0):
        out.append(text[start:end])
        start = end
    return out


def boundaries(text: str) -> list[int]:
    """Every cluster boundary of ``text``: 0, ..., ``len(text)`` (just [0] for "")."""
    return [0, *_boundaries_after(text, 0)]


def next_boundary(text: str, i: int) -> int:
    """The first cluster boundary after index ``i`` (``len(text)`` at the end): where the cursor
    goes on Right, and the end of what Delete removes."""
    n = len(text)
    if i >= n:
        return n
    i = max(0, i)
    if i + 1 == n or (text[i] < "\x80" and text[i + 1] < "\x80" and text[i : i + 2] != "\r\n"):
        return i + 1  # two ASCII characters: always a boundary between them (but CR LF)
    for b in _boundaries_after(text, _sure_start(text, i)):
        if b > i:
            return b
    return n  # not reached: the boundaries end with n


def prev_boundary(text: str, i: int) -> int:
    """The last cluster boundary before index ``i`` (0 at the start): where the cursor goes on
    Left, and the start of what Backspace removes."""
    i = min(i, len(text))
    if i <= 1:
        return 0
    if text[i - 2] < "\x80" and text[i - 1] < "\x80" and text[i - 2 : i] != "\r\n":
        return i - 1
    start = _sure_start(text, i - 1)
    last = start
    for b in _boundaries_after(text, start):
        if b >= i:
            break
        last = b
    return last


def is_boundary(text: str, i: int) -> bool:
    """Whether a cluster boundary stands before ``text[i]`` (the start and the end are boundaries)."""
    if i <= 0 or i >= len(text):
        return i in (0, len(text))
    start = _sure_start(text, i)
    if start == i:
        return True
    for b in _boundaries_after(text, start):
        if b >= i:
            return b == i
    return False


# -- width -----------------------------------------------------------------------------------

_widths: dict[str, int] = {}  # clusters and code points measured (cleared at _CACHE_MAX)
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def char_width(ch: str) -> int:
    """Cells one code point takes on its own: 0, 1 or 2 (lanmsg.chat.textwidth's rules for a code point)."""
    if " " <= ch <= "~":
        return 1
    w = _widths.get(ch)
    if w is None:
        w = _char_width(ch)
        if len(_widths) >= _CACHE_MAX:
            _widths.clear()
        _widths[ch] = w
    return w


def _char_width(ch: str) -> int:
    if ch in _ZERO_WIDTH or unicodedata.combining(ch):
        return 0
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    if "\ufe00" <= ch <= "\ufe0f":  # variation selectors
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


# The kinds of emoji sequence (emoji_kind).  A terminal that knows them draws each as one glyph two
# cells wide; an older one draws it code point by code point (👩‍💻 as 👩 and 💻, four cells; ❤️ as
# ❤, one cell).  EMOJI_SAMPLES holds one of each kind whose two widths differ: a front end has the
# terminal draw them (lanmsg.chat.terminal) and says which it joins (set_joined_kinds).  A flag and
# a tag sequence take two cells either way.
EMOJI_KINDS = ("zwj", "modifier", "vs16", "keycap", "flag", "tag")
EMOJI_SAMPLES = {
    "zwj": "\U0001f469\u200d\U0001f4bb",  # 👩‍💻: 2 cells joined, 4 code point by code point
    "modifier": "\U0001f44d\U0001f3fd",  # 👍🏽: 2 or 4
    "vs16": "\u2764\ufe0f",  # ❤️: 2 or 1
    "keycap": "1\ufe0f\u20e3",  # 1️⃣: 2 or 1
}
_joined = set(EMOJI_KINDS)  # the kinds drawn as one glyph (all of them until a front end measured)


def emoji_kind(cluster: str) -> str | None:
    """The kind of emoji sequence ``cluster`` is (EMOJI_KINDS), or None: a ZWJ sequence (👩‍💻,
    🏳️‍🌈), a skin tone (👍🏽), an emoji presentation selector (❤️), a keycap (1️⃣), a flag (🇩🇪)
    or a tag sequence (🏴 + tags)."""
    if len(cluster) < 2:
        return None
    first = _prop(cluster[0])
    if first == RI:
        return "flag" if _prop(cluster[1]) == RI else None
    if first == PICT:
        rest = cluster[1:]
        if _ZWJ in rest and any(_prop(ch) == PICT for ch in rest):
            return "zwj"
        if any("\U0001f3fb" <= ch <= "\U0001f3ff" for ch in rest):
            return "modifier"
        if any("\U000e0020" <= ch <= "\U000e007f" for ch in rest):
            return "tag"
        return "vs16" if _VS16 in rest else None
    return "keycap" if cluster[0] in _KEYCAP_BASES and _VS16 in cluster else None


def set_joined_kinds(kinds: Iterable[str]) -> None:
    """Say which kinds of emoji sequence the terminal in use draws as one glyph (the others are
    measured code point by code point, as it then draws them).  Process-wide: one terminal."""
    _joined.clear()
    _joined.update(kinds)
    _widths.clear()


def joined_kinds() -> frozenset[str]:
    return frozenset(_joined)


def code_point_width(text: str) -> int:
    """Cells ``text`` takes on a terminal that draws it code point by code point (wcwidth added
    up, as curses counts): every zero-width code point stays in the cell before it."""
    return sum(char_width(ch) for ch in text)


def cluster_width(cluster: str) -> int:
    """Cells one grapheme cluster takes: an emoji sequence 2 (👩‍💻, 🏳️‍🌈, 👍🏽, 🇩🇪, ❤️) where the
    terminal draws its kind as one glyph (set_joined_kinds), else the cells of its parts; a
    Hangul syllable written as jamo 2; a single code point ``char_width``; anything else the cells
    of its code points added up (``e`` + U+0301: 1; a spacing mark takes its own cell, as on a
    terminal)."""
    w = _widths.get(cluster)
    if w is None:
        if len(cluster) < 2:
            return char_width(cluster) if cluster else 0
        kind = emoji_kind(cluster)
        if kind is not None and (kind in _joined or kind in ("flag", "tag")):
            w = 2
        elif kind == "zwj":  # the emoji it joins, each drawn as the terminal draws it alone
            w = sum(cluster_width(part) for part in cluster.split(_ZWJ))
        elif kind is None and _prop(cluster[0]) in (L, LV, LVT):
            w = 2
        else:
            w = code_point_width(cluster)
        if len(_widths) >= _CACHE_MAX:
            _widths.clear()
        _widths[cluster] = w
    return w


def width(text: str) -> int:
    """Cells ``text`` takes on one line: its clusters' ``cluster_width`` added up."""
    if text.isascii() and text.isprintable():
        return len(text)
    return sum(map(cluster_width, graphemes(text)))


# -- safe display ------------------------------------------------------------------------------


def escape_char(ch: str) -> str:
    """One code point as lanmsg shows what must not reach a terminal: ``\\x1b``, ``\\u202e``, ``\\U000e0001``."""
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _safe_cluster(cluster: str) -> str:
    emoji = _prop(cluster[0]) == PICT
    out = []
    last = len(cluster) - 1
    for k, ch in enumerate(cluster):
        if ch.isprintable():
            out.append(ch)
        elif emoji and ch == _ZWJ and k < last and _prop(cluster[k + 1]) == PICT:
            out.append(ch)  # joins two emoji of one cluster
        elif emoji and k and "\U000e0020" <= ch <= "\U000e007f":
            out.append(ch)  # tag sequence: a subdivision flag (🏴 + tags + CANCEL TAG)
        else:
            out.append(escape_char(ch))
    return "".join(out)


def safe_display(text: str) -> str:
    """Text that cannot drive a terminal, with emoji kept whole: control characters, bidi
    controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), every other invisible
    formatting character and a lone ZERO WIDTH JOINER are shown escaped (``\\x1b``, ``\\u200d``,
    as lanmsg.output.safe_text shows them); a ZWJ between two emoji of one cluster and the tag
    characters of a flag are kept."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _safe_cluster(c) for c in graphemes(text))


# -- the table -----------------------------------------------------------------------------------
# Generated by scripts/gen-grapheme-tables.py from the Unicode data files; do not edit by hand.
# BEGIN GENERATED
UNICODE_VERSION = "15.0.0"
# 294 ranges: (first code point, value), ...
# fmt: off
_TABLE = (
    0x0000, _DERIVE, 0x000A, LF, 0x000B, _DERIVE, 0x000D, CR,
    0x000E, _DERIVE, 0x00A9, PICT, 0x00AA, _DERIVE, 0x00AE, PICT,
    0x00AF, _DERIVE, 0x0600, PREPEND, 0x0606, _DERIVE, 0x06DD, PREPEND,
    0x06DE, _DERIVE, 0x070F, PREPEND, 0x0710, _DERIVE, 0x0890, PREPEND,
    0x0892, _DERIVE, 0x08E2, PREPEND, 0x08E3, _DERIVE, 0x09BE, EXTEND,
    0x09BF, _DERIVE, 0x09D7, EXTEND, 0x09D8, _DERIVE, 0x0B3E, EXTEND,
    0x0B3F, _DERIVE, 0x0B57, EXTEND, 0x0B58, _DERIVE, 0x0BBE, EXTEND,
    0x0BBF, _DERIVE, 0x0BD7, EXTEND, 0x0BD8, _DERIVE, 0x0CC2, EXTEND,
    0x0CC3, _DERIVE, 0x0CD5, EXTEND, 0x0CD7, _DERIVE, 0x0D3E, EXTEND,
    0x0D3F, _DERIVE, 0x0D4E, PREPEND, 0x0D4F, _DERIVE, 0x0D57, EXTEND,
    0x0D58, _DERIVE, 0x0DCF, EXTEND, 0x0DD0, _DERIVE, 0x0DDF, EXTEND,
    0x0DE0, _DERIVE, 0x0E33, SPACINGMARK, 0x0E34, _DERIVE, 0x0EB3, SPACINGMARK,
    0x0EB4, _DERIVE, 0x102B, OTHER, 0x102D, _DERIVE, 0x1038, OTHER,
    0x1039, _DERIVE, 0x1062, OTHER, 0x1065, _DERIVE, 0x1067, OTHER,
    0x106E, _DERIVE, 0x1083, OTHER, 0x1084, _DERIVE, 0x1087, OTHER,
    0x108D, _DERIVE, 0x108F, OTHER, 0x1090, _DERIVE, 0x109A, OTHER,
    0x109D, _DERIVE, 0x1100, L, 0x1160, V, 0x11A8, T,
    0x1200, _DERIVE, 0x1A61, OTHER, 0x1A62, _DERIVE, 0x1A63, OTHER,
    0x1A65, _DERIVE, 0x1B35, EXTEND, 0x1B36, _DERIVE, 0x200C, EXTEND,
    0x200D, ZWJ, 0x200E, _DERIVE, 0x203C, PICT, 0x203D, _DERIVE,
    0x2049, PICT, 0x204A, _DERIVE, 0x2065, CONTROL, 0x2066, _DERIVE,
    0x2122, PICT, 0x2123, _DERIVE, 0x2139, PICT, 0x213A, _DERIVE,
    0x2194, PICT, 0x219A, _DERIVE, 0x21A9, PICT, 0x21AB, _DERIVE,
    0x231A, PICT, 0x231C, _DERIVE, 0x2328, PICT, 0x2329, _DERIVE,
    0x2388, PICT, 0x2389, _DERIVE, 0x23CF, PICT, 0x23D0, _DERIVE,
    0x23E9, PICT, 0x23F4, _DERIVE, 0x23F8, PICT, 0x23FB, _DERIVE,
    0x24C2, PICT, 0x24C3, _DERIVE, 0x25AA, PICT, 0x25AC, _DERIVE,
    0x25B6, PICT, 0x25B7, _DERIVE, 0x25C0, PICT, 0x25C1, _DERIVE,
    0x25FB, PICT, 0x25FF, _DERIVE, 0x2600, PICT, 0x2606, _DERIVE,
    0x2607, PICT, 0x2613, _DERIVE, 0x2614, PICT, 0x2686, _DERIVE,
    0x2690, PICT, 0x2706, _DERIVE, 0x2708, PICT, 0x2713, _DERIVE,
    0x2714, PICT, 0x2715, _DERIVE, 0x2716, PICT, 0x2717, _DERIVE,
    0x271D, PICT, 0x271E, _DERIVE, 0x2721, PICT, 0x2722, _DERIVE,
    0x2728, PICT, 0x2729, _DERIVE, 0x2733, PICT, 0x2735, _DERIVE,
    0x2744, PICT, 0x2745, _DERIVE, 0x2747, PICT, 0x2748, _DERIVE,
    0x274C, PICT, 0x274D, _DERIVE, 0x274E, PICT, 0x274F, _DERIVE,
    0x2753, PICT, 0x2756, _DERIVE, 0x2757, PICT, 0x2758, _DERIVE,
    0x2763, PICT, 0x2768, _DERIVE, 0x2795, PICT, 0x2798, _DERIVE,
    0x27A1, PICT, 0x27A2, _DERIVE, 0x27B0, PICT, 0x27B1, _DERIVE,
    0x27BF, PICT, 0x27C0, _DERIVE, 0x2934, PICT, 0x2936, _DERIVE,
    0x2B05, PICT, 0x2B08, _DERIVE, 0x2B1B, PICT, 0x2B1D, _DERIVE,
    0x2B50, PICT, 0x2B51, _DERIVE, 0x2B55, PICT, 0x2B56, _DERIVE,
    0x302E, EXTEND, 0x3030, PICT, 0x3031, _DERIVE, 0x303D, PICT,
    0x303E, _DERIVE, 0x3297, PICT, 0x3298, _DERIVE, 0x3299, PICT,
    0x329A, _DERIVE, 0xA960, L, 0xA97D, _DERIVE, 0xAA7B, OTHER,
    0xAA7C, _DERIVE, 0xAA7D, OTHER, 0xAA7E, _DERIVE, 0xAC00, _HANGUL,
    0xD7A4, _DERIVE, 0xD7B0, V, 0xD7C7, _DERIVE, 0xD7CB, T,
    0xD7FC, _DERIVE, 0xFF9E, EXTEND, 0xFFA0, _DERIVE, 0xFFF0, CONTROL,
    0xFFF9, _DERIVE, 0x110BD, PREPEND, 0x110BE, _DERIVE, 0x110CD, PREPEND,
    0x110CE, _DERIVE, 0x111C2, PREPEND, 0x111C4, _DERIVE, 0x1133E, EXTEND,
    0x1133F, _DERIVE, 0x11357, EXTEND, 0x11358, _DERIVE, 0x114B0, EXTEND,
    0x114B1, _DERIVE, 0x114BD, EXTEND, 0x114BE, _DERIVE, 0x115AF, EXTEND,
    0x115B0, _DERIVE, 0x11720, OTHER, 0x11722, _DERIVE, 0x11930, EXTEND,
    0x11931, _DERIVE, 0x1193F, PREPEND, 0x11940, _DERIVE, 0x11941, PREPEND,
    0x11942, _DERIVE, 0x11A3A, PREPEND, 0x11A3B, _DERIVE, 0x11A84, PREPEND,
    0x11A8A, _DERIVE, 0x11D46, PREPEND, 0x11D47, _DERIVE, 0x11F02, PREPEND,
    0x11F03, _DERIVE, 0x1D165, EXTEND, 0x1D166, _DERIVE, 0x1D16E, EXTEND,
    0x1D173, _DERIVE, 0x1F000, PICT, 0x1F100, _DERIVE, 0x1F10D, PICT,
    0x1F110, _DERIVE, 0x1F12F, PICT, 0x1F130, _DERIVE, 0x1F16C, PICT,
    0x1F172, _DERIVE, 0x1F17E, PICT, 0x1F180, _DERIVE, 0x1F18E, PICT,
    0x1F18F, _DERIVE, 0x1F191, PICT, 0x1F19B, _DERIVE, 0x1F1AD, PICT,
    0x1F1E6, RI, 0x1F200, _DERIVE, 0x1F201, PICT, 0x1F210, _DERIVE,
    0x1F21A, PICT, 0x1F21B, _DERIVE, 0x1F22F, PICT, 0x1F230, _DERIVE,
    0x1F232, PICT, 0x1F23B, _DERIVE, 0x1F23C, PICT, 0x1F240, _DERIVE,
    0x1F249, PICT, 0x1F3FB, EXTEND, 0x1F400, PICT, 0x1F53E, _DERIVE,
    0x1F546, PICT, 0x1F650, _DERIVE, 0x1F680, PICT, 0x1F700, _DERIVE,
    0x1F774, PICT, 0x1F780, _DERIVE, 0x1F7D5, PICT, 0x1F800, _DERIVE,
    0x1F80C, PICT, 0x1F810, _DERIVE, 0x1F848, PICT, 0x1F850, _DERIVE,
    0x1F85A, PICT, 0x1F860, _DERIVE, 0x1F888, PICT, 0x1F890, _DERIVE,
    0x1F8AE, PICT, 0x1F900, _DERIVE, 0x1F90C, PICT, 0x1F93B, _DERIVE,
    0x1F93C, PICT, 0x1F946, _DERIVE, 0x1F947, PICT, 0x1FB00, _DERIVE,
    0x1FC00, PICT, 0x1FFFE, _DERIVE, 0xE0000, CONTROL, 0xE0001, _DERIVE,
    0xE0002, CONTROL, 0xE0020, EXTEND, 0xE0080, CONTROL, 0xE0100, _DERIVE,
    0xE01F0, CONTROL, 0xE1000, _DERIVE,
)
# fmt: on
# END GENERATED
_STARTS = _TABLE[0::2]  # ranges: _STARTS[i] up to _STARTS[i + 1] - 1 have _VALUES[i]
_VALUES = _TABLE[1::2]
