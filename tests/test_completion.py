"""``lanmsg --completion bash|zsh``: the scripts, loaded in the real shells, offer what the parser takes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from lanmsg_proc import ROOT

from lanmsg.cli import build_parser
from lanmsg.completion import options, subcommands

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    out = tmp_path_factory.mktemp("completion")
    for shell in ("bash", "zsh"):
        r = subprocess.run(
            [sys.executable, "-m", "lanmsg", "--completion", shell], cwd=ROOT, capture_output=True, text=True
        )
        assert r.returncode == 0 and r.stderr == "", r.stderr
        (out / shell).write_text(r.stdout)
    (out / "group.key").write_text("")  # a file to complete
    return out


def bash_completes(scripts, *words: str) -> list[str]:
    """What bash's completion function offers for ``lanmsg WORDS`` (the last word is being typed)."""
    program = (
        f"source {scripts / 'bash'}\n"
        'COMP_WORDS=(lanmsg "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()\n'
        "_lanmsg\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    r = subprocess.run(["bash", "-c", program, "bash", *words], cwd=scripts, capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout.split()


def test_bash_completes_commands_options_choices_and_files(scripts):
    names = [name for name, _, _ in subcommands(build_parser())]
    assert bash_completes(scripts, "") == names
    assert bash_completes(scripts, "se") == ["send"]
    assert bash_completes(scripts, "send", "--tr") == ["--transport"]
    assert bash_completes(scripts, "send", "--transport", "") == ["native", "netbios"]
    assert bash_completes(scripts, "--completion", "") == ["bash", "zsh"]
    assert bash_completes(scripts, "keygen", "gr") == ["group.key"]
    assert bash_completes(scripts, "listen", "--key-file", "gr") == ["group.key"]
    assert bash_completes(scripts, "send", "--timeout", "") == []  # a number: nothing to offer
    assert bash_completes(scripts, "discover", "--a") == ["--all", "--auth-window"]


def test_bash_offers_every_option_of_every_command(scripts):
    for name, _, sub in subcommands(build_parser()):
        assert sorted(bash_completes(scripts, name, "--")) == sorted(
            s for a in options(sub) for s in a.option_strings if s.startswith("--")
        ), name


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (scripts/install-test-tools.sh)")
def test_zsh_completes_commands_options_choices_and_files(scripts):
    def zsh_completes(line: str) -> list[str]:
        r = subprocess.run(
            ["zsh", "-f", os.path.join(HERE, "zsh_capture.zsh"), str(scripts / "zsh"), line],
            cwd=scripts,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, (r.stdout, r.stderr)
        return [w.strip().removeprefix("HIT:") for w in r.stdout.splitlines() if w.startswith("HIT:")]

    assert zsh_completes("lanmsg ") == [name for name, _, _ in subcommands(build_parser())]
    assert zsh_completes("lanmsg send --tr") == ["--transport"]
    assert zsh_completes("lanmsg send --transport ") == ["native", "netbios"]
    assert "group.key" in zsh_completes("lanmsg keygen ")
    assert "--no-wait" in zsh_completes("lanmsg send --")


def test_an_unknown_shell_is_a_usage_error():
    r = subprocess.run(
        [sys.executable, "-m", "lanmsg", "--completion", "fish"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("lanmsg: error: argument --completion: invalid choice: 'fish'")
