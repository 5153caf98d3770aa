"""Stopping a long-running command cleanly: Ctrl-C, SIGTERM, SIGHUP, and on Windows Ctrl-Break
and closing the console.

``with StopSignals() as stop:`` turns those signals into StopRequested in the main thread
(Ctrl-C stays KeyboardInterrupt) and sets ``stop.stopping``; the command then says goodbye
(OFFLINE) and sets ``stop.finished``, which a closing Windows console waits for.

``LibraryStop`` is the library's milder version (lanmsg.listener.Listener, lanmsg.client.Messenger):
a program that imports lanmsg owns its signals, so SIGTERM and SIGHUP are taken only where they
would kill the process outright, and only while such an object is open.
"""

from __future__ import annotations

import signal
import sys
import threading

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the start-up path
if TYPE_CHECKING:
    import types
    from typing import Any, Literal


class StopRequested(Exception):
    """A stop signal arrived (SIGTERM, SIGHUP, SIGBREAK): raised in the main thread."""


class StopSignals:
    """Turn SIGTERM (and on Windows, closing the console) into StopRequested in the main thread."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self._old: dict[int, Any] = {}  # signal -> the handler it had
        self._console_handler: object = None  # kept alive while installed

    def __enter__(self) -> StopSignals:
        def on_signal(signum: int, frame: types.FrameType | None) -> None:
            self.stopping.set()
            raise StopRequested()

        for name in ("SIGTERM", "SIGBREAK", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is not None:
                try:
                    self._old[sig] = signal.signal(sig, on_signal)
                except (ValueError, OSError):
                    pass
        if sys.platform == "win32":
            self._install_console_handler()
        return self

    def _install_console_handler(self) -> None:
        if sys.platform != "win32":  # WINFUNCTYPE and WinDLL exist on Windows only (the type checker knows)
            return
        import ctypes
        from ctypes import wintypes

        HandlerRoutine = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)
        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        k32.SetConsoleCtrlHandler.argtypes = (HandlerRoutine, wintypes.BOOL)
        k32.SetConsoleCtrlHandler.restype = wintypes.BOOL
        CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT = 1, 2, 5, 6

        def handler(event: int) -> bool:
            if event == CTRL_BREAK_EVENT:
                # handled here, not left to the C runtime's SIGBREAK: not every runtime
                # maps it (Wine's ends the process instead)
                self.stopping.set()
                return True
            if event in (CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT):
                self.stopping.set()
                # Windows ends the process when this returns: give the main loop
                # time to send OFFLINE first (it has about 5 s).
                self.finished.wait(3.0)
                return True
            return False

        self._console_handler = HandlerRoutine(handler)
        k32.SetConsoleCtrlHandler(self._console_handler, True)

    def __exit__(self, *exc: object) -> Literal[False]:
        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass
        self.finished.set()
        return False


# --------------------------------------------------------------------------
# The library: SIGTERM and SIGHUP while a Listener or Messenger is open
# --------------------------------------------------------------------------

LIBRARY_SIGNALS = ("SIGTERM", "SIGHUP")  # what systemd sends to stop a service; a closed terminal


class _Taken:
    """What the library took, shared by every open Listener and Messenger (signals are per process)."""

    def __init__(self) -> None:
        self.users = 0  # LibraryStop objects open in the main thread
        self.signals: list[int] = []  # the signals whose handler is ours
        self.busy = 0  # > 0 while the main thread is inside a Listener's engine
        self.pending = False  # a signal came while busy: SystemExit once the engine's turn ends


_taken = _Taken()


def _exit_on_signal(signum: int, frame: types.FrameType | None) -> None:
    if _taken.busy:
        _taken.pending = True  # the engine finishes its turn; LibraryStop.__exit__ raises
        return
    raise SystemExit(0)


class LibraryStop:
    """SIGTERM and SIGHUP as ``SystemExit(0)`` in the main thread while a library object is open,
    as Ctrl-C is KeyboardInterrupt: ``with`` blocks and ``finally`` clauses run (a Listener's
    OFFLINE goes out) and the program exits 0 unless it catches the SystemExit.

    What a library may do with signals, and so what this does:

    * Only in the main thread: Python runs handlers there and lets only it set them.  An object
      made in another thread takes nothing.
    * Only a signal at its default action (which kills the process without a goodbye): a handler
      the program set, or SIG_IGN (``nohup``), is left alone.  To keep the default, set SIG_DFL
      explicitly after the object is made, or handle the signal yourself before.
    * Only while one is open: when the last open object closes, the default comes back, unless
      the program set a handler of its own meanwhile (that one stays).
    * Not in the middle of the engine: while the main thread is inside ``with stop:`` (a
      Listener's poll, send, close) the exit waits for that turn to end (at most a poll interval).
    """

    def __init__(self) -> None:
        self._entered: list[bool] = []  # per ``with``: whether it counted as busy
        self.open = threading.current_thread() is threading.main_thread()
        if not self.open:
            return
        if _taken.users == 0:
            _taken.pending = False
            for name in LIBRARY_SIGNALS:
                sig = getattr(signal, name, None)
                if sig is None:
                    continue
                try:
                    if signal.getsignal(sig) == signal.SIG_DFL:
                        signal.signal(sig, _exit_on_signal)
                        _taken.signals.append(sig)
                except (ValueError, OSError):  # not the main interpreter, or not settable here
                    pass
        _taken.users += 1

    def __enter__(self) -> LibraryStop:
        counted = self.open and threading.current_thread() is threading.main_thread()
        self._entered.append(counted)
        if counted:
            _taken.busy += 1
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        if self._entered.pop():
            _taken.busy -= 1
            if _taken.busy == 0 and _taken.pending:
                _taken.pending = False
                raise SystemExit(0)
        return False

    def release(self) -> None:
        """This object closed: when it was the last, give the signals back (unless the program
        set its own handler meanwhile)."""
        if not self.open:
            return
        self.open = False
        _taken.users -= 1
        if _taken.users > 0:
            return
        for sig in _taken.signals:
            try:
                if signal.getsignal(sig) is _exit_on_signal:
                    signal.signal(sig, signal.SIG_DFL)
            except (ValueError, OSError):
                pass
        _taken.signals = []
