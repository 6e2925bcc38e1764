"""Constructor arguments of stages and devices: the names a class accepts, the values
a property accepts.

A class accepts its Kivy properties and the parameters of the constructors in its
MRO. A class written outside moalab's library (a user's subclass; moalab's examples
count as user code) also accepts the plain class attributes it declares, and, as
PyMoa's guide configures subclasses (``SugarPalletStage(motor_device=dev,
delay=0.2)``), names it does not declare, unless such a name looks like a typo of
an accepted one, would shadow an attribute of the class, or is private.
"""

import difflib
import inspect
import math
import random
from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from typing import Any, NamedTuple

from .errors import InvalidArgument
from .events import BooleanProperty, NumericProperty, Property

__all__ = (
    "Accepts",
    "CheckedBooleanProperty",
    "CheckedNumericProperty",
    "FLAG",
    "NUMBER",
    "NON_NEGATIVE",
    "SECONDS",
    "POSITIVE",
    "TRIALS",
    "RANDOM",
    "whole_number",
    "check_extra_arguments",
    "check_value",
    "check_range",
    "constructor_parameters",
    "declared_arguments",
    "describe",
)

_PARAMETER_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def describe(obj: Any) -> str:
    """``ClassName 'name'`` (or just the class name while unnamed), for messages."""
    name = getattr(obj, "name", "")
    return f"{type(obj).__name__} {name!r}" if name else type(obj).__name__


# ------------------------------------------------------------------- values


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int or kind is float:  # the common case, without the ABC check
        return value == value  # nan is not
    # bool is an int, but True as a delay or a trial count is a mistake
    return isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(value)


class Accepts(NamedTuple):
    """A test of a value and, in words, what it accepts (ends error messages)."""

    test: Callable[[Any], bool]
    words: str


FLAG = Accepts(lambda v: isinstance(v, bool), "True or False")
NUMBER = Accepts(_is_number, "a number")
NON_NEGATIVE = Accepts(lambda v: _is_number(v) and v >= 0, "a number >= 0")
SECONDS = Accepts(NON_NEGATIVE.test, "seconds, a number >= 0")
POSITIVE = Accepts(lambda v: _is_number(v) and v > 0, "a number above 0")
TRIALS = Accepts(
    lambda v: _is_number(v) and (v in (-1, math.inf) or (v >= 0 and v == int(v))),
    "a whole number >= 0, or -1 (or math.inf) to repeat until stopped",
)

RANDOM = Accepts(lambda v: v is None or isinstance(v, random.Random),
                 "a random.Random (seeded for reproducible draws), or None")


def whole_number(low: int, high: float = math.inf) -> Accepts:
    """Whole numbers from ``low`` to ``high``."""
    words = f"a whole number >= {low}" if high == math.inf else (
        f"a whole number from {low} to {high}")
    return Accepts(lambda v: _is_number(v) and v == int(v) and low <= v <= high, words)


class _Checked:
    """Makes a Kivy property check its values: each must pass ``accepts`` when set.

    A refused value raises :class:`InvalidArgument` naming the object, the
    property, the value and ``accepts.words``; the property keeps its old value.
    The default is not checked.
    """

    def __init__(self, default: Any, accepts: Accepts, **kwargs: Any) -> None:
        super().__init__(default, **kwargs)
        self.accepts = accepts

    def set(self, obj: Any, value: Any) -> Any:
        check_value(obj, self.name, value, self.accepts)
        return super().set(obj, value)


class CheckedNumericProperty(_Checked, NumericProperty):
    """A :class:`NumericProperty` that checks its values (see :class:`_Checked`)."""


class CheckedBooleanProperty(_Checked, BooleanProperty):
    """A :class:`BooleanProperty` that checks its values (see :class:`_Checked`)."""


def check_value(obj: Any, key: str, value: Any, accepts: Accepts) -> None:
    """Raise :class:`InvalidArgument` naming ``obj``, ``key`` and ``value`` unless
    ``accepts`` accepts ``value``."""
    if not accepts.test(value):
        raise InvalidArgument(
            f"{describe(obj)}: {key}={value!r} is not accepted; give {accepts.words}"
        )


def check_range(obj: Any, low: str, high: str) -> None:
    """Raise :class:`InvalidArgument` unless ``obj.<low> <= obj.<high>``."""
    lo, hi = getattr(obj, low), getattr(obj, high)
    if lo > hi:
        raise InvalidArgument(
            f"{describe(obj)}: {low}={lo!r} is above {high}={hi!r}; give {low} <= {high}"
        )


# -------------------------------------------------------------------- names


def constructor_parameters(cls: type) -> set[str]:
    """The names of the keyword-capable parameters of the constructors in ``cls``'s MRO."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if not inspect.isfunction(init):  # object's, Kivy's: no named parameters
            continue
        params = list(inspect.signature(init).parameters.values())[1:]
        names.update(p.name for p in params if p.kind in _PARAMETER_KINDS)
    return names


def declared_arguments(cls: type) -> set[str]:
    """What a remote ``create`` may give ``cls``: its properties and constructor
    parameters, private names and the state it keeps itself (``_state_names_``) left out."""
    names = set(_properties(cls)) | constructor_parameters(cls)
    state = getattr(cls, "_state_names_", {})
    return {name for name in names if not name.startswith("_") and name not in state}


def _properties(cls: type) -> list[str]:
    return [name for name in dir(cls) if isinstance(getattr(cls, name, None), Property)]


def _is_library(cls: type) -> bool:
    module = cls.__module__
    return (module == "moalab" or module.startswith("moalab.")) and not module.startswith(
        "moalab.examples")


def _user_attributes(cls: type) -> set[str]:
    """Public plain class attributes (annotated or assigned) of the user classes in the
    MRO; methods, properties and other descriptors are not plain attributes."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or _is_library(klass):
            continue
        body = vars(klass)
        for name in (*body, *body.get("__annotations__", {})):
            if not name.startswith("_") and not hasattr(type(body.get(name)), "__get__"):
                names.add(name)
    return names


def check_extra_arguments(cls: type, properties: Iterable[str], extra: Mapping[str, Any],
                          owner: str) -> None:
    """Raise :class:`InvalidArgument` for a keyword argument of ``cls`` that is none of
    ``properties`` and that ``cls`` does not accept (see the module docstring).

    ``extra`` holds the arguments that are not properties; ``owner`` names the
    object in messages.
    """
    declared = set(properties) | constructor_parameters(cls)
    user = _user_attributes(cls)
    accepted = sorted(name for name in declared | user if not name.startswith("_"))
    lenient = not _is_library(cls)
    for key in extra:
        if key in declared or key in user:
            continue
        close = difflib.get_close_matches(key, accepted, n=3)
        reasons = []
        if lenient:
            if key.startswith("_"):
                reasons.append("private names cannot be set")
            elif hasattr(cls, key):
                reasons.append(f"it is already an attribute of {cls.__name__}")
            elif not close:
                continue  # a new attribute, the way PyMoa's guide configures a subclass
        if close:
            could_be_new = lenient and not reasons
            reasons.append(f"did you mean {' or '.join(map(repr, close))}?")
            if could_be_new:
                reasons[-1] += f" (to set a new attribute {key!r}, declare it in the class body)"
        else:
            reasons.append(f"{cls.__name__} accepts {', '.join(accepted)}")
        raise InvalidArgument(f"{owner}: unknown argument {key}={extra[key]!r}; "
                              + "; ".join(reasons))
