"""The stage library refuses bad values at construction and when set later, naming the
stage, the argument, the value and what is accepted."""

import math
import random

import pytest
import trio

from moalab import (
    AnalogGateStage,
    Delay,
    DigitalGateStage,
    GaussianRandomDelay,
    InvalidArgument,
    MoaStage,
    UniformRandomDelay,
    VirtualAnalogChannel,
)

NAN = math.nan

REFUSED = [
    # (class, keyword arguments, what the message names besides class, name and value)
    (MoaStage, {"repeat": 2.5}, "repeat=2.5", "a whole number >= 0, or -1"),
    (MoaStage, {"repeat": -2}, "repeat=-2", "a whole number >= 0, or -1"),
    (MoaStage, {"repeat": "3"}, "repeat='3'", "a whole number"),
    (MoaStage, {"repeat": True}, "repeat=True", "a whole number"),
    (MoaStage, {"repeat": NAN}, "repeat=nan", "a whole number"),
    (MoaStage, {"max_duration": -1}, "max_duration=-1", "seconds, a number >= 0"),
    (MoaStage, {"max_trial_duration": "1s"}, "max_trial_duration='1s'", "seconds"),
    (Delay, {"delay": "abc"}, "delay='abc'", "seconds, a number >= 0"),
    (Delay, {"delay": -0.5}, "delay=-0.5", "seconds, a number >= 0"),
    (Delay, {"delay": NAN}, "delay=nan", "seconds"),
    (Delay, {"delay": None}, "delay=None", "seconds"),
    (UniformRandomDelay, {"min": -1}, "min=-1", "seconds"),
    (UniformRandomDelay, {"min": 5, "max": 2}, "min=5 is above max=2", "give min <= max"),
    (GaussianRandomDelay, {"mu": -5, "sigma": 1}, "mu=-5", "seconds, a number >= 0"),
    (GaussianRandomDelay, {"sigma": 0}, "sigma=0", "a number above 0"),
    (GaussianRandomDelay, {"sigma": -1}, "sigma=-1", "a number above 0"),
    (GaussianRandomDelay, {"rng": 42}, "rng=42", "a random.Random"),
    (UniformRandomDelay, {"rng": "seed"}, "rng='seed'", "a random.Random"),
    (DigitalGateStage, {"hold_time": -1}, "hold_time=-1", "seconds, a number >= 0"),
    (AnalogGateStage, {"min": 5, "max": 1}, "min=5 is above max=1", "give min <= max"),
    (AnalogGateStage, {"max": "high"}, "max='high'", "a number"),
    (AnalogGateStage, {"min": NAN}, "min=nan", "a number"),
    # a string is truthy: disabled='no' used to disable the stage
    (MoaStage, {"disabled": "no"}, "disabled='no'", "True or False"),
    (DigitalGateStage, {"exit_state": "high"}, "exit_state='high'", "True or False"),
    (DigitalGateStage, {"use_initial": 0}, "use_initial=0", "True or False"),
    (MoaStage, {"complete_on": "some"}, "complete_on='some'", "'all', 'any' or a list"),
    (MoaStage, {"order": "random"}, "order='random'", "'serial', 'parallel'"),
    # state the stage keeps itself
    (MoaStage, {"run_state": "done"}, "run_state='done'", "state MoaStage keeps itself"),
    (Delay, {"active": True}, "active=True", "state Delay keeps itself"),
    (MoaStage, {"count": 2}, "count=2", "state MoaStage keeps itself"),
    (MoaStage, {"parent": None}, "parent=None", "parent.add_stage(stage)"),
    (MoaStage, {"paused_by": "user"}, "paused_by='user'", "pause(by=...)"),
]


@pytest.mark.parametrize("cls, kwargs, named, accepted", REFUSED,
                         ids=[f"{c.__name__}-{k}" for c, k, *_ in REFUSED])
def test_bad_values_are_refused_at_construction(cls, kwargs, named, accepted):
    with pytest.raises(InvalidArgument) as info:
        cls(**kwargs, name="bad")  # the name last: messages still name the stage
    message = str(info.value)
    assert message.startswith(f"{cls.__name__} 'bad': ")
    assert named in message and accepted in message


@pytest.mark.parametrize("cls, prop, value", [
    (MoaStage, "repeat", 2.5),
    (MoaStage, "max_duration", -3),
    (Delay, "delay", "abc"),
    (GaussianRandomDelay, "sigma", 0),
    (AnalogGateStage, "min", "low"),
])
def test_bad_values_are_refused_when_set_later(cls, prop, value):
    stage = cls(name="s")
    before = getattr(stage, prop)
    with pytest.raises(InvalidArgument, match=f"{cls.__name__} 's': {prop}={value!r}"):
        setattr(stage, prop, value)
    assert getattr(stage, prop) == before


@pytest.mark.parametrize("repeat, trials", [(0, 0), (3, 3), (3.0, 3)])
async def test_whole_repeats_run_that_many_trials(autojump_clock, repeat, trials):
    stage = Delay(name="d", delay=1, repeat=repeat)
    await stage.run_stage()
    assert trio.current_time() == trials


@pytest.mark.parametrize("forever", [-1, math.inf])
async def test_repeat_forever_runs_until_stopped(autojump_clock, forever):
    stage = Delay(name="d", delay=1, repeat=forever, max_duration=10.5)
    await stage.run_stage()
    assert stage.count == 10  # trials 0..10 started; the 11th was cut by max_duration


async def test_uniform_bounds_set_one_at_a_time_are_checked_when_drawn(autojump_clock):
    stage = UniformRandomDelay(name="iti", min=1, max=2, rng=random.Random(0))
    stage.min = 5  # moving the range up one bound at a time passes through min > max
    with pytest.raises(InvalidArgument, match="UniformRandomDelay 'iti': min=5 is above max=2"):
        await stage.run_stage()
    stage.max = 6
    await stage.run_stage()
    assert 5 <= trio.current_time() <= 6


async def test_analog_gate_bounds_are_checked_when_a_trial_starts(autojump_clock):
    lever = VirtualAnalogChannel(name="lever")
    gate = AnalogGateStage(name="press", device=lever, min=0.5, max=1)
    gate.min = 2
    with pytest.raises(InvalidArgument, match="AnalogGateStage 'press': min=2 is above max=1"):
        await gate.run_stage()
    gate.max = 3
    lever.update(state=2.5)
    await gate.run_stage()  # the value already passes: exits at once
    assert str(gate.run_state) == "done"


async def test_stages_given_to_the_constructor_are_added_as_children(autojump_clock):
    first, second = Delay(name="a", delay=1), Delay(name="b", delay=2)
    root = MoaStage(name="root", stages=[first, second])
    assert root.stages == [first, second]
    assert first.parent is root and second.path == "root/b"
    await root.run_stage()
    assert trio.current_time() == 3
    with pytest.raises(InvalidArgument, match="already a child of 'root'"):
        MoaStage(name="other", stages=[first])
    with pytest.raises(InvalidArgument, match="only MoaStage instances"):
        MoaStage(name="bad", stages=["a"])
