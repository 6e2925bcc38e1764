"""examples/closed_loop_bandit.py, the seed's workflow, end to end with small constants
(its environment): synthetic subjects and the lab's rigs in a dry run, checkpointed by
`moalab loop run`'s runner in process; and as a plain script (its own for-loop)."""

import subprocess
import sys

import numpy as np
import pytest

from moalab.loop.workflow import Checkpoints, load_workflow, run_workflow
from moalab.store.lab import LAB_ENV, Lab
from tests.conftest import REPO

from ..cli.helpers import env

EXAMPLE = REPO / "examples" / "closed_loop_bandit.py"
SMALL = {"BANDIT_TRIALS": "30", "BANDIT_PARTICIPANTS": "6", "BANDIT_CYCLES": "2",
         "BANDIT_POOL": "5"}


@pytest.fixture
def lab(tmp_path, monkeypatch):
    lab = Lab.init(tmp_path / "lab")
    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(LAB_ENV, str(lab.folder))  # as `moalab loop run --lab` sets it
    yield lab
    lab.close()


@pytest.mark.parametrize("runner", ["synthetic", "moalab"])
def test_the_seed_workflow_runs_its_cycles(lab, monkeypatch, runner):
    monkeypatch.setenv("RUNNER_TYPE", runner)
    state = run_workflow(load_workflow(EXAMPLE), lab, 2)
    names = [r.name for r in Checkpoints(lab, "closed_loop_bandit").records()]
    assert names == [
        "pool_on_state(num_samples=1)", f"runner_on_state_{runner}", "theorist_on_state",
        "theorist_additional_on_state", "pool_on_state(num_samples=5)",
        "model_disagreement_on_state(num_samples=1)", f"runner_on_state_{runner}",
        "theorist_on_state", "theorist_additional_on_state"]
    data = state.experiment_data
    assert len(data) == 12 and len(state.models) == len(state.models_additional) == 2
    assert all(np.asarray(c).shape == (30, 2) for c in data["choice-trajectory"])
    assert set(state.models_additional[-1].params_) == {
        "learning_rate", "decision_noise", "forget_rate"}
    if runner == "moalab":  # a session per subject and cycle, on the lab's rigs
        sessions = lab.database.list_sessions()
        assert len(sessions) == 12 and {s.status for s in sessions} == {"submitted"}
        assert {s.rig for s in sessions} <= {"box-1", "box-2", "box-3", "box-4"}
        assert sorted(data["session"]) == sorted(s.id for s in sessions)


def test_the_example_runs_as_a_plain_script(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path,
                            env={**env(), **SMALL}, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "# cycle 2 #" in result.stdout and "forget_rate = " in result.stdout


def conditions_of_each_cycle(cycles):
    """The conditions each cycle of a fresh load of the example ran (synthetic runner)."""
    workflow, ran = load_workflow(EXAMPLE), []
    state = workflow.state
    for number in range(1, cycles + 1):
        for step in workflow.steps(state, number):
            state = step(state)
        ran.append(np.stack(state.conditions["reward-trajectory"].tolist()))
    return ran


def test_its_seed_makes_the_conditions_the_same_in_two_runs(monkeypatch):
    # "seed = 11 for reproducible results": the random pool is drawn from it
    for key, value in {**SMALL, "RUNNER_TYPE": "synthetic"}.items():
        monkeypatch.setenv(key, value)
    first, second = conditions_of_each_cycle(2), conditions_of_each_cycle(2)
    assert [c.shape for c in first] == [(1, 30, 2), (1, 30, 2)]
    for a, b in zip(first, second, strict=True):
        assert (a == b).all()
    assert not (first[0] == first[1]).all()  # each cycle's pool is a new one
