"""The times of a recorded trial: a lab session's trial rows carry the start and end of
the stage trial each was recorded in (the TrialStart / TrialEnd records of the run),
run in virtual time against a real lab (an SQLite file); a trial recorded outside a
stage trial lasts from the one before's end to its record."""

from dataclasses import dataclass

import pytest
import trio
import trio.testing

from moalab import Delay, MoaStage
from moalab.core.records import TrialEnd, TrialStart
from moalab.log.sink import MemorySink
from moalab.protocol import Protocol, ProtocolRunner
from moalab.store import Lab


@pytest.fixture
def lab(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    lab.database.add_subject("rat-1", species="rat", sex="F")
    yield lab
    lab.close()


@dataclass
class Args:
    n_trials: int = 3


class Record(MoaStage):
    """Records the trial in the middle of it (as a pellet stage does)."""

    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self):
        self.session.record_trial(n=len(self.session.trials))


class WaitRecordRest(Protocol):
    """trial (repeat n_trials): wait 2 s, record, rest 3 s; each trial is 5 s long."""

    name = "wait-record-rest"
    version = 1
    Args = Args

    def build_tree(self, session):
        trial = MoaStage(name="trial", repeat=session.args.n_trials - len(session.trials))
        trial.add_stage(Delay(delay=2, name="wait"))
        trial.add_stage(Record(session, name="record"))
        trial.add_stage(Delay(delay=3, name="rest"))
        return MoaStage(name="root", stages=[Delay(delay=1, name="before"), trial])


class RecordedAtStageEnd(Protocol):
    """Two blocks of 4 s, each recorded by an ``on_stage_end`` callback: outside a
    stage trial, as StaticProtocol records its units."""

    name = "recorded-at-stage-end"
    version = 1

    def build_tree(self, session):
        root = MoaStage(name="root")
        for i in range(2):
            block = Delay(delay=4, name=f"block {i}")
            block.fbind("on_stage_end", lambda stage: session.record_trial(block=stage.name))
            root.add_stage(block)
        return root


class RecordedAtTrialEnd(Protocol):
    """A block (repeat 1) of 3 trials of 2 s then 1 s, each recorded by the trial stage's
    ``on_trial_end`` callback, after 5 s of habituation."""

    name = "recorded-at-trial-end"
    version = 1

    def build_tree(self, session):
        trial = MoaStage(name="trial", repeat=3, stages=[Delay(delay=2, name="cue"),
                                                         Delay(delay=1, name="rest")])
        trial.fbind("on_trial_end", lambda stage, count: session.record_trial(n=count))
        block = MoaStage(name="block", stages=[trial])
        return MoaStage(name="root", stages=[Delay(delay=5, name="habituation"), block])


def run(lab, protocol, args=()):
    runner = ProtocolRunner(lab, protocol)
    info = runner.create_session("rat-1", args)
    sink = MemorySink()
    ended = trio.run(runner.run_session, info, [sink],
                     clock=trio.testing.MockClock(autojump_threshold=0))
    assert ended.status == "submitted", ended.error
    return lab.database.list_trials(info.id), sink.records


def spans(trials, start: float) -> list[float]:
    """Each trial's start and end after ``start``, flat (pytest.approx takes no nesting)."""
    return [time - start for trial in trials for time in (trial.start, trial.end)]


def test_a_trial_row_spans_the_stage_trial_it_was_recorded_in(lab):
    trials, records = run(lab, WaitRecordRest)
    starts = [r.time for r in records if isinstance(r, TrialStart) and r.name == "trial"]
    ends = [r.time for r in records if isinstance(r, TrialEnd) and r.name == "trial"]
    assert [(t.start, t.end) for t in trials] == list(zip(starts, ends, strict=True))
    start = next(r.time for r in records if isinstance(r, TrialStart) and r.name == "root")
    assert spans(trials, start) == pytest.approx([1, 6, 6, 11, 11, 16])


def test_the_last_trial_of_a_repeat_of_one_is_the_stage_below_the_root(lab):
    trials, records = run(lab, WaitRecordRest, ["n_trials=1"])
    (trial,) = trials
    start = next(r.time for r in records if isinstance(r, TrialStart) and r.name == "root")
    assert spans(trials, start) == pytest.approx([1, 6])


def test_a_trial_recorded_outside_a_stage_trial_lasts_from_the_one_before(lab):
    trials, records = run(lab, RecordedAtStageEnd)
    start = next(r.time for r in records if isinstance(r, TrialStart) and r.name == "root")
    assert [t.values for t in trials] == [{"block": "block 0"}, {"block": "block 1"}]
    assert spans(trials, start) == pytest.approx([0, 4, 4, 8])


def test_a_trial_recorded_as_its_stage_trial_ends_spans_that_trial(lab):
    trials, records = run(lab, RecordedAtTrialEnd)
    start = next(r.time for r in records if isinstance(r, TrialStart) and r.name == "root")
    assert spans(trials, start) == pytest.approx([5, 8, 8, 11, 11, 14])
