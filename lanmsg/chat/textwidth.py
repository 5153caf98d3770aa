"""Display width of text in a terminal cell grid, and word-wrap by it (standard library only).

Text is measured, clipped and wrapped by grapheme cluster (lanmsg.chat.graphemes): an emoji
sequence (👩‍💻, 🏳️‍🌈, a flag, 👍🏽) takes two cells and is never cut, nor is a letter cut from
its combining marks.  A single code point: East Asian wide and fullwidth characters (CJK, most
emoji) take two cells, combining marks and zero-width characters none, everything else one.
"""

from __future__ import annotations

from .graphemes import char_width, cluster_width, graphemes
from .graphemes import width as text_width

__all__ = ["char_width", "clip", "clip_end", "pad", "text_width", "wrap"]


def clip(text: str, width: int) -> str:
    """The longest start of ``text`` that fits ``width`` cells (a wide character or an emoji
    sequence is never cut in half, nor a letter from its marks)."""
    if text.isascii() and text.isprintable():
        return text[: max(0, width)]
    used = end = 0
    for cluster in graphemes(text):
        used += cluster_width(cluster)
        if used > width:
            break
        end += len(cluster)
    return text[:end]


def clip_end(text: str, width: int) -> str:
    """The longest end of ``text`` that fits ``width`` cells."""
    if text.isascii() and text.isprintable():
        return text[len(text) - max(0, width) :] if width < len(text) else text
    used = 0
    start = len(text)
    for cluster in reversed(graphemes(text)):
        used += cluster_width(cluster)
        if used > width:
            break
        start -= len(cluster)
    return text[start:]


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
                    head = graphemes(word)[0]  # a wide character on a one-cell line
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
    """Runs of non-spaces, and single spaces (a space that a combining mark follows is part of
    a word: the mark belongs to it)."""
    out: list[str] = []
    cur = ""
    for cluster in graphemes(text) if not text.isascii() else text:
        if cluster == " ":
            if cur:
                out.append(cur)
                cur = ""
            out.append(" ")
        else:
            cur += cluster
    if cur:
        out.append(cur)
    return out
