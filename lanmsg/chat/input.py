"""Keys to actions for both interactive front ends of ``lanmsg chat`` (full screen and line mode).

``InputHandler.handle(key)`` edits the line, submits it to the session on Enter,
completes names on Tab, walks the history on Up/Down, and holds a multi-line paste
until the user says whether to send it.  Scrolling keys are left to the front end
(``handle`` returns False for keys it did not use).
"""

from __future__ import annotations

from collections.abc import Callable

from .commands import COMMAND_WORDS
from .keys import Key
from .lineedit import LineEditor
from .session import ChatSession

PASTE_LINES_MAX = 20  # a paste of more lines is refused whole

# Keys that only edit the input line (lanmsg.chat.keys names them): a new editing key goes here.
EDITS: dict[str, Callable[[LineEditor], object]] = {
    "backspace": LineEditor.backspace,
    "ctrl-h": LineEditor.backspace,
    "delete": LineEditor.delete,
    "left": LineEditor.left,
    "ctrl-b": LineEditor.left,
    "right": LineEditor.right,
    "ctrl-f": LineEditor.right,
    "home": LineEditor.home,
    "ctrl-a": LineEditor.home,
    "end": LineEditor.end,
    "ctrl-e": LineEditor.end,
    "word-left": LineEditor.word_left,
    "word-right": LineEditor.word_right,
    "ctrl-k": LineEditor.kill_to_end,
    "ctrl-u": LineEditor.kill_to_start,
    "ctrl-w": LineEditor.kill_word_back,
    "ctrl-y": LineEditor.yank,
    "up": LineEditor.up,
    "ctrl-p": LineEditor.up,
    "down": LineEditor.down,
    "ctrl-n": LineEditor.down,
}


class InputHandler:
    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self.editor = LineEditor()
        self.paste: list[str] | None = None  # lines waiting for Enter (send) or Esc (cancel)

    def handle(self, key: Key) -> bool:
        """Apply ``key``; False when it is not an editing key (the front end may use it)."""
        ed, name = self.editor, key.name
        if self.paste is not None:
            self._answer_paste(key)
            return True
        edit = EDITS.get(name)
        if edit is not None:
            edit(ed)
        elif name == "text":
            ed.insert(key.text)
        elif name == "paste":
            self._pasted(key.text)
        elif name == "enter":
            if not ed.text.strip() or self.session.submit(ed.text):
                ed.submit()
            else:
                ed.remember()  # refused: it stays, to be put right (and it is in the history too)
        elif name == "ctrl-d":
            if ed.text:
                ed.delete()
            else:
                self.session.request_quit()
        elif name == "tab":
            found = ed.complete(self.session.model.names(), COMMAND_WORDS)
            if len(found) > 1:
                self.session.model.info("  ".join(found))
        else:
            return False
        return True

    def _pasted(self, text: str) -> None:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        if len(lines) <= 1:
            self.editor.insert(lines[0] if lines else "")
            return
        if len(lines) > PASTE_LINES_MAX:
            self.session.model.error(f"a paste of {len(lines)} lines was not sent (at most {PASTE_LINES_MAX})")
            return
        self.paste = lines
        self.session.model.info(
            f"you pasted {len(lines)} lines: Enter sends them as {len(lines)} messages to "
            f"{self.session.model.target}, Esc (or any other key) cancels"
        )

    def _answer_paste(self, key: Key) -> None:
        lines, self.paste = self.paste or [], None
        if key.name != "enter":
            self.session.model.info("paste not sent")
            return
        refused = [
            line
            for line in lines
            if line.strip() and not self.session.submit("/" + line if line.startswith("/") else line)
        ]
        if refused and not self.editor.text:
            self.editor.set(refused[0])  # the first line not sent (too long) stays to be put right
