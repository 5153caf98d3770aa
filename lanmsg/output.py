"""What lanmsg prints and logs: terminal-safe text, JSON lines, the durable message log."""

from __future__ import annotations

import os
import sys
import threading
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    import io
    import types
    from collections.abc import Callable
    from typing import Any, TextIO


def lazy_json() -> types.ModuleType:
    """The json module, imported on first use: most commands print no JSON, and importing
    it costs about 1.5 ms of every start-up."""
    import json

    return json


def safe_text(text: str) -> str:
    """Text that cannot drive a terminal: control characters, escape sequences and
    invisible formatting characters are shown escaped (``\\x1b``), never emitted."""
    if text.isprintable():  # nearly every text: nothing to escape (a space is printable)
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def clock(at_wall: float | None = None) -> str:
    return _local_second(time.time() if at_wall is None else at_wall)[1]


def iso_time(at_wall: float | None = None) -> str:
    t = time.time() if at_wall is None else at_wall
    return _local_second(t)[0] + f".{int(t % 1 * 1000):03d}"


_second: tuple[float, str, str] = (-1.0, "", "")  # the last second formatted: (start, ISO date and time, clock)


def _local_second(t: float) -> tuple[str, str]:
    """("%Y-%m-%dT%H:%M:%S", "%H:%M:%S") of the local time ``t``: formatted once per second
    (a listener prints a time on every line)."""
    global _second
    start = t // 1  # localtime() rounds down too
    if _second[0] != start:
        local = time.localtime(start)
        _second = (start, time.strftime("%Y-%m-%dT%H:%M:%S", local), time.strftime("%H:%M:%S", local))
    return _second[1], _second[2]


def json_line(record: dict[str, Any]) -> str:
    """``json.dumps(record, ensure_ascii=False)``, with one encoder for every line."""
    global _json_encode
    if _json_encode is None:
        _json_encode = lazy_json().JSONEncoder(ensure_ascii=False).encode
    return _json_encode(record)


_json_encode: Callable[[Any], str] | None = None


class Printer:
    """Human lines or one JSON object per event, on stdout, flushed per event; or, between
    ``hold()`` and ``release()``, kept and written together at each ``flush()`` (a listener
    writes what one batch of messages showed in one write)."""

    _held: list[str] | None = None  # the lines kept while held

    def __init__(self, json_mode: bool, stream: TextIO | None = None):
        self.json_mode = json_mode
        self.stream: TextIO = stream or sys.stdout
        try:
            wrapper: io.TextIOWrapper = self.stream  # type: ignore[assignment]  # any other stream: AttributeError
            if json_mode:
                wrapper.reconfigure(encoding="utf-8")
            else:
                wrapper.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass

    def event(self, kind: str, human: str | None, /, **fields: Any) -> None:
        # kind and human positional-only: a field may be called "kind" (the name service's events)
        if self.json_mode:
            record = {"event": kind, "time": iso_time()}
            record.update(fields)
            line = json_line(record)
        elif human is None:
            return
        else:
            line = human
        if self._held is not None:
            self._held.append(line)
            return
        self._write(line + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            pass

    def hold(self) -> None:
        """Keep the lines of the events that follow until ``flush()`` or ``release()``."""
        if self._held is None:
            self._held = []

    def flush(self) -> None:
        """Write the lines kept so far, in one write (and go on holding)."""
        if self._held:
            lines, self._held = self._held, []
            self._write("\n".join(lines) + "\n")

    def release(self) -> None:
        """Write what is kept, then print each event as it comes again."""
        self.flush()
        self._held = None


def error(message: object) -> None:
    """One line on stderr, never a traceback."""
    sys.stderr.write(f"lanmsg: error: {safe_text(str(message))}\n")
    sys.stderr.flush()


def note(message: object) -> None:
    """One line of advice on stderr (why a command may have found nothing)."""
    sys.stderr.write(f"lanmsg: note: {safe_text(str(message))}\n")
    sys.stderr.flush()


class MessageLog:
    """Append-only JSON-lines log; each record is flushed and fsynced before ``append`` returns.

    The listener logs a received message *before* its confirmation goes out, so a
    message the sender saw confirmed is on disk: a batch of messages is ``add``-ed, then
    ``commit`` writes them and fsyncs once (group commit), then their confirmations go out.
    A torn last line (power cut mid-write) is skipped by ``read_log``.
    """

    def __init__(self, path: str):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._pending: list[bytes] = []  # records added, not yet written
        self._adding = threading.Lock()  # add() and the commit that takes what was added
        self._writing = threading.Lock()  # one commit at a time: a record added before a commit
        # begins is on disk when it returns, whichever thread's commit wrote it
        self._fresh_line()

    def _fresh_line(self) -> None:
        # a torn record left by a crash must not swallow the next one
        size = os.fstat(self._fd).st_size
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    os.write(self._fd, b"\n")

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` and fsync it (with any record added before it)."""
        self.add(record)
        self.commit()

    def add(self, record: dict[str, Any]) -> None:
        """Queue ``record``: it is written and on disk when ``commit()`` returns, not before."""
        line = (json_line(record) + "\n").encode("utf-8")
        with self._adding:
            self._pending.append(line)

    def waiting(self) -> int:
        """How many records were added and are not written yet."""
        return len(self._pending)

    def commit(self) -> None:
        """Write the records added, in one write, and fsync once (any thread; a record added
        before the call is on disk when it returns).  Nothing added: nothing done."""
        with self._writing:
            with self._adding:
                pending, self._pending = self._pending, []
            if not pending:
                return
            view = memoryview(b"".join(pending))
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_log(path: str) -> list[dict[str, Any]]:
    """Every complete record of a log; torn or garbled lines are skipped."""
    records = []
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                continue
            try:
                rec = lazy_json().loads(raw)
            except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records
