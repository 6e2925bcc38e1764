"""A run's records: what the runner emits, in what order, and the CSV rows made from them."""

import csv
import random
import runpy
from pathlib import Path

import numpy as np
import pytest
import trio
import trio.testing

import moalab
from moalab import Delay, Device, MoaStage, SimpleCSVLogger
from moalab.core.errors import InvalidArgument
from moalab.core.events import NumericProperty, ObjectProperty
from moalab.core.records import (
    Change,
    DeviceUpdate,
    RunEnd,
    RunStart,
    StageEnd,
    StageStart,
    TrialEnd,
    TrialStart,
    UserEvent,
    record_from_message,
)
from moalab.executor import codec
from moalab.log import MemorySink
from moalab.runner import Run

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "sugar_pellet.py"
# the CSV that moalab 7f4f551 (before run records) wrote for seed_tree() run as in
# check_seed_rows, with random.seed(1234)
BEFORE = Path(__file__).with_name("data") / "seed_rows_before_records.csv"


def seed_tree():
    """The seed's tree on its VirtualDevice, with a scripted beam and seeded delays."""
    ns = runpy.run_path(str(SEED), run_name="sugar_pellet_records")

    class ScriptedBeam(ns["VirtualDevice"]):
        async def pump_state(self):
            while True:
                await trio.sleep(7)
                await self.write_state(True)
                await trio.sleep(0.5)
                await self.write_state(False)

    beam, motor = ScriptedBeam(name="photobeam_device"), ns["VirtualDevice"](name="motor_device")
    beam.state = False
    root = ns["build_root"](beam, motor)
    for stage in root.iterate_stages():
        if hasattr(stage, "rng"):
            stage.rng = random.Random(7)
    return root, [beam, motor]


def csv_rows(path: Path) -> list[list[str]]:
    """The rows of a CSV log, without its origin lines; the seed's devices stamp
    their updates with perf_counter (real time), so those values are left out."""
    rows = [row for row in csv.reader(path.open()) if not row[0].startswith("#")]
    return [row[:5] + (["<perf_counter>"] if row[4] == "timestamp" else row[5:]) for row in rows]


def test_the_seed_tree_logs_the_same_csv_rows_as_before_records(tmp_path):
    # the seed's motor pump draws from the global generator, as it did for BEFORE
    saved = random.getstate()
    random.seed(1234)
    try:
        check_seed_rows(tmp_path)
    finally:
        random.setstate(saved)


def check_seed_rows(tmp_path):
    root, devices = seed_tree()
    log = SimpleCSVLogger(tmp_path / "run.csv")
    handle = moalab.run(root, devices=devices, loggers=[log], log=False,
                        clock=trio.testing.MockClock(autojump_threshold=0))
    log.close()
    assert handle.status == "done"
    rows = csv_rows(tmp_path / "run.csv")
    assert len(rows) > 100
    assert rows == csv_rows(BEFORE)


class Pulser(Device):
    """Updates ``value`` (and a numpy ``trace``) every 0.1 s."""

    _logged_names_ = ("value", "trace")
    value = NumericProperty(0)
    trace = ObjectProperty(None, comparator=lambda a, b: a is b)

    async def pump_state(self):
        while True:
            await trio.sleep(0.1)
            self.trace = np.full(4, self.value + 1.0)
            self.update(value=self.value + 1)


class Rewarding(MoaStage):
    async def do_trial(self):
        await self.sleep(0.25)
        self.record_event("reward", volume_ul=5, side="left")


def run_records(root, devices=(), **kwargs):
    memory = MemorySink()
    handle = moalab.run(root, devices=devices, loggers=[memory], log=False,
                        clock=trio.testing.MockClock(autojump_threshold=0), **kwargs)
    return handle, memory.records


def test_a_run_starts_and_ends_with_its_records_numbered_in_order():
    root = MoaStage(name="root", repeat=2)
    root.add_stage(Rewarding(name="reward"))
    pulser = Pulser(name="pulser")
    handle, records = run_records(root, [pulser], metadata={"subject": "mouse-3"})

    start, end = records[0], records[-1]
    assert isinstance(start, RunStart) and isinstance(end, RunEnd)
    assert start.metadata == {"subject": "mouse-3"} and start.root == "root"
    assert start.clock == "virtual" and start.time == 0
    assert [(info.path, info.type, info.repeat) for info in start.stages] == [
        ("root", "MoaStage", 2), ("root/reward", "Rewarding", 1)]
    assert end.status == "done" and end.error is None
    assert {r.run_id for r in records} == {handle.run_id}
    assert [r.seq for r in records] == list(range(len(records)))
    times = [r.time for r in records]
    assert times == sorted(times)

    kinds = [(type(r).__name__, getattr(r, "path", "")) for r in records
             if not isinstance(r, (DeviceUpdate, RunStart, RunEnd))]
    trial = [("TrialStart", "root/reward"), ("UserEvent", "root/reward"),
             ("TrialEnd", "root/reward"), ("StageEnd", "root/reward")]
    assert kinds == [
        ("StageStart", "root"), ("TrialStart", "root"), ("StageStart", "root/reward"), *trial,
        ("TrialEnd", "root"), ("TrialStart", "root"), ("StageStart", "root/reward"), *trial,
        ("TrialEnd", "root"), ("StageEnd", "root"),
    ]
    events = [r for r in records if isinstance(r, UserEvent)]
    assert [(e.event, dict(e.values)) for e in events] == [
        ("reward", {"volume_ul": 5, "side": "left"})] * 2
    ends = [r for r in records if isinstance(r, (TrialEnd, StageEnd))]
    assert {r.outcome for r in ends} == {"done"}

    updates = [r for r in records if isinstance(r, DeviceUpdate)]
    assert len(updates) >= 4 and {u.device for u in updates} == {"pulser"}
    assert [u.values["value"] for u in updates] == list(range(1, len(updates) + 1))
    # arrays by reference: the record holds the very array the device had
    assert updates[-1].values["trace"] is pulser.trace


def test_user_events_are_csv_rows_one_per_value(tmp_path):
    root = Rewarding(name="reward")
    log = SimpleCSVLogger(tmp_path / "run.csv")
    moalab.run(root, loggers=[log], log=False, clock=trio.testing.MockClock(autojump_threshold=0))
    log.close()
    rows = [row for row in csv.reader((tmp_path / "run.csv").open()) if not row[0].startswith("#")]
    reward = [row for row in rows if row[3] == "reward"]
    assert [(r[2], r[4], r[5]) for r in reward] == [("reward", "volume_ul", "5"),
                                                    ("reward", "side", "left")]
    assert reward[0][0] == reward[1][0]  # one record, one index


def test_record_event_needs_a_name():
    with pytest.raises(InvalidArgument, match="record_event"):
        MoaStage(name="s").record_event("")


class Failing(MoaStage):
    async def do_trial(self):
        await trio.sleep(1)
        raise ValueError("jammed")


class StopsItsTrial(MoaStage):
    async def do_trial(self):
        await trio.sleep(1)
        self.stop_trial()
        await trio.sleep(5)


def outcomes(records, cls):
    return [(r.path, r.count, r.outcome) for r in records if isinstance(r, cls)]


def test_outcomes_say_how_trials_and_stages_ended():
    # the short child completes the trial, the long one is cancelled
    short, long = Delay(name="short", delay=2), Delay(name="long", delay=10)
    root = MoaStage(name="root", order="parallel", complete_on=[short])
    for stage in (short, long, StopsItsTrial(name="stopper")):
        root.add_stage(stage)
    _, records = run_records(root)
    assert outcomes(records, StageEnd) == [
        ("root/stopper", 0, "done"), ("root/short", 0, "done"), ("root/long", 0, "cancelled"),
        ("root", 0, "done")]
    assert ("root/stopper", 0, "stopped") in outcomes(records, TrialEnd)

    root = MoaStage(name="root")
    root.add_stage(Failing(name="bad"))
    handle, records = run_records(root)
    assert handle.status == "failed"
    assert outcomes(records, StageEnd) == [("root/bad", 0, "failed"), ("root", 0, "failed")]
    assert records[-1].status == "failed" and records[-1].error == "ValueError: jammed"


def test_a_stopped_run_records_the_root_stopped_and_its_children_cancelled():
    root = MoaStage(name="root")
    root.add_stage(Delay(name="wait", delay=30))
    memory = MemorySink()
    handle = moalab.start(root, loggers=[memory], log=False)
    while handle.current_path != ("root/wait",):
        trio.run(trio.sleep, 0.005)
    handle.stop()
    handle.wait(timeout=10)
    assert handle.status == "stopped"
    assert outcomes(memory.records, StageEnd) == [("root/wait", 0, "cancelled"),
                                                  ("root", 0, "stopped")]
    assert memory.records[-1].status == "stopped"


def test_pauses_are_change_records_of_the_stage_paused():
    root = MoaStage(name="root")
    root.add_stage(Delay(name="wait", delay=30))

    async def main():
        memory = MemorySink()
        run = Run(root, sinks=[memory])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run.execute)
            await trio.sleep(1)
            run.pause()
            await trio.sleep(1)
            run.resume()
        return memory.records

    records = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    pauses = [(r.path, r.values["paused_by"]) for r in records
              if isinstance(r, Change) and r.trigger == "paused_by"]
    assert pauses == [("root", "user"), ("root", "")]


def test_records_cross_the_wire_codec_and_come_back_equal():
    root = MoaStage(name="root")
    root.add_stage(Rewarding(name="reward"))
    _, records = run_records(root, [Pulser(name="pulser")], metadata={"session": 4})
    for record in records:
        (message,) = codec.decode_many(codec.encode(record.to_message()))
        back = record_from_message(message)
        assert type(back) is type(record)
        if isinstance(record, DeviceUpdate):
            assert back.values["value"] == record.values["value"]
            np.testing.assert_array_equal(back.values["trace"], record.values["trace"])
        else:
            assert back == record


@pytest.mark.parametrize("message, problem", [
    ({"kind": "nonsense"}, "kind='nonsense'"),
    ({"kind": "run_end", "run_id": "r", "seq": 1}, "missing"),
    ("not a dict", "kind=None"),
])
def test_a_bad_record_message_names_the_problem(message, problem):
    with pytest.raises(InvalidArgument, match=problem):
        record_from_message(message)


def test_stage_start_and_trial_start_carry_the_stage_and_count():
    root = MoaStage(name="root", repeat=3)
    _, records = run_records(root)
    starts = [(type(r).__name__, r.count) for r in records if isinstance(r, (StageStart, TrialStart))]
    assert starts == [("StageStart", -1), ("TrialStart", 0), ("TrialStart", 1), ("TrialStart", 2)]
