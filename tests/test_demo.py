"""scripts/demo.sh, the README's first command after the install, runs to the end and exits 0."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_demo_script_exits_0_and_cleans_up(port, tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, LANMSG_PORT=str(port), TMPDIR=str(tmp_path))
    proc = subprocess.run(["sh", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": hello from lanmsg" in proc.stdout
    assert "127.0.0.1:8080" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # its temporary directory is gone


def test_demo_script_stops_when_the_listener_cannot_start(port, tmp_path):
    # the listener exits at once (no such port): the demo shows why and stops instead of waiting for ever
    env = dict(os.environ, PYTHON=sys.executable, LANMSG_PORT="70000", TMPDIR=str(tmp_path))
    proc = subprocess.run(["sh", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "invalid port 70000" in proc.stderr
    assert list(tmp_path.iterdir()) == []
