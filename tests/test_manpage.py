"""The man pages: scripts/manpage.py writes lanmsg.1 and mailslot.1 from the parsers, groff renders
them without a warning, they hold every command and option, and the sdist carries them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile

import pytest
from lanmsg_proc import ROOT

import mailslot
from lanmsg.cli import build_parser
from lanmsg.completion import options, positionals, subcommands


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("man")
    r = subprocess.run([sys.executable, "scripts/manpage.py", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def rendered(page) -> str:
    r = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-rLL=200n", str(page)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr  # -ww: every warning shows
    text = re.sub(".\b", "", r.stdout)  # the terminal's bold and underline: overstrikes
    return " ".join(text.replace("\u2010", "-").replace("\u2212", "-").split())


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
@pytest.mark.parametrize("name", ["lanmsg", "mailslot"])
def test_the_page_renders_and_holds_every_command_and_option(pages, name):
    text = rendered(pages / f"{name}.1")
    top = build_parser() if name == "lanmsg" else mailslot.cli_parser()
    assert "SYNOPSIS" in text and "COMMANDS" in text and "TRANSPORT OPTIONS" in text
    for command, _, parser in subcommands(top):
        assert f"{'lanmsg' if name == 'lanmsg' else 'python -m mailslot'} {command} " in text, command
        for a in [a for a in options(parser) if a.dest != "help"] + positionals(parser):
            word = a.option_strings[-1] if a.option_strings else str(a.metavar)
            assert word in text, (command, word)
        assert "exit codes:" in text and "examples:" in text


def test_the_sdist_carries_the_man_pages(tmp_path):
    pytest.importorskip("build")
    pytest.importorskip("setuptools")
    if shutil.which("git") is None:
        pytest.skip("git is needed to copy the tracked files")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    tree = tmp_path / "tree"
    for name in filter(None, files.decode().split("\0")):
        src = f"{ROOT}/{name}"
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, tree / name)
    r = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (sdist,) = (tmp_path / "dist").glob("lanmsg-*.tar.gz")
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert {"man/lanmsg.1", "man/mailslot.1"} <= names
