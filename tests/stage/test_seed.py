"""The seed experiment (examples/sugar_pellet.py) in virtual time: event order and delays."""

import math
import random
import runpy
from pathlib import Path

import pytest
import trio
import trio.testing

from moalab import MemoryLogger

SEED = Path(__file__).resolve().parents[2] / "examples" / "sugar_pellet.py"

# (name, trigger) of every row of the seed guide's log table, in order
SEED_TABLE = [
    ("Root stage", "on_stage_start"),
    ("Root stage", "on_trial_start"),
    ("Habituation", "on_stage_start"),
    ("Habituation", "on_trial_start"),
    ("Habituation", "on_trial_end"),
    ("Habituation", "on_stage_end"),
    ("Trial", "on_stage_start"),
    ("Trial", "on_trial_start"),
    ("photobeam_stage", "on_stage_start"),
    ("photobeam_stage", "on_trial_start"),
    ("photobeam_stage", "state"),
    ("photobeam_stage", "state"),
    ("photobeam_stage", "on_trial_end"),
    ("photobeam_stage", "on_stage_end"),
    ("sugar pallet stage", "on_stage_start"),
    ("sugar pallet stage", "on_trial_start"),
    ("sugar pallet stage", "on_trial_end"),
    ("sugar pallet stage", "on_stage_end"),
    ("ITI", "on_stage_start"),
    ("ITI", "on_trial_start"),
    ("ITI", "on_trial_end"),
    ("ITI", "on_stage_end"),
    ("Trial", "on_trial_end"),
    ("Trial", "on_trial_start"),
    ("photobeam_stage", "on_stage_start"),
    ("photobeam_stage", "on_trial_start"),
    ("photobeam_stage", "state"),
    ("photobeam_stage", "state"),
    ("photobeam_stage", "on_trial_end"),
    ("photobeam_stage", "on_stage_end"),
    ("sugar pallet stage", "on_stage_start"),
    ("sugar pallet stage", "on_trial_start"),
    ("sugar pallet stage", "on_trial_end"),
    ("sugar pallet stage", "on_stage_end"),
    ("ITI", "on_stage_start"),
    ("ITI", "on_trial_start"),
    ("ITI", "on_trial_end"),
    ("ITI", "on_stage_end"),
    ("Trial", "on_trial_end"),
    ("Trial", "on_stage_end"),
    ("post delay", "on_stage_start"),
    ("post delay", "on_trial_start"),
    ("post delay", "on_trial_end"),
    ("post delay", "on_stage_end"),
    ("Root stage", "on_trial_end"),
    ("Root stage", "on_stage_end"),
]

BEAM_BREAK_AFTER = 3.0  # seconds after a gate opens that the (scripted) beam breaks


def load_seed() -> dict:
    """A fresh copy of the seed's module namespace (its tree, devices and run_experiment)."""
    return runpy.run_path(str(SEED), run_name="sugar_pellet_under_test")


def log_tree(root) -> MemoryLogger:
    logger = MemoryLogger()
    for stage in root.iterate_stages():
        logger.add_logged_instance(stage)
    return logger


def stage_named(root, name):
    (stage,) = [s for s in root.iterate_stages() if s.name == name]
    return stage


async def drive_beam(gate, beam) -> None:
    """Each time the gate opens, break the beam (low -> high) a while later, then clear it."""
    send, receive = trio.open_memory_channel(math.inf)
    gate.fbind("on_trial_start", lambda *args: send.send_nowait(None))
    async for _ in receive:
        await trio.sleep(BEAM_BREAK_AFTER)
        await beam.write_state(True)
        await trio.sleep(0.5)
        await beam.write_state(False)


def trial_spans(rows, name):
    """(start, end) times of every trial of the stage ``name``."""
    starts = [r.timestamp for r in rows if r.name == name and r.trigger == "on_trial_start"]
    ends = [r.timestamp for r in rows if r.name == name and r.trigger == "on_trial_end"]
    assert len(starts) == len(ends)
    return list(zip(starts, ends))


async def test_seed_event_order_and_delays(autojump_clock):
    ns = load_seed()
    root, beam = ns["root"], ns["photo_bream_device"]
    gate = stage_named(root, "photobeam_stage")
    beam.state = False
    logger = log_tree(root)

    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(drive_beam, gate, beam)
        await root.run_stage()
        nursery.cancel_scope.cancel()
    elapsed = trio.current_time() - t0

    rows = logger.rows
    assert [(r.name, r.trigger) for r in rows] == SEED_TABLE
    assert [r.index for r in rows] == list(range(len(SEED_TABLE)))
    # stage events log the trial count; the gate's state rows the value it saw
    assert all(r.item == ("state" if r.trigger == "state" else "count") for r in rows)
    assert [r.value for r in rows if r.trigger == "state"] == [False, True] * 2

    approx = lambda x: pytest.approx(x, abs=1e-9)  # noqa: E731
    (habituation,) = trial_spans(rows, "Habituation")
    assert habituation[1] - habituation[0] == approx(20)
    (post,) = trial_spans(rows, "post delay")
    assert post[1] - post[0] == approx(15)
    pellets = trial_spans(rows, "sugar pallet stage")
    assert [end - start for start, end in pellets] == [approx(0.2)] * 2
    itis = trial_spans(rows, "ITI")
    assert len(itis) == 2
    for start, end in itis:
        assert 20 <= end - start <= 40
    gates = trial_spans(rows, "photobeam_stage")
    assert [end - start for start, end in gates] == [approx(BEAM_BREAK_AFTER)] * 2

    # the gate's state rows: low when it opens, high when the beam breaks
    state_times = [r.timestamp for r in rows if r.trigger == "state"]
    assert state_times == [
        approx(gates[0][0]), approx(gates[0][1]), approx(gates[1][0]), approx(gates[1][1]),
    ]
    # nothing but the stages took time: the run is the sum of its delays
    total = 20 + 2 * (BEAM_BREAK_AFTER + 0.2) + sum(e - s for s, e in itis) + 15
    assert elapsed == approx(total)
    assert rows[-1].timestamp - rows[0].timestamp == approx(total)
    assert not any(stage.active for stage in root.iterate_stages())
    assert {str(stage.run_state) for stage in root.iterate_stages()} == {"done"}


async def test_seed_motor_pulses(autojump_clock):
    """The sugar-pellet stage drives the motor high for 0.2 s each trial."""
    ns = load_seed()
    root, beam, motor = ns["root"], ns["photo_bream_device"], ns["motor_device"]
    beam.state = False
    changes = []
    motor.fbind("state", lambda obj, value: changes.append((trio.current_time(), value)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drive_beam, stage_named(root, "photobeam_stage"), beam)
        await root.run_stage()
        nursery.cancel_scope.cancel()

    assert [value for _, value in changes] == [True, False, True, False]
    assert changes[1][0] - changes[0][0] == pytest.approx(0.2, abs=1e-9)
    assert changes[3][0] - changes[2][0] == pytest.approx(0.2, abs=1e-9)


def test_seed_run_experiment_verbatim_in_virtual_time():
    """The seed's own run_experiment (random pump) ends and keeps the table's stage order."""
    random.seed(1234)
    ns = load_seed()
    root = ns["root"]
    logger = log_tree(root)

    # the 95 s of delays (plus the random waits for the beam) pass in virtual time
    trio.run(ns["run_experiment"], clock=trio.testing.MockClock(autojump_threshold=0))

    rows = logger.rows
    assert [(r.name, r.trigger) for r in rows if r.trigger != "state"] == [
        row for row in SEED_TABLE if row[1] != "state"
    ]
    (habituation,) = trial_spans(rows, "Habituation")
    assert habituation[1] - habituation[0] == pytest.approx(20, abs=1e-9)
    (post,) = trial_spans(rows, "post delay")
    assert post[1] - post[0] == pytest.approx(15, abs=1e-9)
    # each gate exited on a high beam
    gate = stage_named(root, "photobeam_stage")
    assert gate.state is True
    assert not root.active and str(root.run_state) == "done"

