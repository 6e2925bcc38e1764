"""A protocol's typed arguments: ``KEY=VALUE`` pairs parsed by the fields of its
dataclass ``Args``, and the JSON form the lab database keeps them in.

A field's type says how its text is read (:class:`ArgType`):

- ``int``, ``float`` (not nan), ``str`` (as given);
- ``bool``: true/false, yes/no, 1/0, in any case;
- ``X | None``: ``none`` (any case) or nothing is None, anything else is an ``X``;
- ``Literal[...]``: one of its values; an ``Enum``: a member's name or value;
- ``list[X]``: comma-separated ``X`` items (nothing is the empty list; an item cannot
  hold a comma);
- ``pathlib.Path``; ``datetime.date`` in ISO form (2026-12-01).

The same types read the cells of a static protocol's conditions table
(:mod:`moalab.protocol.conditions`).
"""

import dataclasses
import datetime
import difflib
import enum
import math
import pathlib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core.errors import InvalidArgument

__all__ = ("ArgType", "args_from_dict", "args_to_dict", "parse_args")

_SUPPORTED = ("int, float, bool, str, pathlib.Path, datetime.date, an Enum, a Literal, "
              "list[...] of these, or one of these | None")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


class _Refused(ValueError):
    """A value an :class:`ArgType` does not take; ``detail`` says which part, if any."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class ArgType:
    """How values of one annotated type are read from text and kept as JSON.

    Make one with :meth:`of`. ``name`` is the type as a user writes it (``list[int]``),
    ``words`` says in words what its text may be (ends error messages).
    """

    name: str
    words: str

    @staticmethod
    def of(annotation: Any) -> "ArgType":
        """The :class:`ArgType` of ``annotation``; raise :class:`InvalidArgument` naming
        it and the supported types if it is none of them."""
        return _arg_type(annotation)

    def parse(self, text: str, subject: str) -> Any:
        """The value ``text`` stands for; raise :class:`InvalidArgument` naming ``subject``
        (``Args field n_trials``), ``text``, this type and what would be accepted."""
        try:
            return self._from_text(text)
        except ValueError as exc:
            detail = f" ({exc.detail})" if isinstance(exc, _Refused) and exc.detail else ""
            raise InvalidArgument(
                f"{subject}: {text!r} is not a valid {self.name}{detail}; give {self.words}"
            ) from None

    def load(self, value: Any, subject: str) -> Any:
        """``value`` as this type, from its JSON form or already of the type (a Path, an
        Enum member); raise :class:`InvalidArgument` naming ``subject``, the value and
        this type if it does not fit."""
        try:
            return self._from_value(value)
        except ValueError as exc:
            detail = f" ({exc.detail})" if isinstance(exc, _Refused) and exc.detail else ""
            raise InvalidArgument(
                f"{subject}: {value!r} ({type(value).__name__}) does not fit "
                f"{self.name}{detail}"
            ) from None

    def dump(self, value: Any, subject: str) -> Any:
        """The JSON form of ``value``, which :meth:`load` reads back; raise
        :class:`InvalidArgument` (as :meth:`load`) if ``value`` does not fit."""
        return self._to_json(self.load(value, subject))

    def _from_text(self, text: str) -> Any:
        raise NotImplementedError

    def _from_value(self, value: Any) -> Any:
        raise NotImplementedError

    def _to_json(self, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"ArgType({self.name})"


class _Int(ArgType):
    name, words = "int", "a whole number, such as 30"

    def _from_text(self, text: str) -> int:
        return int(text)

    def _from_value(self, value: Any) -> int:
        if type(value) is not int:  # True is an int, but not a trial count
            raise _Refused()
        return value


class _Float(ArgType):
    name, words = "float", "a number, such as 0.5"

    def _from_text(self, text: str) -> float:
        return self._from_value(float(text))

    def _from_value(self, value: Any) -> float:
        if type(value) not in (int, float) or math.isnan(value):
            raise _Refused()
        return float(value)


class _Bool(ArgType):
    name, words = "bool", "true or false (or yes/no, 1/0)"

    def _from_text(self, text: str) -> bool:
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise _Refused()

    def _from_value(self, value: Any) -> bool:
        if type(value) is not bool:
            raise _Refused()
        return value


class _Str(ArgType):
    name, words = "str", "text"

    def _from_text(self, text: str) -> str:
        return text

    def _from_value(self, value: Any) -> str:
        if not isinstance(value, str):
            raise _Refused()
        return value


class _Path(ArgType):
    name, words = "Path", "a path, such as data/run1"

    def _from_text(self, text: str) -> pathlib.Path:
        if not text:
            raise _Refused("empty")
        return pathlib.Path(text)

    def _from_value(self, value: Any) -> pathlib.Path:
        if isinstance(value, pathlib.PurePath):
            return pathlib.Path(value)
        if isinstance(value, str):
            return self._from_text(value)
        raise _Refused()

    def _to_json(self, value: pathlib.Path) -> str:
        return str(value)


class _Date(ArgType):
    name, words = "date", "an ISO date, such as 2026-12-01"

    def _from_text(self, text: str) -> datetime.date:
        return datetime.date.fromisoformat(text.strip())

    def _from_value(self, value: Any) -> datetime.date:
        if isinstance(value, str):
            return self._from_text(value)
        # a datetime is a date too, but its time would be dropped unseen
        if type(value) is not datetime.date:
            raise _Refused()
        return value

    def _to_json(self, value: datetime.date) -> str:
        return value.isoformat()


class _Optional(ArgType):
    def __init__(self, inner: ArgType) -> None:
        self.inner = inner
        self.name = f"{inner.name} | None"
        self.words = f"{inner.words}, or none"

    def _from_text(self, text: str) -> Any:
        if text.strip().lower() in ("none", ""):
            return None
        return self.inner._from_text(text)

    def _from_value(self, value: Any) -> Any:
        return None if value is None else self.inner._from_value(value)

    def _to_json(self, value: Any) -> Any:
        return None if value is None else self.inner._to_json(value)


class _Literal(ArgType):
    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values
        self.kinds = [(value, _arg_type(type(value))) for value in values]
        self.name = f"Literal[{', '.join(map(repr, values))}]"
        self.words = f"one of {', '.join(map(str, values))}"

    def _from_text(self, text: str) -> Any:
        for value, kind in self.kinds:
            try:
                if kind._from_text(text) == value:
                    return value
            except ValueError:
                continue
        raise _Refused()

    def _from_value(self, value: Any) -> Any:
        for literal in self.values:
            if type(value) is type(literal) and value == literal:
                return literal
        raise _Refused()


class _Enum(ArgType):
    def __init__(self, cls: type[enum.Enum]) -> None:
        self.cls = cls
        self.name = cls.__name__
        names = ", ".join(cls.__members__)
        values = ", ".join(str(member.value) for member in cls)
        self.words = f"one of {names} (or their values {values})"

    def _from_text(self, text: str) -> enum.Enum:
        if text in self.cls.__members__:
            return self.cls.__members__[text]
        for member in self.cls:
            if str(member.value) == text:
                return member
        raise _Refused()

    def _from_value(self, value: Any) -> enum.Enum:
        if isinstance(value, self.cls):
            return value
        if isinstance(value, str):
            return self._from_text(value)
        for member in self.cls:
            if type(member.value) is type(value) and member.value == value:
                return member
        raise _Refused()

    def _to_json(self, value: enum.Enum) -> str:
        return value.name  # names outlive values more often than not


class _List(ArgType):
    def __init__(self, item: ArgType) -> None:
        self.item = item
        self.name = f"list[{item.name}]"
        self.words = f"comma-separated items, each {item.words}"

    def _each(self, items: Sequence[Any], read: Callable[[Any], Any]) -> list[Any]:
        values = []
        for index, item in enumerate(items, 1):
            try:
                values.append(read(item))
            except ValueError:
                raise _Refused(f"item {index}, {item!r}, is not a valid {self.item.name}") from None
        return values

    def _from_text(self, text: str) -> list[Any]:
        if not text.strip():
            return []
        return self._each([part.strip() for part in text.split(",")], self.item._from_text)

    def _from_value(self, value: Any) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise _Refused()
        return self._each(value, self.item._from_value)

    def _to_json(self, value: list[Any]) -> list[Any]:
        return [self.item._to_json(item) for item in value]


_SCALARS: dict[Any, ArgType] = {
    int: _Int(), float: _Float(), bool: _Bool(), str: _Str(),
    pathlib.Path: _Path(), datetime.date: _Date(),
}


def _arg_type(annotation: Any) -> ArgType:
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _Enum(annotation)
    origin, params = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return _Literal(params)
    if origin in (typing.Union, types.UnionType) and len(params) == 2 and type(None) in params:
        return _Optional(_arg_type(next(p for p in params if p is not type(None))))
    if origin is list and len(params) == 1:
        item = _arg_type(params[0])
        if not isinstance(item, _List):  # the items of a list of lists need a separator
            return _List(item)
    name = getattr(annotation, "__name__", None) if origin is None else None
    shown = name or str(annotation).replace("typing.", "")
    raise InvalidArgument(f"type {shown} is not supported; use {_SUPPORTED}")


# ------------------------------------------------------------------- Args


def _owner(args_class: type) -> str:
    return args_class.__qualname__


def _fields(args_class: type) -> dict[str, tuple[dataclasses.Field, ArgType]]:
    """The fields a user sets (``init=True``) of dataclass ``args_class`` with their
    types; string annotations (``from __future__ import annotations``) resolved."""
    if not (isinstance(args_class, type) and dataclasses.is_dataclass(args_class)):
        raise InvalidArgument(
            f"Args {args_class!r} is not accepted; give a dataclass (@dataclass class Args)")
    hints = typing.get_type_hints(args_class)
    fields = {}
    for field in dataclasses.fields(args_class):
        if not field.init:
            continue
        try:
            fields[field.name] = field, _arg_type(hints[field.name])
        except InvalidArgument as exc:
            raise InvalidArgument(f"{_owner(args_class)} field {field.name}: {exc}") from None
    return fields


def _has_default(field: dataclasses.Field) -> bool:
    return (field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING)


def _build(args_class: type, values: dict[str, Any],
           fields: Mapping[str, tuple[dataclasses.Field, ArgType]], how: str) -> Any:
    missing = [name for name, (field, _) in fields.items()
               if name not in values and not _has_default(field)]
    if missing:
        raise InvalidArgument(
            f"{_owner(args_class)}: no value for {', '.join(missing)}, which "
            f"{'has' if len(missing) == 1 else 'have'} no default; {how}")
    try:
        return args_class(**values)
    except ValueError as exc:  # an Args' own check in __post_init__
        if isinstance(exc, InvalidArgument):
            raise
        raise InvalidArgument(f"{_owner(args_class)}: {exc}") from None


def parse_args(args_class: type, pairs: Sequence[str]) -> Any:
    """An instance of dataclass ``args_class`` from ``KEY=VALUE`` pairs (``--arg``).

    Each value is read by its field's type (see the module docstring); a field not
    given takes its default. Raise :class:`InvalidArgument` for a pair without ``=``,
    an unknown key (naming close matches), a key given twice, a value its type does not
    take (naming the field, the value and the type), a field without a default left
    out, or a field type that is not supported.
    """
    fields = _fields(args_class)
    owner = _owner(args_class)
    values: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        key = key.strip()
        if not equals or not key:
            raise InvalidArgument(
                f"{owner}: argument {pair!r} is not KEY=VALUE; give one of "
                f"{', '.join(fields)} with a value, such as {next(iter(fields), 'key')}=...")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=3)
            hint = (f"did you mean {' or '.join(close)}?" if close
                    else f"{owner} accepts {', '.join(fields) or 'no arguments'}")
            raise InvalidArgument(f"{owner}: unknown argument {key}={text!r}; {hint}")
        if key in texts:
            raise InvalidArgument(
                f"{owner}: argument {key} given twice ({key}={texts[key]!r} and "
                f"{key}={text!r}); give it once")
        texts[key] = text
        values[key] = fields[key][1].parse(text, f"{owner} field {key}")
    return _build(args_class, values, fields, "give it as KEY=VALUE")


def args_to_dict(args: Any) -> dict[str, Any]:
    """The JSON form of dataclass instance ``args``: each field's value as
    :func:`args_from_dict` reads it back (a Path or date as text, an Enum by name).
    Raise :class:`InvalidArgument` naming a field whose value does not fit its type."""
    cls = type(args)
    return {name: kind.dump(getattr(args, name), f"{_owner(cls)} field {name}")
            for name, (_, kind) in _fields(cls).items()}


def args_from_dict(args_class: type, data: Mapping[str, Any]) -> Any:
    """An instance of dataclass ``args_class`` from :func:`args_to_dict`'s form (what
    the lab database kept for a session, to resume it).

    A field not in ``data`` takes its default (a field added to the class since).
    Raise :class:`InvalidArgument` naming the field for a stored key the class no
    longer has, a stored value that no longer fits the field's type, or a field without
    default that ``data`` lacks.
    """
    fields = _fields(args_class)
    owner = _owner(args_class)
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise InvalidArgument(
            f"{owner}: stored argument {', '.join(unknown)} is no field of the class "
            f"(its fields: {', '.join(fields) or 'none'}); the stored arguments no longer "
            "fit it")
    values = {key: fields[key][1].load(value, f"{owner} field {key} (stored)")
              for key, value in data.items()}
    return _build(args_class, values, fields, "the stored arguments no longer fit the class")
