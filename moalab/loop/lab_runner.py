"""rig_runner: the lab's rigs and subjects as a closed loop's experiment runner.

The seed workflow's Firebase runner uploads conditions, waits for participants and
downloads their data; :func:`rig_runner` does the same with a lab: one session per
subject and condition (a :class:`~moalab.protocol.runner.ProtocolRunner` session,
the condition given as the protocol's ``schedule`` argument), several at once, one
per free rig, in one trio run; the data is read back from the trials the lab
recorded, in the seed's ``experiment_data`` format. A session a subject already
submitted with the same condition is not run again: a workflow's runner step cut by
a kill, run again, keeps the sessions it had done.
"""

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import trio
import trio.testing

from ..core.errors import InvalidArgument, MoaError, error_text
from ..core.nursery import open_nursery
from ..core.realtime import run_in_thread
from ..protocol.args import args_to_dict, parse_args
from ..protocol.protocol import Protocol
from ..protocol.runner import ProtocolRunner
from ..protocol.session import Session
from ..runner.run import Run
from ..store.database import SessionInfo
from ..store.lab import Lab

__all__ = ("Dropped", "RigRunner", "rig_runner")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dropped:
    """A subject's session left out of a cycle's data: its ``subject``, the index of
    its ``condition``, its ``session`` id and why (``reason``)."""

    subject: str
    condition: int
    session: str
    reason: str


@contextmanager
def _without_rig(session: Session) -> Iterator[None]:
    rig, session.rig = session.rig, None
    try:
        yield
    finally:
        session.rig = rig


def _dry_run(protocol: type[Protocol], on_tree: Callable[[Session], None]) -> type[Protocol]:
    """``protocol`` with each session's devices and tree made as without a rig (its dry
    run's virtual devices and subject: the bandit's QLearningAgent), on the lab's rig
    all the same (the session keeps it, and no executor reaches it); ``on_tree`` is
    called with each session once its tree is built."""

    class DryRun(protocol):  # type: ignore[valid-type, misc]
        def devices(self, session: Session) -> Sequence[Any]:
            with _without_rig(session):
                return super().devices(session)

        def executors(self, session: Session) -> Sequence[Any]:
            return ()

        def build_tree(self, session: Session) -> Any:
            with _without_rig(session):
                tree = super().build_tree(session)
            on_tree(session)
            return tree

    DryRun.__qualname__ = DryRun.__name__ = f"DryRun{protocol.__name__}"
    return DryRun


class RigRunner:
    """The experiment runner :func:`rig_runner` makes: call it with conditions.

    :attr:`dropped` lists the sessions left out of its last call (:class:`Dropped`),
    in the order of the conditions then the subjects.
    """

    def __init__(self, protocol: type[Protocol], subjects: Sequence[str], rigs: Sequence[str],
                 time_out: float | None, sleep_time: float, lab: Lab, dry_run: bool,
                 condition_arg: str, args: Mapping[str, Any], reuse: bool) -> None:
        self.protocol = protocol
        self.subjects = list(subjects)
        self.rigs = list(rigs)
        self.time_out = time_out
        self.sleep_time = sleep_time
        self.lab = lab
        self.dry_run = dry_run
        self.condition_arg = condition_arg
        self.reuse = reuse
        self.args = [f"{key}={value}" for key, value in args.items()]
        self.dropped: list[Dropped] = []
        self._runs: dict[str, Run] = {}
        self._timed_out: set[str] = set()
        # a dry run's devices are virtual: its sessions keep their rig, but reach none
        self._runner = ProtocolRunner(
            lab, _dry_run(protocol, self._watch_trials) if dry_run else protocol,
            reach_rigs=not dry_run)

    def __call__(self, conditions: Any) -> pd.DataFrame:
        """Run a session per subject and condition and return their data, a row per
        session done, in the order of the conditions then the subjects: columns
        ``reward-trajectory`` (the condition, ``n_trials x 2``), ``choice-trajectory``
        (one-hot, ``n_trials x 2``; ``[0, 0]`` for a trial without a press),
        ``subject`` and ``session``. ``conditions``: a DataFrame with a
        'reward-trajectory' column, a list of schedules or one ``(n, 2)`` array.

        Sessions not done within ``time_out`` minutes of their start are stopped,
        abandoned and listed in :attr:`dropped` (with those that failed), and logged.
        Runs a trio run of its own (virtual time for a dry run); call it from a
        thread that runs none (a workflow's step).
        """
        schedules = _schedules(conditions)
        self.dropped = []
        clock = trio.testing.MockClock(autojump_threshold=0) if self.dry_run else None
        done = trio.run(self._run_all, schedules, clock=clock)
        self.dropped.sort(key=lambda d: (d.condition, self.subjects.index(d.subject)))
        for item in self.dropped:
            log.warning("rig_runner: subject %r dropped from this cycle (condition %d, "
                        "session %s): %s", item.subject, item.condition, item.session,
                        item.reason)
        rows = []
        for (condition, subject), (session, choices) in sorted(done.items()):
            rows.append({"reward-trajectory": schedules[condition],
                         "choice-trajectory": choices, "subject": self.subjects[subject],
                         "session": session})
        return pd.DataFrame(rows, columns=["reward-trajectory", "choice-trajectory",
                                           "subject", "session"])

    async def _run_all(self, schedules: list[np.ndarray]
                       ) -> dict[tuple[int, int], tuple[str, np.ndarray]]:
        """Every (condition, subject) session, on the rigs as they come free."""
        work = [(c, s) for c in range(len(schedules)) for s in range(len(self.subjects))]
        done: dict[tuple[int, int], tuple[str, np.ndarray]] = {}
        busy: set[int] = set()  # subjects in a session now (one session at a time each)
        freed = trio.Event()

        async def serve(rig: str) -> None:
            nonlocal freed
            while work:
                if not await self._rig_free(rig):
                    await trio.sleep(self.sleep_time)
                    continue
                # taken with no await between: no other rig's task can take it too
                item = next((w for w in work if w[1] not in busy), None)
                if item is None:  # the rest wait for their subject: wait for one to end
                    await freed.wait()
                    continue
                work.remove(item)
                busy.add(item[1])
                try:
                    result = await self._session(rig, item, schedules[item[0]])
                finally:
                    busy.discard(item[1])
                    freed.set()
                    freed = trio.Event()
                if result is not None:
                    done[item] = result

        async with open_nursery() as nursery:
            for rig in self.rigs:
                nursery.start_soon(serve, rig)
        return done

    def _watch_trials(self, session: Session) -> None:
        """In a dry run, stop ``session`` at its first trial recorded past ``time_out``
        (virtual time: a deadline of its own would be jumped to whenever the run waits
        for a thread, as the clock jumps to the next deadline; its trials' do not)."""
        if self.time_out is None:
            return
        deadline = trio.current_time() + self.time_out * 60

        def check(session: Session) -> None:
            if trio.current_time() > deadline:
                self._stop(session.id)

        session.on_trial_recorded(check)

    def _stop(self, session_id: str) -> None:
        self._timed_out.add(session_id)
        if session_id in self._runs:
            self._runs[session_id].stop()

    async def _rig_free(self, rig: str) -> bool:
        """Whether no session (of another process too) is running on ``rig``."""
        sessions = await run_in_thread(self.lab.database.list_sessions)
        return not any(s.rig == rig and s.status == "running" for s in sessions)

    async def _session(self, rig: str, item: tuple[int, int], schedule: np.ndarray
                       ) -> tuple[str, np.ndarray] | None:
        """Run one session; its id and one-hot choices, or None if it was dropped."""
        condition, index = item
        subject, db = self.subjects[index], self.lab.database
        args = [*self.args, f"{self.condition_arg}={json.dumps(schedule.tolist())}"]
        try:
            earlier = await run_in_thread(self._earlier, subject, args) if self.reuse else None
            if earlier is not None:  # this condition's data is in the lab already
                return await self._data(earlier, len(schedule))
            info = await run_in_thread(self._runner.create_session, subject, args, rig)
        except MoaError as exc:  # refused (a gate, a subject busy elsewhere): not this cycle
            self.dropped.append(Dropped(subject, condition, "", error_text(exc)))
            return None
        session_id = info.id

        async def watch() -> None:  # real time: a deadline
            await trio.sleep(self.time_out * 60)  # type: ignore[operator]
            self._stop(session_id)

        try:
            async with open_nursery() as nursery:
                if self.time_out is not None and not self.dry_run:
                    nursery.start_soon(watch)
                info = await self._runner.run_session(
                    info, on_run=lambda run: self._runs.__setitem__(session_id, run))
                nursery.cancel_scope.cancel()
        except MoaError:  # recorded on the session (failed): dropped below
            info = await run_in_thread(db.get_session, info.id)
        finally:
            self._runs.pop(session_id, None)
            await run_in_thread(self._runner.cleanup_session, info)
        timed_out = session_id in self._timed_out
        if timed_out or info.status != "submitted":
            reason = (f"not done within time_out={self.time_out:g} min" if timed_out
                      else f"session {info.status}: {info.error or 'no error recorded'}")
            if info.status == "interrupted":  # not to be resumed: the next cycle starts anew
                await run_in_thread(db.end_session, info.id, "abandoned")
            self.dropped.append(Dropped(subject, condition, info.id, reason))
            return None
        return await self._data(info, len(schedule))

    async def _data(self, info: SessionInfo, n_trials: int) -> tuple[str, np.ndarray]:
        """Session ``info``'s id and one-hot choices, read from the lab's trials."""
        trials = await run_in_thread(self.lab.database.list_trials, info.id)
        return info.id, _one_hot([trial.values.get("arm") for trial in trials], n_trials)

    def _earlier(self, subject: str, args: list[str]) -> SessionInfo | None:
        """``subject``'s submitted session of this protocol with these very arguments
        (a step cut by a crash ran it), else None; in a worker thread. Its interrupted
        ones with them are abandoned: the condition is run again whole; one left
        created (the crash came between its making and its start) is discarded."""
        cls, db = self._runner.protocol_class, self.lab.database
        wanted = args_to_dict(parse_args(cls.Args, args))
        same = [s for s in db.subject_sessions(subject, cls.name)
                if (s.version, s.kind, s.args) == (cls.version, "main", wanted)]
        for session in same:
            if session.status == "interrupted":
                db.end_session(session.id, "abandoned")
            elif session.status == "created":
                self._runner.cleanup_session(session)
        return next((s for s in reversed(same) if s.status == "submitted"), None)


def _one_hot(arms: list[int | None], n_trials: int) -> np.ndarray:
    choices = np.zeros((n_trials, 2), dtype=int)
    for trial, arm in enumerate(arms[:n_trials]):
        if arm is not None:
            choices[trial, arm] = 1
    return choices


def _schedules(conditions: Any) -> list[np.ndarray]:
    """The reward schedules in ``conditions``, each ``(n, 2)`` of 0/1."""
    if isinstance(conditions, pd.DataFrame):
        if "reward-trajectory" not in conditions:
            raise InvalidArgument(
                f"rig_runner conditions with columns {list(conditions.columns)} have no "
                "'reward-trajectory': give a DataFrame with that column (the seed's)")
        conditions = conditions["reward-trajectory"].tolist()
    elif isinstance(conditions, np.ndarray) and conditions.ndim == 2:
        conditions = [conditions]
    schedules = []
    for i, schedule in enumerate(conditions):
        array = np.asarray(schedule)
        if array.ndim != 2 or array.shape[1] != 2 or not np.isin(array, (0, 1)).all():
            raise InvalidArgument(
                f"rig_runner condition {i} of shape {array.shape} is not a reward schedule: "
                "give n_trials x 2 of 0/1 (one row per trial, column k is arm k)")
        schedules.append(array.astype(int))
    if not schedules:
        raise InvalidArgument("rig_runner was given no conditions: give at least one "
                              "reward schedule")
    return schedules


def rig_runner(protocol: type[Protocol], subjects: Sequence[str] | None = None,
               rigs: Sequence[str] | None = None, time_out: float | None = None,
               sleep_time: float = 30.0, lab: Lab | str | os.PathLike | None = None, *,
               dry_run: bool = False, condition_arg: str = "schedule",
               args: Mapping[str, Any] | None = None, reuse: bool = True) -> RigRunner:
    """An experiment runner on the lab's rigs, like the seed's ``firebase_runner``:
    ``runner(conditions)`` returns the experiment data (see :meth:`RigRunner.__call__`).

    ``protocol``: a Protocol subclass taking a condition as its ``condition_arg``
    argument (JSON; :class:`~moalab.loop.bandit.BanditProtocol`'s ``schedule``), with
    ``args`` (``{name: value}``) for its other arguments. ``subjects`` and ``rigs``:
    names in ``lab`` (default: all of its). ``time_out``: minutes a session may take
    from its start (the seed's unit; None: no limit); ``sleep_time``: seconds between
    checks for a rig another process is using. ``lab``: a Lab, its folder, or None
    for :meth:`Lab.find`. ``dry_run``: virtual time, and each session's devices made
    as without a rig (the bandit's virtual levers and a QLearningAgent as subject),
    on the lab's rigs all the same (one session a rig at a time, each recorded on its
    rig) but with no connection to them: a rig's server need not run. ``reuse``: a
    subject's session already submitted with the same condition and arguments (run by
    this step before a crash or a kill: a workflow runs the step again) gives its data
    instead of a new session; its interrupted ones are abandoned and the condition run
    again whole. Give
    ``reuse=False`` to run a condition again on purpose.

    Raises InvalidArgument for an unknown subject or rig, a lab without rigs, or bad
    times (UnknownName for a name not in the lab).
    """
    lab = lab if isinstance(lab, Lab) else Lab.find(lab)
    db = lab.database
    subjects = [s.name for s in db.list_subjects()] if subjects is None else list(subjects)
    rigs = [r.name for r in db.list_rigs()] if rigs is None else list(rigs)
    for name in subjects:
        db.get_subject(name)
    for name in rigs:
        db.get_rig(name)
    if not subjects or not rigs:
        what = "subjects" if not subjects else "rigs"
        raise InvalidArgument(
            f"rig_runner: lab {lab.name!r} has no {what} to run on: add some (`moalab "
            f"{what[:-1]} add NAME ...`) or give {what}=[...]")
    if time_out is not None and not (isinstance(time_out, int | float) and time_out > 0):
        raise InvalidArgument(f"rig_runner time_out={time_out!r} is not accepted: give "
                              "minutes > 0, or None for no limit")
    if not (isinstance(sleep_time, int | float) and sleep_time > 0):
        raise InvalidArgument(f"rig_runner sleep_time={sleep_time!r} is not accepted: give "
                              "seconds > 0")
    return RigRunner(protocol, subjects, rigs, time_out, sleep_time, lab, dry_run,
                     condition_arg, dict(args or {}), reuse)
