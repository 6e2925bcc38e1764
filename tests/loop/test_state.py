"""moalab.loop.state: AutoRA's State/Delta/on_state semantics, and the seed's
RnnState (a StandardState with a models_additional field of delta "extend")."""

import warnings
from dataclasses import FrozenInstanceError, dataclass, field

import numpy as np
import pandas as pd
import pytest

from moalab import InvalidArgument
from moalab.loop import (
    Delta,
    StandardState,
    State,
    Variable,
    VariableCollection,
    on_state,
)


@dataclass(frozen=True)
class RnnState(StandardState):
    models_additional: list = field(default_factory=list, metadata={"delta": "extend"})


VARIABLES = VariableCollection(independent_variables=[Variable(name="reward-trajectory")],
                               dependent_variables=[Variable(name="choice-trajectory")])


def test_the_seeds_rnn_state_extends_both_model_lists():
    state = RnnState(variables=VARIABLES)
    assert state.models == [] and state.models_additional == [] and state.model is None
    later = state + Delta(models=["m1"]) + Delta(models_additional=["a1"])
    later = later + Delta(models=["m2"], models_additional=["a2"])
    assert later.models == ["m1", "m2"] and later.models_additional == ["a1", "a2"]
    assert later.model == "m2" and later.variables is VARIABLES
    assert isinstance(later, RnnState)
    assert state.models == [] and state.models_additional == []  # unchanged
    with pytest.raises(FrozenInstanceError):
        state.models = ["x"]


def test_conditions_replace_and_experiment_data_extend_by_rows():
    trajectories = [np.zeros((4, 2)), np.ones((4, 2))]
    state = StandardState(variables=VARIABLES)
    state = state + Delta(conditions=pd.DataFrame({"reward-trajectory": trajectories}))
    state = state + Delta(conditions=pd.DataFrame({"reward-trajectory": trajectories[:1]}))
    assert len(state.conditions) == 1
    first = pd.DataFrame({"reward-trajectory": trajectories, "choice-trajectory": [1, 2]})
    # a list of dicts (the seed's Firebase runner returns one) is made a DataFrame
    second = [{"reward-trajectory": trajectories[0], "choice-trajectory": 3}]
    extended = state + Delta(experiment_data=first) + Delta(experiment_data=second)
    assert list(extended.experiment_data.index) == [0, 1, 2]
    assert list(extended.experiment_data["choice-trajectory"]) == [1, 2, 3]
    assert list(extended.X.columns) == ["reward-trajectory"]
    assert list(extended.y["choice-trajectory"]) == [1, 2, 3]
    assert state.experiment_data is None


def test_append_alias_and_unknown_keys():
    @dataclass(frozen=True)
    class Log(State):
        events: list = field(default_factory=list, metadata={"delta": "append"})

    assert (Log(events=["a"]) + Delta(events=["b", "c"])).events == ["a", ["b", "c"]]
    assert (StandardState() + Delta(model="m")).models == ["m"]
    with pytest.warns(UserWarning, match="'modles'"):
        same = StandardState() + Delta(modles=["m"])
    assert same.models == []


def test_a_field_without_delta_behaviour_is_named():
    @dataclass(frozen=True)
    class Plain(State):
        x: int = 0

    with pytest.raises(InvalidArgument, match="Plain.x has delta behaviour None"):
        Plain() + {"x": 1}


def test_on_state_takes_arguments_from_fields_and_overrides():
    seen = {}

    @on_state()
    def pool(conditions, variables, num_samples, n_trials=3):
        seen.update(conditions=conditions, variables=variables, n=(num_samples, n_trials))
        return Delta(conditions=pd.DataFrame({"x": range(num_samples)}))

    state = StandardState(variables=VARIABLES, conditions=pd.DataFrame({"x": [9]}))
    new = pool(state, num_samples=2)
    assert seen["variables"] is VARIABLES and list(seen["conditions"]["x"]) == [9]
    assert seen["n"] == (2, 3) and list(new.conditions["x"]) == [0, 1]
    assert list(state.conditions["x"]) == [9]  # the input state unchanged
    other = pd.DataFrame({"x": [7, 8]})
    pool(state, conditions=other, num_samples=1, n_trials=5)
    assert seen["conditions"] is other and seen["n"] == (1, 5)


def test_on_state_return_kinds():
    state = StandardState(conditions=pd.DataFrame({"x": [1, 2]}))

    @on_state
    def as_dict(conditions):
        return {"conditions": conditions * 10}

    @on_state(output=["conditions"])
    def plain(conditions):
        return conditions + 1

    @on_state(input_mapping={"c": "conditions"}, output=["conditions", "models"])
    def two(c, state):
        assert state is not None
        return c - 1, ["m"]

    assert list(as_dict(state).conditions["x"]) == [10, 20]
    assert list(plain(state).conditions["x"]) == [2, 3]
    after = two(state)
    assert list(after.conditions["x"]) == [0, 1] and after.models == ["m"]

    @on_state()
    def forgot_delta(conditions):
        return conditions

    with pytest.raises(InvalidArgument, match="forgot_delta.*output=\\[...\\]"):
        forgot_delta(state)
    with pytest.raises(InvalidArgument, match="input_mapping keys \\['nope'\\]"):
        on_state(lambda conditions: {}, input_mapping={"nope": "conditions"})


def test_update_and_copy():
    state = StandardState(experiment_data=pd.DataFrame({"x": [1]}))
    assert list(state.update(experiment_data={"x": [2]}).experiment_data["x"]) == [1, 2]
    copied = state.copy()
    copied.experiment_data.loc[0, "x"] = 5
    assert state.experiment_data.loc[0, "x"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state.update(models=[])
