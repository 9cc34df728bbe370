"""The print queue: a press becomes one label and one `printed` event; a printer that
cannot print holds the job until it can; a job nobody can vouch for waits for a person."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from station.codebook import Codebook
from tests.fakes.printers import FakeBrotherQL
from tests.print_helpers import (
    GTIN,
    decode,
    events,
    make_station,
    serial_of,
    wait_until,
)


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEM_TEST_MQTT_PASSWORD", "unused")


@pytest.fixture
def ql() -> Iterator[FakeBrotherQL]:
    fake = FakeBrotherQL("QL-800", roll=(62, 29))
    yield fake
    fake.close()


def brother(fake: FakeBrotherQL) -> dict:
    return {"driver": "brother_ql", "model": "QL-800", "target": fake.path, "template": "62x29"}


@pytest.fixture
def stations() -> Iterator[list]:
    started: list = []
    yield started
    for st in started:
        st.flow.stop()
        st.outbox.close()


def start(stations: list, *args, **kw):  # type: ignore[no-untyped-def]
    st = make_station(*args, **kw)
    st.flow.start()
    stations.append(st)
    return st


def test_a_press_prints_one_label_and_records_it_printed_and_activated(tmp_path: Path, stations: list) -> None:
    st = start(stations, tmp_path, {"driver": "file"}, printing={"activate_on_print": True})
    flow = st.flow
    serial = flow.press()
    assert serial
    wait_until(lambda: events(tmp_path, "activated"), what="activated event")
    [label] = (tmp_path / "labels").glob("*.png")
    assert [serial_of(u) for u in decode(__import__("PIL.Image").Image.open(label))] == [serial]
    [printed] = events(tmp_path, "printed")
    assert printed["serial"] == serial and printed["lot"] == "L1" and printed["reprint"] is False
    assert flow.printed_today() == 1 and flow.codebook.remaining() == 9
    assert flow.telemetry()["queue"] == 0


def test_out_of_paper_holds_the_job_says_what_to_do_and_prints_once_the_roll_is_back(
        tmp_path: Path, stations: list, ql: FakeBrotherQL) -> None:
    st = start(stations, tmp_path, brother(ql))
    flow = st.flow
    ql.run_out_of_paper()
    serial = flow.press()
    wait_until(lambda: flow.status.state == "no_paper" and flow.lamp == "error", what="no_paper status, red lamp")
    assert flow.status.message == "Hết giấy: lắp cuộn nhãn mới"
    assert [e["code"] for e in events(tmp_path, "alert")].count("printer_no_paper") == 1
    wait_until(lambda: flow.codebook.count("queued") == 1, what="the job back in the queue")
    assert ql.pages == [] and not events(tmp_path, "printed")
    ql.load_roll((62, 29))  # the worker puts a new roll in; nobody touches the station
    [page] = ql.wait_pages(1, timeout=10)
    assert [serial_of(u) for u in decode(page.image)] == [serial]
    wait_until(lambda: events(tmp_path, "printed"), what="printed event")
    # the status shown to the worker follows the printer's answer after the job
    wait_until(lambda: flow.status.ready, what="the ready status back")
    assert flow.codebook.count("done") == 1


def test_cover_open_then_closed_resumes_and_nothing_is_printed_twice(
        tmp_path: Path, stations: list, ql: FakeBrotherQL) -> None:
    st = start(stations, tmp_path, brother(ql))
    ql.cover_open = True
    wanted = [st.flow.press() for _ in range(3)]
    wait_until(lambda: st.flow.status.state == "cover_open", what="cover_open status")
    assert "đóng nắp" in st.flow.status.message
    ql.cover_open = False
    pages = ql.wait_pages(3, timeout=15)
    assert [serial_of(decode(p.image)[0]) for p in pages] == wanted
    wait_until(lambda: len(events(tmp_path, "printed")) == 3, what="3 printed events")


def test_a_job_the_printer_never_confirms_waits_for_a_person_and_each_answer_is_an_event(
        tmp_path: Path, stations: list, ql: FakeBrotherQL) -> None:
    st = start(stations, tmp_path, brother(ql))
    flow = st.flow
    flow.printer.print_timeout = 0.5
    ql.answer_print = False  # the printer takes the job and never says it printed
    first, second, third = flow.press(), flow.press(), flow.press()
    wait_until(lambda: len(flow.unconfirmed()) == 3, what="three unconfirmed jobs")
    assert not events(tmp_path, "printed")
    assert [e["serial"] for e in events(tmp_path, "alert") if e["code"] == "print_unconfirmed"] == [
        first, second, third]
    ql.answer_print = True
    a, b, c = flow.unconfirmed()
    assert flow.decide(a.id, "reprint")
    assert flow.decide(b.id, "printed")
    assert flow.decide(c.id, "void")
    assert not flow.decide(c.id, "printed")  # answered once only
    wait_until(lambda: len(events(tmp_path, "printed")) == 2, what="two printed events")
    printed = {e["serial"]: e["reprint"] for e in events(tmp_path, "printed")}
    assert printed == {first: True, second: False}
    [voided] = events(tmp_path, "voided")
    assert voided["serial"] == third and voided["reason"] == "misprint"
    assert flow.unconfirmed() == []


def test_long_press_reprints_the_last_label_as_an_explicit_reprint(tmp_path: Path, stations: list) -> None:
    st = start(stations, tmp_path, {"driver": "file"})
    serial = st.flow.press()
    wait_until(lambda: events(tmp_path, "printed"), what="printed")
    assert st.flow.reprint_last() == serial
    wait_until(lambda: len(events(tmp_path, "printed")) == 2, what="reprint event")
    assert [e["reprint"] for e in events(tmp_path, "printed")] == [False, True]
    assert len(list((tmp_path / "labels").glob(f"{serial}-*.png"))) == 2


def test_after_a_crash_the_file_printer_tells_which_sent_jobs_came_out(tmp_path: Path) -> None:
    st = make_station(tmp_path, {"driver": "file"})
    flow = st.flow
    came_out, never_sent = flow.press_job(), flow.press_job()
    flow._print(came_out)  # printed, then "killed" before its event: roll the job back by hand
    flow.codebook.set_state(came_out.id, "sending")
    flow.codebook.set_state(never_sent.id, "sending")
    before = len(events(tmp_path, "printed"))
    st.outbox.close()
    # Restart on the same data directory.
    st2 = make_station(tmp_path, {"driver": "file"}, codes=0)
    book = st2.flow.codebook
    assert book.job(came_out.id).state == "done"
    assert book.job(never_sent.id).state == "queued"  # no file: nothing came out, print it
    # The printed event of the first job kept its id: recorded once, not twice.
    assert len(events(tmp_path, "printed")) == before == 1
    st2.outbox.close()


def test_events_of_a_job_are_recorded_once_even_when_the_crash_hit_between_outbox_and_queue(
        tmp_path: Path) -> None:
    st = make_station(tmp_path, {"driver": "file"}, printing={"activate_on_print": True})
    job = st.flow.press_job()
    st.flow._print(job)
    assert st.flow.codebook.job(job.id).state == "done"
    st.flow.codebook.set_state(job.id, "printed")  # as if killed before 'done' was committed
    st.outbox.close()
    st2 = make_station(tmp_path, {"driver": "file"}, codes=0, printing={"activate_on_print": True})
    assert st2.flow.codebook.job(job.id).state == "done"
    assert len(events(tmp_path, "printed")) == 1 and len(events(tmp_path, "activated")) == 1
    st2.outbox.close()


def test_codes_left_by_an_older_station_mid_print_become_questions(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    import sqlite3
    db = sqlite3.connect(tmp_path / "codes.db")
    db.execute("CREATE TABLE code (serial TEXT PRIMARY KEY, gtin TEXT, received INTEGER NOT NULL DEFAULT 0, "
               "state TEXT NOT NULL DEFAULT 'new')")
    db.execute("INSERT INTO code VALUES ('A0000C1S27H4DGG6', ?, 0, 'printing')", (GTIN,))
    db.commit()
    db.close()
    book = Codebook(tmp_path / "codes.db")
    [job] = book.jobs("unconfirmed")
    assert job.serial == "A0000C1S27H4DGG6" and book.remaining() == 0


def test_running_out_of_codes_refuses_in_vietnamese_and_warns_once(tmp_path: Path, stations: list) -> None:
    st = start(stations, tmp_path, {"driver": "file"}, codes=2, printing={"low_water": 1})
    assert st.flow.press() and st.flow.press()
    assert st.flow.press() is None
    assert st.flow.last_error == "Hết mã tem: chờ trung tâm cấp thêm"
    assert [e["code"] for e in events(tmp_path, "alert")].count("codes_low") == 1


def test_an_unplugged_printer_holds_the_job_and_it_prints_once_plugged_back(
        tmp_path: Path, stations: list, ql: FakeBrotherQL) -> None:
    st = start(stations, tmp_path, brother(ql))
    flow = st.flow
    flow.printer.status_timeout = 0.3
    ql.silent = True  # the data line answers nothing, as with the USB cable pulled
    serial = flow.press()
    wait_until(lambda: flow.status.state == "offline", what="offline status")
    assert flow.status.message == "Máy in không phản hồi: kiểm tra dây cáp và nguồn điện"
    wait_until(lambda: flow.codebook.count("queued") == 1, what="the job waiting")
    assert ql.pages == [] and flow.unconfirmed() == []
    ql.silent = False
    [page] = ql.wait_pages(1, timeout=15)
    assert [serial_of(u) for u in decode(page.image)] == [serial]
    wait_until(lambda: events(tmp_path, "printed"), what="printed event")


def test_hub_commands_test_print_reprint_and_void_are_explicit_events(tmp_path: Path, stations: list) -> None:
    from tem import messages
    st = start(stations, tmp_path, {"driver": "file"})
    ok, text = st.handle(messages.Command(name="test_print"))
    assert ok and text.startswith("printed ")
    serial = text.split()[-1]
    ok, _ = st.handle(messages.Command(name="reprint", args={"serial": serial}))
    assert ok
    wait_until(lambda: len(events(tmp_path, "printed")) == 2, what="the reprint")
    assert [e["reprint"] for e in events(tmp_path, "printed")] == [False, True]
    ok, _ = st.handle(messages.Command(name="reprint", args={"serial": "A0000C1S27H4DGG6"}))
    assert not ok  # never printed here: nothing to reprint
    unused = st.flow.codebook.jobs("done")[0].serial
    ok, _ = st.handle(messages.Command(name="void", args={"serial": unused, "reason": "damaged"}))
    assert ok and events(tmp_path, "voided")[0]["reason"] == "damaged"
    before = st.flow.codebook.remaining()
    from tests.print_helpers import serials
    never_printed = serials(1, start=10)[0]
    st.handle(messages.Command(name="void", args={"serial": never_printed, "reason": "stolen"}))
    assert st.flow.codebook.remaining() == before - 1  # a voided code is never printed
