"""Running the lanmsg CLI from tests on this machine, as a user would in a terminal."""

import os
import signal
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lanmsg(*args, input=None, timeout=30):
    """`python -m lanmsg ARGS` to completion: returncode, stdout, stderr."""
    return subprocess.run(
        [sys.executable, "-m", "lanmsg", *args], cwd=ROOT, input=input, capture_output=True, text=True, timeout=timeout
    )


class Background:
    """`python -m lanmsg ARGS` left running (listen, announce).

    Ready once its first line contains one of ``ready``; its output is then read
    as it comes, as a terminal would, so a full pipe never blocks it.
    """

    def __init__(self, *args, ready=("listening", "announcing")):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lanmsg", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.first = self.proc.stdout.readline()
        assert any(word in self.first for word in ready), self.proc.stderr.read()
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    def stop(self):
        """SIGTERM, as a service manager stops it; returns (all stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        err = self.proc.stderr.read()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        return self.first + "".join(self.lines), err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
