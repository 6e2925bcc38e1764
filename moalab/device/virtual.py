"""Virtual devices: random stand-ins for real hardware, for dry runs and tests.

Each is driven from the trio thread and its pump is a cancellable loop. Pass
``rng=random.Random(seed)`` for reproducible values; ``interval=(lo, hi)`` sets
the range of seconds between two reads of a pump.
"""

import math
import random
from collections.abc import Iterable
from numbers import Integral
from typing import Any

import numpy as np
import trio

from ..core.arguments import (
    NON_NEGATIVE,
    RANDOM,
    SECONDS,
    Accepts,
    check_value,
    describe,
    whole_number,
)
from ..core.clock import now, to_trio_time
from ..core.dispatch import apply_executor
from ..core.errors import InvalidArgument
from .adc import ADCPort
from .analog import AnalogChannel, AnalogPort
from .digital import DigitalChannel, DigitalPort

__all__ = (
    "VirtualDigitalChannel",
    "VirtualDigitalPort",
    "VirtualAnalogChannel",
    "VirtualAnalogPort",
    "VirtualADCPort",
)


_SEED = Accepts(lambda v: v is None or (isinstance(v, Integral) and not isinstance(v, bool)
                                        and v >= 0),
               "a whole number >= 0, or None for a fresh seed")


class _RandomPump:
    """Shared pump: call :meth:`read_state` at random intervals until cancelled."""

    def __init__(
        self,
        rng: random.Random | None = None,
        interval: tuple[float, float] = (1.0, 11.0),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not (
            isinstance(interval, tuple | list) and len(interval) == 2
            and all(SECONDS.test(t) for t in interval) and interval[0] <= interval[1]
        ):
            raise InvalidArgument(
                f"{describe(self)}: interval={interval!r} is not accepted; give (lo, hi) "
                "seconds with 0 <= lo <= hi"
            )
        check_value(self, "rng", rng, RANDOM)
        self.rng = rng or random.Random()
        self.interval = (interval[0], interval[1])
        self.init_kwargs["interval"] = self.interval

    @apply_executor
    async def pump_state(self) -> None:
        """Call :meth:`read_state` every ``interval`` seconds (drawn uniformly from
        ``(lo, hi)`` with :attr:`rng`, before each read) until cancelled; it never
        returns. Run it in a nursery task: a run (:func:`~moalab.run`) starts one for
        each device it is given."""
        while True:
            await trio.sleep(self.rng.uniform(*self.interval))
            await self.read_state()


class VirtualDigitalChannel(_RandomPump, DigitalChannel):
    """A digital line: writes take effect at once; the pump reads random levels."""

    @apply_executor
    async def write_state(self, state: bool, **kwargs: Any) -> None:
        """Set ``state`` to ``bool(state)`` at once (one :meth:`update`)."""
        self.update(state=bool(state))

    @apply_executor
    async def read_state(self) -> None:
        """Set ``state`` to a random level (True or False, even odds, from ``rng``)."""
        self.update(state=self.rng.random() >= 0.5)


class VirtualDigitalPort(_RandomPump, DigitalPort):
    """A port of digital lines: writes take effect at once; the pump reads random levels."""

    @apply_executor
    async def write_states(
        self, high: Iterable[str] = (), low: Iterable[str] = (), **kwargs: Any
    ) -> None:
        """Set the lines in ``high`` True and those in ``low`` False, in one
        :meth:`update`; raises :class:`~moalab.InvalidArgument` for a name that is not
        a channel (setting none)."""
        high, low = list(high), list(low)
        self._check_channels(high + low)
        self.update(**dict.fromkeys(high, True), **dict.fromkeys(low, False))

    @apply_executor
    async def read_state(self) -> None:
        """Set every line to a random level (even odds, from ``rng``), in one
        :meth:`update`."""
        self.update(**{name: self.rng.random() >= 0.5 for name in self.channel_names})


class VirtualAnalogChannel(_RandomPump, AnalogChannel):
    """An analog channel: writes take effect at once; the pump reads values in [0, 1)."""

    @apply_executor
    async def write_state(self, state: float, **kwargs: Any) -> None:
        """Set ``state`` to ``float(state)`` at once (one :meth:`update`)."""
        self.update(state=float(state))

    @apply_executor
    async def read_state(self) -> None:
        """Set ``state`` to a random value in [0, 1) from ``rng``."""
        self.update(state=self.rng.random())


class VirtualAnalogPort(_RandomPump, AnalogPort):
    """A port of analog channels: writes take effect at once; the pump reads values in [0, 1)."""

    @apply_executor
    async def write_states(self, **values: float) -> None:
        """Set each named channel to its value (as a float), in one :meth:`update`;
        raises :class:`~moalab.InvalidArgument` for a name that is not a channel
        (setting none)."""
        self._check_channels(values)
        self.update(**{name: float(value) for name, value in values.items()})

    @apply_executor
    async def read_state(self) -> None:
        """Set every channel to a random value in [0, 1) from ``rng``, in one
        :meth:`update`."""
        self.update(**{name: self.rng.random() for name in self.channel_names})


class VirtualADCPort(ADCPort):
    """An ADC sampling a sine per channel (channel ``k`` at ``k + 1`` Hz) plus noise.

    The sine spans 90 % of the input range that :attr:`scale` and :attr:`offset`
    set (``[-offset, scale - offset)``), so it is not clipped.

    The pump delivers blocks of ``block_size`` samples at the rate
    :attr:`frequency` sets, sleeping between blocks.
    """

    def __init__(
        self, block_size: int = 100, noise: float = 0.01, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        check_value(self, "block_size", block_size, whole_number(1))
        check_value(self, "noise", noise, NON_NEGATIVE)
        check_value(self, "seed", seed, _SEED)
        if not self.frequency:
            raise InvalidArgument(f"{describe(self)}: frequency must be above 0 to pump")
        self.block_size = block_size
        self.noise = noise
        self.init_kwargs.update(block_size=block_size, noise=noise, seed=seed)
        self._rng = np.random.default_rng(seed)
        self._sample = 0

    def signal(self, sample_times: np.ndarray, channel: int) -> np.ndarray:
        """Return the channel's values at ``sample_times`` (seconds since the pump started)."""
        low, high = -self.offset, self.scale - self.offset
        wave = (low + high) / 2 + 0.45 * (high - low) * np.sin(
            2 * math.pi * (channel + 1) * sample_times
        )
        return wave + self.noise * self._rng.standard_normal(len(sample_times))

    def read_block(self) -> None:
        """Produce the next block of samples and update the device."""
        n = self.block_size
        times = (self._sample + np.arange(n)) / self.frequency
        data = [
            self.signal(times, k) if on else np.empty(0) for k, on in enumerate(self.active)
        ]
        raw = [self.to_raw(d) for d in data]
        self._sample += n
        self.update(raw_data=raw, data=[self.to_data(r) for r in raw], ts_idx=n - 1)

    @apply_executor
    async def pump_state(self) -> None:
        """Deliver a block (:meth:`read_block`) each time its last sample is due, at
        :attr:`frequency` from the pump's start, until cancelled; it never returns.
        The sample count restarts with each call."""
        start = now()
        self._sample = 0
        while True:
            # sleep until the block's last sample is due
            await trio.sleep_until(
                to_trio_time(start + (self._sample + self.block_size - 1) / self.frequency)
            )
            self.read_block()
