"""``lanmsg chat`` in a real pseudo-terminal, read through the pyte terminal emulator.

Used by tests/test_chat_screen.py.  The child gets the pty as its controlling
terminal (pty.fork), so a resize reaches it as SIGWINCH, as in a real terminal.
Waits poll the emulated screen; a wait that runs out fails with the whole screen.

The emulator answers the cursor position request (DSR 6) as every VT terminal does, and draws
grapheme clusters as one of two kinds of terminal does (``emoji=``): "joined", each emoji
sequence one glyph two cells wide (kitty, WezTerm, iTerm2, Windows Terminal, foot), or "code
points", code point by code point, every zero-width one kept in the cell before it (xterm,
VTE, the Linux console).  pyte itself stops drawing at a zero-width character that is no
combining mark (a ZWJ, VS16); "silent" leaves pyte as it is and answers nothing.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import unicodedata

import pyte
from pyte.screens import wcwidth

from lanmsg.chat import graphemes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAIT_S = 20.0  # generous: the machine is shared
READER_END_S = 5.0  # for the reader thread to see the pty's end once chat is gone


def _signals_as_a_shell_leaves_them() -> None:
    """Ctrl-C and Ctrl-\\ as a shell leaves them to a command it runs in the foreground.  A test
    run in the background of a shell script inherits SIGINT and SIGQUIT ignored (POSIX: an
    asynchronous list without job control), and Python keeps an ignored SIGINT ignored."""
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


def _as_a_job() -> None:
    os.setpgrp()
    _signals_as_a_shell_leaves_them()


class ClusterScreen(pyte.Screen):
    """pyte's screen, drawing grapheme clusters as a terminal does (the module's docstring): a code
    point that continues the cluster of the cell drawn last goes into that cell ("joined": the
    cell becomes two cells wide when the cluster is an emoji sequence)."""

    def __init__(self, columns: int, lines: int, joined: bool):
        super().__init__(columns, lines)
        self.joined = joined
        self.last: tuple[int, int, int] | None = None  # (row, column, cells) of the cell drawn last

    def draw(self, data: str) -> None:
        for ch in data:
            self._draw_one(ch)

    @property
    def display(self) -> list[str]:
        """Each row's text (the second cell of a wide glyph holds "")."""
        return ["".join(self.buffer[y][x].data for x in range(self.columns)) for y in range(self.lines)]

    def _continues(self, ch: str) -> tuple[int, int, int] | None:
        if self.last is None:
            return None
        y, x, cells = self.last
        if (self.cursor.y, self.cursor.x) != (y, min(x + cells, self.columns)):
            return None  # the cursor moved since
        before = self.buffer[y][x].data
        return self.last if before and not graphemes.is_boundary(before + ch, len(before)) else None

    def _draw_one(self, ch: str) -> None:
        cell = self._continues(ch)
        if cell is not None and (self.joined or wcwidth(ch) <= 0):
            y, x, cells = cell
            cluster = self.buffer[y][x].data + ch
            if unicodedata.combining(ch):
                cluster = unicodedata.normalize("NFC", cluster)  # as pyte shows a letter and its accent
            self.buffer[y][x] = self.buffer[y][x]._replace(data=cluster)
            wide = 2 if self.joined and graphemes.emoji_kind(cluster) is not None else cells
            if wide > cells and x + 1 < self.columns:
                self.buffer[y][x + 1] = self.cursor.attrs._replace(data="")
                self.cursor.x = min(x + wide, self.columns)
            self.last = (y, x, wide)
            self.dirty.add(y)
            return
        if wcwidth(ch) <= 0:  # a lone joiner or selector: kept in the cell before, as terminals do
            if self.cursor.x > 0:
                row = self.buffer[self.cursor.y]
                row[self.cursor.x - 1] = row[self.cursor.x - 1]._replace(data=row[self.cursor.x - 1].data + ch)
            return
        super().draw(ch)
        cells = wcwidth(ch)
        self.last = (self.cursor.y, self.cursor.x - cells, cells) if self.cursor.x >= cells else None


class PtyChat:
    def __init__(
        self,
        *args: str,
        cols: int = 80,
        rows: int = 24,
        env: dict | None = None,
        argv: list[str] | None = None,
        emoji: str = "joined",
        job: bool = False,
    ):
        """``lanmsg chat ARGS`` (or ``argv``, a whole command line) in a ``cols`` x ``rows`` terminal;
        ``env`` is added to this process's environment (a value of None removes a variable);
        ``emoji``: how the terminal draws emoji sequences ("joined", "code points" or "silent",
        the module's docstring).  ``job``: chat runs as a shell's job would, in a process group of
        its own in this test's session (so SIGTSTP stops it: a process group whose parent is in
        another session, as pty.fork's child is, is orphaned, and the kernel does not stop it),
        with the pty as its standard input and output but not as its controlling terminal (no
        SIGWINCH)."""
        self.cols, self.rows = cols, rows
        if emoji == "silent":
            self.screen = pyte.Screen(cols, rows)
        else:
            self.screen = ClusterScreen(cols, rows, joined=emoji == "joined")
            self.screen.write_process_input = self._answer
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.lock = threading.Lock()
        child_env = dict(os.environ, TERM="linux", LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8")
        child_env.pop("NO_COLOR", None)
        for k, v in (env or {}).items():
            if v is None:
                child_env.pop(k, None)
            else:
                child_env[k] = v
        argv = argv or [sys.executable, "-m", "lanmsg", "chat", *args]
        if job:
            fd, slave = os.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=child_env, preexec_fn=_as_a_job
            )
            os.close(slave)
            pid = proc.pid
        else:
            pid, fd = pty.fork()
            if pid == 0:  # the child: the pty's size first, then lanmsg
                try:
                    _signals_as_a_shell_leaves_them()
                    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                    os.chdir(ROOT)
                    os.execve(argv[0], argv, child_env)
                finally:
                    os._exit(127)
        self.pid, self.fd = pid, fd
        self.status: int | None = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _answer(self, data: str) -> None:
        """What the terminal says back (the cursor's position), typed into the pty as a terminal does."""
        try:
            os.write(self.fd, data.encode())
        except OSError:
            pass

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.raw += data
                self.stream.feed(data)

    # -- looking -------------------------------------------------------------------

    def display(self) -> list[str]:
        with self.lock:
            return list(self.screen.display)

    def cursor(self) -> tuple[int, int]:
        with self.lock:
            return self.screen.cursor.x, self.screen.cursor.y

    def cells(self, y: int) -> list[str]:
        """Row ``y`` cell by cell as the terminal holds it ("" for the second cell of a wide glyph)."""
        with self.lock:
            line = self.screen.buffer[y]
            return [line[x].data for x in range(self.screen.columns)]

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.display())

    def wait_for(self, predicate, what: str = "", timeout: float = WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"not on the screen: {what}\n--- screen ---\n{self.text()}\n--------------")

    def wait_text(self, needle: str, timeout: float = WAIT_S) -> None:
        self.wait_for(lambda: needle in self.text(), repr(needle), timeout)

    def row_with(self, needle: str) -> int:
        return next(i for i, line in enumerate(self.display()) if needle in line)

    # -- typing ------------------------------------------------------------------

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode("utf-8"))

    def key(self, name: str, times: int = 1) -> None:
        seq = {
            "enter": "\r",
            "left": "\x1b[D",
            "right": "\x1b[C",
            "up": "\x1b[A",
            "down": "\x1b[B",
            "home": "\x1b[H",
            "end": "\x1b[F",
            "pgup": "\x1b[5~",
            "pgdn": "\x1b[6~",
            "tab": "\t",
            "esc": "\x1b",
            "ctrl-d": "\x04",
            "ctrl-c": "\x03",
        }[name]
        for _ in range(times):
            os.write(self.fd, seq.encode())
            time.sleep(0.02 if name != "esc" else 0.2)

    def paste(self, text: str) -> None:
        os.write(self.fd, b"\x1b[200~" + text.encode("utf-8") + b"\x1b[201~")

    def resize(self, cols: int, rows: int) -> None:
        with self.lock:
            self.screen.resize(rows, cols)
            self.cols, self.rows = cols, rows
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # -- ending ------------------------------------------------------------------

    def wait_exit(self, timeout: float = WAIT_S) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                self.reader.join(timeout=READER_END_S)
                return self.status
            time.sleep(0.05)
        raise AssertionError(f"chat did not exit\n{self.text()}")

    def state(self) -> str:
        """The process's state letter from /proc (T: stopped)."""
        with open(f"/proc/{self.pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rfind(b")") + 2 :][:1].decode()

    def reset_screen(self) -> None:
        """Blank the emulated screen, as whatever runs while chat is stopped would leave it."""
        with self.lock:
            self.screen.reset()

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.status = -9
        # chat is gone, so the reader's next read ends (EIO). Joined before the close: a reader
        # still running would make the next test's pty.fork a fork of a threaded process, and
        # could read the next terminal if it got this descriptor's number.
        self.reader.join(timeout=READER_END_S)
        try:
            os.close(self.fd)
        except OSError:
            pass
