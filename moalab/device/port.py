"""Channel and port interfaces: devices of one channel, or of several named ones."""

from typing import Any

from ..core.errors import InvalidArgument
from ..core.events import ListProperty, Property
from .device import Device

__all__ = ("ChannelBase", "Channel", "Port")


class ChannelBase(Device):
    """A device with channels whose state properties are read only from outside.

    One changes a channel by calling :meth:`write_state`; the device then
    updates its properties (see :meth:`Device.update`). :meth:`read_state`
    makes the device read and update its properties; it returns nothing.
    """

    async def write_state(self, *args: Any, **kwargs: Any) -> None:
        """Drive the hardware to a new state; the device then updates its properties
        (:meth:`Device.update`) to the state written. Returns None.

        Each subclass says its arguments (a channel's ``state``, a port's ``channel``
        and ``state``). Here it raises :class:`NotImplementedError`: a device that can
        be written defines it, decorated with :func:`~moalab.apply_executor` so it runs
        where the device's executor says (awaited in the caller's task without one).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be written")

    async def read_state(self) -> None:
        """Read the hardware once and update the properties with what it says
        (:meth:`Device.update`, which dispatches ``on_data_update``). Returns None:
        read the values from the properties.

        Here it raises :class:`NotImplementedError`: a device that can be read defines
        it, decorated with :func:`~moalab.apply_executor` so it runs where the device's
        executor says (awaited in the caller's task without one).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be read")


class Channel(ChannelBase):
    """A device of one channel whose value is the ``state`` property."""

    _logged_names_ = ("state",)


class Port(ChannelBase):
    """A device of several channels, each a property named in :attr:`channel_names`.

    Names that the class does not declare as properties are created (as object
    properties, initially None), so ``Port(channel_names=['light', 'beam'])``
    has bindable ``light`` and ``beam`` properties. Kivy adds a created property
    to the class, so other instances of it have the property too (with their
    own values). A name the port already uses (``name``, ``update``, ...) is
    rejected: it would replace that attribute for the whole class.
    """

    channel_names: list[str] = ListProperty([])

    def __init__(self, **kwargs: Any) -> None:
        names = kwargs.pop("channel_names", None)
        super().__init__(**kwargs)
        if names is not None:
            # a string is iterable too: 'ab' would make channels 'a' and 'b'
            if not isinstance(names, list | tuple):
                raise InvalidArgument(
                    f"port {self.name!r}: channel_names={names!r} is not accepted; give a "
                    "list of names, e.g. ['light', 'beam']"
                )
            self.channel_names = list(names)
            self.init_kwargs["channel_names"] = list(names)
        for name in self.channel_names:
            if not isinstance(name, str) or not name.isidentifier():
                raise InvalidArgument(
                    f"port {self.name!r}: channel name {name!r} is not a valid identifier"
                )
            declared = name in self.properties()
            # a property may be inherited from a class that got it for another port
            taken = not isinstance(getattr(type(self), name, None), (Property, type(None)))
            if name in _PORT_NAMES or (not declared and taken):
                raise InvalidArgument(
                    f"port {self.name!r}: channel name {name!r} is already an attribute of "
                    f"{type(self).__name__}; choose another name"
                )
            if not declared:
                self.create_property(name, None)
        self.add_logged_names(self.channel_names)

    def channel_states(self) -> dict[str, Any]:
        """Return ``{channel name: state}`` for every channel."""
        return {name: getattr(self, name) for name in self.channel_names}

    def _check_channels(self, names: Any) -> None:
        unknown = [name for name in names if name not in self.channel_names]
        if unknown:
            raise InvalidArgument(
                f"port {self.name!r} has no channel {', '.join(map(repr, unknown))}; its "
                f"channels are {self.channel_names}"
            )


# the names every port uses itself, taken before any port adds a channel property
_PORT_NAMES = frozenset(dir(Port))
