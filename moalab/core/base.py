"""MoaBase: the named, event-dispatching base of stages and devices."""

from typing import Any

from .arguments import check_extra_arguments, describe
from .errors import InvalidArgument
from .events import EventDispatcher, StringProperty

__all__ = ("MoaBase",)


class MoaBase(EventDispatcher):
    """An :class:`EventDispatcher` with a ``name``, whose keyword arguments are checked.

    A keyword argument naming a Kivy property sets it; ``name`` is set first, so
    messages about the others name the object. A value the property refuses
    raises :class:`InvalidArgument` naming the object, the argument and the value.
    Any other keyword argument must be accepted by the class (see
    ``moalab.core.arguments``) and becomes a plain attribute of the instance,
    so a user's subclass can be configured without declaring properties
    (``SugarPalletStage(motor_device=dev, delay=0.2)``); an unknown one raises
    :class:`InvalidArgument` naming it and the closest accepted names.
    """

    _state_names_: dict[str, str] = {}
    """Properties the object sets itself (a stage's ``run_state``), refused as
    arguments, each with a hint of what to do instead (or '')."""

    name: str = StringProperty("")
    """A human-readable name, used in logs and displays."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        if "name" in kwargs:
            self._set_argument("name", kwargs.pop("name"))
        for key, hint in self._state_names_.items():
            if key in kwargs:
                raise InvalidArgument(
                    f"{describe(self)}: {key}={kwargs[key]!r} is not accepted: {key} is state "
                    f"{type(self).__name__} keeps itself" + (f"; {hint}" if hint else "")
                )
        props = self.properties().keys() - self._state_names_.keys()
        extra = {key: kwargs.pop(key) for key in list(kwargs) if key not in props}
        if extra:
            check_extra_arguments(type(self), props, extra, describe(self))
        for key, value in kwargs.items():
            self._set_argument(key, value)
        for key, value in extra.items():
            setattr(self, key, value)

    def _set_argument(self, key: str, value: Any) -> None:
        try:
            setattr(self, key, value)
        except InvalidArgument:
            raise
        except (ValueError, TypeError) as exc:  # Kivy's own checks (bounds, options, types)
            raise InvalidArgument(
                f"{describe(self)}: {key}={value!r} is not accepted ({exc})"
            ) from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
