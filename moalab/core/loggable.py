"""Loggable: how a class declares which of its properties and events get logged.

The declaration lives here, below stages and devices, so both can be loggable;
the loggers that read it live in :mod:`moalab.log`.
"""

from collections.abc import Iterable

__all__ = ("Loggable",)


class Loggable:
    """Mixin for event dispatchers whose changes loggers record.

    A class lists property names in ``_logged_names_`` (values recorded in each
    row) and property or event names in ``_logged_trigger_names_`` (a change or
    dispatch writes rows). Declarations of all base classes are merged. An
    instance can add or drop names with :meth:`add_logged_names`,
    :meth:`remove_logged_names` and their trigger counterparts; loggers read
    :attr:`logged_names` and :attr:`logged_trigger_names` when an instance is
    added to them.
    """

    _logged_names_: tuple[str, ...] = ()
    _logged_trigger_names_: tuple[str, ...] = ()

    @classmethod
    def _declared(cls, attr: str) -> list[str]:
        names: dict[str, None] = {}
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get(attr, ()):
                names[name] = None
        return list(names)

    @property
    def logged_names(self) -> list[str]:
        """Names whose values each log row records."""
        if "_logged_names" not in self.__dict__:
            self.__dict__["_logged_names"] = self._declared("_logged_names_")
        return self.__dict__["_logged_names"]

    @property
    def logged_trigger_names(self) -> list[str]:
        """Property or event names whose change or dispatch writes log rows."""
        if "_logged_trigger_names" not in self.__dict__:
            self.__dict__["_logged_trigger_names"] = self._declared("_logged_trigger_names_")
        return self.__dict__["_logged_trigger_names"]

    def add_logged_names(self, names: Iterable[str], triggers: bool = False) -> None:
        """Log these names too (as triggers if ``triggers``) for loggers added later."""
        target = self.logged_trigger_names if triggers else self.logged_names
        target.extend(name for name in names if name not in target)

    def remove_logged_names(self, names: Iterable[str], triggers: bool = False) -> None:
        """Stop logging these names (triggers if ``triggers``) for loggers added later."""
        target = self.logged_trigger_names if triggers else self.logged_names
        for name in names:
            if name in target:
                target.remove(name)
