"""lanmsg chat on Windows Python: the stdin mode, and the line mode's non-key parts.

Keys from a real console (msvcrt.getwch) are not driven here: Wine's console does not deliver
them reliably (docs/chat.md).  The line mode runs in this process with scripted keys instead.
"""

import json

import pytest
from chatfake import run_scripted, typed
from winsupport import child_env, run, unique

import mailslot
from lanmsg.chat.keys import Key
from lanmsg.settings import Settings

NAME = "LANMSGTEST"


@pytest.fixture
def slot():
    return unique("lmchat")


@pytest.mark.parametrize("transport", ["native", "netbios"])
def test_stdin_mode_sends_to_itself_and_exits_0(slot, transport, port):
    r = run(
        "-m",
        "lanmsg",
        "chat",
        "--slot",
        slot,
        "--transport",
        transport,
        "--to",
        ".",
        input="hello from a pipe\n/msg . grüße 日本\n".encode(),
        env=child_env(PYTHONIOENCODING="utf-8"),
    )
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, out + r.stderr.decode("utf-8", "replace")
    assert out.count(f"confirmed by {NAME}") == 2, out
    assert f"{NAME}: hello from a pipe" in out and f"{NAME}: grüße 日本" in out
    assert out.rstrip().endswith("left the group (OFFLINE sent)")


def test_stdin_mode_json_and_not_delivered_exit_1(slot, port):
    # a broadcast nobody but this chat hears (its own are not confirmed): not delivered
    r = run("-m", "lanmsg", "chat", "--slot", slot, "--transport", "netbios", "--json", input=b"anyone?\n")
    assert r.returncode == 1
    events = [json.loads(line) for line in r.stdout.decode("utf-8").splitlines()]
    assert [e["event"] for e in events if e["event"] in ("sent", "failed")] == ["sent", "failed"]


def test_line_mode_without_keys_from_a_console(slot):
    settings = Settings(slot=slot, transport="native", config=mailslot.Config.from_env())
    steps = [
        typed("/to ."),
        [Key("text", "hello there"), Key("left"), Key("left"), Key("text", "XY"), Key("enter")],
        lambda out: '"hello theXYre" to .: confirmed' in out,
    ]
    code, out, keys = run_scripted(settings, steps)
    assert code == 0 and keys.exited
    assert f"<{NAME}> hello theXYre" in out
    assert "\x1b" not in out  # carriage return, spaces and backspaces: any Windows console
    assert out.endswith("left the group (OFFLINE sent)\r\n")
