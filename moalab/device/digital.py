"""Digital devices: single lines and ports of lines."""

from collections.abc import Iterable
from typing import Any

from ..core.events import BooleanProperty
from .port import Channel, Port

__all__ = ("DigitalChannel", "DigitalPort")


class DigitalChannel(Channel):
    """A single digital line; ``state`` is True (high), False (low) or None (unknown)."""

    state: bool | None = BooleanProperty(None, allownone=True)

    async def write_state(self, state: bool, **kwargs: Any) -> None:
        """Drive the line to ``state``. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot be written")


class DigitalPort(Port):
    """Several digital lines, each a property named in ``channel_names``."""

    async def write_states(
        self, high: Iterable[str] = (), low: Iterable[str] = (), **kwargs: Any
    ) -> None:
        """Drive the lines in ``high`` high and those in ``low`` low, at once where the
        hardware can. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot be written")

    async def write_state(self, channel: str, state: bool, **kwargs: Any) -> None:
        """Drive one line."""
        if state:
            await self.write_states(high=[channel], **kwargs)
        else:
            await self.write_states(low=[channel], **kwargs)
