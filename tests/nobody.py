"""Running a test's process as user nobody (root only): a Python that user can run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOBODY_UID = NOBODY_GID = 65534


def as_nobody() -> None:
    """A Popen preexec_fn: the child runs as nobody, in a process group of its own."""
    os.setpgrp()
    os.setgroups([])
    os.setgid(NOBODY_GID)
    os.setuid(NOBODY_UID)


def python_for_nobody() -> str | None:
    """A Python 3.10+ that nobody can run and that imports this repository's code, or None: the
    test's own interpreter may live where nobody cannot read (a pyenv under /root)."""
    probe = f"import sys; sys.path.insert(0, {ROOT!r}); import mailslot, lanmsg; sys.exit(sys.version_info < (3, 10))"
    candidates = [sys.executable, os.path.realpath(sys.executable), shutil.which("python3", path=os.defpath)]
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            r = subprocess.run([python, "-c", probe], preexec_fn=as_nobody, cwd="/", capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if r.returncode == 0:
            return python
    return None
