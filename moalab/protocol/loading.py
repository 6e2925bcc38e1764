"""Finding a protocol's classes from what a user names on the command line: a file
(``examples/protocols/sugar_pellet.py``) or a module (``mylab.protocols``), either
with ``:ClassName`` when it defines several.

A file is imported once per process under a module name made from its resolved path
(``_moalab_protocol_<stem>_<hash>``), kept in ``sys.modules``: loading it again gives
the same classes, and its classes and their instances pickle. While it runs, its
folder is first on ``sys.path`` (so it can import the modules beside it), and only
then.
"""

import hashlib
import importlib
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType

from ..core.errors import InvalidArgument
from ..core.scripts import exec_file

__all__ = ("load_protocol", "load_protocols")


def _split(spec: str) -> tuple[str, str | None]:
    """``(file or module, class name or None)``; a colon followed by anything but a
    name (``C:\\labs``) belongs to the path."""
    where, colon, name = spec.rpartition(":")
    if colon and where and name.isidentifier():
        return where, name
    return spec, None


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def _module_name(path: Path) -> str:
    stem = re.sub(r"\W", "_", path.stem)
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return f"_moalab_protocol_{stem}_{digest}"


def _failed(spec: str, exc: BaseException) -> InvalidArgument:
    if isinstance(exc, SyntaxError):
        found = f"a syntax error at {exc.filename}, line {exc.lineno}: {exc.msg}"
    else:
        found = f"{type(exc).__name__}: {exc}"
    return InvalidArgument(f"protocol {spec!r}: importing it raised {found}; fix it and run again")


def _import_file(spec: str, where: str) -> ModuleType:
    path = Path(where).expanduser().resolve()
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise InvalidArgument(
            f"protocol {spec!r}: {path} is {what}; give a Python file (FILE.py[:ClassName]) "
            "or a module (package.module[:ClassName])")
    if path.suffix != ".py":
        raise InvalidArgument(f"protocol {spec!r}: {path} cannot be imported; give a .py file")
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    try:
        return exec_file(path, name)
    except Exception as exc:
        raise _failed(spec, exc) from exc


def _import_module(spec: str, where: str) -> ModuleType:
    if not all(part.isidentifier() for part in where.split(".")):
        raise InvalidArgument(
            f"protocol {spec!r}: {where!r} is neither a Python file (its name ends in .py) "
            "nor a module name (package.module); give one of these, with :ClassName if it "
            "defines several protocols")
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (where + ".").startswith(exc.name + "."):  # it, or its package
            raise InvalidArgument(
                f"protocol {spec!r}: no module named {exc.name!r}; give an importable "
                "module, or a file's path (ending in .py)") from None
        raise _failed(spec, exc) from exc
    except Exception as exc:
        raise _failed(spec, exc) from exc


def _defined_in(module: ModuleType, base: type) -> list[type]:
    """The concrete subclasses of ``base`` defined in ``module``, in definition order
    (an abstract one is a base for others, not a protocol to run)."""
    found: dict[int, type] = {}
    for obj in vars(module).values():
        if (isinstance(obj, type) and issubclass(obj, base) and obj is not base
                and obj.__module__ == module.__name__ and not inspect.isabstract(obj)):
            found.setdefault(id(obj), obj)
    return list(found.values())


def _names(classes: list[type]) -> str:
    return ", ".join(cls.__name__ for cls in classes)


def load_protocols(spec: str, base: type) -> list[type]:
    """The protocol classes ``spec`` names: the subclasses of ``base`` defined (not
    imported) in its file or module, or the one class ``FILE:ClassName`` /
    ``module:ClassName`` names.

    Raise :class:`InvalidArgument` naming ``spec`` for a missing file, module or class,
    a file or module that fails to import (a syntax error with its line), a named class
    that is no subclass of ``base``, or a file or module defining none.
    """
    where, class_name = _split(spec)
    module = _import_file(spec, where) if _is_file(where) else _import_module(spec, where)
    found = _defined_in(module, base)
    if class_name is None:
        if not found:
            others = [obj for obj in vars(module).values() if isinstance(obj, type)
                      and obj.__module__ == module.__name__]
            seen = f" (it defines {_names(others)})" if others else ""
            raise InvalidArgument(
                f"protocol {spec!r}: {where} defines no subclass of {base.__name__}{seen}; "
                f"define one (class MyProtocol({base.__name__}): ...)")
        return found
    cls = getattr(module, class_name, None)
    if cls is None:
        there = f"it defines {_names(found)}" if found else f"it defines no {base.__name__}"
        raise InvalidArgument(f"protocol {spec!r}: {where} has no {class_name!r}; {there}")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        there = f"name one of {_names(found)}" if found else f"it defines no {base.__name__}"
        raise InvalidArgument(
            f"protocol {spec!r}: {class_name} is {cls!r}, not a subclass of {base.__name__}; "
            f"{there}")
    return [cls]


def load_protocol(spec: str, base: type) -> type:
    """The one protocol class ``spec`` names (see :func:`load_protocols`); raise
    :class:`InvalidArgument` listing them if its file or module defines several and
    ``spec`` names none."""
    found = load_protocols(spec, base)
    if len(found) > 1:
        raise InvalidArgument(
            f"protocol {spec!r} defines {len(found)} protocols ({_names(found)}); name one, "
            f"such as {spec}:{found[0].__name__}")
    return found[0]
