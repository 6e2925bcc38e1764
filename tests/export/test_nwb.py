"""The NWB export of a session (pynwb 4): a MockProtocol session of the lab, and one
whose HDF5 log (written by the real HDF5Logger) holds device values and ADC samples;
each file passes pynwb's validation and nwbinspector with no critical finding and reads
back with pynwb to the lab's values. The command, and bad input."""

import datetime
import importlib.util
import math

import numpy as np
import pytest

from moalab.cli.main import main
from moalab.core.clock import clock_origin
from moalab.core.errors import InvalidArgument
from moalab.export import export_nwb
from moalab.store.errors import UnknownName
from tests.conftest import require

from .conftest import LabFixture


@pytest.fixture(autouse=True)
def _pynwb():
    require(all(importlib.util.find_spec(name) is not None
                for name in ("h5py", "pynwb", "nwbinspector")),
            "h5py, pynwb or nwbinspector is not installed (pip install -e '.[data,test]')")


def checked(path):
    """The NWB file at ``path`` read back, once pynwb and nwbinspector accept it."""
    import pynwb
    from nwbinspector import Importance, inspect_nwbfile

    assert pynwb.validate(path=str(path)) == []
    critical = [m for m in inspect_nwbfile(nwbfile_path=str(path))
                if m.importance == Importance.CRITICAL]
    assert critical == []
    return pynwb.NWBHDF5IO(str(path), "r")


@pytest.mark.parametrize("log", ["hdf5", "csv"])
def test_a_session_reads_back_with_its_subject_trials_stages_and_recordings(
        made: LabFixture, tmp_path, log):
    if log == "csv":  # a session run without the data extra has its CSV log only
        (made.lab.data_folder / made.rat / "data.h5").unlink(missing_ok=True)
    out = tmp_path / "rat.nwb"
    summary = export_nwb(made.lab, made.rat, out)
    assert (summary.trials, summary.device_events, summary.signals, summary.assets) == \
        (3, 0, 0, 2)
    session = made.lab.database.get_session(made.rat)
    trials = made.lab.database.list_trials(made.rat)
    with checked(out) as io:
        nwb = io.read()
        assert nwb.session_id == made.rat
        assert abs(nwb.session_start_time - session.started) < datetime.timedelta(seconds=1)
        subject = nwb.subject
        assert (subject.subject_id, subject.species, subject.sex) == \
            ("rat-1", "Rattus norvegicus", "F")
        assert subject.age == f"P{(session.started.date() - datetime.date(2026, 9, 1)).days}D"
        table = nwb.trials.to_dataframe()
        assert list(table["start_time"]) == [trial.start for trial in trials]
        assert list(table["correct"]) == [trial.values["correct"] for trial in trials]
        assert list(table["trial"]) == [0.0, 1.0, 2.0]
        assert (table["stop_time"] >= table["start_time"]).all()
        stages = nwb.intervals["stages"].to_dataframe()
        assert set(stages["stage"]) == {"mock", "trial"}
        assert list(stages[stages["kind"] == "trial"]["start_time"]) == [0.0, 0.0, 0.5, 1.0]
        assets = nwb.processing["assets"]["assets"].to_dataframe()
        assert sorted(assets["local_key"]) == ["face", "response"]
        assert f"experiment/{made.rat}/response.wav" in set(assets["key"])


def test_a_session_with_an_hdf5_log_exports_device_events_and_adc_samples(
        made: LabFixture, tmp_path):
    from moalab.core.records import DeviceUpdate, RunEnd, RunStart
    from moalab.log.hdf5 import HDF5Logger

    # the session's HDF5 log replaced by one of a run with an ADC (1 kHz, blocks of 100)
    folder = made.lab.data_folder / made.lab.database.get_session(made.rat).data_dir
    origin = clock_origin(10.0)
    adc = np.arange(1000, dtype=np.int16)
    records = [RunStart(run_id="r", seq=0, time=10.0, root="mock", clock="real",
                        started_at=origin.started_at)]
    for block in range(10):
        records.append(DeviceUpdate(run_id="r", seq=1 + 2 * block, time=10.0 + block / 10,
                                    device="adc", values={"data": adc[block * 100:][:100]}))
        # as a device logs them: its properties and their ``timestamp``
        records.append(DeviceUpdate(run_id="r", seq=2 + 2 * block, time=10.05 + block / 10,
                                    device="lick", values={"state": block % 2 == 1,
                                                           "timestamp": 10.05 + block / 10}))
    records.append(RunEnd(run_id="r", seq=21, time=11.0, status="done"))
    with HDF5Logger(folder / "data.h5", overwrite=True) as log:
        for record in records:
            log.consume(record)
    out = tmp_path / "rat.nwb"
    summary = export_nwb(made.lab, made.rat, out)
    assert summary.device_events == 30 and summary.signals == 2
    with checked(out) as io:
        nwb = io.read()
        samples = nwb.acquisition["adc.data.0"]
        assert np.array_equal(samples.data[:], adc)
        assert math.isclose(samples.rate, 1000.0) and samples.starting_time == 0.0
        # the timestamps are lick.state's time axis, not a series of their own
        assert sorted(nwb.acquisition) == ["adc.data.0", "lick.state"]
        lick = nwb.acquisition["lick.state"]
        assert list(lick.data[:]) == [block % 2 == 1 for block in range(10)]
        assert np.allclose(lick.timestamps[:], [0.05 + block / 10 for block in range(10)])
        events = nwb.events["events_lick"].to_dataframe()
        events = events[events["item"] == "state"]
        assert list(events["value"]) == ["false", "true"] * 5
        assert np.allclose(events["timestamp"], lick.timestamps[:])


def test_an_anonymous_export_leaves_out_what_is_personal(made: LabFixture, tmp_path):
    out = tmp_path / "anonymous.nwb"
    assert export_nwb(made.lab, made.person, out, anonymous=True).assets == 1
    with checked(out) as io:
        subject = io.read().subject
        assert subject.subject_id == "subject-1"  # Jane Doe's name is personal
        assert subject.age == "P0D/"  # her date of birth is not known: at least 0 days
    out = tmp_path / "rat.nwb"
    assert export_nwb(made.lab, made.rat, out, anonymous=True).assets == 1  # not the face
    with checked(out) as io:
        subject = io.read().subject
        assert subject.subject_id == "rat-1"
        # its date of birth is personal: its age in whole weeks only
        assert subject.date_of_birth is None and subject.age.endswith("W")


def test_the_command_writes_the_file_and_names_bad_input(made: LabFixture, tmp_path, capsys):
    out = tmp_path / "rat.nwb"
    lab = ["--lab", str(made.lab.folder)]
    assert main(["export", "--nwb", made.rat, str(out), *lab]) == 0
    assert f"session {made.rat!r} exported to {out}: 3 trials" in capsys.readouterr().out
    with checked(out) as io:
        assert io.read().session_id == made.rat
    assert main(["export", "--nwb", made.rat, str(out), *lab]) != 0
    assert "already exists" in capsys.readouterr().err
    assert main(["export", "--nwb", "no-such-session", str(tmp_path / "x.nwb"), *lab]) != 0
    assert "no session 'no-such-session'" in capsys.readouterr().err
    assert main(["export", *lab]) != 0
    assert "--nwb SESSION_ID OUT.nwb" in capsys.readouterr().err
    with pytest.raises(InvalidArgument, match="already exists"):
        export_nwb(made.lab, made.rat, out)
    (made.lab.data_folder / made.rat / "data.h5").write_bytes(b"not HDF5")
    with pytest.raises(InvalidArgument, match="data.h5' cannot be read"):
        export_nwb(made.lab, made.rat, tmp_path / "z.nwb")
    with pytest.raises(UnknownName):
        export_nwb(made.lab, "no-such-session", tmp_path / "y.nwb")
