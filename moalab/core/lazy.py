"""Public names imported on first use, for a package whose modules are slow to import."""

import importlib
from collections.abc import Callable, Mapping

__all__ = ("lazy_names",)


def lazy_names(package: str, modules: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: each name of ``modules`` is imported from
    its module on first use (a submodule's name, e.g. ``"state"``, or a full module path
    with dots); any other name raises :class:`AttributeError`."""

    def __getattr__(name: str) -> object:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        path = module if "." in module else f"{package}.{module}"
        return getattr(importlib.import_module(path), name)

    return __getattr__
