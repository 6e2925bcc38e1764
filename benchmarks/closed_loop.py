"""The closed loop's rows (issue 16): ``examples/closed_loop_bandit.py``, the seed's
workflow with synthetic subjects, run by ``moalab loop run``'s runner in a lab made in
a temporary folder (a checkpoint after every step, as the command does):

- ``closed_loop``: ``loop_wall_s``, the wall time of all its cycles
  (``Sizes.loop_cycles`` of ``Sizes.loop_subjects`` Q-learning subjects x
  ``Sizes.loop_trials`` trials each: every subject a run of the bandit's stage tree
  with a QLearningAgent, in virtual time; then the two theorists' fits and, from the
  second cycle, the model-disagreement sampler's predictions over a pool of 20);
- ``closed_loop_c<N>``: cycle N's ``cycle_wall_s`` and the parameters its first
  theorist fitted to all the data so far, ``fitted_learning_rate`` and
  ``fitted_decision_noise`` (the subjects' true values: q_learning()'s defaults,
  :data:`TRUE_LEARNING_RATE` and :data:`TRUE_DECISION_NOISE`).

Runs in the calling thread, outside any trio run (the synthetic runner starts its own).
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter

from .common import LOOP_ROWS, SideResults, Sizes

__all__ = ("LOOP_ROW", "TRUE_DECISION_NOISE", "TRUE_LEARNING_RATE", "run_closed_loop")

LOOP_ROW = LOOP_ROWS[0]
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "closed_loop_bandit.py"
TRUE_LEARNING_RATE = 0.2
TRUE_DECISION_NOISE = 3.0


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set (the example reads its sizes there), restored
    after."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_closed_loop(subjects: list[str], sizes: Sizes, results: SideResults) -> None:
    """Measure the closed loop's rows, if ``closed_loop`` is among ``subjects``."""
    if LOOP_ROW not in subjects:
        return
    try:
        from moalab.loop.workflow import Checkpoints, load_workflow, run_workflow
        from moalab.store.lab import Lab
    except ImportError as exc:  # the loop extra (pandas, scipy, scikit-learn) is missing
        results.skip(LOOP_ROW, f"needs pip install \"moalab[loop]\" ({exc})")
        return
    sized = {"RUNNER_TYPE": "synthetic", "BANDIT_CYCLES": str(sizes.loop_cycles),
             "BANDIT_PARTICIPANTS": str(sizes.loop_subjects),
             "BANDIT_TRIALS": str(sizes.loop_trials)}
    try:
        with tempfile.TemporaryDirectory(prefix="moalab-bench-loop-") as folder, \
                _environment(sized):
            lab = Lab.init(Path(folder) / "lab")
            try:
                workflow = load_workflow(EXAMPLE)
                start = perf_counter()
                state = run_workflow(workflow, lab, sizes.loop_cycles)
                wall = perf_counter() - start
                records = Checkpoints(lab, workflow.name).records()
            finally:
                lab.close()
    except Exception as exc:
        results.error(LOOP_ROW, "*", exc)
        return
    results.record(LOOP_ROW, "loop_wall_s", wall)
    for cycle, model in enumerate(state.models, start=1):
        row = f"{LOOP_ROW}_c{cycle}"
        results.record(row, "cycle_wall_s", sum(r.seconds for r in records if r.cycle == cycle))
        results.record(row, "fitted_learning_rate", model.params_["learning_rate"])
        results.record(row, "fitted_decision_noise", model.params_["decision_noise"])
