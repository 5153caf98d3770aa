"""The official Windows CPython under Wine, for the host test suite (stdlib only).

scripts/setup-windows-python.sh installs Wine (Debian), the Windows embeddable CPython 3.11
with pytest (PyPI) and a Wine prefix; this module finds them and runs the repository's code
on that Windows Python::

    wine = Wine()
    wine.start()                              # one persistent wineserver, services booted
    r = wine.run("-m", "lanmsg", "send", ".", "hi")
    p = wine.popen("-m", "lanmsg", "listen")  # Ctrl-C: os.killpg(p.pid, signal.SIGINT)
    wine.stop()                               # wineserver -k

What the harness takes care of (docs/windows.md, "Testing"):

* The Windows process's standard handles are pipes or /dev/null, never regular files
  (CPython under Wine dies at start-up on a file handle inherited from a unix fd).
* One persistent ``wineserver -p`` per prefix, it and Wine's service processes started with
  every standard stream on /dev/null: a cold start inside a captured run would leave those
  services holding the test's pipes.  ``stop()`` ends it (wineserver -k).
* The embeddable CPython runs isolated (its ``python311._pth``): tests/windows/bootstrap.py
  puts the repository on sys.path, as ``python -m`` would.
* Sockets of a Windows process are made by the wineserver, in the wineserver's network
  namespace: for a lab host the server runs inside that host (``start_in``).
* Mailslot names are global to a wineserver: tests use names of their own.
"""

from __future__ import annotations

import ast
import glob
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import netlab

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WINDOWS_TESTS = os.path.join(REPO_ROOT, "tests", "windows")
# What runs inside the Windows Python: the Windows-side suite, and the host tests whose
# Windows-only checks (the kernel32 declarations against the real ctypes.WinError ...) skip on Linux.
WINDOWS_SUITE = ("tests/windows", "tests/test_kernel32_decls.py")
BOOTSTRAP = os.path.join(WINDOWS_TESTS, "bootstrap.py")
SETUP = "scripts/setup-windows-python.sh"
SETUP_HINT = f"install them with `sudo bash {SETUP}` (.ci/run does)"
SERVER_LINGER_S = 600  # a wineserver left behind by a killed test run ends by itself after this
COMMAND_TIMEOUT_S = 120


def _cache() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lanmsg")


def winpy_dir() -> str:
    """Where setup-windows-python.sh put the Windows Python (LANMSG_WINPY_DIR)."""
    return os.environ.get("LANMSG_WINPY_DIR") or os.path.join(_cache(), "winpy3.11")


def wineprefix() -> str:
    """The Wine prefix setup-windows-python.sh made (LANMSG_WINEPREFIX)."""
    return os.environ.get("LANMSG_WINEPREFIX") or os.path.join(_cache(), "wineprefix")


def windows_path(unix_path: str) -> str:
    """The Z: path of a unix path (Z: is / in every Wine prefix)."""
    return "Z:" + os.path.abspath(unix_path).replace("/", "\\")


def unavailable_reason() -> str | None:
    """Why the Windows tests cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "the Windows tests run the Windows CPython under Wine, on Linux"
    if shutil.which("wine") is None or shutil.which("wineserver") is None:
        return f"Wine is not installed; {SETUP_HINT}"
    exe = os.path.join(winpy_dir(), "python.exe")
    if not os.path.isfile(exe):
        return f"no Windows Python at {exe}; {SETUP_HINT}"
    if not os.path.isfile(os.path.join(wineprefix(), "system.reg")):
        return f"no Wine prefix at {wineprefix()}; {SETUP_HINT}"
    if not os.path.isdir(os.path.join(winpy_dir(), "Lib", "site-packages", "pytest")):
        return f"the Windows Python has no pytest; {SETUP_HINT}"
    return None


class Wine:
    """The Windows CPython of one Wine prefix, and that prefix's wineserver."""

    def __init__(self, prefix: str | None = None, winpy: str | None = None):
        self.prefix = prefix or wineprefix()
        self.python_exe = os.path.join(winpy or winpy_dir(), "python.exe")
        self.running_in = None  # None, "root" or the lab host (lab, i) the server runs in

    def env(self, extra: dict | None = None, base: dict | None = None) -> dict:
        """Environment of Wine processes: ``base`` (default ours) plus Wine's settings.

        Wine passes the unix environment on to Windows programs, so LANMSG_BROADCAST (the
        session keeps broadcasts on 127.255.255.255) reaches them as it reaches Linux ones.
        """
        env = dict(os.environ if base is None else base)
        env.update(self.wine_env())
        return netlab.with_overrides(env, extra)

    def wine_env(self) -> dict:
        """Wine's settings (also what a lab host's processes need on top of the lab's environment)."""
        return {
            "WINEPREFIX": self.prefix,
            "WINEDEBUG": "-all",
            "LC_ALL": "C.UTF-8",
        }  # unix argv and environment are UTF-8 to Wine

    def argv(self, *args) -> list[str]:
        """``wine python.exe`` running ``args`` with the repository importable (``-m lanmsg ...``)."""
        return ["wine", self.python_exe, "-B", windows_path(BOOTSTRAP), *map(str, args)]

    # -- the wineserver -------------------------------------------------------

    def _quiet(self, argv, timeout=COMMAND_TIMEOUT_S, check=True) -> None:
        r = subprocess.run(
            argv,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            start_new_session=True,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed with exit code {r.returncode}")

    def start(self) -> None:
        """A persistent wineserver in this (root) namespace with Wine's services booted."""
        if self.running_in == "root":
            return
        if self.running_in is not None:
            raise RuntimeError("the wineserver runs in a lab host; stop it there first")
        self._quiet(["wineserver", "-k"], timeout=30, check=False)  # left by a killed run
        self._quiet(["wineserver", f"-p{SERVER_LINGER_S}"])
        self._quiet(["wine", "wineboot", "-i"])
        self.running_in = "root"

    def stop(self) -> None:
        if self.running_in == "root":
            self._quiet(["wineserver", "-k"], timeout=30, check=False)
        self.running_in = None

    def start_in(self, lab, i: int) -> None:
        """Run this prefix's wineserver inside lab host ``i`` (its sockets are made there)."""
        self.stop()
        for argv in (["wineserver", f"-p{SERVER_LINGER_S}"], ["wine", "wineboot", "-i"]):
            p = lab.popen(i, argv, env=self.wine_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            code = p.finish(COMMAND_TIMEOUT_S).returncode
            if code != 0:
                raise RuntimeError(f"{' '.join(argv)} in lab host {i}: exit code {code}")
        self.running_in = (lab, i)

    def stop_in(self, lab, i: int) -> None:
        if self.running_in == (lab, i):
            p = lab.popen(
                i, ["wineserver", "-k"], env=self.wine_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            p.finish(30)
        self.running_in = None

    # -- Windows processes (root namespace) -----------------------------------

    def run(
        self, *args, env: dict | None = None, timeout: float = 60, input: bytes | None = None
    ) -> subprocess.CompletedProcess:
        """Run the Windows Python; stdout and stderr as bytes.  ``env``: variables to add or (None) drop."""
        self.start()
        return subprocess.run(
            self.argv(*args),
            cwd=REPO_ROOT,
            env=self.env(env),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )

    def popen(self, *args, env: dict | None = None) -> subprocess.Popen:
        """Start the Windows Python in a session of its own (``os.killpg(p.pid, SIGINT)`` is Ctrl-C)."""
        self.start()
        return subprocess.Popen(
            self.argv(*args),
            cwd=REPO_ROOT,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )


# --------------------------------------------------------------------------
# The Windows-side suite (tests/windows), run in one go and reported test by test
# --------------------------------------------------------------------------


def windows_test_ids() -> list[str]:
    """``file::test`` of every test function of WINDOWS_SUITE, read from the source (no Wine needed)."""
    ids = []
    paths = []
    for entry in WINDOWS_SUITE:
        full = os.path.join(REPO_ROOT, entry)
        paths += sorted(glob.glob(os.path.join(full, "test_*.py"))) if os.path.isdir(full) else [full]
    for path in paths:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        base = os.path.basename(path)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                ids.append(f"{base}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                ids += [
                    f"{base}::{node.name}::{m.name}"
                    for m in node.body
                    if isinstance(m, ast.FunctionDef) and m.name.startswith("test")
                ]
    return ids


class SuiteResult:
    """The outcome of each test of one run of tests/windows (from pytest's JUnit XML)."""

    def __init__(
        self,
        completed: subprocess.CompletedProcess | None,
        junit: str | None,
        seconds: float,
        problem: str | None = None,
    ):
        self.completed, self.seconds, self.problem = completed, seconds, problem
        self.output = "" if completed is None else (completed.stdout + completed.stderr).decode("utf-8", "replace")
        self.cases: dict[str, list[tuple[str, str, str]]] = {}  # id -> [(param, outcome, detail)]
        if junit and os.path.exists(junit):
            self._read(junit)

    def _read(self, junit: str) -> None:
        for case in ET.parse(junit).getroot().iter("testcase"):
            module = case.get("classname", "").split(".")
            name = case.get("name", "")
            func, _, param = name.partition("[")
            classes = [c for c in module if c.startswith("Test")]
            base = next((m for m in reversed(module) if m.startswith("test_")), "") + ".py"
            key = "::".join([base, *classes, func])
            outcome, detail = "passed", ""
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome, detail = child.tag, (child.get("message", "") + "\n" + (child.text or "")).strip()
                elif child.tag == "skipped":
                    kind = child.get("type", "")
                    outcome = "xfailed" if kind == "pytest.xfail" else "skipped"
                    detail = child.get("message", "")
            self.cases.setdefault(key, []).append((param.rstrip("]"), outcome, detail))

    @property
    def summary(self) -> str:
        lines = [line for line in self.output.splitlines() if " in " in line and ("passed" in line or "failed" in line)]
        return lines[-1].strip("= \r") if lines else (self.problem or "no summary")
