"""DatabaseWorker keeps the trio loop free; TrialWriter records a session's trials in
order, each durable (readable from another connection) within about 100 ms."""

import logging
import os
import socket
import statistics
import threading
import time

import pytest
import trio

from moalab import InvalidArgument
from moalab.store import Database, DatabaseWorker, StoreError, TrialWriter


@pytest.fixture
def session_id(database) -> str:
    database.add_subject("m1")
    session_id = database.create_session("m1", "p", 1, {}).id
    database.claim_session(session_id, socket.gethostname(), os.getpid())
    return session_id


async def test_calls_run_off_the_trio_loop(database):
    worker = DatabaseWorker(database)
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0.01)

    def slow_unit():
        time.sleep(0.5)  # a unit of work kept waiting (a lock, a slow network)
        return database.add_subject("m1")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick)
        subject = await worker.call(slow_unit)
        nursery.cancel_scope.cancel()
    assert subject.name == "m1"
    assert ticks >= 10  # the loop ran on while the call waited: 50 ticks if never late
    with pytest.raises(InvalidArgument, match="already has a subject 'm1'"):
        await worker.call(database.add_subject, "m1")


async def test_sqlite_calls_run_one_at_a_time(tmp_path):
    database = Database.open(f"sqlite:///{tmp_path / 'lab.sqlite'}", upgrade=True)
    worker = DatabaseWorker(database)
    running, most = 0, 0
    lock = threading.Lock()

    def unit(name):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return database.add_subject(name)

    async with trio.open_nursery() as nursery:
        for i in range(4):
            nursery.start_soon(worker.call, unit, f"m{i}")
    database.close()
    assert most == 1


def test_trials_are_durable_within_100_ms_and_in_order(database, session_id):
    reader = Database(database.url)  # another connection, as another process would be
    writer = TrialWriter(database, session_id)
    delays = []
    try:
        for index in range(20):
            put = time.monotonic()
            writer.put(index, {"correct": index % 2 == 0}, float(index), index + 0.5)
            while len(reader.list_trials(session_id)) <= index:
                assert time.monotonic() - put < 2, f"trial {index} not written after 2 s"
                time.sleep(0.002)
            delays.append(time.monotonic() - put)
        writer.close()
    finally:
        reader.close()
    print(f"put to readable: p50 {statistics.median(delays) * 1e3:.1f} ms, "
          f"max {max(delays) * 1e3:.1f} ms")
    assert statistics.median(delays) < 0.1
    trials = database.list_trials(session_id)
    assert [(t.index, t.values, t.start) for t in trials] == [
        (i, {"correct": i % 2 == 0}, float(i)) for i in range(20)]


def test_close_writes_what_is_queued(database, session_id):
    writer = TrialWriter(database, session_id)
    for index in range(300):
        writer.put(index, {"i": index})
    writer.put_state({"seed": 1}, {"done": 300})
    writer.close()
    writer.close()  # again: nothing more to do
    assert [t.index for t in database.list_trials(session_id)] == list(range(300))
    assert database.load_state(session_id) == ({"seed": 1}, {"done": 300})
    with pytest.raises(StoreError, match="closed: trial 300 came after the session ended"):
        writer.put(300, {})


def test_a_trials_end_comes_after_it_in_the_same_commit_or_a_later_one(database,
                                                                      session_id):
    writer = TrialWriter(database, session_id)
    writer.put(0, {"correct": True}, 1.0)
    writer.put_end(0, 2.5)  # in the batch of its trial: one INSERT
    writer.put(1, {"correct": False}, 2.5)
    writer.flush()
    assert [(t.start, t.end) for t in database.list_trials(session_id)] == \
        [(1.0, 2.5), (2.5, None)]
    writer.put_end(1, 4.0)  # its trial was committed before: an UPDATE
    writer.close()
    assert [(t.index, t.values, t.start, t.end) for t in database.list_trials(session_id)] \
        == [(0, {"correct": True}, 1.0, 2.5), (1, {"correct": False}, 2.5, 4.0)]
    with pytest.raises(StoreError, match="closed: trial 1's end came after the session"):
        writer.put_end(1, 5.0)
    with pytest.raises(InvalidArgument, match="has no trial index 7: a trial's end is set "
                                              "after the trial is recorded"):
        database.set_trial_ends(session_id, [(1, 6.0), (7, 8.0)])
    assert database.list_trials(session_id)[1].end == 4.0


def test_a_write_error_is_raised_not_lost(database, session_id, caplog):
    database.add_trials(session_id, [(3, {}, None, None)])  # recorded by an earlier run
    writer = TrialWriter(database, session_id)
    writer.put(0, {})
    writer.flush()
    writer.put(3, {})
    with caplog.at_level(logging.ERROR, logger="moalab.store.worker"):
        with pytest.raises(StoreError, match=f"recording the trials of session "
                                             f"{session_id} failed: .*already has trial "
                                             f"index 3") as error:
            writer.flush()
    assert isinstance(error.value.__cause__, InvalidArgument)
    assert "recording trials [3]" in caplog.text
    with pytest.raises(StoreError, match="already has trial index 3"):
        writer.put(4, {})
    with pytest.raises(StoreError, match="already has trial index 3"):
        writer.close()
    assert [t.index for t in database.list_trials(session_id)] == [0, 3]


def test_the_heartbeat_rides_on_the_writer(database, session_id):
    before = database.get_session(session_id).heartbeat
    writer = TrialWriter(database, session_id, heartbeat_every=0.1)
    time.sleep(0.5)
    writer.close()
    assert database.get_session(session_id).heartbeat > before
    # a session this process does not hold: the writer says so
    database.end_session(session_id, "interrupted")
    writer = TrialWriter(database, session_id, heartbeat_every=0.05)
    time.sleep(0.3)
    with pytest.raises(StoreError, match=f"session {session_id} is not held by process"):
        writer.close()
