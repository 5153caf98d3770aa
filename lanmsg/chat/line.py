"""``lanmsg chat --plain``: the line mode, for terminals without curses.

The input line is lanmsg's own (lanmsg.chat.lineedit), so it knows its cursor: an
incoming message is printed *above* it (clear the line, print, redraw prompt,
text and cursor) and never corrupts what is being typed.  A message's state
change prints a new line quoting the start of the message.  Only carriage
return, spaces and backspaces move the cursor: no colour, no other escape
sequence (bracketed paste on and off excepted), so it works on any terminal,
including Windows consoles without VT processing.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from ..settings import EXIT_OK, LISTEN_POLL_S, Settings
from ..signals import StopSignals
from .graphemes import safe_display
from .input import InputHandler
from .model import render, render_change
from .session import ChatSession, ctrl_z, goodbye, joined
from .terminal import KEY_POLL_S, Keys, emoji_measured, open_keys, resizes, terminal_size
from .textwidth import clip, clip_end, text_width

LOW_BUDGET = 40  # the prompt shows the bytes left when fewer remain


class LineScreen:
    """What line mode writes: lines above the input line, and the input line itself."""

    def __init__(self, out: TextIO, handler: InputHandler) -> None:
        self.out = out
        self.handler = handler

    def prompt(self) -> str:
        session = self.handler.session
        prompt = session.model.prompt()
        left = session.bytes_left(self.handler.editor.text)
        if left is not None and left < LOW_BUDGET:
            prompt = prompt[:-2] + (f" ({left} left)> " if left >= 0 else f" ({-left} too long)> ")
        return prompt

    def input_line(self, width: int) -> tuple[str, int]:
        """The visible input line and the cursor's column: the text scrolls sideways to keep
        the cursor on screen (never wrapped onto a second row)."""
        ed = self.handler.editor
        prompt = clip(self.prompt(), max(1, width // 2))
        room = max(1, width - 1 - text_width(prompt))
        before = safe_display(ed.text[: ed.cursor])  # escaped as the scrollback is, emoji whole
        after = safe_display(ed.text[ed.cursor :])
        if text_width(before) >= room:
            before = clip_end(before, room - 1)
        shown_after = clip(after, room - text_width(before))
        return prompt + before + shown_after, text_width(prompt) + text_width(before)

    @staticmethod
    def erase(width: int) -> str:
        return "\r" + " " * (width - 1) + "\r"

    def redraw(self) -> None:
        width, _ = terminal_size()
        line, col = self.input_line(width)
        back = text_width(line) - col
        self.out.write(self.erase(width) + line + "\b" * back)
        self.out.flush()

    def above(self, lines: list[str]) -> None:
        """Print ``lines`` above the input line, then redraw it."""
        if not lines:
            return
        width, _ = terminal_size()
        self.out.write(self.erase(width) + "".join(line + "\r\n" for line in lines))
        self.redraw()


def run_line(
    settings: Settings,
    *,
    log_path: str | None,
    target: str,
    bell: bool = False,
    keys: Keys | None = None,
    out: TextIO | None = None,
    stop: StopSignals | None = None,
) -> int:
    screen_out = out or sys.stdout
    try:
        getattr(screen_out, "reconfigure")(errors="backslashreplace")  # noqa: B009 (TextIO does not declare it)
    except (AttributeError, ValueError, OSError):
        pass
    keyboard = keys or open_keys()

    def farewell(session: ChatSession) -> None:
        width, _ = terminal_size()
        screen_out.write(LineScreen.erase(width) + goodbye(session) + "\r\n")
        screen_out.flush()

    with joined(settings, log_path=log_path, target=target, stop=stop, welcome=True, farewell=farewell) as (
        session,
        signals,
    ):
        handler = InputHandler(session)
        screen = LineScreen(screen_out, handler)

        def resume() -> None:  # after Ctrl-Z and fg: the keyboard as chat wants it, the input line again
            keyboard.enter()
            screen.redraw()

        keyboard.enter()
        try:
            with ctrl_z(before=keyboard.exit, after=resume), emoji_measured(keyboard):
                _loop(session, handler, screen, keyboard, signals, bell)
        finally:
            keyboard.exit()
    return EXIT_OK


def _flush(session: ChatSession, screen: LineScreen, bell: bool, out: Any) -> None:
    m = session.model
    lines = [render(line) for line in m.take_new()]
    lines += [render_change(change) for change in m.take_changes()]
    if bell and m.bells:
        out.write("\a")
    m.bells = 0
    screen.above(lines)


def _loop(
    session: ChatSession, handler: InputHandler, screen: LineScreen, keys: Keys, stop: StopSignals, bell: bool
) -> None:
    # the outgoing lines are shown as they are sent, so take what the model has so far
    session.model.take_changes()
    _flush(session, screen, bell, screen.out)
    screen.redraw()
    with resizes() as resized:
        _turns(session, handler, screen, keys, stop, bell, resized)


def _turns(
    session: ChatSession,
    handler: InputHandler,
    screen: LineScreen,
    keys: Keys,
    stop: StopSignals,
    bell: bool,
    resized: list[bool],
) -> None:
    while not session.quit and not stop.stopping.is_set():
        session.pump(LISTEN_POLL_S if keys.fds() is not None else KEY_POLL_S, keys.fds())
        got = keys.read(0.0 if keys.fds() is not None else 0.05)
        changed = resized[0]
        resized[0] = False
        for key in got:
            if key.name == "ctrl-l":
                changed = True
                continue
            handler.handle(key)
            changed = True
            _flush(session, screen, bell, screen.out)
            if session.quit:
                break
        _flush(session, screen, bell, screen.out)
        if changed:
            screen.redraw()
