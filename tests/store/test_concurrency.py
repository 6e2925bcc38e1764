"""Several processes on one lab database: one running session per subject, a dead
owner's session interrupted, slots never over their cap. Real subprocesses, each
with its own connections, on SQLite and PostgreSQL."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import moalab.store.database as store_database
from moalab.store import TrialWriter
from tests.conftest import REPO, repo_env

HOST = socket.gethostname()


@contextmanager
def started(database_url: str, *commands: list[str]) -> Iterator[list[subprocess.Popen]]:
    """Start a ``tests.store.procs`` process per command, wait until each is
    connected, then let them all go at once; kill what is left at the end."""
    with ExitStack() as stack:
        processes = []
        for command in commands:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.store.procs", command[0], database_url,
                 *command[1:]], cwd=REPO, env=repo_env(), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True)
            stack.callback(_stop, process)
            processes.append(process)
        for process in processes:
            assert process.stdout.readline() == "ready\n"
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        yield processes


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(30)
    process.stdin.close()
    process.stdout.close()


def test_two_processes_claiming_one_subject_at_once(database):
    database.add_subject("m1")
    for _ in range(3):
        sessions = [database.create_session("m1", "p", 1, {}).id for _ in range(2)]
        with started(database.url, ["claim", sessions[0]], ["claim", sessions[1]]) as procs:
            answers = [process.stdout.readline().split() for process in procs]
            assert sorted(answer[0] for answer in answers) == ["busy", "claimed"], answers
            winner = sessions[[answer[0] for answer in answers].index("claimed")]
            assert ["busy", winner] in answers  # the refused one names the running session
            running = [s for s in database.list_sessions() if s.status == "running"]
            assert [s.id for s in running] == [winner]
        database.end_session(winner, "submitted")


def test_a_killed_owner_leaves_its_session_interrupted(database):
    database.add_subject("m1")
    session_id = database.create_session("m1", "p", 1, {}).id
    with started(database.url, ["claim", session_id]) as (owner,):
        assert owner.stdout.readline() == "claimed\n"
        # alive: it holds its session
        assert database.get_session(session_id).status == "running"
        owner.send_signal(signal.SIGKILL)
        owner.wait(30)
        listed = {s.id: s for s in database.list_sessions()}
    assert listed[session_id].status == "interrupted"
    assert listed[session_id].error == (f"interrupted: its process {owner.pid} on {HOST} "
                                        f"is gone")
    # and it can be resumed
    assert database.claim_session(session_id, HOST, os.getpid()).status == "running"


def test_a_session_whose_heartbeat_stops_is_interrupted(database, monkeypatch):
    # an owner on another PC, whose process we cannot look at: only its heartbeat
    # tells it is alive
    monkeypatch.setattr(store_database, "STALE_AFTER", 1.0)
    database.add_subject("m1")
    session_id = database.create_session("m1", "p", 1, {}).id
    database.claim_session(session_id, "rig-pc-2", 4242)
    writer = TrialWriter(database, session_id, heartbeat_every=0.2, host="rig-pc-2",
                         pid=4242)
    time.sleep(2.0)
    assert database.get_session(session_id).status == "running"  # kept fresh
    writer.close()
    time.sleep(1.5)
    stale = database.get_session(session_id)
    assert stale.status == "interrupted"
    assert stale.error.startswith("interrupted: no heartbeat from process 4242 on rig-pc-2")


def test_slots_under_contention_never_exceed_the_cap(database):
    cap, processes, tries = 5, 4, 10
    with started(database.url, *[["slots", "screening:p", str(cap), str(tries)]] *
                 processes) as procs:
        taken = [int(process.stdout.readline()) for process in procs]
    assert sum(taken) == cap, taken
    assert database.counter("screening:p") == cap
