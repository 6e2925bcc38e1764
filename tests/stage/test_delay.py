"""Delay, UniformRandomDelay and GaussianRandomDelay in virtual time."""

import random

import pytest

from moalab import Delay, GaussianRandomDelay, InvalidArgument, MemoryLogger, UniformRandomDelay


async def run_and_measure(stage) -> tuple[list[float], list[float]]:
    """Run ``stage``; return each trial's duration and its logged delay."""
    logger = MemoryLogger()
    logger.add_logged_instance(stage, logged_names=["delay"])
    await stage.run_stage()
    starts = [r for r in logger.rows if r.trigger == "on_trial_start" and r.item == "delay"]
    ends = [r for r in logger.rows if r.trigger == "on_trial_end" and r.item == "delay"]
    return [e.timestamp - s.timestamp for s, e in zip(starts, ends)], [s.value for s in starts]


async def test_delay_waits_exactly(autojump_clock):
    durations, delays = await run_and_measure(Delay(name="d", delay=2.75, repeat=3))
    assert durations == [2.75, 2.75, 2.75]
    assert delays == [2.75] * 3


async def test_zero_delay(autojump_clock):
    durations, _ = await run_and_measure(Delay(name="d"))
    assert durations == [0]


def test_negative_delay_is_rejected():
    with pytest.raises(InvalidArgument, match="Delay 'd': delay=-1 is not accepted"):
        Delay(name="d", delay=-1)


async def test_uniform_random_delay_draws_within_bounds(autojump_clock):
    stage = UniformRandomDelay(name="iti", min=20, max=40, repeat=50, rng=random.Random(3))
    durations, delays = await run_and_measure(stage)
    assert len(set(delays)) == 50  # drawn anew each trial
    assert all(20 <= d <= 40 for d in delays)
    # the logged value (drawn in init_trial, before on_trial_start) is the waited time
    assert durations == pytest.approx(delays, abs=1e-9)


async def test_uniform_random_delay_is_reproducible_with_rng(autojump_clock):
    first = UniformRandomDelay(name="a", min=1, max=2, repeat=5, rng=random.Random(7))
    second = UniformRandomDelay(name="b", min=1, max=2, repeat=5, rng=random.Random(7))
    assert (await run_and_measure(first))[1] == (await run_and_measure(second))[1]


def test_uniform_random_delay_rejects_min_above_max():
    with pytest.raises(InvalidArgument, match="min=5 is above max=2"):
        UniformRandomDelay(name="bad", min=5, max=2)


async def test_gaussian_random_delay_is_clipped_at_zero(autojump_clock):
    stage = GaussianRandomDelay(name="g", mu=0, sigma=1, repeat=40, rng=random.Random(1))
    durations, delays = await run_and_measure(stage)
    assert 0 in delays and min(delays) == 0  # about half the draws are below 0
    assert durations == pytest.approx(delays, abs=1e-9)


async def test_gaussian_random_delay_draws_around_mu(autojump_clock):
    stage = GaussianRandomDelay(name="g", mu=10, sigma=1, repeat=200, rng=random.Random(2))
    durations, delays = await run_and_measure(stage)
    assert 9.5 < sum(delays) / len(delays) < 10.5
    assert len(set(delays)) == 200
    assert durations == pytest.approx(delays, abs=1e-9)


async def test_delay_on_the_real_clock_is_accurate():
    """On trio's real clock a short delay is neither early nor (generously) late."""
    logger = MemoryLogger()
    stage = Delay(name="d", delay=0.05)
    logger.add_logged_instance(stage)
    await stage.run_stage()
    start, end = (r.timestamp for r in logger.rows if r.trigger.startswith("on_trial"))
    assert 0.05 <= end - start < 0.5
