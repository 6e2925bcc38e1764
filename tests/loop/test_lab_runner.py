"""rig_runner: a session per subject and condition on the free rigs of a lab (an SQLite
file, thread rigs), the bandit protocol with QLearningAgent subjects in a dry run
(virtual time), the data read back from the lab's trials; time_out drops a subject."""

import numpy as np
import pandas as pd
import pytest

from moalab.core.errors import InvalidArgument
from moalab.loop.bandit import BanditProtocol
from moalab.loop.lab_runner import rig_runner
from moalab.store.errors import UnknownName
from moalab.store.lab import Lab

SUBJECTS = ("rat-1", "rat-2", "rat-3")
FAST = {"iti": 0.5}  # the bandit's own argument, seconds between trials


@pytest.fixture
def lab(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    for name in SUBJECTS:
        lab.database.add_subject(name)
    for name in ("box-a", "box-b"):
        lab.database.add_rig(name, "thread")
    yield lab
    lab.close()


def schedules(*lengths, seed=3):
    rng = np.random.default_rng(seed)
    return [(rng.random((n, 2)) < 0.5).astype(int) for n in lengths]


def test_each_subject_runs_each_condition_on_the_free_rigs(lab):
    conditions = pd.DataFrame({"reward-trajectory": schedules(12, 8)})
    runner = rig_runner(BanditProtocol, subjects=SUBJECTS, lab=lab, time_out=30,
                        dry_run=True, args=FAST)
    data = runner(conditions)
    assert runner.dropped == []
    assert list(data.columns) == ["reward-trajectory", "choice-trajectory", "subject",
                                  "session"]
    assert list(data["subject"]) == [*SUBJECTS, *SUBJECTS]
    sessions = {s.id: s for s in lab.database.list_sessions()}
    assert len(sessions) == 6 and {s.status for s in sessions.values()} == {"submitted"}
    assert {s.rig for s in sessions.values()} == {"box-a", "box-b"}  # both rigs worked
    for row in data.itertuples(index=False):
        rewards, choices = np.asarray(row[0]), np.asarray(row[1])
        trials = lab.database.list_trials(row.session)
        assert rewards.shape == choices.shape == (len(trials), 2)
        assert (choices.sum(axis=1) == 1).all()  # the agent pressed on every trial
        # the data is the lab's: each choice and its reward as recorded
        assert [int(np.argmax(c)) for c in choices] == [t.values["arm"] for t in trials]
        assert [bool(rewards[i, t.values["arm"]]) for i, t in enumerate(trials)] == [
            t.values["rewarded"] for t in trials]
        assert sessions[row.session].subject == row.subject
    assert (np.asarray(data["reward-trajectory"][4]) == conditions["reward-trajectory"][1]).all()


def test_a_subject_not_done_in_time_is_dropped_and_reported(lab, caplog):
    # 4 trials take ~5 s of virtual time, 40 trials ~50 s: over a time_out of 0.5 min
    runner = rig_runner(BanditProtocol, subjects=SUBJECTS[:2], lab=lab, time_out=0.5,
                        dry_run=True, args=FAST)
    data = runner(schedules(4, 40))
    assert len(data) == 2 and all(len(c) == 4 for c in data["choice-trajectory"])
    assert [(d.subject, d.condition) for d in runner.dropped] == [("rat-1", 1), ("rat-2", 1)]
    assert {d.reason for d in runner.dropped} == {"not done within time_out=0.5 min"}
    for dropped in runner.dropped:
        assert lab.database.get_session(dropped.session).status == "abandoned"
        assert f"subject {dropped.subject!r} dropped from this cycle" in caplog.text


def test_a_condition_already_run_gives_its_sessions_data_again(lab):
    # as a workflow's step run again after a kill: the sessions done are not run twice
    conditions = schedules(6)
    first = rig_runner(BanditProtocol, subjects=SUBJECTS[:2], lab=lab, dry_run=True,
                       args=FAST)(conditions)
    interrupted = lab.database.create_session(
        "rat-3", BanditProtocol.name, BanditProtocol.version,
        dict(lab.database.get_session(first["session"][0]).args), rig="box-a")
    lab.database.end_session(interrupted.id, "interrupted")
    # a kill between a session's making and its start leaves it created, unowned
    orphan = lab.database.create_session(
        "rat-3", BanditProtocol.name, BanditProtocol.version,
        dict(lab.database.get_session(first["session"][0]).args), rig="box-a")
    again = rig_runner(BanditProtocol, subjects=SUBJECTS, lab=lab, dry_run=True,
                       args=FAST)(conditions)
    assert list(again["session"][:2]) == list(first["session"])
    assert all((a == b).all() for a, b in zip(again["choice-trajectory"][:2],
                                              first["choice-trajectory"], strict=True))
    assert lab.database.get_session(interrupted.id).status == "abandoned"
    assert again["session"][2] != interrupted.id  # rat-3 ran the condition anew, whole
    assert orphan.id not in {info.id for info in lab.database.list_sessions()}
    fresh = rig_runner(BanditProtocol, subjects=SUBJECTS[:1], lab=lab, dry_run=True,
                       args=FAST, reuse=False)(conditions)
    assert fresh["session"][0] not in set(again["session"])
    assert len(lab.database.list_sessions()) == 5


def test_bad_input_is_named_with_the_fix(lab, tmp_path):
    with pytest.raises(UnknownName):
        rig_runner(BanditProtocol, subjects=["nobody"], lab=lab)
    with pytest.raises(InvalidArgument, match="time_out=0 is not accepted: give minutes > 0"):
        rig_runner(BanditProtocol, lab=lab, time_out=0)
    runner = rig_runner(BanditProtocol, lab=lab, dry_run=True)
    with pytest.raises(InvalidArgument, match="have no 'reward-trajectory'"):
        runner(pd.DataFrame({"x": [1]}))
    with pytest.raises(InvalidArgument, match=r"condition 0 of shape \(3,\) is not a reward"):
        runner([[0, 1, 1]])
    empty = Lab.init(tmp_path / "empty")
    try:
        with pytest.raises(InvalidArgument, match="has no subjects to run on"):
            rig_runner(BanditProtocol, lab=empty)
    finally:
        empty.close()


def test_a_dry_run_on_network_rigs_does_not_reach_them(tmp_path):
    # rigs reached over the network with no server at their address: a dry run's
    # sessions run on virtual devices all the same, and keep their rig in the lab
    import socket

    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    lab = Lab.init(tmp_path / "lab")
    try:
        lab.database.add_subject("a")
        lab.database.add_rig("r", "websocket", host="127.0.0.1", port=port)
        runner = rig_runner(BanditProtocol, lab=lab, dry_run=True, args=FAST)
        data = runner(np.array([[1, 0], [0, 1]]))
        assert runner.dropped == []
        assert len(data) == 1 and data["choice-trajectory"][0].sum() == 2
        (session,) = lab.database.list_sessions()
        assert (session.status, session.rig) == ("submitted", "r")
    finally:
        lab.close()
