"""Public names imported on first use, for a package whose modules are slow to import."""

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ("lazy_names",)


def lazy_names(package: str, modules: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: each name of ``modules`` is imported on
    first use from its module, named relative to the package (``"state"``,
    ``"core.clock"``), and kept in the package (later uses do not come here); any other
    name raises :class:`AttributeError`."""

    def __getattr__(name: str) -> object:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
