"""MoaBase: the named, event-dispatching base of stages and devices."""

from typing import Any

from .events import EventDispatcher, StringProperty

__all__ = ("MoaBase",)


class MoaBase(EventDispatcher):
    """An :class:`EventDispatcher` with a ``name``.

    Keyword arguments naming a Kivy property set it; any other keyword argument
    becomes a plain attribute of the instance, so a subclass can be configured
    without declaring properties (``SugarPalletStage(motor_device=dev, delay=0.2)``).
    """

    name: str = StringProperty("")
    """A human-readable name, used in logs and displays."""

    def __init__(self, **kwargs: Any) -> None:
        props = self.properties()
        extra = {key: kwargs.pop(key) for key in list(kwargs) if key not in props}
        super().__init__(**kwargs)
        for key, value in extra.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
