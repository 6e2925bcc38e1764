"""Importing a user's Python file (a protocol, a workflow) as a module of a given name."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ("exec_file",)


def exec_file(path: Path, name: str) -> ModuleType:
    """Run the ``.py`` file at ``path`` as the module ``name`` and return it.

    It is in ``sys.modules`` while it runs (dataclasses and pickle look its classes up
    by module name) and after; its folder is first on ``sys.path`` while it runs only,
    so it imports the modules beside it as ``python FILE.py`` would. An exception of
    the file's own code propagates as raised, with ``name`` out of ``sys.modules`` (a
    fixed file is imported afresh)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(folder)  # the first equal entry: the one put there above
    return module
