"""Keys from a terminal, as a pure decoder: bytes (POSIX, VT sequences) or msvcrt.getwch()
characters (Windows) in, key names and text out.

A key is a ``Key(name, text)``: ``name`` is "text" (``text`` holds typed characters),
"paste" (``text`` holds a bracketed paste), or a key name: enter, backspace, delete,
tab, left, right, up, down, home, end, pgup, pgdn, word-left, word-right, ctrl-a,
ctrl-b... (control letters), esc.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    name: str
    text: str = ""


PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"

# The special keys: a key's name (what lanmsg.chat.input and the front ends act on), what a VT
# terminal sends for it after ESC (CSI / SS3 sequences: xterm, VT220, rxvt, the Linux console),
# and the code msvcrt.getwch() gives for it after '\x00' or '\xe0' on a Windows console ("": none).
# A new special key is one line here.
_SPECIAL_KEYS = {
    "up": (("[A", "OA"), "H"),
    "down": (("[B", "OB"), "P"),
    "right": (("[C", "OC"), "M"),
    "left": (("[D", "OD"), "K"),
    "home": (("[H", "OH", "[1~", "[7~"), "G"),
    "end": (("[F", "OF", "[4~", "[8~"), "O"),
    "delete": (("[3~",), "S"),
    "pgup": (("[5~",), "I"),
    "pgdn": (("[6~",), "Q"),
    "insert": (("[2~",), "R"),
    "word-right": (("[1;5C", "[1;3C", "[5C", "f"), "t"),  # Ctrl-Right, Alt-Right, Alt-f
    "word-left": (("[1;5D", "[1;3D", "[5D", "b"), "s"),  # Ctrl-Left, Alt-Left, Alt-b
    "shift-tab": (("[Z",), ""),
}
_SEQUENCES = {seq: name for name, (sequences, _) in _SPECIAL_KEYS.items() for seq in sequences}
_WIN_SPECIAL = {code: name for name, (_, code) in _SPECIAL_KEYS.items() if code}

_CONTROL = {
    "\r": "enter",
    "\n": "enter",
    "\t": "tab",
    "\x7f": "backspace",
    "\x08": "backspace",
}


class VTDecoder:
    """Feed it what the terminal sends (bytes, UTF-8); it returns the keys.  A lone ESC is
    held until more bytes come or ``flush()`` says none will (the caller's short timeout)."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._paste: list[str] | None = None

    @property
    def waiting(self) -> bool:
        """Bytes of an unfinished sequence are held."""
        return bool(self._buf)

    def feed(self, data: bytes) -> list[Key]:
        self._buf += self._utf8.decode(data)
        return self._drain(final=False)

    def flush(self) -> list[Key]:
        return self._drain(final=True)

    def _drain(self, final: bool) -> list[Key]:
        keys: list[Key] = []
        text = ""
        buf = self._buf
        i = 0

        def push_text() -> None:
            nonlocal text
            if text:
                keys.append(Key("text", text))
                text = ""

        while i < len(buf):
            if self._paste is not None:
                end = buf.find(PASTE_END, i)
                if end < 0:
                    # keep a possible start of the end marker
                    keep = _partial_suffix(buf[i:], PASTE_END)
                    self._paste.append(buf[i : len(buf) - keep])
                    i = len(buf) - keep
                    break
                self._paste.append(buf[i:end])
                keys.append(Key("paste", "".join(self._paste)))
                self._paste = None
                i = end + len(PASTE_END)
                continue
            ch = buf[i]
            if ch == "\x1b":
                rest = buf[i:]
                if rest.startswith(PASTE_START):
                    push_text()
                    self._paste = []
                    i += len(PASTE_START)
                    continue
                name, used = _match_escape(rest)
                if used == 0:  # incomplete
                    if not final:
                        break
                    push_text()
                    keys.append(Key("esc"))
                    i += 1
                    continue
                push_text()
                keys.append(Key(name))
                i += used
                continue
            if ch in _CONTROL:
                push_text()
                if ch == "\r" and buf[i + 1 : i + 2] == "\n":
                    i += 1
                keys.append(Key(_CONTROL[ch]))
            elif ord(ch) < 0x20:
                push_text()
                keys.append(Key("ctrl-" + chr(ord(ch) + 0x60)))
            else:
                text += ch
            i += 1
        push_text()
        self._buf = buf[i:]
        return keys


def _partial_suffix(s: str, marker: str) -> int:
    """Length of the longest end of ``s`` that is a start of ``marker``."""
    for n in range(min(len(s), len(marker) - 1), 0, -1):
        if marker.startswith(s[-n:]):
            return n
    return 0


def _match_escape(s: str) -> tuple[str, int]:
    """(key name, characters used) for the escape sequence at the start of ``s``; used 0: incomplete."""
    if len(s) < 2:
        return "esc", 0
    second = s[1]
    if second in "[O":
        j = 2
        while j < len(s) and (s[j].isdigit() or s[j] == ";"):
            j += 1
        if j >= len(s):
            return "esc", 0
        seq = s[1 : j + 1]
        return _SEQUENCES.get(seq, "unknown"), j + 1
    if second == "\x1b":
        return "esc", 1
    name = _SEQUENCES.get(second)
    if name is not None:
        return name, 2
    if second == "\x7f":
        return "ctrl-w", 2  # Alt-Backspace: delete a word
    return "esc", 1


def windows_key(first: str, second: str | None = None) -> Key:
    """The key for one msvcrt.getwch() character (and the next one, after '\\x00' or '\\xe0')."""
    if first in ("\x00", "\xe0"):
        return Key(_WIN_SPECIAL.get(second or "", "unknown"))
    if first in ("\r", "\n"):
        return Key("enter")
    if first == "\x08":
        return Key("backspace")
    if first == "\t":
        return Key("tab")
    if first == "\x1b":
        return Key("esc")
    if ord(first) < 0x20:
        return Key("ctrl-" + chr(ord(first) + 0x60))
    return Key("text", first)
