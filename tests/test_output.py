"""lanmsg.output.Printer: an event may carry a field named like a parameter of event()."""

import io
import json

from lanmsg.cli import _name_reporter
from lanmsg.output import Printer


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
