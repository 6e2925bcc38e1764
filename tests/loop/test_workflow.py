"""Checkpointed workflows (moalab.loop.workflow), in process: cycles planned from the
state, a checkpoint per step, a resume after a step's failure equal to an uninterrupted
run, and the errors of a bad workflow. The kill -9 test is tests/cli/test_loop.py."""

import functools
import json
import sys

import numpy as np
import pytest

from moalab.core.errors import InvalidArgument
from moalab.loop.workflow import (
    Checkpoints,
    LoopBusy,
    latest_state,
    load_workflow,
    run_workflow,
    step_name,
)
from moalab.store.lab import Lab

WORKFLOW = '''\
"""A small closed loop: a random schedule a cycle, random subjects, a mean-choice model.

With $WORKFLOW_CUT set to a file that does not exist, cycle 2's runner step makes it
after its first subject, then hangs ($WORKFLOW_CUT_HOW=hang) or raises."""

import dataclasses
import functools
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

np.random.seed(7)
TRIALS, SUBJECTS = 10, 3
CYCLES = 3


@dataclasses.dataclass(frozen=True)
class LoopState:
    conditions: list = dataclasses.field(default_factory=list)
    experiment_data: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    models: list = dataclasses.field(default_factory=list)


class MeanChoice:
    """A model of this file's own (its pickle needs the file imported)."""

    def fit(self, x, y):
        fitted = MeanChoice()
        fitted.params_ = {"p_arm_1": float(np.mean([np.asarray(c)[:, 1].mean() for c in y])),
                          "n": float(len(y))}
        return fitted

    def predict(self, x):
        p = self.params_["p_arm_1"]
        return [np.tile([1 - p, p], (len(s), 1)) for s in x]


def pool(state, num_samples=1):
    schedules = [(np.random.random((TRIALS, 2)) < 0.5).astype(int) for _ in range(num_samples)]
    return dataclasses.replace(state, conditions=schedules)


def pick_last(state):
    return dataclasses.replace(state, conditions=state.conditions[-1:])


def run_subjects(state, subjects):
    rows = []
    for subject in range(subjects):
        choices = np.random.randint(0, 2, TRIALS)
        rows.append({"cycle": len(state.models) + 1, "subject": subject,
                     "reward-trajectory": state.conditions[-1],
                     "choice-trajectory": np.eye(2, dtype=int)[choices]})
        cut = os.environ.get("WORKFLOW_CUT")
        if cut and len(state.models) == 1 and not Path(cut).exists():
            Path(cut).write_text("cut in cycle 2's runner step")
            if os.environ.get("WORKFLOW_CUT_HOW") == "hang":
                time.sleep(120)
            raise RuntimeError("the runner failed half way")
    data = pd.concat([state.experiment_data, pd.DataFrame(rows)], ignore_index=True)
    return dataclasses.replace(state, experiment_data=data)


def theorist(state):
    data = state.experiment_data
    model = MeanChoice().fit(data["reward-trajectory"], data["choice-trajectory"])
    return dataclasses.replace(state, models=[*state.models, model])


def cycle(state):
    sample = ([functools.partial(pool, num_samples=3), pick_last] if state.models
              else [pool])
    return [*sample, functools.partial(run_subjects, subjects=SUBJECTS), theorist]


state = LoopState()

if __name__ == "__main__":
    raise SystemExit("not run by moalab loop run")
'''
"""The test workflow (tests/cli/test_loop.py runs it too)."""


def write_workflow(folder, text=WORKFLOW, name="bandit"):
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


def rows(state):
    """The experiment data as comparable tuples: (cycle, subject, rewards, choices)."""
    data = state.experiment_data
    return [(int(r["cycle"]), int(r["subject"]), np.asarray(r["reward-trajectory"]).tolist(),
             np.asarray(r["choice-trajectory"]).tolist()) for _, r in data.iterrows()]


def test_cycles_run_their_planned_steps_and_each_is_checkpointed(lab, tmp_path):
    workflow = load_workflow(write_workflow(tmp_path))
    seen = []
    state = run_workflow(workflow, lab, 3, on_step=seen.append)
    records = Checkpoints(lab, "bandit").records()
    assert seen == records
    assert [(r.cycle, r.name) for r in records] == [
        (1, "pool"), (1, "run_subjects(subjects=3)"), (1, "theorist"),
        *[(c, name) for c in (2, 3) for name in (
            "pool(num_samples=3)", "pick_last", "run_subjects(subjects=3)", "theorist")]]
    assert [r.number for r in records] == list(range(1, 12))
    assert records[-1].sizes == {"conditions": 1, "experiment_data": 9, "models": 3}
    assert [(c, s) for c, s, *_ in rows(state)] == [(c, s) for c in (1, 2, 3) for s in range(3)]
    assert [m.params_["n"] for m in state.models] == [3, 6, 9]  # one fitted model per cycle
    # the state after the last step, as `moalab loop plot` loads it (the file's classes)
    assert rows(latest_state(lab, "bandit")) == rows(state)


def test_a_run_resumed_after_a_failed_step_equals_an_uninterrupted_one(lab, tmp_path,
                                                                       monkeypatch):
    path = write_workflow(tmp_path)
    other = Lab.init(tmp_path / "other")
    try:
        expected = run_workflow(load_workflow(path), other, 3)
    finally:
        other.close()
    cut = tmp_path / "cut"
    monkeypatch.setenv("WORKFLOW_CUT", str(cut))
    with pytest.raises(RuntimeError, match="half way"):
        run_workflow(load_workflow(path), lab, 3)
    records = Checkpoints(lab, "bandit").records()
    assert cut.exists() and [(r.cycle, r.name) for r in records[-2:]] == [
        (2, "pool(num_samples=3)"), (2, "pick_last")]
    assert records[-1].sizes["experiment_data"] == 3  # the cut step's first row is not kept
    # a new process would import the file again: its module-level seed is drawn over by
    # the random generators' states saved with the checkpoint
    state = run_workflow(load_workflow(path), lab, 3)
    assert rows(state) == rows(expected)
    assert [m.params_ for m in state.models] == [m.params_ for m in expected.models]


def test_more_cycles_go_on_and_fewer_do_nothing(lab, tmp_path):
    path = write_workflow(tmp_path)
    run_workflow(load_workflow(path), lab, 1)
    assert len(rows(run_workflow(load_workflow(path), lab, 2))) == 6
    assert len(rows(run_workflow(load_workflow(path), lab, 1))) == 6
    assert len(Checkpoints(lab, "bandit").records()) == 7


def test_a_cycle_cut_half_way_refuses_a_changed_plan(lab, tmp_path, monkeypatch):
    path = write_workflow(tmp_path)
    monkeypatch.setenv("WORKFLOW_CUT", str(tmp_path / "cut"))
    with pytest.raises(RuntimeError):
        run_workflow(load_workflow(path), lab, 2)
    write_workflow(tmp_path, WORKFLOW.replace("num_samples=3)", "num_samples=4)"))
    with pytest.raises(InvalidArgument, match=r"cycle 2 was cut after step 2 of "
                       r"\['pool\(num_samples=3\)'.*now plans \['pool\(num_samples=4\)'"):
        run_workflow(load_workflow(path), lab, 2)


def test_a_second_process_of_the_same_workflow_is_refused(lab, tmp_path):
    workflow = load_workflow(write_workflow(tmp_path))
    with Checkpoints(lab, "bandit").lock(), pytest.raises(
            LoopBusy, match="'bandit' is running in another process"):
        run_workflow(workflow, lab, 1)
    run_workflow(workflow, lab, 1)


def test_the_checkpoint_files_are_whole_and_the_json_readable(lab, tmp_path):
    run_workflow(load_workflow(write_workflow(tmp_path)), lab, 1)
    folder = lab.folder / "loops" / "bandit"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["00001.json", "00001.pkl", "00002.json", "00002.pkl", "00003.json",
                     "00003.pkl", "lock", "workflow.json"]  # no temporary file left
    assert json.loads((folder / "00002.json").read_text())["planned"] == [
        "pool", "run_subjects(subjects=3)", "theorist"]


@pytest.mark.parametrize(("text", "message"), [
    ("x = 1\n", "defines no `state`"),
    ("state = 1\ncycle = 2\n", r"defines no function `cycle\(state\)`"),
    ("state = 1\nCYCLES = 0\ndef cycle(state): return [lambda s: s]\n", "CYCLES=0 is not"),
])
def test_a_bad_workflow_file_is_named_with_the_fix(tmp_path, text, message):
    with pytest.raises(InvalidArgument, match=message):
        load_workflow(write_workflow(tmp_path, text))


@pytest.mark.parametrize(("cycle", "message"), [
    ("[]", r"returned \[\]; it must return a non-empty list"),
    ("[1]", r"returned 1 among its steps"),
    ("[lambda s: None]", r"step cycle.<locals>.<lambda> returned None; a step returns the"),
])
def test_bad_steps_are_named(lab, tmp_path, cycle, message):
    path = write_workflow(tmp_path, f"state = 0\ndef cycle(state):\n    return {cycle}\n")
    with pytest.raises(InvalidArgument, match=message):
        run_workflow(load_workflow(path), lab, 1)


def test_step_names_show_a_partials_arguments():
    def pool(state, num_samples, n_trials=10):
        return state

    assert step_name(pool) == "test_step_names_show_a_partials_arguments.<locals>.pool"
    assert step_name(functools.partial(pool, 1, n_trials=5)).endswith("pool(1, n_trials=5)")


def test_a_workflow_imports_the_modules_beside_it(tmp_path, monkeypatch):
    # as `python WORKFLOW.py` does, from any working directory
    folder = tmp_path / "loop"
    folder.mkdir()
    (folder / "loop_helpers.py").write_text("START = {'cycle': 0}\n")
    path = write_workflow(folder, "from loop_helpers import START\n\nstate = START\n\n"
                                  "def cycle(state):\n    return []\n", name="beside")
    monkeypatch.chdir(tmp_path)
    assert load_workflow(path).state == {"cycle": 0}
    assert str(folder) not in sys.path  # only while it is imported
