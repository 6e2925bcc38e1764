"""moalab.export.plot: a session drawn from the lab's rows and its data folder's log."""

import datetime
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moalab.core.errors import InvalidArgument, MoaError
from moalab.core.records import DeviceUpdate, RunStart
from moalab.export.plot import plot_session, read_traces, session_figure
from moalab.log.loggers import SimpleCSVLogger
from moalab.store.lab import Lab
from tests.conftest import require


@pytest.fixture(autouse=True)
def _matplotlib():
    require(importlib.util.find_spec("matplotlib") is not None,
            "matplotlib is not installed (pip install -e '.[data]')")


START = RunStart(run_id="r", seq=0, time=8.0, root="root", clock="virtual",
                 started_at=datetime.datetime.now(datetime.UTC))
"""The logs' run start: at 8 s on the experiment clock, so their times are 8 s less."""


def _lab_with_sessions(tmp_path: Path) -> tuple[Lab, str, str]:
    """A lab with a training session at step 0 and one at step 1 (the plotted one: 6
    trials with outcomes and response times, a lick sensor's trace in its log)."""
    lab = Lab.init(tmp_path / "lab")
    db = lab.database
    db.add_subject("rat-1", species="rat")
    first = db.create_session("rat-1", "licks", 1, {}, kind="training", step=0)
    second = db.create_session("rat-1", "licks", 1, {}, kind="training", step=1)
    db.add_trials(second.id, [(i, {"correct": i % 3 != 0, "rt": 0.2 + 0.05 * i},
                               10.0 + 2 * i, 11.0 + 2 * i) for i in range(6)])
    folder = lab.session_folder(second.id)
    folder.mkdir(parents=True, exist_ok=True)
    with SimpleCSVLogger(folder / "log.csv") as log:
        log.consume(START)
        for n in range(50):
            t = 10.0 + 0.25 * n
            log.consume(DeviceUpdate(run_id="r", seq=n + 1, time=t, device="lick",
                                     values={"timestamp": t, "voltage": np.sin(n / 5),
                                             "state": "on"}))
    return lab, first.id, second.id


def test_a_session_is_drawn_with_its_outcomes_response_times_traces_and_steps(tmp_path):
    lab, _, session = _lab_with_sessions(tmp_path)
    out = tmp_path / "session.png"
    figure = plot_session(lab, session, out)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["Trials", "Response time", "Device lick", "Training step"]
    trials, rts, lick, steps = figure.axes
    assert sum(len(line.get_xdata()) for line in trials.lines) == 6
    assert list(rts.lines[0].get_ydata()) == pytest.approx([0.2 + 0.05 * i for i in range(6)])
    (voltage,) = lick.lines  # the text state and the timestamp are not traces
    assert voltage.get_label() == "voltage" and len(voltage.get_ydata()) == 50
    # one time axis: the first trial ended at 11 s on the clock, the first lick at 10 s
    assert trials.lines[0].get_xdata()[0] == 3.0 and voltage.get_xdata()[0] == 2.0
    assert list(steps.lines[0].get_ydata()) == [0, 1]
    pixels = np.asarray(Image.open(out).convert("L"))
    assert pixels.shape[0] > 400 and pixels.shape[1] == 1000
    assert (pixels < 128).mean() > 0.01  # lines and text drawn, not a blank page


def test_traces_are_read_from_the_log_and_a_session_without_one_has_none(tmp_path):
    lab, first, second = _lab_with_sessions(tmp_path)
    times, values = read_traces(lab.session_folder(second))["lick"]["voltage"]
    assert list(times[:2]) == [2.0, 2.25] and values[5] == pytest.approx(np.sin(1))
    assert read_traces(lab.session_folder(first)) == {}
    titles = [ax.get_title() for ax in session_figure(lab, first).axes]
    assert titles == ["Trials", "Training step"]


@pytest.mark.parametrize("name, problem", [("session.jpg", "not a .png"),
                                           ("missing/session.png", "does not exist")])
def test_a_bad_output_is_refused_by_name(tmp_path, name, problem):
    lab, _, session = _lab_with_sessions(tmp_path)
    with pytest.raises(InvalidArgument, match=problem):
        plot_session(lab, session, tmp_path / name)
    assert not (tmp_path / name).exists()


def test_an_unknown_session_is_named(tmp_path):
    lab, _, _ = _lab_with_sessions(tmp_path)
    with pytest.raises(MoaError, match="nope"):
        plot_session(lab, "nope", tmp_path / "session.png")


def test_traces_come_from_the_hdf5_log_when_there_is_one_streams_and_all(tmp_path):
    from moalab.log.hdf5 import HDF5Logger

    lab, _, session = _lab_with_sessions(tmp_path)
    folder = lab.session_folder(session)
    with HDF5Logger(folder / "data.h5") as log:
        log.consume(START)
        for n in range(10):  # blocks of 100 ADC samples at 1 kHz, two channels
            samples = np.arange(n * 100, (n + 1) * 100, dtype=np.float32)
            log.consume(DeviceUpdate(run_id="r", seq=n + 1, time=20.0 + 0.1 * n,
                                     device="adc", values={"timestamp": 20.0 + 0.1 * n,
                                                           "data": [samples, -samples],
                                                           "gain": 2}))
    traces = read_traces(folder)
    assert set(traces) == {"adc"}  # the CSV log's lick trace is not read
    assert set(traces["adc"]) == {"data[0]", "data[1]", "gain"}
    times, values = traces["adc"]["data[1]"]
    assert list(values) == [-x for x in range(1000)]
    assert times[0] == 12.0 and times[100] == pytest.approx(12.1)
    assert times[-1] == pytest.approx(12.999)  # the last block at the stream's rate
    assert list(traces["adc"]["gain"][1]) == [2] * 10
    figure = session_figure(lab, session)
    (adc,) = [ax for ax in figure.axes if ax.get_title() == "Device adc"]
    assert [line.get_label() for line in adc.lines] == ["data[0]", "data[1]", "gain"]
