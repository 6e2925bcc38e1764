"""Every Database method, against a real SQLite file and a real PostgreSQL."""

import os
import socket
from datetime import date

import pytest

from moalab import InvalidArgument
from moalab.store import (
    Database,
    NameTaken,
    SessionNotHeld,
    SubjectBusy,
    UnknownName,
)

HOST = socket.gethostname()


def test_subjects(database):
    added = database.add_subject("mouse-1", species="Mus musculus", sex="F",
                                 dob="2024-03-01", notes="left ear", personal=["notes"])
    assert added.dob == date(2024, 3, 1) and added.personal == ("notes",)
    database.add_subject("mouse-2")
    assert database.get_subject("mouse-1") == added
    assert [s.name for s in database.list_subjects()] == ["mouse-1", "mouse-2"]
    assert database.get_subject("mouse-2").sex == "U"
    with pytest.raises(UnknownName, match=r"'mouse-3'.*did you mean.*'mouse-1'.*"
                                          r"`moalab subject list`"):
        database.get_subject("mouse-3")
    with pytest.raises(NameTaken, match="already has a subject 'mouse-1'"):
        database.add_subject("mouse-1")


@pytest.mark.parametrize("kwargs, match", [
    ({"sex": "X"}, "sex 'X' is not one of F, M, U"),
    ({"dob": "01/02/2024"}, "'01/02/2024' is not a date YYYY-MM-DD"),
    ({"personal": ["address"]}, "personal field 'address' is not one of"),
])
def test_a_bad_subject_is_refused(database, kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        database.add_subject("m", **kwargs)
    assert database.list_subjects() == []


def test_rigs(database):
    rig = database.add_rig("box-a", "websocket", host="pi-a.local", port=8000)
    database.add_rig("bench", "thread")
    assert database.get_rig("box-a") == rig
    assert [r.name for r in database.list_rigs()] == ["bench", "box-a"]
    with pytest.raises(InvalidArgument, match="executor 'ssh' is not one of websocket"):
        database.add_rig("c", "ssh")
    with pytest.raises(InvalidArgument, match="port 70000 is not a port"):
        database.add_rig("c", "rest", port=70000)
    with pytest.raises(UnknownName, match="no rig 'box-b'.*'box-a'.*`moalab rig list`"):
        database.get_rig("box-b")


def test_a_session_from_creation_to_its_end(database):
    database.add_subject("m1")
    database.add_rig("box-a", "process")
    made = database.create_session("m1", "sugar-pellet", 2, {"n_trials": 3},
                                   rig="box-a", kind="training", step=1)
    assert (made.status, made.subject, made.rig, made.kind, made.step, made.n_trials) == (
        "created", "m1", "box-a", "training", 1, 0)
    assert made.data_dir == made.id and len(made.id) == 12
    assert made.started is None and made.created.tzinfo is not None

    running = database.claim_session(made.id, HOST, os.getpid())
    assert running.status == "running" and running.owner_pid == os.getpid()
    assert running.started is not None and running.heartbeat is not None
    database.heartbeat(made.id, HOST, os.getpid())
    with pytest.raises(SessionNotHeld, match=f"not held by process 1 on {HOST}"):
        database.heartbeat(made.id, HOST, 1)

    database.end_session(made.id, "interrupted")
    resumed = database.claim_session(made.id, HOST, os.getpid())
    assert resumed.started == running.started  # the first start is kept
    database.add_trials(made.id, [(0, {"correct": True}, 1.0, 2.5)])
    database.end_session(made.id, "failed", error="the lever stuck")
    ended = database.get_session(made.id)
    assert (ended.status, ended.error, ended.n_trials, ended.owner_pid) == (
        "failed", "the lever stuck", 1, None)
    assert ended.ended >= ended.started
    with pytest.raises(InvalidArgument, match=f"session {made.id} is failed: only a "
                                              f"created or interrupted session can run"):
        database.claim_session(made.id, HOST, os.getpid())
    with pytest.raises(InvalidArgument, match="end status 'done' is not one of"):
        database.end_session(made.id, "done")


def test_create_session_refuses_unknown_names_and_bad_args(database):
    database.add_subject("m1")
    with pytest.raises(UnknownName, match="no subject 'm2'"):
        database.create_session("m2", "p", 1, {})
    with pytest.raises(UnknownName, match="no rig 'box'"):
        database.create_session("m1", "p", 1, {}, rig="box")
    with pytest.raises(InvalidArgument, match="kind 'pilot' is not one of main"):
        database.create_session("m1", "p", 1, {}, kind="pilot")
    with pytest.raises(InvalidArgument, match="p arg when = .* cannot be stored"):
        database.create_session("m1", "p", 1, {"when": date.today()})
    assert database.list_sessions() == []


def test_a_second_running_session_of_a_subject_is_refused(database):
    database.add_subject("m1")
    first = database.create_session("m1", "p", 1, {})
    second = database.create_session("m1", "p", 1, {})
    database.claim_session(first.id, HOST, os.getpid())
    with pytest.raises(SubjectBusy, match=f"subject 'm1' is in session {first.id}") as error:
        database.claim_session(second.id, HOST, os.getpid())
    assert error.value.session_id == first.id
    assert database.get_session(second.id).status == "created"
    database.end_session(first.id, "submitted")
    assert database.claim_session(second.id, HOST, os.getpid()).status == "running"


def test_delete_session_leaves_nothing(database):
    database.add_subject("m1")
    made = database.create_session("m1", "p", 1, {})
    database.save_state(made.id, {"a": 1}, None)
    database.add_trials(made.id, [(0, {}, None, None)])
    database.delete_session(made.id)
    assert database.list_sessions() == []
    with pytest.raises(UnknownName, match=f"no session '{made.id}'"):
        database.list_trials(made.id)
    started = database.create_session("m1", "p", 1, {})
    database.claim_session(started.id, HOST, os.getpid())
    with pytest.raises(InvalidArgument, match="only a session that never started"):
        database.delete_session(started.id)


def test_list_sessions_by_subject_and_protocol(database):
    for name in ("m1", "m2"):
        database.add_subject(name)
    a = database.create_session("m1", "p", 1, {})
    b = database.create_session("m2", "p", 1, {})
    c = database.create_session("m1", "q", 1, {})
    database.add_trials(c.id, [(0, {}, None, None), (1, {}, None, None)])
    assert [s.id for s in database.list_sessions()] == [a.id, b.id, c.id]
    assert [s.id for s in database.list_sessions(subject="m1")] == [a.id, c.id]
    assert [s.id for s in database.list_sessions(protocol="p")] == [a.id, b.id]
    assert [(s.id, s.n_trials) for s in database.subject_sessions("m1", "q")] == [(c.id, 2)]
    with pytest.raises(UnknownName, match="no subject 'm3'"):
        database.list_sessions(subject="m3")
    with pytest.raises(UnknownName, match="no session 'ffffffffffff'.*`moalab session list`"):
        database.get_session("ffffffffffff")
    typo = a.id[:-1] + ("0" if a.id[-1] != "0" else "1")
    with pytest.raises(UnknownName, match=f"did you mean '{a.id}'"):
        database.get_session(typo)



def test_a_session_is_found_by_a_unique_prefix_of_its_id(database):
    database.add_subject("m1")
    # 17 ids of 16 first digits: two at least share their first one
    made = [database.create_session("m1", "p", 1, {}).id for _ in range(17)]
    for id in made:
        assert database.find_session(id).id == id  # the whole id
        unique = next(id[:n] for n in range(1, 13)
                      if [other.startswith(id[:n]) for other in made].count(True) == 1)
        assert database.find_session(unique).id == id
    first = next(id[0] for id in made if sum(other[0] == id[0] for other in made) > 1)
    sharing = sorted(id for id in made if id[0] == first)
    with pytest.raises(InvalidArgument, match=f"'{first}' is the start of {len(sharing)} "
                       "sessions' ids: " + ", ".join(sharing)) as raised:
        database.find_session(first)
    assert not isinstance(raised.value, UnknownName)
    missing = next(c for c in "0123456789abcdef" if not any(id.startswith(c) for id in made)) \
        if len({id[0] for id in made}) < 16 else "g"
    with pytest.raises(UnknownName, match=f"no session '{missing}'.*`moalab session list`"):
        database.find_session(missing)
    for bad in ("", "%", "_"):  # neither every session nor a LIKE pattern
        with pytest.raises(UnknownName):
            database.find_session(bad)

def test_trials_are_kept_in_order_and_once(database):
    database.add_subject("m1")
    session_id = database.create_session("m1", "p", 1, {}).id
    database.add_trials(session_id, [(0, {"rt": 0.5, "side": "L"}, 0.0, 1.0),
                                     (1, {"rt": None}, 1.0, None)])
    database.add_trials(session_id, [(2, {"nested": {"a": [1, 2]}}, None, None)])
    trials = database.list_trials(session_id)
    assert [(t.index, t.values, t.start, t.end) for t in trials] == [
        (0, {"rt": 0.5, "side": "L"}, 0.0, 1.0), (1, {"rt": None}, 1.0, None),
        (2, {"nested": {"a": [1, 2]}}, None, None)]
    with pytest.raises(InvalidArgument, match=f"session {session_id} already has trial "
                                              f"index 1"):
        database.add_trials(session_id, [(3, {}, None, None), (1, {}, None, None)])
    with pytest.raises(InvalidArgument, match="repeat"):
        database.add_trials(session_id, [(4, {}, None, None), (4, {}, None, None)])
    with pytest.raises(InvalidArgument, match="trial 5 values .* cannot be stored"):
        database.add_trials(session_id, [(5, {"x": object()}, None, None)])
    assert [t.index for t in database.list_trials(session_id)] == [0, 1, 2]


def test_state_is_saved_whole(database):
    database.add_subject("m1")
    session_id = database.create_session("m1", "p", 1, {}).id
    assert database.load_state(session_id) == (None, None)
    database.save_state(session_id, {"seed": 3}, None)
    assert database.load_state(session_id) == ({"seed": 3}, None)
    database.save_state(session_id, {"seed": 3}, {"done": [1, 2]})
    assert database.load_state(session_id) == ({"seed": 3}, {"done": [1, 2]})
    with pytest.raises(InvalidArgument, match="data = .* cannot be stored"):
        database.save_state(session_id, {"seed": 4}, {"x": {1, 2}})
    assert database.load_state(session_id) == ({"seed": 3}, {"done": [1, 2]})


def test_qualifications(database):
    database.add_subject("m1")
    assert database.qualification("m1", "sugar-pellet-training") is None
    database.grant("m1", "sugar-pellet-training", 0)
    database.grant("m1", "sugar-pellet-training", 1)
    database.grant("m1", "other", 7)
    assert database.qualification("m1", "sugar-pellet-training") == 1
    assert [(q.name, q.value) for q in database.list_qualifications("m1")] == [
        ("other", 7), ("sugar-pellet-training", 1)]
    history = database.list_qualifications("m1", history=True)
    assert [(q.name, q.value, q.revoked is None) for q in history] == [
        ("other", 7, True), ("sugar-pellet-training", 0, False),
        ("sugar-pellet-training", 1, True)]
    assert database.revoke("m1", "sugar-pellet-training") is True
    assert database.revoke("m1", "sugar-pellet-training") is False
    assert database.qualification("m1", "sugar-pellet-training") is None
    with pytest.raises(UnknownName, match="no subject 'm9'"):
        database.grant("m9", "x", 1)


def test_slots(database):
    assert [database.take_slot("screening:p", 2) for _ in range(3)] == [True, True, False]
    assert database.counter("screening:p") == 2
    database.free_slot("screening:p")
    assert database.take_slot("screening:p", 2) is True
    assert database.take_slot("screening:q", 0) is False
    for _ in range(5):
        database.free_slot("screening:q")
    assert database.counter("screening:q") == 0 and database.counter("never") == 0


def test_the_store_survives_reopening(database_url):
    # what one Database wrote, another (a restarted process) reads
    first = Database.open(database_url, upgrade=True)
    first.add_subject("m1")
    session_id = first.create_session("m1", "p", 1, {"a": 1}).id
    first.take_slot("c", 5)
    first.close()
    second = Database.open(database_url)
    try:
        assert second.get_session(session_id).args == {"a": 1}
        assert second.counter("c") == 1
    finally:
        second.close()
