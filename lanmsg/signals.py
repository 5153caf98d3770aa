"""Stopping a long-running command cleanly: Ctrl-C, SIGTERM, SIGHUP, and on Windows Ctrl-Break
and closing the console.

``with StopSignals() as stop:`` turns those signals into StopRequested in the main thread
(Ctrl-C stays KeyboardInterrupt) and sets ``stop.stopping``; the command then says goodbye
(OFFLINE) and sets ``stop.finished``, which a closing Windows console waits for.
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
