"""The chat's input line as a pure model: text, cursor, history, completion.

No terminal here: the front ends (full screen, line mode) turn keys into calls
and draw ``text`` (shown with lanmsg.chat.graphemes.safe_display) with the cursor at
``cursor_width()`` cells.  The cursor is an index into ``text`` (code points)
that stands on a grapheme cluster boundary: Left, Right, Backspace and Delete
step over a whole cluster (a letter and its combining marks, a flag, 👍🏽, 👩‍💻),
never into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .graphemes import char_width, is_boundary, next_boundary, prev_boundary, safe_display
from .textwidth import text_width

HISTORY_MAX = 200  # lines kept for Up/Down


def _keep(ch: str) -> bool:
    """Typed or pasted code points that go into the line: printable ones, and the invisible ones
    that belong to a cluster (combining marks, joiners, selectors, tags).  Control characters
    (escape sequences, BEL, tab) are dropped."""
    return ch.isprintable() or char_width(ch) == 0


class LineEditor:
    def __init__(self, history_max: int = HISTORY_MAX) -> None:
        self.text = ""
        self.cursor = 0
        self.history: list[str] = []
        self.history_max = history_max
        self._hist_pos: int | None = None  # index into history while walking it
        self._draft = ""  # the line being typed before Up was pressed
        self.killed = ""  # the last text cut with Ctrl-K/U/W, for Ctrl-Y

    # -- what is shown -------------------------------------------------------

    def cursor_width(self) -> int:
        """Cells from the start of the line to the cursor, as the line is shown (safe_display)."""
        return text_width(safe_display(self.text[: self.cursor]))

    def set(self, text: str, cursor: int | None = None) -> None:
        self.text = text
        self.cursor = len(text) if cursor is None else max(0, min(len(text), cursor))

    # -- editing ---------------------------------------------------------------

    def insert(self, s: str) -> None:
        s = "".join(ch for ch in s if _keep(ch))
        self.text = self.text[: self.cursor] + s + self.text[self.cursor :]
        self.cursor += len(s)
        self._settle()
        self._hist_pos = None

    def _settle(self, back: bool = False) -> None:
        """Put the cursor back on a cluster boundary after an edit joined what was around it
        (a combining mark typed before a mark, a space and the mark after it) or a word move."""
        if not is_boundary(self.text, self.cursor):
            self.cursor = (prev_boundary if back else next_boundary)(self.text, self.cursor)

    def backspace(self) -> None:
        if self.cursor > 0:
            start = prev_boundary(self.text, self.cursor)
            self.text = self.text[:start] + self.text[self.cursor :]
            self.cursor = start
            self._settle(back=True)

    def delete(self) -> None:
        if self.cursor < len(self.text):
            end = next_boundary(self.text, self.cursor)
            self.text = self.text[: self.cursor] + self.text[end:]
            self._settle()

    def left(self) -> None:
        if self.cursor > 0:
            self.cursor = prev_boundary(self.text, self.cursor)

    def right(self) -> None:
        self.cursor = next_boundary(self.text, self.cursor)

    def home(self) -> None:
        self.cursor = 0

    def end(self) -> None:
        self.cursor = len(self.text)

    def word_left(self) -> None:
        i = self.cursor
        while i > 0 and self.text[i - 1] == " ":
            i -= 1
        while i > 0 and self.text[i - 1] != " ":
            i -= 1
        self.cursor = i
        self._settle(back=True)

    def word_right(self) -> None:
        i, n = self.cursor, len(self.text)
        while i < n and self.text[i] == " ":
            i += 1
        while i < n and self.text[i] != " ":
            i += 1
        self.cursor = i
        self._settle()

    def kill_to_end(self) -> None:
        self.killed = self.text[self.cursor :]
        self.text = self.text[: self.cursor]

    def kill_to_start(self) -> None:
        self.killed = self.text[: self.cursor]
        self.text = self.text[self.cursor :]
        self.cursor = 0

    def kill_word_back(self) -> None:
        end = self.cursor
        self.word_left()
        self.killed = self.text[self.cursor : end]
        self.text = self.text[: self.cursor] + self.text[end:]

    def yank(self) -> None:
        self.insert(self.killed)

    def clear(self) -> None:
        self.text, self.cursor = "", 0
        self._hist_pos = None

    # -- history ---------------------------------------------------------------

    def submit(self) -> str:
        """The line as entered: kept in the history (not twice in a row), the editor emptied."""
        line = self.remember()
        self.clear()
        return line

    def remember(self) -> str:
        """Keep the line in the history (not twice in a row) and leave it in the editor."""
        line = self.text
        if line.strip() and (not self.history or self.history[-1] != line):
            self.history.append(line)
            del self.history[: -self.history_max]
        self._hist_pos = None
        return line

    def up(self) -> None:
        if not self.history:
            return
        if self._hist_pos is None:
            self._draft = self.text
            self._hist_pos = len(self.history)
        if self._hist_pos > 0:
            self._hist_pos -= 1
            self.set(self.history[self._hist_pos])

    def down(self) -> None:
        if self._hist_pos is None:
            return
        self._hist_pos += 1
        if self._hist_pos >= len(self.history):
            self._hist_pos = None
            self.set(self._draft)
        else:
            self.set(self.history[self._hist_pos])

    # -- completion ------------------------------------------------------------

    def complete(self, names: Sequence[str], commands: Iterable[str] = ()) -> list[str]:
        """Tab: complete the word before the cursor from ``names`` (most recently active first) or,
        for a word starting with "/" at the start of the line, from ``commands``.  One candidate:
        it is inserted whole, followed by a space.  Several: their common start is inserted and
        they are returned (to be shown); none: nothing changes."""
        start = self.cursor
        while start > 0 and self.text[start - 1] != " ":
            start -= 1
        word = self.text[start : self.cursor]
        pool = list(commands) if start == 0 and word.startswith("/") else list(names)
        matches = _unique(c for c in pool if c.upper().startswith(word.upper()))
        if not matches:
            return []
        if len(matches) == 1:
            self._replace_word(start, matches[0] + " ")
            return matches
        common = _common_prefix(matches)
        if len(common) >= len(word):
            self._replace_word(start, common)
        return matches

    def _replace_word(self, start: int, new: str) -> None:
        rest = self.text[self.cursor :]
        add_space = new.endswith(" ")
        if add_space:
            new = new[:-1]
            if not rest.startswith(" "):
                rest = " " + rest
        self.text = self.text[:start] + new + rest
        self.cursor = start + len(new) + (1 if add_space else 0)
        self._hist_pos = None


def _unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for it in items:
        if it.upper() not in seen:
            seen.add(it.upper())
            out.append(it)
    return out


def _common_prefix(words: Sequence[str]) -> str:
    """The longest common start, compared without case, spelled as the first word spells it."""
    first = words[0]
    n = len(first)
    for w in words[1:]:
        i = 0
        while i < min(n, len(w)) and first[i].upper() == w[i].upper():
            i += 1
        n = i
    return first[:n]
