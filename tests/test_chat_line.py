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
    assert any(line.endswith('=> "hello theXYre" to .: confirmed') for line in lines), lines
    assert any("unknown command /bogus" in line for line in lines)
    assert out.endswith("left the group (OFFLINE sent)\r\n")
    # the input line is redrawn with carriage return, spaces and backspaces only: no escape sequence
    assert "\x1b" not in out
    # the redraw after the edit: prompt, text, and the cursor moved back before "re"
    assert "to .> hello theXYre\b\b" in out


def test_a_refused_line_stays_and_quit_asks_when_the_queue_would_be_lost(port):
    settings = Settings(config=mailslot.Config.from_env())
    steps = [
        typed("/to ."),
        typed("x" * 213),
        lambda out: "not sent: the message is 213 bytes, at most 212 fit in a frame" in out,
        [Key("backspace"), Key("enter")],  # put right: now it fits, and goes
        lambda out: "<LANMSGTEST> " + "x" * 212 in out,
        typed("/to 10.0.0.256"),
        lambda out: "not changed: '10.0.0.256' is not an IPv4 address" in out,
        [Key("ctrl-u")],
        typed("/to NOBODY"),
        typed("are you there"),
        lambda out: "queued until NOBODY is online" in out,
        typed("/quit"),
        lambda out: "1 message waits in the queue for NOBODY and is dropped if you leave now" in out,
        typed("/quit"),
    ]
    code, out, _ = run_scripted(settings, steps)
    assert code == 0
    lines = [chunk.rsplit("\r", 1)[-1] for chunk in out.split("\r\n")]
    # after each refusal the line is still there, redrawn after the error
    refused = out.index("not sent: the message is 213 bytes")
    assert ("to . (1 too long)> " + "x" * 20) in out[refused:]
    assert "to .> /to 10.0.0.256" in out[out.index("not changed: '10.0.0.256'") :]
    assert any(
        line.endswith("-- messages now go to NOBODY (not seen online: it is looked up when you send)") for line in lines
    )
    assert sum("-> 10.0.0.256" in line for line in lines) == 0  # nothing went to the typo
    assert out.endswith("left the group (OFFLINE sent); 1 queued message (to NOBODY) dropped\r\n")


def test_a_queued_message_goes_out_again_when_its_peer_comes_online(port):
    settings = Settings(config=mailslot.Config.from_env())
    online = b"NOBODY".ljust(24) + b"7".rjust(12) + b"01ONLINE"  # no confirmation asked, a system frame

    def peer_comes_online(out):
        if "queued until NOBODY is online" not in out:
            return False
        mailslot.write(".", "foxapp", online, config=settings.config)
        return True

    steps = [
        typed("/to NOBODY"),
        typed("are you there"),
        peer_comes_online,
        lambda out: '=> "are you there" to NOBODY: sent again, pending' in out,
        typed("/quit"),
        typed("/quit"),
    ]
    code, out, _ = run_scripted(settings, steps)
    assert code == 0
    assert "* NOBODY is online (127.0.0.1)" in out
