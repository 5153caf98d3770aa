"""The keyboard of an interactive ``lanmsg chat``: termios on POSIX, msvcrt on Windows.

``open_keys()`` gives an object with ``enter()`` / ``exit()`` (raw-ish mode on and
off, bracketed paste on and off), ``fds()`` (file descriptors to wait on, or None
when the caller must poll), ``read(timeout)`` (the keys typed, as lanmsg.chat.keys.Key)
and ``measure(texts)`` (how many cells the terminal takes for each text: it draws them and
says where its cursor went).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any, Protocol

from .graphemes import EMOJI_SAMPLES, joined_kinds, set_joined_kinds
from .keys import Key, VTDecoder, windows_key

BRACKETED_PASTE_ON = "\x1b[?2004h"
BRACKETED_PASTE_OFF = "\x1b[?2004l"
ESC_WAIT_S = 0.05  # a lone ESC is a key if nothing follows within this time
KEY_POLL_S = 0.05  # where keys cannot be waited for with select() (Windows), they are polled this often
MEASURE_WAIT_S = 1.0  # how long the terminal's cursor position reports are waited for, at most
_POSITION_REPORT = re.compile(rb"\x1b\[(\d+);(\d+)R")  # the answer to DSR 6 (CSI 6 n): CSI row ; column R


class Keys(Protocol):
    def enter(self) -> None: ...
    def exit(self) -> None: ...
    def fds(self) -> list[int] | None: ...
    def read(self, timeout: float = 0.0) -> list[Key]: ...
    def measure(self, texts: list[str]) -> list[int] | None: ...


class PosixKeys:
    """Standard input in cbreak mode without echo: keys as they are typed; Ctrl-C stays a signal."""

    def __init__(self, fd: int = 0, out: Any = None, paste: bool = True) -> None:
        self.fd = fd
        self.out = out if out is not None else sys.stdout
        self.paste = paste
        self.decoder = VTDecoder()
        self._saved: Any = None
        self._typed: list[Key] = []  # keys read while measuring, for the next read()

    def enter(self) -> None:
        import termios
        import tty

        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd, termios.TCSANOW)
        attrs = termios.tcgetattr(self.fd)
        attrs[0] &= ~(termios.IXON | termios.ICRNL)  # Ctrl-S / Ctrl-Q reach us; Enter is CR
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        if self.paste:
            self.out.write(BRACKETED_PASTE_ON)
            self.out.flush()

    def exit(self) -> None:
        import termios

        if self.paste:
            try:
                self.out.write(BRACKETED_PASTE_OFF)
                self.out.flush()
            except (OSError, ValueError):
                pass
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def fds(self) -> list[int] | None:
        return [self.fd]

    def measure(self, texts: list[str]) -> list[int] | None:
        """The cells the terminal takes for each of ``texts`` (between enter() and exit()): each is
        drawn at the start of the line, followed by a request for the cursor's position (DSR 6,
        which every VT terminal answers), and the line is blanked again.  None when the answers do
        not all come within MEASURE_WAIT_S (a terminal that does not answer).  Keys typed
        meanwhile are kept for read()."""
        import select

        probe = "".join("\r" + text + "\x1b[6n" for text in texts)
        blank = "\r" + " " * (2 + 4 * max((len(t) for t in texts), default=0)) + "\r"
        self.out.write(probe + blank)
        self.out.flush()
        got = b""
        end = time.monotonic() + MEASURE_WAIT_S
        while len(_POSITION_REPORT.findall(got)) < len(texts):
            left = end - time.monotonic()
            try:
                ready = left > 0 and select.select([self.fd], [], [], left)[0]
            except InterruptedError:
                continue
            if not ready:
                break
            data = os.read(self.fd, 4096)
            if not data:
                break
            got += data
        reports = _POSITION_REPORT.findall(got)
        rest = _POSITION_REPORT.sub(b"", got)
        if rest:
            self._typed += self.decoder.feed(rest)
        if len(reports) < len(texts):
            return None
        return [int(column) - 1 for _, column in reports[: len(texts)]]

    def read(self, timeout: float = 0.0) -> list[Key]:
        import select

        keys: list[Key] = self._typed
        self._typed = []
        wait = 0.0 if keys else timeout
        while True:
            try:
                ready = select.select([self.fd], [], [], wait)[0]
            except InterruptedError:
                ready = []
            if not ready:
                break
            data = os.read(self.fd, 4096)
            if not data:
                keys.append(Key("ctrl-d"))  # the terminal went away
                break
            keys += self.decoder.feed(data)
            wait = 0.0
        if self.decoder.waiting:
            try:
                more = select.select([self.fd], [], [], ESC_WAIT_S)[0]
            except InterruptedError:
                more = []
            keys += self.decoder.feed(os.read(self.fd, 4096)) if more else self.decoder.flush()
        return keys


class WindowsKeys:
    """The Windows console through msvcrt: polled (there is nothing to select() on)."""

    def enter(self) -> None:
        _enable_windows_vt()

    def exit(self) -> None:
        pass

    def fds(self) -> list[int] | None:
        return None

    def measure(self, texts: list[str]) -> list[int] | None:
        return None  # not asked: the console's answer would have to be read through msvcrt

    def read(self, timeout: float = 0.0) -> list[Key]:
        import msvcrt

        end = time.monotonic() + timeout
        keys: list[Key] = []
        while True:
            while msvcrt.kbhit():  # type: ignore[attr-defined]  # msvcrt: Windows only
                ch = msvcrt.getwch()  # type: ignore[attr-defined]  # msvcrt: Windows only
                second = msvcrt.getwch() if ch in ("\x00", "\xe0") else None  # type: ignore[attr-defined]  # msvcrt: Windows only
                key = windows_key(ch, second)
                if keys and key.name == "text" and keys[-1].name == "text":
                    keys[-1] = Key("text", keys[-1].text + key.text)
                else:
                    keys.append(key)
            if keys or time.monotonic() >= end:
                return keys
            time.sleep(0.02)


def _enable_windows_vt() -> bool:
    """Turn on VT sequence processing of the Windows console (Windows 10 and later)."""
    try:
        import ctypes

        k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]  # WinDLL: Windows only
        handle = k32.GetStdHandle(-11)
        mode = ctypes.c_uint32()
        if not k32.GetConsoleMode(handle, ctypes.byref(mode)):
            return False
        return bool(k32.SetConsoleMode(handle, mode.value | 0x0004))
    except (AttributeError, OSError):
        return False


def open_keys() -> Keys:
    if sys.platform == "win32":
        return WindowsKeys()
    return PosixKeys(sys.stdin.fileno())


@contextlib.contextmanager
def emoji_measured(keys: Keys) -> Iterator[frozenset[str]]:
    """``with emoji_measured(keys) as joined:`` the terminal draws one emoji sequence of each kind
    (lanmsg.chat.graphemes.EMOJI_SAMPLES), and inside the block text is measured as it draws them:
    a kind it draws in two cells is one glyph, any other is drawn code point by code point.  A
    terminal that does not answer is taken to draw code point by code point, as curses counts.
    ``joined``: the kinds drawn as one glyph.  The measure before is restored after the block."""
    before = joined_kinds()
    kinds = list(EMOJI_SAMPLES)
    widths = keys.measure([EMOJI_SAMPLES[kind] for kind in kinds])
    joined = frozenset(kind for kind, cells in zip(kinds, widths or [], strict=False) if cells == 2)
    set_joined_kinds(joined)
    try:
        yield joined
    finally:
        set_joined_kinds(before)


@contextlib.contextmanager
def resizes() -> Iterator[list[bool]]:
    """``with resizes() as resized:`` ``resized[0]`` turns True whenever the terminal changes size
    (SIGWINCH; Windows has none, so a front end compares ``terminal_size()`` too); the front end
    sets it back to False once it has redrawn."""
    resized = [False]

    def on_winch(signum: int, frame: object) -> None:
        resized[0] = True

    old = signal.signal(signal.SIGWINCH, on_winch) if hasattr(signal, "SIGWINCH") else None
    try:
        yield resized
    finally:
        if old is not None:
            signal.signal(signal.SIGWINCH, old)


def terminal_size() -> tuple[int, int]:
    """(columns, rows) of the terminal, 80x24 when it cannot be asked."""
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        return max(1, size.columns), max(1, size.lines)
    except (AttributeError, ValueError, OSError):
        return 80, 24
