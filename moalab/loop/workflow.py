"""Checkpointed workflows: a closed loop's cycles of on_state steps, resumable after a kill.

A workflow file (``moalab loop run WORKFLOW.py``) defines, at module level:

- ``state``: the initial state (a :class:`~moalab.loop.state.StandardState` or any
  picklable object the steps take and return);
- ``cycle(state)``: the steps of one cycle, in order, chosen from the state at the
  cycle's start (the seed's loop body: ``[pool, runner, theorist]`` on the first
  cycle, ``[pool, disagreement, runner, theorist]`` once there are models). A step is
  a callable taking the state and returning the new one: an ``@on_state()``
  function, or a ``functools.partial`` of one with its keyword arguments. ``cycle``
  must depend on the state only: on a resume it is called again with the same state;
- ``CYCLES`` (optional): how many cycles to run when ``--cycles`` is not given.

The file is imported as the module ``__moalab_workflow__``, so its
``if __name__ == "__main__":`` block (the seed's plain for-loop) does not run. While
it is imported, its folder is first on ``sys.path`` (as a protocol file's: it
imports the modules beside it).

Checkpoints: after every step, its state is pickled into the lab's
``loops/<workflow name>/`` folder (pickle keeps DataFrames, arrays and fitted
estimators as they are, with no schema to keep in step with the state's fields).
Step ``n`` (counted over all cycles from 1) is two files: ``NNNNN.json``, what was
done (:class:`StepRecord`), written first, then ``NNNNN.pkl``, the state after it
with the global random generators' states (numpy's and :mod:`random`'s), so a
resumed loop draws what an uninterrupted one would have. Each is written under a
temporary name, synced and renamed: a step is done exactly when its ``.pkl``
exists, so a kill at any moment leaves the loop at the end of its last whole step.
A run resumes after it, and a step cut half way is run again from the state before
it: its experiment data is neither lost nor counted twice (a runner step on the
lab's rigs, run again, keeps the sessions it had done: see
:func:`~moalab.loop.lab_runner.rig_runner`).
"""

import dataclasses
import fcntl
import functools
import json
import os
import pickle
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidArgument, MoaError
from ..core.scripts import exec_file
from ..store.lab import Lab

__all__ = ("LOOPS_FOLDER", "WORKFLOW_MODULE", "Checkpoints", "LoopBusy", "StepRecord",
           "Workflow", "check_cycles", "latest_state", "load_workflow", "run_workflow",
           "step_name")

LOOPS_FOLDER = "loops"
"""In a lab's folder: a folder per workflow, holding its checkpoints."""
WORKFLOW_MODULE = "__moalab_workflow__"
"""The module name a workflow file is imported as (its classes pickle under it)."""
SOURCE_NAME = "workflow.json"
"""In a workflow's checkpoint folder: where its file is, for `moalab loop plot`."""

Step = Callable[[Any], Any]


class LoopBusy(MoaError):
    """Another process is running this workflow in this lab."""


@dataclasses.dataclass(frozen=True)
class Workflow:
    """A loaded workflow file: its ``name`` (the file's stem), initial ``state``,
    ``cycle`` function and default number of ``cycles`` (None if it sets no CYCLES)."""

    path: Path
    name: str
    state: Any
    cycle: Callable[[Any], Sequence[Step]]
    cycles: int | None

    def steps(self, state: Any, number: int) -> list[Step]:
        """The steps of cycle ``number`` from ``state``; raises InvalidArgument if
        ``cycle`` returns anything but a non-empty sequence of callables."""
        steps = self.cycle(state)
        where = f"workflow {self.name!r}: cycle(state) of cycle {number}"
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or not steps:
            raise InvalidArgument(f"{where} returned {steps!r}; it must return a non-empty "
                                  "list of steps (on_state functions)")
        for step in steps:
            if not callable(step):
                raise InvalidArgument(f"{where} returned {step!r} among its steps; each "
                                      "step must be a callable taking and returning the state")
        return list(steps)


def load_workflow(path: str | os.PathLike) -> Workflow:
    """Import the workflow file at ``path`` (as :data:`WORKFLOW_MODULE`, registered in
    ``sys.modules`` so its classes unpickle; its folder first on ``sys.path`` while it
    runs). Raises InvalidArgument for a missing
    file or one lacking ``state`` or a callable ``cycle``; an error of the file's own
    code propagates as raised."""
    path = Path(path).resolve()
    if not path.is_file() or path.suffix != ".py":
        raise InvalidArgument(f"no workflow file at {str(path)!r}: give the path of a .py "
                              "file that defines `state` and `cycle(state)`")
    module = exec_file(path, WORKFLOW_MODULE)
    where = f"workflow file {str(path)!r}"
    if not hasattr(module, "state"):
        raise InvalidArgument(f"{where} defines no `state`: set `state = ...` to the "
                              "initial state (e.g. StandardState(variables=...))")
    cycle = getattr(module, "cycle", None)
    if not callable(cycle):
        raise InvalidArgument(f"{where} defines no function `cycle(state)` returning the "
                              f"steps of a cycle (found {cycle!r})")
    cycles = getattr(module, "CYCLES", None)
    if cycles is not None:
        cycles = check_cycles(cycles, f"{where}: CYCLES")
    return Workflow(path, path.stem, module.state, cycle, cycles)


def check_cycles(value: Any, where: str) -> int:
    """``value`` as a number of cycles (a whole number >= 1); raises InvalidArgument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{where}={value!r} is not accepted; give a whole number >= 1")
    return value


def step_name(step: Step) -> str:
    """How a step is named in its record: the function's name, with a partial's
    keyword arguments (``pool_on_state(num_samples=20)``)."""
    if isinstance(step, functools.partial):
        arguments = [repr(value) for value in step.args]
        arguments += [f"{key}={value!r}" for key, value in step.keywords.items()]
        return f"{step_name(step.func)}({', '.join(arguments)})"
    return getattr(step, "__qualname__", None) or getattr(step, "__name__", None) or repr(step)


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """A step done: its ``number`` over the whole loop (from 1), its ``cycle`` (from 1)
    and ``index`` in it (from 0), its ``name``, the names of all the cycle's steps
    (``planned``), its wall time in ``seconds``, when it ``ended`` (ISO 8601 UTC) and
    the length of each of the state's fields that has one after it (``sizes``:
    rows of experiment_data, number of models, ...)."""

    number: int
    cycle: int
    index: int
    name: str
    planned: tuple[str, ...]
    seconds: float
    ended: str
    sizes: dict[str, int]

    @property
    def ends_cycle(self) -> bool:
        return self.index == len(self.planned) - 1

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "planned": list(self.planned)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StepRecord":
        return cls(**{**data, "planned": tuple(data["planned"])})


class Checkpoints:
    """The checkpoints of workflow ``name`` in ``lab``: ``<lab>/loops/<name>/``."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.name = name
        self.folder = lab.folder / LOOPS_FOLDER / name

    @staticmethod
    def names(lab: Lab) -> list[str]:
        """The workflows with checkpoints in ``lab``, sorted."""
        loops = lab.folder / LOOPS_FOLDER
        return sorted(p.name for p in loops.iterdir() if p.is_dir()) if loops.is_dir() else []

    def records(self) -> list[StepRecord]:
        """The steps done, in order (a step's record counts once its state is saved)."""
        if not self.folder.is_dir():
            return []
        return [StepRecord.from_json(json.loads(path.with_suffix(".json").read_text()))
                for path in sorted(self.folder.glob("[0-9]*.pkl"))]

    def load(self, record: StepRecord) -> Any:
        """The state after step ``record``, the random generators set as they were then."""
        with open(self._path(record.number, ".pkl"), "rb") as file:
            saved = pickle.load(file)
        np.random.set_state(saved["numpy_random"])
        random.setstate(saved["random"])
        return saved["state"]

    def save(self, record: StepRecord, state: Any) -> None:
        """Save step ``record`` and the state after it (see the module's docstring)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(self._path(record.number, ".json"),
                      json.dumps(record.to_json(), indent=1).encode())
        saved = {"state": state, "numpy_random": np.random.get_state(),
                 "random": random.getstate()}
        _write_atomic(self._path(record.number, ".pkl"),
                      pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL))

    def remember_source(self, path: Path) -> None:
        """Note where the workflow file is (`moalab loop plot` imports it to unpickle)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.folder / SOURCE_NAME, json.dumps({"path": str(path)}).encode())

    def source(self) -> Path | None:
        """The workflow file last run with these checkpoints, or None."""
        source = self.folder / SOURCE_NAME
        return Path(json.loads(source.read_text())["path"]) if source.is_file() else None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the workflow's lock (released by the system if the process dies);
        raises :class:`LoopBusy` if another process holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "lock", "a+") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.seek(0)
                raise LoopBusy(f"workflow {self.name!r} is running in another process "
                               f"({file.read().strip() or 'pid unknown'}): wait for it to "
                               "end, or stop it") from None
            file.truncate(0)
            file.write(f"pid {os.getpid()}\n")
            file.flush()
            yield

    def _path(self, number: int, suffix: str) -> Path:
        return self.folder / f"{number:05d}{suffix}"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temporary file, synced, renamed
    over it, then the folder synced (so the rename survives a power cut too)."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _sizes(state: Any) -> dict[str, int]:
    if not dataclasses.is_dataclass(state):
        return {}
    sizes = {}
    for field in dataclasses.fields(state):
        value = getattr(state, field.name)
        if value is not None and hasattr(value, "__len__") and not isinstance(value, str):
            sizes[field.name] = len(value)
    return sizes


def run_workflow(workflow: Workflow, lab: Lab, cycles: int,
                 on_step: Callable[[StepRecord], None] | None = None) -> Any:
    """Run ``workflow``'s steps until ``cycles`` cycles are done in ``lab``, resuming
    after its last checkpointed step; return the final state. ``on_step`` is called
    with each step's record once it is saved. Runs in the calling thread (a step may
    start a trio run of its own, as the runners do).

    Raises :class:`LoopBusy` if the workflow runs elsewhere, InvalidArgument if a
    step returns None or ``cycle`` now plans other steps than those of the cycle cut
    half way; a step's own error propagates (the steps before it stay done).
    """
    checkpoints = Checkpoints(lab, workflow.name)
    with checkpoints.lock():
        checkpoints.remember_source(workflow.path)
        records = checkpoints.records()
        state, start = workflow.state, workflow.state
        if records:
            last = records[-1]
            if not last.ends_cycle:  # cut half way: its steps are planned from its start
                before = [r for r in records if r.cycle < last.cycle]
                start = checkpoints.load(before[-1]) if before else workflow.state
            state = checkpoints.load(last)
        number = records[-1].number if records else 0
        cycle, index = ((records[-1].cycle, records[-1].index + 1)
                        if records and not records[-1].ends_cycle else
                        (records[-1].cycle + 1 if records else 1, 0))
        while cycle <= cycles:
            if index == 0:
                start = state
            steps = workflow.steps(start, cycle)
            planned = tuple(map(step_name, steps))
            if index and planned != records[-1].planned:
                raise InvalidArgument(
                    f"workflow {workflow.name!r}: cycle {cycle} was cut after step {index} of "
                    f"{list(records[-1].planned)}, but cycle(state) now plans "
                    f"{list(planned)}; restore the workflow file, or delete "
                    f"{checkpoints.folder} to start again")
            for position in range(index, len(steps)):
                began = time.monotonic()
                new = steps[position](state)
                if new is None:
                    raise InvalidArgument(
                        f"workflow {workflow.name!r}: step {planned[position]} returned None; "
                        "a step returns the new state (decorate it with @on_state())")
                number += 1
                record = StepRecord(number, cycle, position, planned[position], planned,
                                    round(time.monotonic() - began, 6),
                                    datetime.now(UTC).isoformat(), _sizes(new))
                checkpoints.save(record, new)
                state = new
                if on_step is not None:
                    on_step(record)
            cycle, index = cycle + 1, 0
        return state


def latest_state(lab: Lab, name: str) -> Any:
    """The state after workflow ``name``'s last step in ``lab`` (its file imported, as
    its classes may be its own). Raises InvalidArgument if it has no step done or its
    file is gone."""
    checkpoints = Checkpoints(lab, name)
    records = checkpoints.records()
    if not records:
        raise InvalidArgument(f"workflow {name!r} has no step done in lab {lab.name!r}: run "
                              "it with `moalab loop run WORKFLOW.py`")
    source = checkpoints.source()
    if source is None or not source.is_file():
        raise InvalidArgument(f"workflow {name!r}: its file ({source}) is gone; its state "
                              "needs it to load (its classes): put it back")
    load_workflow(source)
    return checkpoints.load(records[-1])
