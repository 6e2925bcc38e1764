"""The channels of an analog value: how an ADC's or another array property's samples
are told apart from a device's scalar properties."""

from typing import Any

import numpy as np

__all__ = ("analog_channels",)

_NUMERIC = "biuf"  # numpy's kinds of booleans, integers and floats


def analog_channels(value: Any) -> list[np.ndarray] | None:
    """The channels of ``value`` if it is an analog value, else None: a 1-D numeric
    array is one channel; a 2-D one, or a list or tuple of 1-D ones (an ADC block),
    one channel per row or item."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _NUMERIC or value.ndim not in (1, 2):
            return None
        return [value] if value.ndim == 1 else list(value)
    if isinstance(value, list | tuple) and value and all(
            isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind in _NUMERIC
            for v in value):
        return list(value)
    return None
