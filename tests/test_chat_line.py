"""lanmsg chat's line mode in this process, with scripted keys (loopback only)."""

from chatfake import run_scripted, typed

import mailslot
from lanmsg.chat.keys import Key
from lanmsg.settings import Settings


def test_line_mode_prints_above_the_input_and_reports_state_changes(port):
    settings = Settings(config=mailslot.Config.from_env())
    steps = [
        typed("/to ."),
        [Key("text", "hello there")],
        [Key("left"), Key("left"), Key("text", "XY")],
        [Key("enter")],
        lambda out: '"hello theXYre" to .: confirmed' in out,
        typed("/who"),
        typed("/bogus"),
    ]
    code, out, keys = run_scripted(settings, steps)
    assert code == 0 and keys.entered and keys.exited
    lines = [chunk.rsplit("\r", 1)[-1] for chunk in out.split("\r\n")]
    assert any(line.endswith("-> .: hello theXYre  [pending]") for line in lines), lines
    assert any(line.endswith("<LANMSGTEST> hello theXYre") for line in lines), lines
    assert any(line.endswith('* "hello theXYre" to .: confirmed') for line in lines), lines
    assert any("unknown command /bogus" in line for line in lines)
    assert out.endswith("left the group (OFFLINE sent)\r\n")
    # the input line is redrawn with carriage return, spaces and backspaces only: no escape sequence
    assert "\x1b" not in out
    # the redraw after the edit: prompt, text, and the cursor moved back before "re"
    assert "to .> hello theXYre\b\b" in out
