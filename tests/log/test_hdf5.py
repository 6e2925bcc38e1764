"""HDF5Logger: a real run's records in a typed HDF5 file, read while written, and kill -9."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import trio
import trio.testing

import moalab
from moalab import DeviceUpdate, MemoryLogger, MemorySink, MoaStage, VirtualADCPort
from moalab.core.errors import InvalidArgument
from moalab.protocol import MockProtocol, ProtocolRunner
from moalab.store import Lab
from tests.conftest import require
from tests.runner.test_records import Pulser, Rewarding

try:
    import h5py
except ImportError:  # the data extra
    h5py = None


@pytest.fixture(autouse=True)
def _needs_h5py():
    require(h5py is not None, "no h5py: install moalab's data extra (pip install -e '.[data]')")


def test_a_run_is_written_as_typed_events_device_values_and_streams(tmp_path):
    root = MoaStage(name="root", repeat=2)
    root.add_stage(Rewarding(name="reward"))
    adc = VirtualADCPort(name="adc", num_channels=3, active_channels=[True, False, True],
                         frequency=400, block_size=40, seed=1)
    devices = [Pulser(name="pulser"), adc]
    from moalab.log import HDF5Logger

    h5, memory, rows = HDF5Logger(tmp_path / "run.h5"), MemorySink(), MemoryLogger()
    handle = moalab.run(root, devices=devices, loggers=[h5, memory, rows], log=False,
                        clock=trio.testing.MockClock(autojump_threshold=0))
    assert handle.status == "done"
    h5.close()

    with h5py.File(tmp_path / "run.h5", "r") as file:
        events = file["events"][:]
        # the CSV log's rows, column for column (values as text, numbers typed too)
        assert [(e["index"], e["timestamp"], e["name"].decode(), e["trigger"].decode(),
                 e["item"].decode()) for e in events] == [r[:5] for r in rows.rows]
        assert file.attrs["clock"] == "virtual"
        reward = [e for e in events if e["trigger"] == b"reward" and e["item"] == b"volume_ul"]
        assert [e["number"] for e in reward] == [5.0, 5.0]

        updates = [r for r in memory.records if isinstance(r, DeviceUpdate)]
        pulses = [r for r in updates if r.device == "pulser"]
        value = file["devices/pulser/value"][:]
        assert value.dtype["value"] == np.float64
        assert list(value["value"]) == [r.values["value"] for r in pulses]
        assert list(value["time"]) == [r.time for r in pulses]
        np.testing.assert_array_equal(file["streams/pulser/trace/0"][:],
                                      np.concatenate([r.values["trace"] for r in pulses]))

        blocks = [r for r in updates if r.device == "adc"]
        assert len(blocks) >= 5
        for channel in (0, 2):  # channel 1 is inactive: no samples, no dataset
            samples = file[f"streams/adc/raw_data/{channel}"]
            assert samples.dtype == blocks[0].values["raw_data"][channel].dtype
            np.testing.assert_array_equal(
                samples[:], np.concatenate([r.values["raw_data"][channel] for r in blocks]))
            table = file[f"streams/adc/data/{channel}_blocks"][:]
            assert list(table["time"]) == [r.time for r in blocks]
            assert list(table["start"]) == [40 * i for i in range(len(blocks))]
        assert "streams/adc/data/1" not in file


def test_a_property_changing_kind_is_kept_not_an_error(tmp_path):
    from moalab.log import HDF5Logger

    with HDF5Logger(tmp_path / "kinds.h5") as log:
        for seq, (count, state) in enumerate([(0, "idle"), (0.5, "on"), ("n/a", 3)], 1):
            log.consume(DeviceUpdate(run_id="r", seq=seq, time=float(seq), device="dev",
                                     values={"count": count, "state": state}))
    with h5py.File(tmp_path / "kinds.h5", "r") as file:
        np.testing.assert_array_equal(file["devices/dev/count"]["value"], [0, 0.5, np.nan])
        assert list(file["devices/dev/state"]["value"]) == [b"idle", b"on", b"3"]


def test_an_array_of_text_is_a_property_not_a_stream(tmp_path):
    from moalab.log import HDF5Logger

    with HDF5Logger(tmp_path / "labels.h5") as log:
        log.consume(DeviceUpdate(run_id="r", seq=1, time=1.0, device="dev",
                                 values={"labels": np.array(["left", "right"])}))
    with h5py.File(tmp_path / "labels.h5", "r") as file:
        assert "dev" not in file["streams"]
        assert list(file["devices/dev/labels"]["value"]) == [b'["left", "right"]']


def test_bad_arguments_and_an_existing_file_are_refused(tmp_path):
    from moalab.log import HDF5Logger

    with pytest.raises(InvalidArgument, match="flush_interval=0 .* a number > 0"):
        HDF5Logger(tmp_path / "a.h5", flush_interval=0)
    (tmp_path / "b.h5").write_bytes(b"")
    with pytest.raises(InvalidArgument, match="b.h5' already exists.*overwrite=True"):
        HDF5Logger(tmp_path / "b.h5").open()


def test_a_lab_session_writes_its_hdf5_log_beside_its_csv_log(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    try:
        lab.database.add_subject("rat-1", species="rat", sex="F")
        runner = ProtocolRunner(lab, MockProtocol)
        info = runner.create_session("rat-1", ["n_trials=3", "trial_duration=1"])
        ended = trio.run(runner.run_session, info,
                         clock=trio.testing.MockClock(autojump_threshold=0))
        assert ended.status == "submitted"
        with h5py.File(lab.session_folder(ended.id) / "data.h5", "r") as file:
            events = file["events"][:]
        ends = [e for e in events if e["name"] == b"trial" and e["trigger"] == b"on_trial_end"]
        assert len(ends) == 3
    finally:
        lab.close()


# A writer: ADC blocks of 8 channels x 1000 samples as fast as it can (paced at 2 ms),
# each record's time the system's monotonic clock as it is given to the logger.
WRITER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timezone
    import numpy as np
    from moalab.core.records import DeviceUpdate, RunStart
    from moalab.log import HDF5Logger

    log = HDF5Logger(sys.argv[1])
    log.consume(RunStart(run_id="r", seq=0, time=time.monotonic(), root="root",
                         clock="real", started_at=datetime.now(timezone.utc)))
    block = [np.arange(1000, dtype=np.uint16)] * 8
    seq = 1
    while True:
        given = time.monotonic()
        log.consume(DeviceUpdate(run_id="r", seq=seq, time=given, device="adc",
                                 values={"raw_data": block, "ts_idx": seq}))
        if seq == 50:
            print("writing", flush=True)
        elif seq > 50:  # the time of each record given, for the test to read after the kill
            print(given, flush=True)
        seq += 1
        time.sleep(0.002)
""")

READER = textwrap.dedent("""
    import sys, time
    import h5py
    with h5py.File(sys.argv[1], "r", swmr=True) as file:
        events = file["events"]
        first = events.shape[0]
        time.sleep(0.3)
        events.refresh()
        print(first, events.shape[0])
""")


@pytest.fixture
def writer(tmp_path):
    path = tmp_path / "live.h5"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                               text=True, cwd=os.getcwd())
    try:
        assert process.stdout.readline() == "writing\n"
        time.sleep(0.3)  # past the first datasets' creation: the file is in SWMR mode
        yield process, path
    finally:
        process.kill()
        process.wait()


def test_a_reader_process_reads_the_file_while_it_is_written(writer):
    _, path = writer
    read = subprocess.run([sys.executable, "-c", READER, str(path)], capture_output=True,
                          text=True, timeout=30, check=False)
    assert read.returncode == 0, read.stderr
    first, later = map(int, read.stdout.split())
    assert 0 < first < later  # it grew while the reader had it open


def test_killed_mid_run_the_file_holds_every_record_up_to_100_ms_before(writer):
    process, path = writer
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # the last record given before the kill (not the kill's own time: on a loaded
    # machine the killed process may have had no CPU for a while before it)
    last_given = float(process.stdout.read().split()[-1])
    # the writer left the file marked as open in SWMR mode: a SWMR reader opens it
    with h5py.File(path, "r", swmr=True) as file:
        events = file["events"][:]
        times = events["timestamp"]
        # every record given up to 100 ms before the last one is there, in order, none lost
        assert times.max() >= last_given - 0.1, \
            f"last record in the file {last_given - times.max():.3f} s before the last given"
        indices = events["index"][::2]  # two rows a record: raw_data, ts_idx
        np.testing.assert_array_equal(indices, np.arange(len(indices)))
        blocks = file["streams/adc/raw_data/0_blocks"][:]
        assert len(blocks) == len(indices)
        assert file["streams/adc/raw_data/7"].shape[0] == 1000 * len(blocks)
