"""lanmsg.output: the Printer (an event may carry a field named like a parameter of event(); lines
held and written together), and the message log's group commit."""

import io
import json
import os

from lanmsg.cli import _name_reporter
from lanmsg.output import MessageLog, Printer, read_log


def test_a_field_named_kind_reaches_the_json_line():
    buf = io.StringIO()
    Printer(True, buf).event("name", None, kind="defended", human="field, not the text")
    record = json.loads(buf.getvalue())
    assert record["event"] == "name"
    assert record["kind"] == "defended" and record["human"] == "field, not the text"


def test_name_service_news_with_json_are_a_note_and_an_event(capsys):
    # mypy --strict found this one: event() took kind= as its own first argument (TypeError)
    buf = io.StringIO()
    report = _name_reporter(Printer(True, buf))
    report("defended", "defended LAB-H2<00> against a registration by 10.0.0.9")
    report("conflict", "not shown here: the command exits 3")
    (line,) = buf.getvalue().splitlines()
    record = json.loads(line)
    assert (record["event"], record["kind"]) == ("name", "defended")
    assert "10.0.0.9" in record["message"]
    assert "defended LAB-H2<00>" in capsys.readouterr().err


class _Stream(io.StringIO):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def write(self, s):
        self.writes += 1
        return super().write(s)


def test_held_lines_come_out_together_at_flush_and_as_they_come_after_release():
    stream = _Stream()
    p = Printer(False, stream)
    p.hold()
    p.event("message", "one")
    p.event("message", "two")
    p.event("stats", None)  # no human line: nothing kept
    assert stream.getvalue() == ""
    p.flush()
    assert (stream.getvalue(), stream.writes) == ("one\ntwo\n", 1)
    p.flush()  # nothing kept: nothing written
    p.event("message", "three")
    p.release()
    p.event("message", "four")
    assert stream.getvalue() == "one\ntwo\nthree\nfour\n"


def test_a_json_line_is_what_json_dumps_writes():
    buf = io.StringIO()
    fields = {"from": "JÜRGEN", "text": 'say "hi"\n\x1b[2J', "id": 7, "address": None}
    Printer(True, buf).event("message", "human", **fields)
    line = buf.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    record = json.loads(line)
    assert {k: record[k] for k in fields} == fields
    assert line[:-1] == json.dumps(record, ensure_ascii=False)


def test_added_records_reach_the_disk_at_commit_with_one_fsync(tmp_path, monkeypatch):
    path = str(tmp_path / "messages.jsonl")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.path.getsize(path)), real_fsync(fd)))
    log = MessageLog(path)
    try:
        log.add({"dir": "in", "id": 1, "text": "one"})
        log.add({"dir": "in", "id": 2, "text": "two"})
        assert read_log(path) == [] and synced == []  # added: not written, not promised
        log.commit()
        assert [r["text"] for r in read_log(path)] == ["one", "two"]
        assert synced == [os.path.getsize(path)]  # one fsync, after both were written
        log.commit()  # nothing added: no fsync
        log.append({"dir": "out", "id": 3, "text": "three"})
        assert [r["text"] for r in read_log(path)] == ["one", "two", "three"] and len(synced) == 2
    finally:
        log.close()
