"""Drive ``lanmsg chat``'s line mode in this process with scripted keys (no terminal).

Shared by tests/test_chat_line.py (Linux) and tests/windows/test_win_chat.py (Windows Python),
so the line mode's non-key parts run on both.
"""

from __future__ import annotations

import io

from lanmsg.chat.keys import Key
from lanmsg.chat.line import run_line


class ScriptedKeys:
    """A key source: each step is a list of keys, or a callable that says when to go on
    (``wait_for(text_so_far) -> bool``); at the end, Ctrl-D on an empty line."""

    def __init__(self, out: io.StringIO, steps: list, max_polls: int = 2000):
        self.out, self.steps, self.polls, self.max_polls = out, list(steps), 0, max_polls
        self.entered = self.exited = False

    def enter(self) -> None:
        self.entered = True

    def exit(self) -> None:
        self.exited = True

    def fds(self):
        return None  # polled, as on Windows

    def measure(self, texts):
        return None  # no terminal to ask

    def read(self, timeout: float = 0.0) -> list[Key]:
        self.polls += 1
        if self.polls > self.max_polls:
            raise AssertionError("the script did not finish:\n" + self.out.getvalue())
        if not self.steps:
            return [Key("ctrl-d")]
        step = self.steps[0]
        if callable(step):
            if step(self.out.getvalue()):
                self.steps.pop(0)
            return []
        self.steps.pop(0)
        return step


def typed(text: str) -> list[Key]:
    return [Key("text", text), Key("enter")]


def run_scripted(settings, steps, **kw) -> tuple[int, str, ScriptedKeys]:
    out = io.StringIO()
    keys = ScriptedKeys(out, steps)
    code = run_line(settings, log_path=kw.pop("log_path", None), target=kw.pop("target", "*"), keys=keys, out=out, **kw)
    return code, out.getvalue(), keys
