"""The closed loop's state, with AutoRA's semantics (``autora.state``): a frozen
dataclass changed only by adding a :class:`Delta`, which makes a new state.

Each field says in its metadata how a Delta changes it: ``{"delta": "replace"}``
(the new value replaces the old), ``"extend"`` (a list gains the new items, a
DataFrame the new rows, an array the new rows, a dict the new keys) or ``"append"``
(a list gains the new value as one item); ``"converter"`` coerces the new value first
(``pd.DataFrame`` for conditions and data) and ``"aliases"`` maps other Delta keys
onto the field (``model=m`` is ``models=[m]``). :func:`on_state` turns a plain
function into a step of the loop: its arguments come from the state's fields by name.
"""

from __future__ import annotations

import copy
import functools
import inspect
import warnings
from collections import UserDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any, Self, TypeVar

import numpy as np
import pandas as pd

from ..core.errors import InvalidArgument
from .variables import VariableCollection

__all__ = ("Delta", "StandardState", "State", "on_state")

DELTA_BEHAVIOURS = ("replace", "extend", "append")
"""The values a field's ``metadata["delta"]`` may take."""

S = TypeVar("S", bound="State")


class Delta(UserDict):
    """A change to a :class:`State`: field names (or aliases) and their new values;
    how each is merged is the field's business."""


def _field_value(f: Field, delta: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The value ``delta`` gives field ``f`` (by its name first, then by its aliases,
    in their order) and the key it came under; ``(None, None)`` if none."""
    if f.name in delta:
        return delta[f.name], f.name
    for alias, wrap in f.metadata.get("aliases", {}).items():
        if alias in delta:
            return wrap(delta[alias]), alias
    return None, None


@functools.singledispatch
def _extend(old: Any, new: Any) -> Any:
    raise InvalidArgument(
        f"cannot extend a {type(old).__name__} with a {type(new).__name__}: an extend "
        "field holds a list, a DataFrame, an array, a dict or None")


@_extend.register(type(None))
def _(old: None, new: Any) -> Any:
    return new


@_extend.register(list)
def _(old: list, new: Any) -> list:
    return old + list(new)


@_extend.register(pd.DataFrame)
def _(old: pd.DataFrame, new: Any) -> pd.DataFrame:
    # rows are renumbered, as AutoRA does: a row's index is its place in the data
    return pd.concat((old, pd.DataFrame(new)), ignore_index=True)


@_extend.register(np.ndarray)
def _(old: np.ndarray, new: Any) -> np.ndarray:
    return np.vstack([old, new])


@_extend.register(dict)
def _(old: dict, new: Mapping) -> dict:
    return {**old, **new}


@dataclass(frozen=True)
class State:
    """Base of the loop's states: a frozen dataclass whose fields declare their delta
    behaviour. ``state + delta`` (or ``state.update(**values)``) returns a new state;
    the old one is unchanged.

    A key that names no field or alias is ignored with a warning (as in AutoRA). A
    field with no or an unknown ``"delta"`` metadata raises
    :class:`~moalab.InvalidArgument` when a Delta gives it a value.
    """

    def __add__(self, delta: Mapping[str, Any]) -> Self:
        if not isinstance(delta, Mapping):
            raise InvalidArgument(
                f"{type(self).__name__} + {type(delta).__name__}: add a Delta or a dict "
                "of field names and values")
        changes = {}
        unused = set(delta)
        for f in fields(self):
            value, key = _field_value(f, delta)
            if key is None or value is None:
                continue
            unused.discard(key)
            behaviour = f.metadata.get("delta")
            if behaviour not in DELTA_BEHAVIOURS:
                raise InvalidArgument(
                    f"{type(self).__name__}.{f.name} has delta behaviour {behaviour!r}: "
                    f"declare field(metadata={{'delta': ...}}) with one of "
                    f"{', '.join(DELTA_BEHAVIOURS)}")
            if (convert := f.metadata.get("converter")) is not None:
                value = convert(value)
            old = getattr(self, f.name)
            if behaviour == "extend":
                changes[f.name] = _extend(old, value)
            elif behaviour == "append":
                changes[f.name] = [*(old or []), value]
            else:
                changes[f.name] = value
        if unused:
            warnings.warn(
                f"{type(self).__name__} has no field or alias {sorted(unused)!r}: these "
                f"Delta keys were ignored (fields and aliases: {_names(self)!r})",
                stacklevel=2)
        return replace(self, **changes)

    def update(self, **values: Any) -> Self:
        """The state plus ``Delta(**values)``."""
        return self + Delta(values)

    def copy(self) -> Self:
        """A deep copy: no field of the copy shares a mutable object with this one."""
        return replace(self, **{f.name: copy.deepcopy(getattr(self, f.name))
                                for f in fields(self)})


def _names(state: State) -> list[str]:
    """The state's field names and their aliases."""
    return [name for f in fields(state) for name in (f.name, *f.metadata.get("aliases", {}))]


def _readable(state: State) -> list[str]:
    """What an :func:`on_state` function may take from ``state``: its fields, aliases
    and properties (``X``, ``y``, ``model`` of a :class:`StandardState`)."""
    properties = [name for name in dir(type(state))
                  if isinstance(getattr(type(state), name), property)]
    return [f.name for f in fields(state)] + properties


@dataclass(frozen=True)
class StandardState(State):
    """The state of a usual study: its variables, the conditions to run next
    (replaced), the data gathered so far (extended, rows concatenated) and the models
    fitted (extended; ``Delta(model=m)`` appends one)."""

    variables: VariableCollection | None = field(
        default=None, metadata={"delta": "replace"})
    conditions: pd.DataFrame | None = field(
        default=None, metadata={"delta": "replace", "converter": pd.DataFrame})
    experiment_data: pd.DataFrame | None = field(
        default=None, metadata={"delta": "extend", "converter": pd.DataFrame})
    models: list[Any] = field(
        default_factory=list,
        metadata={"delta": "extend", "aliases": {"model": lambda model: [model]}})

    @property
    def iv_names(self) -> list[str]:
        """The names of the independent variables."""
        if self.variables is None:
            return []
        return [v.name for v in self.variables.independent_variables]

    @property
    def dv_names(self) -> list[str]:
        """The names of the dependent variables."""
        if self.variables is None:
            return []
        return [v.name for v in self.variables.dependent_variables]

    @property
    def X(self) -> pd.DataFrame:
        """The independent variables' columns of the experiment data."""
        if self.experiment_data is None:
            return pd.DataFrame()
        return self.experiment_data[self.iv_names]

    @property
    def y(self) -> pd.DataFrame:
        """The dependent variables' columns of the experiment data."""
        if self.experiment_data is None:
            return pd.DataFrame()
        return self.experiment_data[self.dv_names]

    @property
    def model(self) -> Any:
        """The last model fitted, or None."""
        return self.models[-1] if self.models else None


def _as_delta(function: Callable, result: Any, output: Sequence[str] | None) -> Mapping:
    """``result`` of ``function`` as a Delta: named by ``output`` if given, else it
    must be a Delta or a dict already."""
    name = getattr(function, "__qualname__", repr(function))
    if output is None:
        if not isinstance(result, Mapping):
            raise InvalidArgument(
                f"on_state function {name} returned a {type(result).__name__}: return a "
                "Delta or a dict, or name the fields its values go to with "
                "on_state(output=[...])")
        return result
    if len(output) == 1:
        return Delta({output[0]: result})
    if not isinstance(result, tuple) or len(result) != len(output):
        got = len(result) if isinstance(result, tuple) else f"one {type(result).__name__}"
        raise InvalidArgument(
            f"on_state function {name} returned {got} values for output={list(output)!r}: "
            f"return a tuple of {len(output)}")
    return Delta(dict(zip(output, result, strict=True)))


def on_state(function: Callable | None = None, input_mapping: Mapping[str, str] | None = None,
             output: Sequence[str] | None = None) -> Callable:
    """Make ``function`` a step of the loop: ``step(state, **overrides) -> new state``.

    The function's parameters are filled from the state's fields, aliases and
    properties of the same name (``input_mapping`` maps a parameter to a field of
    another name; a parameter named ``state`` receives the state itself); keyword
    arguments given to the step override them. Its return value, a Delta or a dict (or
    any value(s) named by ``output``), is added to the state, making a new one; the
    input state is unchanged. Used bare (``@on_state``) or called
    (``@on_state(output=["conditions"])``), as in AutoRA.

    Raises :class:`~moalab.InvalidArgument` for an ``input_mapping`` key that is not a
    parameter, or a return value that is no Delta.
    """
    mapping = dict(input_mapping or {})

    def decorate(f: Callable) -> Callable:
        parameters = set(inspect.signature(f).parameters)
        if strays := sorted(set(mapping) - parameters):
            raise InvalidArgument(
                f"on_state({getattr(f, '__qualname__', f)}): input_mapping keys {strays!r} "
                f"are not its parameters {sorted(parameters)!r}")
        field_of = {p: mapping.get(p, p) for p in parameters}

        @functools.wraps(f)
        def step(state: S, /, **overrides: Any) -> S:
            readable = set(_readable(state))
            arguments = {p: getattr(state, name) for p, name in field_of.items()
                         if name in readable}
            if "state" in parameters:
                arguments["state"] = state
            return state + _as_delta(f, f(**{**arguments, **overrides}), output)

        return step

    return decorate if function is None else decorate(function)
