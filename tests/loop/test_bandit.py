"""The bandit protocol: its schedule and sides, its tree on virtual devices, a dry-run
session through a real lab, and the same tree on (mock) GPIO pins in real time."""

import json
import random
import re
import zlib

import numpy as np
import pytest
import trio
import trio.testing

from moalab import InvalidArgument, MoaStage
from moalab.loop import BanditProtocol
from moalab.loop.bandit import (
    CUE_CHANNELS,
    DEFAULT_PINS,
    BanditTrials,
    counterbalanced_sides,
    gpio_bandit_devices,
    parse_schedule,
    virtual_bandit_devices,
)
from moalab.protocol import ProtocolRunner
from moalab.runner.experiment import run_experiment
from moalab.store import Lab

SCHEDULE = [[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 1], [0, 0], [0, 1], [1, 0]]


def dry_clock():
    return trio.testing.MockClock(autojump_threshold=0)


def test_a_schedule_is_read_from_json_or_an_array():
    assert parse_schedule(json.dumps(SCHEDULE)).tolist() == SCHEDULE
    assert parse_schedule(np.array(SCHEDULE, dtype=float)).dtype.kind == "i"


@pytest.mark.parametrize("bad, named", [
    ("[[0, 1], [1", "not JSON"),
    ([[0, 1, 1]], "shape (1, 3)"),
    ([], "shape (0,)"),
    ([[0, 0.5]], "[0.5], not only 0 and 1"),
    ([["a", 1]], "not an array"),
])
def test_a_bad_schedule_is_named_with_the_accepted_form(bad, named):
    with pytest.raises(InvalidArgument, match="n_trials x 2 of 0/1") as caught:
        parse_schedule(bad, "the schedule")
    assert named in str(caught.value)


@pytest.mark.parametrize("n", [10, 11])
def test_sides_are_counterbalanced_and_seeded(n):
    sides = counterbalanced_sides(n, random.Random(3))
    assert len(sides) == n
    assert sides.count(("left", "right")) >= n // 2 and sides.count(("right", "left")) >= n // 2
    assert sides == counterbalanced_sides(n, random.Random(3))
    orders = {tuple(counterbalanced_sides(n, random.Random(seed))) for seed in range(5)}
    assert len(orders) > 1  # shuffled, not one fixed order


def press_when_cued(rig, side_of_arm, rts):
    """A scripted subject: at each cue, presses the lever of arm ``side_of_arm(i)`` after
    ``rts[i]`` virtual seconds (None: no press)."""

    async def subject():
        for i, rt in enumerate(rts):
            while not any(getattr(rig.cues, name) for name in CUE_CHANNELS):
                await trio.sleep(0.01)
            arm = side_of_arm(i)
            side = "left" if getattr(rig.cues, f"left_arm{arm}") else "right"
            if rt is None:
                while any(getattr(rig.cues, name) for name in CUE_CHANNELS):
                    await trio.sleep(0.01)
                continue
            await trio.sleep(rt)
            await rig.lever(side).write_state(True)
            await trio.sleep(0.05)
            await rig.lever(side).write_state(False)
            while any(getattr(rig.cues, name) for name in CUE_CHANNELS):
                await trio.sleep(0.01)

    return subject


def test_each_trial_records_the_arm_its_side_the_reward_and_the_response_time():
    rig = virtual_bandit_devices()
    schedule = parse_schedule(SCHEDULE)
    sides = counterbalanced_sides(len(schedule), random.Random(1))
    trials, pulses = [], []
    rig.dispenser.fbind("state", lambda _, state: pulses.append((trio.current_time(), state)))
    root = MoaStage(name="bandit")
    root.add_stage(BanditTrials(schedule, sides, rig, lambda **v: trials.append(v),
                                iti=1.0, response_window=5.0, name="trials"))
    rts = [0.5, 1.0, 0.25, None, 2.0, 0.5, 1.5, 0.5, 0.75, 1.0]

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(press_when_cued(rig, lambda i: i % 2, rts))
            await run_experiment(root, list(rig))
            nursery.cancel_scope.cancel()

    trio.run(main, clock=dry_clock())
    assert [t["trial"] for t in trials] == list(range(10))
    for i, (trial, rt) in enumerate(zip(trials, rts, strict=True)):
        assert trial["rewards"] == SCHEDULE[i]
        if rt is None:  # no press in the response window: an omission, no reward
            assert (trial["arm"], trial["side"], trial["rt"], trial["rewarded"]) == (
                None, None, None, False)
            continue
        assert trial["arm"] == i % 2
        assert trial["side"] == sides[i][i % 2]
        assert trial["rewarded"] is bool(SCHEDULE[i][i % 2])
        assert trial["rt"] == pytest.approx(rt, abs=0.02)
    rewarded = sum(t["rewarded"] for t in trials)
    assert rewarded == 6
    assert [state for _, state in pulses] == [True, False] * rewarded
    assert all(off - on == pytest.approx(0.05) for (on, _), (off, _) in
               zip(pulses[::2], pulses[1::2], strict=True))
    assert not any(getattr(rig.cues, name) for name in CUE_CHANNELS)  # cues off at the end


def test_a_dry_run_session_runs_its_schedule_with_a_virtual_subject(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    try:
        lab.database.add_subject("rat-1", species="rat", sex="F")
        runner = ProtocolRunner(lab, BanditProtocol)
        info = runner.create_session("rat-1", [f"schedule={json.dumps(SCHEDULE)}", "iti=3"])
        ended = trio.run(runner.run_session, info, clock=dry_clock())
        assert (ended.status, ended.n_trials, ended.error) == ("submitted", len(SCHEDULE), None)
        trials = [t.values for t in lab.database.list_trials(ended.id)]
        sides = counterbalanced_sides(len(SCHEDULE), random.Random(
            zlib.crc32(f"{ended.id}/sides".encode())))
        for i, trial in enumerate(trials):
            assert trial["arm"] in (0, 1) and trial["side"] == sides[i][trial["arm"]]
            assert trial["rewarded"] is bool(SCHEDULE[i][trial["arm"]])
            assert trial["rt"] == pytest.approx(0.3)  # the agent's reaction time
        assert lab.database.get_session(ended.id).args["schedule"] == json.dumps(SCHEDULE)
    finally:
        lab.close()


@pytest.mark.parametrize("args, named", [
    (["schedule=[[0, 2]]"], "--arg schedule holds [2.0], not only 0 and 1"),
    ([], "no value for schedule"),
    ([f"schedule={json.dumps(SCHEDULE)}", "iti=-1"], "--arg iti=-1.0 is not accepted"),
])
def test_bad_args_refuse_the_session_before_it_is_made(tmp_path, args, named):
    lab = Lab.init(tmp_path / "lab")
    try:
        lab.database.add_subject("rat-1", species="rat", sex="F")
        with pytest.raises(InvalidArgument, match=re.escape(named)):
            ProtocolRunner(lab, BanditProtocol).create_session("rat-1", args)
        assert lab.database.list_sessions() == []
    finally:
        lab.close()


def test_missing_pins_are_named():
    with pytest.raises(InvalidArgument, match=r"lack \['dispenser'\]"):
        gpio_bandit_devices({k: v for k, v in DEFAULT_PINS.items() if k != "dispenser"})


async def test_on_gpio_pins_a_lever_press_lights_off_and_dispenses(factory):
    # the rig's devices on gpiozero's mock pins (the Pi's pins are what is absent), real time
    rig = gpio_bandit_devices()
    schedule = parse_schedule([[1, 0], [0, 1]])
    sides = [("left", "right"), ("right", "left")]
    trials, pulses = [], []
    rig.dispenser.fbind("state", lambda _, state: pulses.append(state))
    root = MoaStage(name="bandit")
    root.add_stage(BanditTrials(schedule, sides, rig, lambda **v: trials.append(v), iti=0.05,
                                reward_duration=0.05, name="trials"))

    async def press(pin_name):
        pin = factory.pin(DEFAULT_PINS[pin_name])
        await trio.to_thread.run_sync(pin.drive_high)
        await trio.sleep(0.02)
        await trio.to_thread.run_sync(pin.drive_low)

    async def subject():
        # trial 0: arm 0 on the left, pressed; trial 1: arm 0 on the right, pressed
        for lever, cue in (("left_lever", "left_arm0"), ("right_lever", "right_arm0")):
            with trio.fail_after(10):
                while not factory.pin(DEFAULT_PINS[cue]).state:
                    await trio.sleep(0.005)
            await trio.sleep(0.05)
            await press(lever)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(subject)
            await run_experiment(root, list(rig))
    assert [(t["arm"], t["side"], t["rewarded"]) for t in trials] == [
        (0, "left", True), (0, "right", False)]
    assert 0.04 < trials[0]["rt"] < 5
    assert pulses == [False, True, False]  # low as the pin opens, then one reward
    assert not any(factory.pin(DEFAULT_PINS[name]).state for name in CUE_CHANNELS)
    for device in rig:
        device.close()


@pytest.fixture
def factory():
    """gpiozero's pin factory replaced by mock pins for one test (no Pi here)."""
    gpiozero = pytest.importorskip("gpiozero")
    from gpiozero.pins.mock import MockFactory

    previous = gpiozero.Device.pin_factory
    mock = MockFactory()
    gpiozero.Device.pin_factory = mock
    try:
        yield mock
    finally:
        gpiozero.Device.pin_factory = previous
        mock.close()
