"""SimpleCSVLogger, SimpleTerminalLogger and PythonLogger."""

import csv
import io
import logging

import pytest

from moalab import (
    Delay,
    InvalidArgument,
    MoaStage,
    PythonLogger,
    SimpleCSVLogger,
    SimpleTerminalLogger,
)

COLUMNS = ["index", "timestamp", "name", "trigger", "item", "value"]


def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


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
    lines = capsys.readouterr().out.splitlines()
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
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5
    assert sum("timestamp" in line for line in lines) == 1
    assert lines[3].split("|")[1].strip() == "20.0000000"


def test_python_logger_forwards_rows(caplog):
    stage = MoaStage(name="s")
    logger = PythonLogger()
    logger.add_logged_instance(stage)
    with caplog.at_level(logging.INFO, logger="moalab.log"):
        stage.dispatch("on_stage_start")
    (record,) = caplog.records
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
