"""Analog devices: single channels and ports of channels."""

from typing import Any

from ..core.events import NumericProperty
from .port import Channel, Port

__all__ = ("AnalogChannel", "AnalogPort")


class AnalogChannel(Channel):
    """A single analog channel; ``state`` is its value, or None before the first read."""

    state: float | None = NumericProperty(None, allownone=True)

    async def write_state(self, state: float, **kwargs: Any) -> None:
        """Drive the channel to ``state``. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot be written")


class AnalogPort(Port):
    """Several analog channels, each a property named in ``channel_names``."""

    async def write_states(self, **values: float) -> None:
        """Set each named channel to its value, at once where the hardware can.
        Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot be written")

    async def write_state(self, channel: str, state: float, **kwargs: Any) -> None:
        """Set one channel."""
        await self.write_states(**{channel: state})
