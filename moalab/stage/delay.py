"""Stages that wait: a fixed delay and random delays."""

import random
from typing import Any

from ..core.arguments import (
    POSITIVE,
    RANDOM,
    SECONDS,
    CheckedNumericProperty,
    check_range,
    check_value,
)
from .stage import MoaStage

__all__ = ("Delay", "RandomDelay", "UniformRandomDelay", "GaussianRandomDelay")


class Delay(MoaStage):
    """Waits :attr:`delay` seconds each trial, counted from the trial's start (its
    ``on_trial_start`` row); pausing keeps the remaining time."""

    delay: float = CheckedNumericProperty(0, SECONDS)
    """Seconds to wait each trial."""

    async def do_trial(self) -> None:
        """Sleep until :attr:`delay` seconds after the trial's start (time spent paused
        does not count; see :meth:`~moalab.MoaStage.sleep`). A :attr:`delay` changed
        during the trial counts from its start too."""
        await self.sleep(self.delay, since=self.trial_start_time)


class RandomDelay(Delay):
    """A :class:`Delay` whose delay is drawn anew each trial by :meth:`draw`.

    ``rng`` (a :class:`random.Random`) makes the draws reproducible. A trial's
    delay is the time between its ``on_trial_start`` and ``on_trial_end`` rows;
    to log the value too, add ``logged_names=['delay']`` to the logger.
    """

    def __init__(self, rng: random.Random | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_value(self, "rng", rng, RANDOM)
        self.rng = rng or random.Random()

    def draw(self) -> float:
        """Return the next delay in seconds (at least 0)."""
        raise NotImplementedError

    async def init_trial(self, i: int) -> None:
        """Set :attr:`delay` to :meth:`draw`'s value, before ``on_trial_start``."""
        self.delay = self.draw()


class UniformRandomDelay(RandomDelay):
    """Waits a delay drawn uniformly from [:attr:`min`, :attr:`max`] each trial."""

    min: float = CheckedNumericProperty(0, SECONDS)
    """The shortest delay, in seconds."""

    max: float = CheckedNumericProperty(1, SECONDS)
    """The longest delay, in seconds (at least :attr:`min`)."""

    def __init__(self, rng: random.Random | None = None, **kwargs: Any) -> None:
        super().__init__(rng, **kwargs)
        check_range(self, "min", "max")

    def draw(self) -> float:
        """A delay drawn uniformly from [:attr:`min`, :attr:`max`] with ``rng``; raises
        :class:`~moalab.InvalidArgument` if :attr:`min` is above :attr:`max`."""
        # checked again here: min and max may have been set one at a time since
        check_range(self, "min", "max")
        return self.rng.uniform(self.min, self.max)


class GaussianRandomDelay(RandomDelay):
    """Waits a delay drawn from a normal distribution (:attr:`mu`, :attr:`sigma`), clipped at 0."""

    mu: float = CheckedNumericProperty(1, SECONDS)
    """The mean delay, in seconds."""

    sigma: float = CheckedNumericProperty(0.1, POSITIVE)
    """The standard deviation, in seconds."""

    def draw(self) -> float:
        """A delay drawn from the normal distribution (:attr:`mu`, :attr:`sigma`) with
        ``rng``, 0 if the draw is negative."""
        return max(0.0, self.rng.gauss(self.mu, self.sigma))
