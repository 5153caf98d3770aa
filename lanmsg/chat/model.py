"""The state of a ``lanmsg chat`` as a pure model: scrollback, own messages and their fate,
who is online, the target, unread counts, and the queue for absent peers.

No terminal and no network here: lanmsg.chat.session feeds it the listener's events and
what the user typed; the front ends draw ``lines`` with ``render``.  Every state is
in words on the message's own line, never in colour alone.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..output import clock
from .graphemes import prev_boundary, safe_display

QUEUE_MAX = 50  # undelivered messages kept for absent peers; beyond it the oldest is given up
QUEUE_SENDS_MAX = 3  # times one queued message is sent again (each time with a new id)
SCROLLBACK_MAX = 5000  # lines kept in memory
HISTORY_LINES = 50  # messages of --log shown on start

PENDING, CONFIRMED, FAILED = "pending", "confirmed", "failed"


@dataclass
class Outgoing:
    """One of our messages: to whom (a name, an address, or "*"), its text and its fate."""

    to: str
    text: str
    msg_id: int | None = None
    state: str = PENDING
    confirmed_by: list[str] = field(default_factory=list)
    sent_again: int = 0  # times it went out again from the queue
    queued: bool = False  # waiting for ``to`` to come online
    reason: str = ""  # why it failed, when not simply unconfirmed
    relayed: bool = False  # sent by a one-shot lanmsg command through this chat, not typed here

    @property
    def everyone(self) -> bool:
        return self.to == "*"


@dataclass
class Line:
    """One scrollback entry.  ``kind``: "in", "out", "online", "offline", "info", "error",
    "history" (a message from the log, ``who`` is "<NAME" or ">NAME" for its direction)."""

    kind: str
    time: float
    who: str
    text: str
    out: Outgoing | None = None


@dataclass(frozen=True)
class StateChange:
    """A message's state changed (line mode prints these as new lines)."""

    out: Outgoing
    time: float


def state_words(out: Outgoing) -> str:
    """The state of an own message in words: pending, confirmed (by N), not delivered to BOB..."""
    again = "sent again, " if out.sent_again else ""
    if out.state == PENDING:
        return again + "pending"
    if out.state == CONFIRMED:
        if out.everyone:
            return again + f"confirmed by {len(out.confirmed_by)}"
        return again + "confirmed"
    if out.everyone:
        return again + "not confirmed by anyone"
    why = f": {out.reason}" if out.reason else ""
    queued = f"; queued until {safe_display(out.to)} is online" if out.queued else ""
    return again + f"not delivered to {safe_display(out.to)}{why}{queued}"


def stamp(at: float, now: float | None = None) -> str:
    """When: the time of day ("17:04:29"), with the date before it when that is not today
    ("2026-12-05 17:04:29", for history from --log)."""
    day = time.localtime(at)[:3]
    if day == time.localtime(now)[:3]:
        return clock(at)
    return time.strftime("%Y-%m-%d ", time.localtime(at)) + clock(at)


def render(line: Line, now: float | None = None) -> str:
    """One scrollback entry as text (what anyone typed shown with safe_display: escaped as listen
    escapes it, but emoji sequences whole).  Its time, with the date when that is not today's."""
    t = stamp(line.time, now)
    if line.kind == "in":
        return f"{t} <{safe_display(line.who)}> {safe_display(line.text)}"
    if line.kind == "out" and line.out is not None:
        by = " (sent by another lanmsg command)" if line.out.relayed else ""
        return f"{t} -> {safe_display(line.out.to)}: {safe_display(line.text)}  [{state_words(line.out)}]{by}"
    if line.kind in ("online", "offline"):
        return f"{t} * {safe_display(line.who)} is {line.kind}{f' ({line.text})' if line.text else ''}"
    if line.kind == "history":
        arrow = "<" if line.who.startswith("<") else "->"
        name = safe_display(line.who[1:])
        if arrow == "<":
            return f"{t} [history] <{name}> {safe_display(line.text)}"
        return f"{t} [history] -> {name}: {safe_display(line.text)}"
    if line.kind == "error":
        return f"{t} !! {safe_display(line.text)}"
    return f"{t} -- {safe_display(line.text)}"


def quote(text: str, limit: int = 24) -> str:
    """The start of a message, for a state-change line."""
    text = safe_display(text)
    return '"' + (text if len(text) <= limit else text[: prev_boundary(text, limit)] + "…") + '"'


def render_change(change: StateChange) -> str:
    """Line mode's new line for a state change: ``=>`` (presence has ``*``), the message's start
    quoted, its new state."""
    out = change.out
    return f"{clock(change.time)} => {quote(out.text)} to {safe_display(out.to)}: {state_words(out)}"


class ChatModel:
    def __init__(self, me: str, slot: str, *, target: str = "*", key_id: str | None = None) -> None:
        self.me = me
        self.slot = slot
        self.key_id = key_id
        self.target = target
        self.lines: list[Line] = []
        self.online: OrderedDict[str, tuple[str, str | None]] = OrderedDict()  # least recently active first
        self.last_sender: str | None = None
        self.by_id: dict[int, Outgoing] = {}
        self.queue: list[Outgoing] = []
        self.changes: list[StateChange] = []  # since the front end last took them
        self.scrolled = False  # the view is scrolled back (set by the front end)
        self.unread = 0
        self.new_lines = 0  # lines added since the front end last looked (line mode prints them)
        self.bells = 0  # incoming messages since the front end last rang

    # -- scrollback ------------------------------------------------------------

    def _add(self, line: Line) -> Line:
        self.lines.append(line)
        if len(self.lines) > SCROLLBACK_MAX:
            del self.lines[: len(self.lines) - SCROLLBACK_MAX]
        self.new_lines += 1
        return line

    def take_new(self) -> list[Line]:
        n, self.new_lines = self.new_lines, 0
        return self.lines[-n:] if n else []

    def take_changes(self) -> list[StateChange]:
        out, self.changes = self.changes, []
        return out

    def info(self, text: str, at: float | None = None) -> Line:
        return self._add(Line("info", time.time() if at is None else at, "", text))

    def error(self, text: str, at: float | None = None) -> Line:
        return self._add(Line("error", time.time() if at is None else at, "", text))

    def history(self, records: Iterable[dict[str, Any]], source: str) -> int:
        """The last HISTORY_LINES messages of a log (JSON records of listen/chat --log), set apart."""
        msgs = [r for r in records if r.get("dir") in ("in", "out") and isinstance(r.get("text"), str)]
        msgs = msgs[-HISTORY_LINES:]
        if not msgs:
            return 0
        self.info(f"history: the last {len(msgs)} messages of {source}")
        for r in msgs:
            at = r.get("time")
            who = ("<" + str(r.get("from", "?"))) if r["dir"] == "in" else (">" + str(r.get("to", "?")))
            self._add(Line("history", float(at) if isinstance(at, (int, float)) else 0.0, who, r["text"]))
        self.info("end of history")
        return len(msgs)

    # -- peers -------------------------------------------------------------------

    def _seen(self, name: str, address: str | None) -> None:
        key = name.upper()
        old = self.online.pop(key, None)
        self.online[key] = (name, address if address else (old[1] if old else None))

    def names(self) -> list[str]:
        """Names online, most recently active first (Tab completion)."""
        return [name for name, _ in reversed(self.online.values())]

    def sorted_online(self) -> list[tuple[str, str | None]]:
        return sorted(self.online.values(), key=lambda p: p[0].upper())

    def peer_online(self, name: str, address: str | None, again: bool, at: float) -> list[Outgoing]:
        """``name`` heard online; returns the queued messages to send to it again now."""
        if name.upper() == self.me.upper():
            return []
        known = name.upper() in self.online
        self._seen(name, address)
        if not known:
            self._add(Line("online", at, name, address or ""))
        return self.take_queued_for(name, address)

    def peer_offline(self, name: str, address: str | None, at: float) -> None:
        self.online.pop(name.upper(), None)
        self._add(Line("offline", at, name, address or ""))

    def peer_silent(self, name: str, at: float) -> None:
        """``name`` did not answer a refresh: off the list (it may have crashed without OFFLINE)."""
        if self.online.pop(name.upper(), None) is not None:
            self._add(Line("offline", at, name, "no answer to /refresh"))

    def take_queued_for(self, name: str, address: str | None = None) -> list[Outgoing]:
        keys = {name.upper()} | ({address} if address else set())
        due = [o for o in self.queue if o.to.upper() in keys]
        self.queue = [o for o in self.queue if o not in due]
        for o in due:
            o.queued = False
        return due

    # -- messages ----------------------------------------------------------------

    def _active(self, name: str) -> None:
        """``name`` did something: first in Tab completion (its Online event adds it when new)."""
        if name.upper() in self.online:
            self.online.move_to_end(name.upper())

    def received(self, sender: str, address: str | None, text: str, at: float) -> Line:
        self.last_sender = sender
        self._active(sender)
        if self.scrolled:
            self.unread += 1
        self.bells += 1
        return self._add(Line("in", at, sender, text))

    def outgoing(self, to: str, text: str, at: float | None = None) -> Outgoing:
        """A message about to be sent: its line appears now, pending."""
        out = Outgoing(to, text)
        self._add(Line("out", time.time() if at is None else at, self.me, text, out))
        return out

    def relayed(self, to: str, text: str, msg_id: int, at: float) -> Outgoing:
        """A one-shot command on this machine sent a message through the chat (its line shows it)."""
        out = Outgoing(to, text, relayed=True)
        self._add(Line("out", at, self.me, text, out))
        self.sent(out, msg_id)
        return out

    def sent(self, out: Outgoing, msg_id: int) -> None:
        out.msg_id = msg_id
        self.by_id[msg_id] = out

    def sent_again(self, out: Outgoing, msg_id: int, at: float) -> None:
        """A queued message went out again, with a new id."""
        if out.msg_id is not None:
            self.by_id.pop(out.msg_id, None)
        out.sent_again += 1
        out.state, out.reason = PENDING, ""
        self.sent(out, msg_id)
        self.changes.append(StateChange(out, at))

    def confirmed(self, msg_id: int, by: str, address: str | None, at: float) -> Outgoing | None:
        out = self.by_id.get(msg_id)
        self._active(by)
        if out is None or by.upper() in (b.upper() for b in out.confirmed_by):
            return None
        out.confirmed_by.append(by)
        out.state = CONFIRMED
        if not out.everyone:
            del self.by_id[msg_id]
        self.changes.append(StateChange(out, at))
        return out

    def failed(self, out: Outgoing, at: float, reason: str = "") -> None:
        """Not delivered: unconfirmed after the resends, or no peer of that name answered.
        A message to one peer is queued for its return (QUEUE_MAX, QUEUE_SENDS_MAX)."""
        if out.msg_id is not None:
            self.by_id.pop(out.msg_id, None)
        out.state, out.reason = FAILED, reason
        if not out.everyone and not out.relayed and out.sent_again < QUEUE_SENDS_MAX and reason != "too long":
            out.queued = True
            self.queue.append(out)
            if len(self.queue) > QUEUE_MAX:
                oldest = self.queue.pop(0)
                oldest.queued = False
                if oldest is not out:
                    self.changes.append(StateChange(oldest, at))
        self.changes.append(StateChange(out, at))

    def not_delivered(self, msg_id: int, at: float) -> Outgoing | None:
        out = self.by_id.get(msg_id)
        if out is None:
            return None
        if out.everyone and out.confirmed_by:
            del self.by_id[msg_id]
            return None  # a broadcast someone confirmed is confirmed
        self.failed(out, at)
        return out

    def pending(self) -> list[Outgoing]:
        return [o for o in self.by_id.values() if o.state == PENDING]

    def queued_to(self) -> str:
        """Who the queue waits for: "BOB, CAROL"."""
        return ", ".join(dict.fromkeys(safe_display(o.to) for o in self.queue))

    def dropped_words(self) -> str:
        """What leaving now gives up, in words ("" when nothing): the queued messages and those
        still waiting for their confirmation ("2 queued messages (to BOB, CAROL) dropped")."""
        parts = []
        if self.queue:
            n = len(self.queue)
            parts.append(f"{n} queued message{'s' if n > 1 else ''} (to {self.queued_to()}) dropped")
        pending = len([o for o in self.pending() if not o.relayed])
        if pending:
            parts.append(f"{pending} message{'s' if pending > 1 else ''} not confirmed yet")
        return "; ".join(parts)

    # -- status ------------------------------------------------------------------

    def status(self) -> str:
        """The status bar's text (the front end clips it to the width; while the view is scrolled
        back it puts "scrolled back N, unread M" before it)."""
        names = " ".join(safe_display(n) for n, _ in self.sorted_online())
        parts = [f"{safe_display(self.me)} on {self.slot}" + (f" (key {self.key_id})" if self.key_id else "")]
        parts.append(f"to {safe_display(self.target)}")
        if self.queue:
            parts.append(f"queued {len(self.queue)}")
        parts.append(f"online {len(self.online)}" + (f": {names}" if names else ""))
        return " | ".join(parts)

    def prompt(self) -> str:
        return f"to {safe_display(self.target)}> "
