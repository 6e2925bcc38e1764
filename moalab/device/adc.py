"""ADC devices: multi-channel, sampled analog input."""

import math
from typing import Any

import numpy as np

from ..core.arguments import NUMBER, Accepts, CheckedNumericProperty, whole_number
from ..core.errors import InvalidArgument
from ..core.events import NumericProperty, ObjectProperty
from .device import Device

__all__ = ("ADCPort",)


_FINITE = Accepts(lambda v: NUMBER.test(v) and abs(v) < math.inf, "a finite number")
_FREQUENCY = Accepts(lambda v: _FINITE.test(v) and v >= 0,
                     "samples per second, a finite number >= 0")
# counts are divided by the scale: 0 would make every value infinite
_SCALE = Accepts(lambda v: _FINITE.test(v) and v != 0, "a finite number other than 0")


def _same(a: Any, b: Any) -> bool:
    return a is b


class ADCPort(Device):
    """A multi-channel ADC sampled at :attr:`frequency`.

    Each update replaces :attr:`raw_data` (unsigned ``bit_depth``-bit integers)
    and :attr:`data` (scaled floats) with the newest block of samples: one
    array per channel, empty for inactive channels. The conversion is
    ``data = raw_data * scale / 2 ** bit_depth - offset``. :attr:`timestamp`
    is the time of sample :attr:`ts_idx` of the block.
    """

    _logged_names_ = ("raw_data", "data", "ts_idx")

    frequency: float = CheckedNumericProperty(1000.0, _FREQUENCY)
    """Samples per second per channel."""

    bit_depth: int = CheckedNumericProperty(16, whole_number(1, 64))
    num_channels: int = CheckedNumericProperty(1, whole_number(1))
    scale: float = CheckedNumericProperty(1.0, _SCALE)
    offset: float = CheckedNumericProperty(0.0, _FINITE)

    active_channels = ObjectProperty(None, allownone=True)
    """A list of ``num_channels`` booleans; None means all active."""

    # blocks of numpy arrays: compared by identity (== on arrays is elementwise), so
    # each new block is a change
    raw_data = ObjectProperty(None, allownone=True, comparator=_same)
    data = ObjectProperty(None, allownone=True, comparator=_same)
    ts_idx: int = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        active = self.active_channels
        if active is not None and not isinstance(active, list | tuple | np.ndarray):
            raise InvalidArgument(
                f"ADC {self.name!r}: active_channels={active!r} is not accepted; give a list "
                "of one boolean per channel, or None for all"
            )
        if active is not None and len(active) != self.num_channels:
            raise InvalidArgument(
                f"ADC {self.name!r}: active_channels has {len(active)} entries but "
                f"num_channels is {self.num_channels}; give one boolean per channel"
            )

    @property
    def active(self) -> list[bool]:
        """Whether each channel is active."""
        if self.active_channels is None:
            return [True] * self.num_channels
        return [bool(a) for a in self.active_channels]

    def to_raw(self, data: np.ndarray) -> np.ndarray:
        """Convert scaled values to raw integer counts, clipped to the bit depth."""
        top = 2**self.bit_depth
        raw = np.round((np.asarray(data) + self.offset) * top / self.scale)
        return np.clip(raw, 0, top - 1).astype(np.uint64)

    def to_data(self, raw: np.ndarray) -> np.ndarray:
        """Convert raw integer counts to scaled values."""
        return np.asarray(raw, dtype=np.float64) * self.scale / 2**self.bit_depth - self.offset
