"""ProtocolRunner against a real lab (an SQLite file): sessions, gates, static tables."""

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio.testing

from moalab import MoaStage
from moalab.core.errors import InvalidArgument
from moalab.protocol import (
    MockProtocol,
    Protocol,
    ProtocolRunner,
    ScreeningRequired,
    SubjectRefused,
    TrainingRequired,
    TrainingStep,
    TrialCount,
)
from moalab.store import Lab, SubjectBusy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "protocols"


@pytest.fixture
def lab(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    lab.database.add_subject("rat-1", species="rat", sex="F")
    lab.database.add_subject("rat-2", species="rat", sex="M")
    yield lab
    lab.close()


def run_session(runner, subject, args=()):
    info = runner.create_session(subject, args)
    return trio.run(runner.run_session, info, clock=trio.testing.MockClock(autojump_threshold=0))


def csv_rows(path):
    return [row for row in csv.reader(path.open()) if row and not row[0].startswith("#")][1:]


def test_a_session_runs_records_its_trials_and_logs_to_its_folder(lab):
    runner = ProtocolRunner(lab, MockProtocol)
    ended = run_session(runner, "rat-1", ["n_trials=4", "trial_duration=2.5"])
    assert ended.status == "submitted" and ended.n_trials == 4 and ended.error is None
    trials = lab.database.list_trials(ended.id)
    assert [t.index for t in trials] == [0, 1, 2, 3]
    assert [t.values for t in trials] == [{"trial": i, "correct": i % 2 == 0} for i in range(4)]
    rows = csv_rows(lab.session_folder(ended.id) / "log.csv")
    assert [r[2:4] for r in rows if r[3] == "on_trial_end" and r[2] == "trial"] == [
        ["trial", "on_trial_end"]] * 4
    assert lab.database.get_session(ended.id).args == {"n_trials": 4, "trial_duration": 2.5,
                                                       "fail_at": -1}


def test_a_failing_tree_fails_the_session_and_keeps_its_trials(lab):
    ended = run_session(ProtocolRunner(lab, MockProtocol), "rat-1", ["fail_at=2"])
    assert ended.status == "failed"
    assert ended.error == "RuntimeError: mock trial 2 failed"
    assert [t.index for t in lab.database.list_trials(ended.id)] == [0, 1]


def test_bad_args_are_refused_and_leave_no_session(lab):
    runner = ProtocolRunner(lab, MockProtocol)
    with pytest.raises(InvalidArgument, match="n_trial"):
        runner.create_session("rat-1", ["n_trial=3"])
    with pytest.raises(InvalidArgument, match="rat-3"):
        runner.create_session("rat-3")
    assert lab.database.list_sessions() == []


def test_a_second_session_of_a_running_subject_is_refused(lab):
    runner = ProtocolRunner(lab, MockProtocol)
    first = runner.create_session("rat-1", ["n_trials=100"])

    async def both():
        running = trio.Event()
        async with trio.open_nursery() as nursery:
            # once its run is made, the first session has claimed the subject (not after
            # some virtual seconds: the clock jumps while the database's thread works)
            nursery.start_soon(functools.partial(runner.run_session, first,
                                                 on_run=lambda run: running.set()))
            await running.wait()
            second = runner.create_session("rat-1")
            with pytest.raises(SubjectBusy, match=first.id):
                await runner.run_session(second)
            runner.cleanup_session(second)
            nursery.cancel_scope.cancel()

    trio.run(both, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [s.id for s in lab.database.list_sessions()] == [first.id]


@dataclass
class NoArgs:
    pass


class Counting(MoaStage):
    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self):
        await self.sleep(1)
        self.session.record_trial(correct=True)
        self.session.state.update_data(trials=len(self.session.trials))


class Trained(TrainingRequired, Protocol):
    name = "trained"
    training_steps = [TrainingStep("first", TrialCount(3)), TrainingStep("second", TrialCount(2))]
    passes = True

    def build_training_tree(self, session, step):
        return MoaStage(name=step.name, stages=[Counting(session, name="count", repeat=-1)])

    def build_tree(self, session):
        return MoaStage(name="main", stages=[Counting(session, name="count", repeat=2)])

    def validate_training(self, data):
        return type(self).passes


def test_training_steps_graduate_then_the_main_protocol_runs(lab):
    runner = ProtocolRunner(lab, Trained)
    first = run_session(runner, "rat-1")
    assert (first.kind, first.step, first.status, first.n_trials) == ("training", 0, "submitted", 3)
    assert lab.database.qualification("rat-1", "trained-training-step") == 1
    second = run_session(runner, "rat-1")
    assert (second.kind, second.step, second.n_trials) == ("training", 1, 2)
    assert lab.database.qualification("rat-1", "trained-trained") == 1
    main = run_session(runner, "rat-1")
    assert (main.kind, main.status, main.n_trials) == ("main", "submitted", 2)


def test_a_failed_training_turns_the_subject_away_until_requalified(lab, monkeypatch):
    monkeypatch.setattr(Trained, "passes", False)
    runner = ProtocolRunner(lab, Trained)
    run_session(runner, "rat-1")
    run_session(runner, "rat-1")
    assert lab.database.qualification("rat-1", "trained-trained") == 0
    with pytest.raises(SubjectRefused, match="failed training.*requalify rat-1 trained-trained"):
        runner.create_session("rat-1")
    lab.database.revoke("rat-1", "trained-trained")
    monkeypatch.setattr(Trained, "passes", True)
    again = runner.create_session("rat-1")
    assert (again.kind, again.step) == ("training", 1)


class Screened(ScreeningRequired, Protocol):
    name = "screened"
    max_screening_sessions = 1

    def build_tree(self, session):
        return MoaStage(name="main", stages=[Counting(session, name="count", repeat=2)])

    def validate_screening(self, data):
        return data.get("trials") == 2


def test_screening_is_capped_in_the_database_and_an_abandoned_one_frees_its_place(lab):
    runner = ProtocolRunner(lab, Screened)
    held = runner.create_session("rat-1")
    assert held.kind == "screening"
    with pytest.raises(SubjectRefused, match="1 screening sessions are all taken"):
        ProtocolRunner(lab, Screened).create_session("rat-2")
    lab.database.end_session(held.id, "abandoned")
    lab.database.free_slot("screened-screening-slots")
    screening = run_session(runner, "rat-2")
    assert (screening.kind, screening.status) == ("screening", "submitted")
    assert lab.database.qualification("rat-2", "screened-screened") == 1
    assert run_session(runner, "rat-2").kind == "main"


def test_the_static_protocol_takes_its_table_in_blocks_until_complete(lab):
    from moalab.protocol.loading import load_protocol

    tones = load_protocol(str(EXAMPLES / "tones.py"), base=Protocol)
    runner = ProtocolRunner(lab, tones)
    first, second = run_session(runner, "rat-1"), run_session(runner, "rat-1")
    units = [t.values for s in (first, second) for t in lab.database.list_trials(s.id)]
    assert [u["unit"] for u in units] == list(range(8))
    assert [u["tone_hz"] for u in units[:3]] == [4000, 8000, 4000]
    assert units[1]["rewarded"] is False
    with pytest.raises(SubjectRefused, match="all 8 units"):
        runner.create_session("rat-1")


class BadVerdict(Screened):
    name = "bad-verdict"

    def validate_screening(self, data):
        return "yes"


class RaisingHook(MockProtocol):
    name = "raising-hook"

    def on_session_submitted(self, session):
        raise OSError("export disk full")


def test_hooks_errors_are_named_and_recorded(lab):
    ended = run_session(ProtocolRunner(lab, RaisingHook), "rat-1", ["n_trials=1"])
    assert ended.status == "submitted"
    assert ended.error == "on_session_submitted raised OSError: export disk full"
    with pytest.raises(SubjectRefused, match="validate_screening returned 'yes'"):
        run_session(ProtocolRunner(lab, BadVerdict), "rat-2")


def test_protocol_classes_are_checked():
    class Nameless(Protocol):
        pass

    with pytest.raises(InvalidArgument, match="has no name"):
        ProtocolRunner(None, Nameless)

    class NoSteps(TrainingRequired, Protocol):
        name = "no-steps"

    with pytest.raises(InvalidArgument, match="training_steps"):
        ProtocolRunner(None, NoSteps)


class TrainedAndScreened(TrainingRequired, ScreeningRequired, Protocol):
    name = "both"
    training_steps = [TrainingStep("only", TrialCount(2))]
    max_screening_sessions = 5

    def build_training_tree(self, session, step):
        return MoaStage(name=step.name, stages=[Counting(session, name="count", repeat=-1)])

    def build_tree(self, session):
        return MoaStage(name="main", stages=[Counting(session, name="count", repeat=2)])

    def subject_can_run(self, subject):
        return subject.species == "rat"


def test_a_trained_subject_is_still_screened_and_subject_can_run_is_asked(lab):
    runner = ProtocolRunner(lab, TrainedAndScreened)
    assert [run_session(runner, "rat-1").kind for _ in range(3)] == [
        "training", "screening", "main"]
    assert lab.database.counter("both-screening-slots") == 1
    lab.database.add_subject("mouse-1", species="mouse")
    with pytest.raises(SubjectRefused, match="mouse-1.*subject_can_run"):
        runner.create_session("mouse-1")


def test_a_session_on_a_rig_gets_the_executor_that_reaches_it(lab):
    from moalab import ThreadExecutor, WebSocketExecutor
    from moalab.protocol.rigs import executor_for

    lab.database.add_rig("box-1", "websocket", host="10.0.0.21", port=8765)
    lab.database.add_rig("bench", "thread")
    executor = executor_for(lab.database.get_rig("box-1"), token="t" * 16)
    assert isinstance(executor, WebSocketExecutor) and executor.url == "ws://10.0.0.21:8765/ws"
    runner = ProtocolRunner(lab, MockProtocol)
    info = runner.create_session("rat-1", ["n_trials=1"], rig="bench")
    session = runner.open_session(info)
    assert isinstance(session.executor, ThreadExecutor)
    assert session.protocol.executors(session) == (session.executor,)
    ended = trio.run(runner.run_session, info, clock=trio.testing.MockClock(autojump_threshold=0))
    assert ended.status == "submitted" and ended.rig == "bench"
    lab.database.add_rig("far", "rest")
    with pytest.raises(InvalidArgument, match="rig 'far' has no host"):
        executor_for(lab.database.get_rig("far"))
