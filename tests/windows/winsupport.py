"""Helpers of the Windows-side suite (tests/windows): it runs inside a Windows CPython.

Under Wine (CI: tests/test_windows.py runs this suite in the official Windows CPython under
Wine) or on a real Windows (``py -m pytest tests/windows``).  Wine is recognised the way
Windows programs do it, by ``ntdll.wine_get_version``; only then are the checks of Windows
behaviour that Wine 8.0 lacks marked as known Wine gaps (``wine_gap``).
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import threading
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BOOTSTRAP = os.path.join(HERE, "bootstrap.py")
HANG = 30.0  # upper bound for anything that should take a second: never a timing assert

CTRL_C_EVENT, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT = 0, 1, 2


def _wine_version() -> str | None:
    if sys.platform != "win32":
        return None
    try:
        fn = ctypes.CDLL("ntdll").wine_get_version
    except (OSError, AttributeError):
        return None  # a real Windows
    fn.restype = ctypes.c_char_p
    return fn().decode("ascii", "replace")


WINE = _wine_version()


def wine_gap(what: str):
    """Mark a check of real Windows behaviour that Wine lacks: xfail (not strict) under Wine only."""
    return pytest.mark.xfail(WINE is not None, reason=f"Wine {WINE} gap: {what}", strict=False)


# Writing to \\*\ or another computer on a real Windows with remote mailslots enabled would
# put datagrams on that computer's LAN; Wine has no remote mailslots at all.
only_without_remote_mailslots = pytest.mark.skipif(
    WINE is None,
    reason="on a real Windows this would write to the LAN (\\\\*\\mailslot\\...); "
    "it runs under Wine, which has no remote mailslots (like 24H2 by default)",
)


def unique(prefix: str = "lmwin") -> str:
    """A mailslot name nobody else uses: names are global to a Windows machine (one Wine prefix)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def py(*args) -> list[str]:
    """argv that runs this repository's code in this same Windows Python (``py("-m", "lanmsg", ...)``)."""
    return [sys.executable, "-B", BOOTSTRAP, *map(str, args)]


def child_env(drop=(), **extra) -> dict:
    env = dict(os.environ)
    for name in drop:
        env.pop(name, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(*args, env=None, input: bytes | None = None, timeout: float = HANG) -> subprocess.CompletedProcess:
    """Run ``py(*args)``; stdout and stderr as bytes (the child's own encoding is part of what is tested)."""
    return subprocess.run(
        py(*args),
        cwd=ROOT,
        env=env or child_env(),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


class Proc:
    """A background ``py(*args)`` whose output lines (bytes) are collected as they come."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen(
            py(*args),
            cwd=ROOT,
            env=env or child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.pid = self.proc.pid
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read, args=(s, b), daemon=True)
            for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for t in self._threads:
            t.start()

    def _read(self, stream, into) -> None:
        for line in iter(stream.readline, b""):
            with self._cond:
                into.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def text(self, encoding: str = "utf-8") -> str:
        with self._cond:
            return b"".join(self.out).decode(encoding, "replace")

    def describe(self) -> str:
        with self._cond:
            return (
                f"exit {self.proc.poll()}\n--- stdout ---\n{b''.join(self.out).decode('utf-8', 'replace')}"
                f"--- stderr ---\n{b''.join(self.err).decode('utf-8', 'replace')}"
            )

    def wait_for(self, pattern: str, timeout: float = HANG, encoding: str = "utf-8") -> str:
        """The first stdout line matching ``pattern`` (re.search); fails with all output otherwise."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for raw in self.out:
                    line = raw.decode(encoding, "replace").rstrip("\r\n")
                    if rx.search(line):
                        return line
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._threads):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.2))
        pytest.fail(f"no output line matching {pattern!r}\n{self.describe()}")

    def finish(self, timeout: float = HANG) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"still running after {timeout:g} s; killed\n{self.describe()}")
        for t in self._threads:
            t.join(HANG)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(HANG)


def send_console_event(pid: int, event: int) -> None:
    """Deliver a console control event to process ``pid`` the way Windows does.

    When the user presses Ctrl-C or Ctrl-Break, or closes the console window, Windows
    starts a thread in each process of the console at kernel32!CtrlRoutine with the event
    as its argument; CtrlRoutine calls the handlers registered with SetConsoleCtrlHandler
    (Python's C runtime turns CTRL_C into SIGINT and CTRL_BREAK into SIGBREAK).  This
    starts that same thread with CreateRemoteThread (kernel32 is mapped at the same address
    in every process of a session).
    """
    from ctypes import wintypes

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    k32.GetModuleHandleW.restype = wintypes.HMODULE
    k32.GetModuleHandleW.argtypes = (wintypes.LPCWSTR,)
    k32.GetProcAddress.restype = ctypes.c_void_p
    k32.GetProcAddress.argtypes = (wintypes.HMODULE, ctypes.c_char_p)
    k32.OpenProcess.restype = wintypes.HANDLE
    k32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    k32.CreateRemoteThread.restype = wintypes.HANDLE
    k32.CreateRemoteThread.argtypes = (
        wintypes.HANDLE,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_void_p,
        ctypes.c_void_p,
        wintypes.DWORD,
        ctypes.c_void_p,
    )
    k32.CloseHandle.argtypes = (wintypes.HANDLE,)
    routine = k32.GetProcAddress(k32.GetModuleHandleW("kernel32"), b"CtrlRoutine")
    if not routine:
        pytest.skip("kernel32 does not export CtrlRoutine on this Windows")
    PROCESS_CREATE_THREAD, PROCESS_QUERY_INFORMATION, PROCESS_VM_OPERATION = 0x2, 0x400, 0x8
    PROCESS_VM_WRITE, PROCESS_VM_READ = 0x20, 0x10
    process = k32.OpenProcess(
        PROCESS_CREATE_THREAD | PROCESS_QUERY_INFORMATION | PROCESS_VM_OPERATION | PROCESS_VM_WRITE | PROCESS_VM_READ,
        False,
        pid,
    )
    if not process:
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        thread = k32.CreateRemoteThread(process, None, 0, routine, event, 0, None)
        if not thread:
            raise ctypes.WinError(ctypes.get_last_error())
        k32.CloseHandle(thread)
    finally:
        k32.CloseHandle(process)


def computer_name() -> str:
    """GetComputerNameW: this computer's NetBIOS name, as Windows reports it."""
    buf = ctypes.create_unicode_buffer(64)
    size = ctypes.c_ulong(len(buf))
    if not ctypes.windll.kernel32.GetComputerNameW(buf, ctypes.byref(size)):
        raise ctypes.WinError()
    return buf.value
