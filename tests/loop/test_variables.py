"""moalab.loop.variables: AutoRA's Variable and VariableCollection fields."""

import pytest

from moalab import InvalidArgument
from moalab.loop import Variable, VariableCollection
from moalab.loop.variables import ValueType


def test_fields_and_defaults_are_autoras():
    v = Variable(name="reward-trajectory")
    assert (v.value_range, v.allowed_values, v.units, v.type, v.variable_label,
            v.rescale, v.is_covariate) == (None, None, "", ValueType.REAL, "", 1, False)
    collection = VariableCollection(independent_variables=[v])
    assert collection.dependent_variables == [] and collection.covariates == []
    assert ValueType("probability") is ValueType.PROBABILITY


def test_a_reversed_range_is_refused_by_name():
    with pytest.raises(InvalidArgument, match="'x'.*value_range=\\(2, 1\\)"):
        Variable(name="x", value_range=(2, 1))
