"""Display width of text in a terminal cell grid, and word-wrap by it (standard library only).

East Asian wide and fullwidth characters (CJK, most emoji) take two cells, combining marks and
zero-width characters none, everything else one.  Emoji built of several code points (ZWJ
sequences, flags) are counted per code point: terminals disagree on them anyway.
"""

from __future__ import annotations

import unicodedata

_ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}


def char_width(ch: str) -> int:
    """Cells one code point takes: 0, 1 or 2."""
    if ch in _ZERO_WIDTH or unicodedata.combining(ch):
        return 0
    cat = unicodedata.category(ch)
    if cat in ("Mn", "Me", "Cf"):
        return 0
    if "\ufe00" <= ch <= "\ufe0f":  # variation selectors
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Cells ``text`` takes on one line."""
    return sum(char_width(ch) for ch in text)


def clip(text: str, width: int) -> str:
    """The longest start of ``text`` that fits ``width`` cells (a wide character is never cut in half)."""
    used = 0
    for i, ch in enumerate(text):
        w = char_width(ch)
        if used + w > width:
            return text[:i]
        used += w
    return text


def clip_end(text: str, width: int) -> str:
    """The longest end of ``text`` that fits ``width`` cells."""
    used = 0
    for i in range(len(text) - 1, -1, -1):
        w = char_width(text[i])
        if used + w > width:
            return text[i + 1 :]
        used += w
    return text


def pad(text: str, width: int) -> str:
    """``text`` clipped or padded with spaces to exactly ``width`` cells."""
    text = clip(text, width)
    return text + " " * (width - text_width(text))


def wrap(text: str, width: int, indent: int = 0) -> list[str]:
    """``text`` in lines of at most ``width`` cells, broken at spaces where possible (words are
    never cut unless a word alone is wider than a line); lines after the first start with
    ``indent`` spaces.  Always at least one line."""
    width = max(1, width)
    indent = min(indent, width - 1) if width > 1 else 0
    lines: list[str] = []
    line = ""
    line_w = 0
    avail = width
    prefix = ""

    def flush() -> None:
        nonlocal line, line_w, avail, prefix
        lines.append(prefix + line.rstrip(" "))
        prefix = " " * indent
        avail = width - indent
        line, line_w = "", 0

    for word in _words(text):
        w = text_width(word)
        if word == " ":
            if line_w + 1 <= avail:
                line += " "
                line_w += 1
            elif line:
                flush()
            continue
        if line_w + w <= avail:
            line += word
            line_w += w
            continue
        if w > width - indent:
            # longer than any line (a URL, CJK text without spaces): fill this line, then cut by cells
            while line_w + w > avail:
                head = clip(word, avail - line_w)
                if not head and not line.strip(" "):
                    head = word[0]  # a wide character on a one-cell line
                line += head
                flush()
                word = word[len(head) :]
                w = text_width(word)
            line, line_w = line + word, line_w + w
            continue
        if line.strip(" "):
            flush()
        else:
            line, line_w = "", 0
        line, line_w = word, w
    if line or not lines:
        lines.append(prefix + line.rstrip(" "))
    return lines


def _words(text: str) -> list[str]:
    """Runs of non-spaces, and single spaces."""
    out: list[str] = []
    cur = ""
    for ch in text:
        if ch == " ":
            if cur:
                out.append(cur)
                cur = ""
            out.append(" ")
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out
