"""The library listener between real hosts: docs/library.md's ping bot against lanmsg peers.

The bot's code is taken from docs/library.md (between the ping-bot markers), so the
documented example is the one that runs.  Without root the module skips (docs/testing.md).
"""

import re
import signal

import netlab
from docblocks import doc_block
from test_lab_messenger import PY, ok, run, shown, start_listener, stop_listener

pytestmark = netlab.pytest_marks()


def ping_bot_source() -> str:
    return doc_block("library.md", "ping-bot", "python")


def test_ping_bot_from_the_docs_answers_pong_and_leaves_with_offline():
    source = ping_bot_source()
    assert len([line for line in source.splitlines() if line.strip()]) <= 10
    with netlab.Lab(3) as lab:
        h2 = start_listener(lab, 2)
        bot = lab.popen(1, [PY, "-c", source])
        # the bot joined: its ONLINE reached the listener
        h2.wait_for_line(rf"\* LAB-H1 is online \({re.escape(lab.addr(1))}\)$")
        # a one-shot send from host 2 goes through host 2's listener, which shows the answer
        r = ok(run(lab, 2, "send", "LAB-H1", "ping"))
        assert r.stdout.splitlines() == [f"confirmed by LAB-H1 ({lab.addr(1)})"], r.stdout
        h2.wait_for_line(r"LAB-H1: pong$")
        bot.wait_for_line(r"^ping from LAB-H2$")
        # a third host pings by address, without a listener: the bot still confirms it
        ok(run(lab, 3, "send", lab.addr(1), "PING"))
        bot.wait_for_line(r"^ping from LAB-H3$")
        bot.send_signal(signal.SIGINT)
        r = bot.finish(20)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr, r.stderr
        h2.wait_for_line(rf"\* LAB-H1 is offline \({re.escape(lab.addr(1))}\)$")
        out = stop_listener(h2).stdout
        assert shown(out, "LAB-H1") == ["pong"], out


def test_listener_reports_not_delivered_for_an_absent_host_after_the_retries_asked_for():
    script = (
        "import sys\n"
        "from lanmsg.listener import Listener, NotDelivered, Confirmed\n"
        "with Listener() as lst:\n"
        "    asked = {\n"
        "        lst.send(sys.argv[1], 'anyone?'): 'default',\n"
        "        lst.send(sys.argv[1], 'anyone?', retries=1): 'retries=1',\n"
        "        lst.send(sys.argv[1], 'anyone?', resends=0): 'resends=0',\n"
        "    }\n"
        "    for ev in lst:\n"
        "        if isinstance(ev, (NotDelivered, Confirmed)) and ev.msg_id in asked:\n"
        "            print(asked.pop(ev.msg_id), type(ev).__name__, getattr(ev, 'attempts', ''), flush=True)\n"
        "            if not asked:\n"
        "                break\n"
    )
    with netlab.Lab(2) as lab:
        r = ok(lab.run(1, [PY, "-c", script, f"{lab.net}.9"], timeout=60))
    assert sorted(r.stdout.splitlines()) == [
        "default NotDelivered 4",
        "resends=0 NotDelivered 1",
        "retries=1 NotDelivered 2",
    ], r.stdout
    # the old keyword still works, and says it is deprecated (shown: the call is in __main__)
    assert "DeprecationWarning: Listener.send(resends=) is deprecated; use retries=" in r.stderr, r.stderr


def test_ping_bot_confirms_a_windows_faithful_foxpro_peer():
    """winpeer (tests/peers/winpeer.py) confirms and replies only by NetBIOS name, as Windows does."""
    from peers.winpeer import read_events, winpeer_argv

    with netlab.Lab(3, empty_resolv_conf=True) as lab:
        bot = lab.popen(1, [PY, "-c", ping_bot_source()])
        peer = lab.popen(2, winpeer_argv("WINPEER2", broadcast=lab.broadcast_of(2)))
        peer.wait_for_line(r'"event": ?"turned_on"', timeout=30)
        # a one-shot Windows-faithful sender resolves LAB-H1 by NetBIOS name and pings the bot
        r = lab.run(3, winpeer_argv("WINPEER3", broadcast=lab.broadcast_of(3), send=("LAB-H1", "ping"), timeout=10), timeout=60)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr  # the bot confirmed, found by name
        bot.wait_for_line(r"^ping from WINPEER3$")
        bot.send_signal(signal.SIGINT)
        assert bot.finish(20).returncode == 0
        peer.wait_for_line(r'"event": ?"offline".*"from": ?"LAB-H1"', timeout=30)
        peer.terminate()
        assert any(e["event"] == "online" and e["from"] == "LAB-H1" for e in read_events(peer.finish(20).stdout))
