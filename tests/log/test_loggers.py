"""SimpleCSVLogger, SimpleTerminalLogger and PythonLogger."""

import csv
import io
import json
import logging
from datetime import datetime

import numpy as np
import pandas
import pytest
import trio

from moalab import (
    Change,
    ClockOrigin,
    Delay,
    DeviceUpdate,
    InvalidArgument,
    MoaStage,
    PythonLogger,
    SimpleCSVLogger,
    SimpleTerminalLogger,
)

COLUMNS = ["index", "timestamp", "name", "trigger", "item", "value"]


def read_csv(path) -> list[list[str]]:
    """The rows of a CSV log, its ``#`` comment lines left out."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(line for line in f if not line.startswith("#")))


def comments(path) -> dict[str, str]:
    """The ``# key: value`` lines of a CSV log."""
    with open(path, encoding="utf-8") as f:
        pairs = [line[2:].rstrip("\n").split(": ", 1) for line in f if line.startswith("# ")]
    return dict(pairs)


async def test_csv_columns_and_rows(tmp_path, autojump_clock):
    path = tmp_path / "log.csv"
    stage = Delay(name="d", delay=1.5)
    with SimpleCSVLogger(path) as logger:
        logger.add_logged_instance(stage, logged_names=["delay"])
        await stage.run_stage()
    rows = read_csv(path)
    assert rows[0] == COLUMNS
    assert rows[1:] == [
        ["0", "0.0", "d", "on_stage_start", "count", "-1"],
        ["0", "0.0", "d", "on_stage_start", "delay", "1.5"],
        ["1", "0.0", "d", "on_trial_start", "count", "0"],
        ["1", "0.0", "d", "on_trial_start", "delay", "1.5"],
        ["2", "1.5", "d", "on_trial_end", "count", "0"],
        ["2", "1.5", "d", "on_trial_end", "delay", "1.5"],
        ["3", "1.5", "d", "on_stage_end", "count", "0"],
        ["3", "1.5", "d", "on_stage_end", "delay", "1.5"],
    ]


async def test_csv_says_when_its_real_time_run_started(tmp_path):
    path = tmp_path / "log.csv"
    before = datetime.now().astimezone()
    with SimpleCSVLogger(path) as logger:
        stage = Delay(name="d", delay=0.01)
        logger.add_logged_instance(stage)
        await stage.run_stage()
    lines = path.read_text().splitlines()
    # the columns, then the origin, then the rows
    assert lines[0] == ",".join(COLUMNS)
    assert [line.split(":")[0] for line in lines[1:4]] == [
        "# started_at", "# start_time", "# clock"]
    origin = comments(path)
    started_at = datetime.fromisoformat(origin["started_at"])
    assert started_at.utcoffset() is not None  # with its time zone
    assert 0 <= (started_at - before).total_seconds() < 5
    assert origin["clock"] == "real"
    first = read_csv(path)[1]
    # the first row was logged right after the origin was read, on the same clock
    assert 0 <= float(first[1]) - float(origin["start_time"]) < 0.1
    assert logger.origin == ClockOrigin(started_at, float(origin["start_time"]), "real")
    # pandas skips the origin lines
    frame = pandas.read_csv(path, comment="#")
    assert list(frame.columns) == COLUMNS and len(frame) == 4


async def test_csv_origin_of_a_dry_run_is_virtual(tmp_path, autojump_clock):
    await trio.sleep(7)
    path = tmp_path / "log.csv"
    stage = MoaStage(name="s")
    with SimpleCSVLogger(path) as logger:
        logger.add_logged_instance(stage)
        await stage.run_stage()
    origin = comments(path)
    assert origin["clock"] == "virtual" and float(origin["start_time"]) == 7.0
    assert read_csv(path)[1][1] == "7.0"


def test_csv_rows_are_flushed_as_written(tmp_path):
    path = tmp_path / "log.csv"
    logger = SimpleCSVLogger(path)
    stage = MoaStage(name="s")
    logger.add_logged_instance(stage)
    assert not path.exists()  # created with the first row
    stage.dispatch("on_stage_start")
    # still open, nothing closed: the row is in the file already
    assert read_csv(path)[1][2:] == ["s", "on_stage_start", "count", "-1"]
    stage.dispatch("on_stage_end")
    assert len(read_csv(path)) == 3
    logger.close()
    stage.dispatch("on_stage_start")  # after close: dropped
    assert len(read_csv(path)) == 3


def test_csv_cells_of_arrays_hold_every_value_on_one_line(tmp_path):
    path = tmp_path / "log.csv"
    block = [np.arange(1500, dtype=np.int16), np.arange(1500, dtype=np.int16)[::-1]]
    with SimpleCSVLogger(path) as logger:
        logger.consume(DeviceUpdate(run_id="r", seq=1, time=0.5, device="adc",
                                    values={"data": block, "gains": np.array([1.0, 2.5])}))
    cells = {row[4]: row[5] for row in read_csv(path)[1:]}
    assert json.loads(cells["data"]) == [list(range(1500)), list(range(1499, -1, -1))]
    assert json.loads(cells["gains"]) == [1.0, 2.5]
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 3  # the header and two rows: no line broken


def test_csv_logger_closed_before_any_row_creates_no_file(tmp_path):
    path = tmp_path / "log.csv"
    logger = SimpleCSVLogger(path)
    stage = MoaStage(name="s")
    logger.add_logged_instance(stage)
    logger.close()
    stage.dispatch("on_stage_start")
    assert not path.exists()


def test_csv_fsync(tmp_path):
    path = tmp_path / "log.csv"
    with SimpleCSVLogger(path, fsync=True) as logger:
        stage = MoaStage(name="s")
        logger.add_logged_instance(stage)
        stage.dispatch("on_stage_start")
        assert len(read_csv(path)) == 2
        assert comments(path)["clock"] == "real"


def test_csv_never_overwrites_an_existing_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("precious\n")
    logger = SimpleCSVLogger(path)
    with pytest.raises(InvalidArgument, match="already exists"):
        logger.open()
    stage = MoaStage(name="s")
    logger.add_logged_instance(stage)
    with pytest.raises(InvalidArgument, match="already exists"):
        stage.dispatch("on_stage_start")
    assert path.read_text() == "precious\n"

    with SimpleCSVLogger(path, overwrite=True) as logger:
        logger.add_logged_instance(MoaStage(name="t"))
    assert read_csv(path) == [COLUMNS]


def test_terminal_logger_prints_the_table(capsys):
    stage = MoaStage(name="Root stage")
    logger = SimpleTerminalLogger()
    logger.add_logged_instance(stage)
    stage.dispatch("on_stage_start")
    stage.count = 0
    stage.dispatch("on_trial_start", 0)
    origin, *lines = capsys.readouterr().out.splitlines()
    assert origin.startswith("# started_at: ") and origin.endswith("  clock: real")
    assert len(lines) == 3
    assert [cell.strip() for cell in lines[0].split("|")] == COLUMNS
    first = [cell.strip() for cell in lines[1].split("|")]
    assert first[0] == "0" and first[2:] == ["Root stage", "on_stage_start", "count", "-1"]
    assert float(first[1]) > 0
    assert [cell.strip() for cell in lines[2].split("|")][2:] == [
        "Root stage", "on_trial_start", "count", "0",
    ]


async def test_terminal_logger_to_a_stream_prints_the_header_once(autojump_clock):
    stream = io.StringIO()
    logger = SimpleTerminalLogger(stream)
    stage = Delay(name="Habituation", delay=20)
    logger.add_logged_instance(stage)
    await stage.run_stage()
    origin, *lines = stream.getvalue().splitlines()
    assert "start_time: 0.0  clock: virtual" in origin
    assert len(lines) == 5
    assert sum("timestamp" in line for line in lines) == 1
    assert lines[3].split("|")[1].strip() == "20.0000000"


def test_python_logger_forwards_rows(caplog):
    stage = MoaStage(name="s")
    logger = PythonLogger()
    logger.add_logged_instance(stage)
    with caplog.at_level(logging.INFO, logger="moalab.log"):
        stage.dispatch("on_stage_start")
    origin, record = caplog.records
    assert origin.getMessage().startswith("started_at: ")
    assert origin.moalab_origin.clock == "real"
    assert record.name == "moalab.log"
    assert record.levelno == logging.INFO
    assert "s on_stage_start count=-1" in record.getMessage()
    assert record.moalab_row.trigger == "on_stage_start"
    assert record.moalab_row.value == -1


def test_python_logger_with_own_logger_and_level(caplog):
    target = logging.getLogger("lab.experiment")
    logger = PythonLogger(target, level=logging.DEBUG)
    stage = MoaStage(name="s")
    logger.add_logged_instance(stage)
    with caplog.at_level(logging.INFO, logger="lab.experiment"):
        stage.dispatch("on_stage_start")
    assert caplog.records == []  # below the level
    with caplog.at_level(logging.DEBUG, logger="lab.experiment"):
        stage.dispatch("on_stage_end")
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    with pytest.raises(InvalidArgument, match="level='loud'"):
        PythonLogger(level="loud")


def test_a_csv_log_continued_drops_a_torn_row_and_goes_on_from_its_last_index(tmp_path):
    path = tmp_path / "run.csv"
    first = SimpleCSVLogger(path)
    first.consume(Change(run_id="r", seq=1, time=1.0, source="box", path="box",
                         trigger="paused_by", values={"paused_by": "user"}))
    first.consume(Change(run_id="r", seq=2, time=2.0, source="box", path="box",
                         trigger="paused_by", values={"paused_by": ""}))
    first.close()
    with path.open("a") as file:  # a crash in the middle of writing a row
        file.write("2,3.0,bo")
    second = SimpleCSVLogger(path, append=True)
    second.consume(Change(run_id="s", seq=1, time=0.5, source="box", path="box",
                          trigger="paused_by", values={"paused_by": "code"}))
    second.close()
    rows = [line.split(",") for line in path.read_text().splitlines()
            if not line.startswith("#")]
    assert [row[0] for row in rows] == ["index", "0", "1", "2"]
    assert rows[-1][-1] == "code"
    with pytest.raises(InvalidArgument, match="exclude each other"):
        SimpleCSVLogger(path, append=True, overwrite=True)
