"""moalab.loop against AutoRA itself, in a separate environment with autora-core
5.0.3 (which pins numpy<2, so it cannot be moalab's dependency): the same deltas and
on_state steps give the same states in AutoRA's state module and in moalab's; and the
seed's loop runs in AutoRA's own StandardState, Delta, on_state and
estimator_on_state with moalab's experimentalists, Q-learning equations and theorist
(plain functions and an estimator).

The environment is built once (~40 s) and kept under ~/.cache/moalab-tests/.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, require

AUTORA = ["autora-core==5.0.3", "numpy<2", "scipy"]
"""What the environment holds: AutoRA's core, its numpy, and the theorist's scipy
(scikit-learn and pandas come with autora-core)."""

CACHE = Path.home() / ".cache" / "moalab-tests" / (
    f"autora-core-5.0.3-py{sys.version_info.major}.{sys.version_info.minor}")

ENTER_MOALAB = r'''
import json, sys, types
from dataclasses import dataclass, field
from pathlib import Path

# moalab/__init__.py imports the whole runtime (kivy, trio, quart, ...), which
# AutoRA's environment does not have: moalab.loop's state, experimentalists,
# equations and theorist need only numpy, pandas, scipy, scikit-learn and
# moalab.core.errors, so the package is entered without it
package = types.ModuleType("moalab")
package.__path__ = [str(Path(sys.argv[1]) / "moalab")]
sys.modules["moalab"] = package
'''

SAME_SEMANTICS = ENTER_MOALAB + r'''
import autora.state
import autora.variable
import pandas as pd

import moalab.loop.state
import moalab.loop.variables


def scenario(S, V):
    """The same deltas and on_state steps on one implementation; what they made."""
    @dataclass(frozen=True)
    class RnnState(S.StandardState):
        models_additional: list = field(default_factory=list, metadata={"delta": "extend"})

    out = []
    s = RnnState(variables=V.VariableCollection(
        independent_variables=[V.Variable(name="x")], dependent_variables=[V.Variable(name="y")]))
    s = s + S.Delta(conditions=[(1,), (2,)])
    out.append(s.conditions.to_json())
    s = s + S.Delta(experiment_data=pd.DataFrame({"x": [1, 2], "y": [3, 4]}))
    s = s + S.Delta(experiment_data=[{"x": 5, "y": 6}])
    s = s + S.Delta(experiment_data=pd.DataFrame({"z": [7]}))
    out.append(s.experiment_data.to_json())
    s = s + S.Delta(model="m1") + S.Delta(models=["m2"], models_additional=["a"])
    out.append([s.models, s.models_additional, s.model, s.iv_names, s.X.to_json()])

    @S.on_state()
    def step(conditions, num, state, offset=1):
        assert state is not None
        return S.Delta(conditions=conditions + offset * num)

    out.append([step(s, num=2).conditions.to_json(), s.conditions.to_json(),
                step(s, num=2, offset=10, conditions=pd.DataFrame({"c": [0]})).conditions.to_json()])

    @S.on_state(output=["conditions", "models"])
    def two(X):
        return X * 2, ["m3"]

    @S.on_state(input_mapping={"data": "experiment_data"}, output=["models_additional"])
    def mapped(data):
        return [float(data["y"].sum())]

    @S.on_state
    def as_dict(y):
        return {"models": [int(y["y"].count())]}

    out.append([two(s).conditions.to_json(), two(s).models, mapped(s).models_additional,
                as_dict(s).models])
    return json.dumps(out, default=str)


autora_result = scenario(autora.state, autora.variable)
moalab_result = scenario(moalab.loop.state, moalab.loop.variables)
print(json.dumps({"autora": autora_result, "moalab": moalab_result}))
'''

SCRIPT = ENTER_MOALAB + r'''
import autora.state
import numpy as np
import pandas as pd
from autora.state import Delta, StandardState, estimator_on_state, on_state
from autora.variable import Variable, VariableCollection

from moalab.loop.experimentalists import (
    bandit_random_pool, model_disagreement_sampler_custom_distance)
from moalab.loop.qlearning import QParams, simulate
from moalab.loop.theorist import QLearningTheorist


@dataclass(frozen=True)
class RnnState(StandardState):
    models_additional: list = field(default_factory=list, metadata={"delta": "extend"})


TRUE = QParams(learning_rate=0.3, decision_noise=4.0)
rng = np.random.default_rng(0)
theorist = QLearningTheorist()
theorist_additional = QLearningTheorist(
    fit_parameters=("learning_rate", "decision_noise", "forget_rate", "perseverance_bias"))


@on_state()
def pool_on_state(num_samples, n_trials=100):
    pool = bandit_random_pool(num_rewards=2, sequence_length=n_trials,
                              initial_probabilities=[[0.2, 0.8], [0.2, 0.8]],
                              sigmas=[0.2, 0.2], num_samples=num_samples,
                              random_state=int(rng.integers(1 << 30)))
    return Delta(conditions=pd.DataFrame({"reward-trajectory": pool}))


def custom_distance(a, b):
    return np.mean([(a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2])


@on_state()
def model_disagreement_on_state(conditions, models, models_additional, num_samples):
    conditions = model_disagreement_sampler_custom_distance(
        conditions=conditions["reward-trajectory"],
        models=[models[-1], models_additional[-1]],
        distance_fct=custom_distance, num_samples=num_samples)
    return Delta(conditions=conditions)


@on_state()
def runner_on_state(conditions):
    rewards = np.stack(conditions["reward-trajectory"].tolist())
    choices, probabilities = simulate(rewards, TRUE, rng)
    return Delta(experiment_data=pd.DataFrame({
        "reward-trajectory": list(rewards), "choice-trajectory": list(choices),
        "choice-probability-trajectory": list(probabilities)}))


@on_state()
def theorist_on_state(experiment_data):
    x, y = experiment_data["reward-trajectory"], experiment_data["choice-trajectory"]
    return Delta(models=[theorist.fit(x, y)])


@on_state()
def theorist_additional_on_state(experiment_data):
    x, y = experiment_data["reward-trajectory"], experiment_data["choice-trajectory"]
    return Delta(models_additional=[theorist_additional.fit(x, y)])


variables = VariableCollection(independent_variables=[Variable(name="reward-trajectory")],
                               dependent_variables=[Variable(name="choice-trajectory")])
state = RnnState(variables=variables)
for cycle in range(2):
    if state.models:
        state = pool_on_state(state, num_samples=20)
        state = model_disagreement_on_state(state, num_samples=10)
    else:
        state = pool_on_state(state, num_samples=40)
    state = runner_on_state(state)
    state = theorist_on_state(state)
    state = theorist_additional_on_state(state)

plain = estimator_on_state(QLearningTheorist())(
    StandardState(variables=variables, experiment_data=state.experiment_data))
print(json.dumps({
    "numpy": np.__version__, "state_module": autora.state.__file__,
    "state_type": type(state).__name__, "rows": len(state.experiment_data),
    "models": [m.params_ for m in state.models],
    "distinct_models": len({id(m) for m in state.models}),
    "models_additional": [m.params_ for m in state.models_additional],
    "estimator_on_state": plain.models[-1].params_,
}))
'''


def _build(target: Path) -> None:
    """Make the environment in a temporary folder beside ``target``, then move it
    there, so an interrupted build leaves no half-made environment."""
    building = target.with_name(f"{target.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "-q",
                        *AUTORA], check=True, capture_output=True, timeout=600)
        building.rename(target)
    finally:
        shutil.rmtree(building, ignore_errors=True)


@pytest.fixture(scope="session")
def autora_python() -> tuple[Path | None, str]:
    """The Python of an environment with autora-core 5.0.3, or None and why it
    could not be made here (pip could not reach its index, say)."""
    python = CACHE / "bin" / "python"
    if not python.exists():
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        try:
            _build(CACHE)
        except (subprocess.SubprocessError, OSError) as error:
            output = (getattr(error, "stderr", None) or b"").decode(errors="replace")
            return None, f"{error}: {output[-800:]}"
    return python, ""


def run_in_autora(autora_python: tuple[Path | None, str], script: str) -> dict:
    """Run ``script`` in the AutoRA environment (the repository as its argument);
    its last line of output, as JSON."""
    python, why = autora_python
    require(python is not None, f"no autora-core 5.0.3 environment: {why}")
    done = subprocess.run([str(python), "-c", script, str(REPO)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": ""},
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_state_semantics_equal_autoras(autora_python):
    result = run_in_autora(autora_python, SAME_SEMANTICS)
    assert json.loads(result["moalab"]) == json.loads(result["autora"])


def test_the_seeds_loop_runs_in_autoras_own_state(autora_python):
    result = run_in_autora(autora_python, SCRIPT)
    assert result["numpy"].startswith("1.")
    assert "autora" in result["state_module"] and result["state_type"] == "RnnState"
    assert result["rows"] == 50  # 40 subjects, then the 10 conditions picked
    assert result["distinct_models"] == 2 and len(result["models_additional"]) == 2
    first = result["models"][0]  # fitted on the first cycle's 40 x 100 trials
    assert first["learning_rate"] == pytest.approx(0.3, rel=0.1)
    assert first["decision_noise"] == pytest.approx(4.0, rel=0.1)
    assert result["models"][1] != first  # each model kept its own fit
    assert set(result["models_additional"][1]) == {
        "learning_rate", "decision_noise", "forget_rate", "perseverance_bias"}
    assert result["estimator_on_state"]["learning_rate"] == pytest.approx(
        result["models"][1]["learning_rate"], rel=1e-6)
