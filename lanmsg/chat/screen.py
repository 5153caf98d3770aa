"""``lanmsg chat`` full screen, with curses: scrollback, status bar, input line.

What is drawn is computed by ``layout`` (pure, tested without a terminal); curses
only puts those rows on the screen.  Keys are read from standard input by
lanmsg.chat.terminal and decoded by lanmsg.chat.keys (so bracketed paste works); curses'
own key reading is not used.  Received text is already escaped by the model's
renderer (lanmsg.chat.graphemes.safe_display: emoji sequences whole), and ``layout``
escapes what is being typed the same way.  Colour is decoration only (every
state is in words) and is off under NO_COLOR; the terminal's title is never
touched.
"""

from __future__ import annotations

import locale
import os
import sys
from dataclasses import dataclass
from typing import Any

from ..settings import EXIT_OK, LISTEN_POLL_S, Settings
from ..signals import StopSignals
from .graphemes import char_width, cluster_width, code_point_width, emoji_kind, graphemes, safe_display
from .input import InputHandler
from .model import CONFIRMED, FAILED, ChatModel, Line, render
from .session import ChatSession, ctrl_z, goodbye, joined
from .terminal import KEY_POLL_S, emoji_measured, open_keys, resizes, terminal_size
from .textwidth import clip, clip_end, pad, text_width, wrap

WRAP_INDENT = 9  # continuation rows start under the text, past "HH:MM:SS "

# row styles
NORMAL, STATUS, GOOD, BAD, DIM, INPUT = "normal", "status", "good", "bad", "dim", "input"


@dataclass(frozen=True)
class Row:
    text: str
    style: str = NORMAL


@dataclass(frozen=True)
class Frame:
    rows: list[Row]
    cursor: tuple[int, int]  # (row, column)
    scroll_max: int  # rows the view can scroll back


def line_style(line: Line) -> str:
    if line.kind == "error":
        return BAD
    if line.kind == "history":
        return DIM
    if line.kind == "out" and line.out is not None:
        return GOOD if line.out.state == CONFIRMED else BAD if line.out.state == FAILED else NORMAL
    return NORMAL


def layout(
    model: ChatModel,
    text: str,
    cursor: int,
    bytes_left: int | None,
    width: int,
    height: int,
    scroll: int = 0,
    hint: str = "",
) -> Frame:
    """The screen: ``height`` rows of at most ``width`` cells, and where the cursor stands.
    ``scroll``: wrapped rows hidden below the view (0: the newest at the bottom)."""
    width, height = max(1, width), max(1, height)
    view = max(0, height - 2)
    # the newest lines, wrapped, enough to fill the view at this scroll position
    wanted = view + max(0, scroll)
    rows: list[Row] = []
    complete = True  # every line of the scrollback is in rows
    for line in reversed(model.lines):
        if len(rows) > wanted:
            complete = False
            break
        rows[:0] = [Row(r, line_style(line)) for r in wrap(render(line), width, indent=WRAP_INDENT)]
    scroll_max = max(0, len(rows) - view) if complete else len(rows) - view
    scroll = max(0, min(scroll, scroll_max))
    end = len(rows) - scroll
    shown = rows[max(0, end - view) : end]
    shown = [Row("", NORMAL)] * (view - len(shown)) + shown
    status = model.status()
    if scroll:
        unread = f", unread {model.unread}" if model.unread else ""
        status = f"-- scrolled back {scroll}{unread} (PgDn) -- | " + status
    if hint:
        status = hint + " | " + status
    out = [*shown]
    if height >= 2:
        out.append(Row(pad(status, width), STATUS))
    # the input line: prompt, text scrolled sideways to keep the cursor visible, bytes left
    count = "" if bytes_left is None else (f" {bytes_left}" if bytes_left >= 0 else f" {bytes_left} too long")
    prompt = clip(model.prompt(), max(1, width // 2))
    room = max(1, width - text_width(prompt) - text_width(count) - 1)
    # shown as the scrollback shows it (control and bidi characters escaped, emoji whole); the
    # cursor stands on a cluster boundary, so each side is escaped as the whole line would be
    before, after = safe_display(text[:cursor]), safe_display(text[cursor:])
    if text_width(before) >= room:
        before = clip_end(before, room - 1)
    visible = before + clip(after, room - text_width(before))
    col = text_width(prompt) + text_width(before)
    typed = prompt + visible
    gap = width - text_width(typed) - text_width(count)
    input_row = typed + " " * max(0, gap) + count if gap >= 0 else clip(typed, width)
    out.append(Row(input_row, BAD if bytes_left is not None and bytes_left < 0 else INPUT))
    return Frame(out[-height:], (min(height - 1, len(out[-height:]) - 1), min(col, width - 1)), scroll_max)


def curses_draws(cluster: str) -> bool:
    """Whether curses puts ``cluster`` on the screen in the cells the layout gives it.  curses counts
    code point by code point (wcwidth) and keeps at most four zero-width code points in a cell, so
    it is trusted with one code point, or a letter and up to four combining marks; an emoji
    sequence (👩‍💻 is two cells to a terminal that joins it, four to curses), Hangul jamo and
    longer runs of marks are written past curses (CursesScreen.draw)."""
    if len(cluster) == 1:
        return True
    return (
        len(cluster) <= 5
        and emoji_kind(cluster) is None
        and all(char_width(ch) == 0 for ch in cluster[1:])
        and cluster_width(cluster) == code_point_width(cluster)
    )


def curses_pieces(text: str) -> list[tuple[int, str, bool]]:
    """``text`` (one row) as (column, piece, curses draws it): runs curses can draw, and the
    clusters it cannot (curses_draws), each on its own."""
    if text.isascii():
        return [(0, text, True)] if text else []
    pieces: list[tuple[int, str, bool]] = []
    column, run, run_at = 0, "", 0
    for cluster in graphemes(text):
        if curses_draws(cluster):
            if not run:
                run_at = column
            run += cluster
        else:
            if run:
                pieces.append((run_at, run, True))
                run = ""
            pieces.append((column, cluster, False))
        column += cluster_width(cluster)
    if run:
        pieces.append((run_at, run, True))
    return pieces


def colour_allowed(env: dict[str, str] | None = None) -> bool:
    """no-color.org: NO_COLOR set and not empty turns colour off; so does TERM=dumb."""
    env = dict(os.environ) if env is None else env
    return not env.get("NO_COLOR") and env.get("TERM", "") != "dumb"


class CursesScreen:
    """Puts a Frame on the screen with curses.  A cluster curses would count otherwise than the
    terminal draws it (curses_draws) is handed to curses as blank cells of its width, marked
    invisible so that curses never takes them for the same as what stood there before, and is
    written into them, past curses, once curses has refreshed; curses leaves the terminal in plain
    attributes after a refresh, and the cursor is put back where curses believes it is."""

    def __init__(self, stdscr: Any, colour: bool) -> None:
        import curses

        self.curses = curses
        self.stdscr = stdscr
        self.fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        self.encoding = locale.getpreferredencoding(False)
        caps = {STATUS: "rev", BAD: "bold", DIM: "dim"}
        self.caps = {style: self._cap(name) for style, name in caps.items()}
        self.sgr0, self.cup = self._cap("sgr0"), self._cap("cup")
        self.last: Frame | None = None
        self.attrs = {
            NORMAL: curses.A_NORMAL,
            STATUS: curses.A_REVERSE,
            GOOD: curses.A_NORMAL,
            BAD: curses.A_BOLD,
            DIM: curses.A_DIM,
            INPUT: curses.A_NORMAL,
        }
        if colour and curses.has_colors():
            try:
                curses.start_color()
                curses.use_default_colors()
                curses.init_pair(1, curses.COLOR_GREEN, -1)
                curses.init_pair(2, curses.COLOR_RED, -1)
                self.attrs[GOOD] = curses.color_pair(1)
                self.attrs[BAD] = curses.color_pair(2) | curses.A_BOLD
            except curses.error:
                pass

    def _cap(self, name: str) -> bytes:
        try:
            return self.curses.tigetstr(name) or b""
        except self.curses.error:
            return b""

    def repaint(self) -> None:
        """Everything again (after Ctrl-Z and fg): the last frame on a cleared screen."""
        if self.last is not None:
            self.stdscr.clear()
            self.draw(self.last)

    def draw(self, frame: Frame) -> None:
        curses = self.curses
        scr = self.stdscr
        self.last = frame
        scr.erase()
        height, width = scr.getmaxyx()
        past: list[tuple[int, int, str, str]] = []  # (row, column, cluster, style) written past curses
        for y, row in enumerate(frame.rows[:height]):
            attr = self.attrs.get(row.style, curses.A_NORMAL)
            for x, piece, drawn in curses_pieces(clip(row.text, width)):
                if not drawn and not self.cup:
                    drawn = True  # no cursor addressing to write past curses with: curses draws it as it counts
                if not drawn:
                    past.append((y, x, piece, row.style))
                    piece = " " * cluster_width(piece)
                try:
                    scr.addstr(y, x, piece, attr if drawn else attr | curses.A_INVIS)
                except curses.error:
                    pass  # the bottom-right cell: curses writes it, then complains
        y, x = frame.cursor
        y, x = min(y, height - 1), min(x, width - 1)
        try:
            scr.move(y, x)
        except curses.error:
            pass
        scr.refresh()
        if past and self.cup:
            out = b"".join(
                self.curses.tparm(self.cup, row, column)
                + self.caps.get(style, b"")
                + cluster.encode(self.encoding, "replace")
                + self.sgr0
                for row, column, cluster, style in past
            )
            try:
                os.write(self.fd, out + self.curses.tparm(self.cup, y, x))
            except OSError:
                pass


def run_screen(settings: Settings, *, log_path: str | None, target: str, bell: bool = False) -> int:
    import curses

    locale.setlocale(locale.LC_ALL, "")

    def farewell(session: ChatSession) -> None:
        sys.stdout.write(f"lanmsg chat: {goodbye(session)}\n")
        sys.stdout.flush()

    with joined(settings, log_path=log_path, target=target, welcome=True, farewell=farewell) as (session, stop):
        handler = InputHandler(session)
        up: list[Any] = []  # the keyboard and the screen, once they are there

        def pause() -> None:  # Ctrl-Z: the terminal back as the shell had it
            if up:
                up[0].exit()
                curses.endwin()

        def resume() -> None:  # fg: curses' modes and the keyboard's, and the whole screen again
            if up:
                up[1].stdscr.refresh()
                up[0].enter()
                up[1].repaint()

        # Ctrl-Z's handler first: curses takes SIGTSTP itself only when nobody has it, so one
        # handler gives the terminal back, the shared sockets up, and both again after fg
        with ctrl_z(before=pause, after=resume):
            stdscr = curses.initscr()
            try:
                curses.noecho()
                curses.cbreak()
                # curses would put a refresh off while input waits; chat reads the keys itself and
                # draws a frame only when it changed, so a refresh put off could stay half done
                curses.typeahead(-1)
                keys = open_keys()
                keys.enter()
                try:
                    with emoji_measured(keys), resizes() as resized:  # before the first refresh clears it all
                        screen = CursesScreen(stdscr, colour_allowed())
                        up[:] = [keys, screen]
                        _loop(session, handler, screen, keys, stop, bell, resized)
                finally:
                    up.clear()
                    keys.exit()
            finally:
                curses.nocbreak()
                curses.echo()
                curses.endwin()
    return EXIT_OK


def _loop(
    session: ChatSession,
    handler: InputHandler,
    screen: CursesScreen,
    keys: Any,
    stop: StopSignals,
    bell: bool,
    resized: list[bool],
) -> None:
    curses = screen.curses
    model = session.model
    scroll = 0
    width, height = terminal_size()
    last: Frame | None = None
    while not session.quit and not stop.stopping.is_set():
        if resized[0] or terminal_size() != (width, height):  # Windows has no SIGWINCH: compare
            resized[0] = False
            width, height = terminal_size()
            try:
                curses.resizeterm(height, width)
            except curses.error:
                pass
            screen.stdscr.clear()  # repaint all: how a terminal keeps its rows on resize differs
            last = None
        page = max(1, height - 3)
        new = model.take_new()
        if scroll:  # the view stays where it is while lines arrive below it
            scroll += sum(len(wrap(render(line), width, indent=WRAP_INDENT)) for line in new)
        frame = layout(
            model,
            handler.editor.text,
            handler.editor.cursor,
            session.bytes_left(handler.editor.text),
            width,
            height,
            scroll,
        )
        scroll = min(scroll, frame.scroll_max)
        if frame != last:
            screen.draw(frame)
            last = frame
        model.take_changes()
        if bell and model.bells:
            curses.beep()
        model.bells = 0
        session.pump(LISTEN_POLL_S if keys.fds() is not None else KEY_POLL_S, keys.fds())
        for key in keys.read(0.0 if keys.fds() is not None else 0.05):
            if key.name == "pgup":
                scroll += page
            elif key.name == "pgdn":
                scroll = max(0, scroll - page)
            elif key.name == "ctrl-l":
                last = None
                screen.stdscr.clear()
            else:
                if key.name == "enter" and handler.paste is None:
                    scroll = 0  # what you send is what you see
                handler.handle(key)
            if session.quit:
                break
        model.scrolled = scroll > 0
        if not model.scrolled:
            model.unread = 0


__all__ = ["Frame", "Row", "colour_allowed", "layout", "run_screen"]
