"""The variables of a closed-loop study, with AutoRA's names and fields
(``autora.variable``): what an experimentalist varies, what a runner measures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..core.errors import InvalidArgument

__all__ = ("ValueType", "Variable", "VariableCollection")


class ValueType(str, Enum):
    """The kind of values a :class:`Variable` takes (AutoRA's names and values)."""

    REAL = "real"
    SIGMOID = "sigmoid"
    PROBABILITY = "probability"
    PROBABILITY_SAMPLE = "probability_sample"
    PROBABILITY_DISTRIBUTION = "probability_distribution"
    CLASS = "class"
    MATRIX = "matrix"


@dataclass
class Variable:
    """One variable of a study: its name (the column of conditions and
    experiment_data), the range or the values it may take, its units and label.

    ``value_range``, when given, is ``(low, high)`` with ``low <= high``; raises
    :class:`~moalab.InvalidArgument` otherwise.
    """

    name: str = ""
    value_range: tuple[Any, Any] | None = None
    allowed_values: Sequence[Any] | None = None
    units: str = ""
    type: ValueType = ValueType.REAL
    variable_label: str = ""
    rescale: float = 1
    is_covariate: bool = False

    def __post_init__(self) -> None:
        if self.value_range is not None and (
                len(self.value_range) != 2 or self.value_range[0] > self.value_range[1]):
            raise InvalidArgument(
                f"Variable {self.name!r}: value_range={self.value_range!r} is not "
                "(low, high) with low <= high")


@dataclass(frozen=True)
class VariableCollection:
    """The independent and dependent variables of a study, and its covariates."""

    independent_variables: Sequence[Variable] = field(default_factory=list)
    dependent_variables: Sequence[Variable] = field(default_factory=list)
    covariates: Sequence[Variable] = field(default_factory=list)
