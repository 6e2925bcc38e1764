"""The lab from the command line, as real processes on a real SQLite lab: sessions of the
example protocols through training into the main protocol, kill -9 and resume, two
sessions of one subject at once, and bad input. Each command runs once at least as a
real process; the lookups between them and the bad input run in process (each process
costs 1.5 s of imports)."""

import json
import os
import signal
import socket
import subprocess

import pytest

from moalab.store import Lab
from tests.store.conftest import postgres_url  # noqa: F401 - the fixture

from .helpers import (
    EXAMPLES,
    command,
    env,
    read_rows,
    run,
    run_in_process,
    signal_when,
    wait_until,
)

SUGAR = EXAMPLES / "protocols" / "sugar_pellet.py"
MOCK = "moalab.protocol.mock"


@pytest.fixture
def lab(tmp_path):
    """A lab with two rats, made in process (the commands that make one are run by
    test_two_labs_sharing_one_postgresql...; each process costs 1.5 s of imports)."""
    made = Lab.init(tmp_path / "lab")
    for name in ("rat-1", "rat-2"):
        made.database.add_subject(name, species="rat")
    made.close()
    return tmp_path / "lab"


def moalab_json(folder, *args, runner=run):
    """``moalab ARGS --json`` in ``folder`` (a process; ``runner=run_in_process`` in
    process): its output read."""
    result = runner("moalab", *args, "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_subject_goes_through_training_into_the_main_protocol(lab):
    for runner in (run, run_in_process, run_in_process):  # the lab keeps the progress
        result = runner("moalab", "session", "run", SUGAR, "--subject", "rat-1", "--dry-run",
                        "--arg", "n_trials=4", cwd=lab)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("session ")
    sessions = moalab_json(lab, "session", "list")
    kinds = [(s["kind"], s["step"], s["status"]) for s in sessions]
    assert kinds == [("training", 0, "submitted"), ("training", 1, "submitted"),
                     ("main", None, "submitted")]
    main = sessions[-1]
    assert {"id", "subject", "protocol", "version", "status", "started", "ended", "n_trials",
            "rig", "data_dir"} <= set(main)
    assert (main["subject"], main["protocol"], main["version"], main["n_trials"]) == (
        "rat-1", "sugar-pellet", 1, 4)
    shown = moalab_json(lab, "session", "show", main["id"], runner=run_in_process)
    assert [t["index"] for t in shown["trials"]] == [0, 1, 2, 3]
    assert set(shown["trials"][0]["values"]) == {"correct", "pressed"}
    rows = read_rows(lab / "data" / main["id"] / "log.csv")
    assert rows[-1]["name"] == "Root stage" and rows[-1]["trigger"] == "on_stage_end"
    subject = moalab_json(lab, "subject", "show", "rat-1")
    assert subject["qualifications"] == {"sugar-pellet-training-step": 1,
                                         "sugar-pellet-trained": 1}


def trials_of(folder, session_id):
    lab = Lab.find(folder)
    try:
        return [t.index for t in lab.database.list_trials(session_id)]
    finally:
        lab.close()


def init_state(folder, session_id):
    lab = Lab.find(folder)
    try:
        return lab.database.load_state(session_id)[0]
    finally:
        lab.close()


def only_session(folder):
    lab = Lab.find(folder)
    try:
        return lab.database.list_sessions()
    finally:
        lab.close()


def test_a_session_killed_mid_trial_is_interrupted_and_resumes_where_it_stopped(lab):
    n = 12
    process = subprocess.Popen(
        [*command("moalab"), "session", "run", MOCK, "--subject", "rat-1", "--speed", "20",
         "--arg", f"n_trials={n}"], cwd=lab, env=env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: only_session(lab) and only_session(lab)[0].n_trials >= 4, 60,
                   "4 trials recorded")
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    (listed,) = moalab_json(lab, "session", "list", runner=run_in_process)
    assert listed["status"] == "interrupted"
    init = init_state(lab, listed["id"])
    assert init and init["token"]
    done = listed["n_trials"]
    assert 4 <= done < n
    log = lab / "data" / listed["id"] / "log.csv"
    before = read_rows(log)

    # resume takes run's --dashboard (refused here with its reason: a dry run has no page)
    refused = run_in_process("moalab", "session", "resume", listed["id"], "--dry-run",
                             "--dashboard", "127.0.0.1:0", cwd=lab)
    assert refused.returncode == 2 and "--dashboard with --dry-run" in refused.stderr, refused
    result = run("moalab", "session", "resume", listed["id"], "--dry-run", cwd=lab, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = moalab_json(lab, "session", "show", listed["id"])
    assert shown["status"] == "submitted"
    assert init_state(lab, listed["id"]) == init  # set_init_state did not run again
    assert [t["index"] for t in shown["trials"]] == list(range(n))
    assert [t["values"]["trial"] for t in shown["trials"]] == list(range(n))
    # the log goes on in the same file: what was there is kept, no index twice
    after = read_rows(log)
    assert after[:len(before)] == before
    indices = [int(row["index"]) for row in after]
    assert sorted(set(indices)) == sorted(set(indices)) and indices == sorted(indices)
    trial_ends = [r for r in after if r["name"] == "trial" and r["trigger"] == "on_trial_end"]
    assert len(trial_ends) >= n


def test_a_second_session_of_a_running_subject_is_refused_naming_the_first(lab):
    ready = lambda: bool(only_session(lab)) and only_session(lab)[0].status == "running"  # noqa: E731
    second: dict = {}

    def start_second_then_ready():
        if not ready():
            return False
        second["result"] = run("moalab", "session", "run", MOCK, "--subject", "rat-1",
                               "--dry-run", cwd=lab)
        return True

    process, stdout, stderr, _ = signal_when(
        [*command("moalab"), "session", "run", MOCK, "--subject", "rat-1", "--speed", "5",
         "--arg", "n_trials=1000"], lab, start_second_then_ready, "the first session running")
    first = [s for s in only_session(lab)]
    assert len(first) == 1, first  # the refused one left nothing behind
    result = second["result"]
    assert result.returncode == 2
    assert first[0].id in result.stderr and "rat-1" in result.stderr
    assert first[0].status == "interrupted"  # the first was stopped by the signal


@pytest.mark.parametrize("args, problem", [
    (["session", "run", MOCK, "--subject", "rat-9", "--dry-run"], "rat-9"),
    (["session", "run", MOCK, "--subject", "rat-1", "--rig", "box-9", "--dry-run"], "box-9"),
    (["session", "run", "no_such_protocol.py", "--subject", "rat-1"], "no_such_protocol.py"),
    (["session", "run", MOCK, "--subject", "rat-1", "--arg", "n_trials=many"], "n_trials"),
    (["session", "resume", "nosuchsession"], "nosuchsession"),
])
def test_bad_input_names_the_problem_and_leaves_no_session(lab, args, problem):
    result = run_in_process("moalab", *args, cwd=lab)
    assert result.returncode == 2, result.stdout + result.stderr
    assert problem in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr
    assert only_session(lab) == []


def test_a_folder_that_is_not_a_lab_and_a_corrupt_config_are_named(tmp_path, lab):
    result = run("moalab", "subject", "list", cwd=tmp_path)
    assert result.returncode == 2 and "moalab lab init" in result.stderr
    (lab / "moalab-lab.toml").write_text("[database\nurl = 3\n")
    result = run_in_process("moalab", "subject", "list", cwd=lab)
    assert result.returncode == 2 and "moalab-lab.toml" in result.stderr


def test_two_labs_sharing_one_postgresql_refuse_a_second_session_of_a_subject(
        tmp_path, postgres_url):
    labs = [tmp_path / "pc1", tmp_path / "pc2"]
    for folder in labs:
        result = run("moalab", "lab", "init", folder, "--database", postgres_url, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert run("moalab", "subject", "add", "rat-1", cwd=labs[0]).returncode == 0
    assert [s["name"] for s in moalab_json(labs[1], "subject", "list")] == ["rat-1"]
    second: dict = {}

    def first_running_then_second():
        # the second PC's lab sees the first's session running (read in process: a
        # process a poll would cost 1.5 s each)
        second_pc = Lab.find(labs[1])
        try:
            running = [s for s in second_pc.database.list_sessions() if s.status == "running"]
        finally:
            second_pc.close()
        if running:
            second["result"] = run("moalab", "session", "run", MOCK, "--subject", "rat-1",
                                   "--dry-run", cwd=labs[1])
            return True
        return False

    signal_when([*command("moalab"), "session", "run", MOCK, "--subject", "rat-1", "--speed",
                 "5", "--arg", "n_trials=1000"], labs[0], first_running_then_second,
                "the session on the first PC running")
    (first,) = moalab_json(labs[0], "session", "list")
    assert second["result"].returncode == 2 and first["id"] in second["result"].stderr


def test_a_database_nobody_answers_for_is_named_without_its_password(lab):
    url = "postgresql+psycopg://moalab:secret-word@127.0.0.1:9/lab"  # port 9: nobody there
    (lab / "moalab-lab.toml").write_text(f'[lab]\nname = "lab"\n\n[database]\nurl = "{url}"\n')
    result = run("moalab", "session", "list", cwd=lab, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "127.0.0.1:9" in result.stderr and "secret-word" not in result.stderr


def test_listing_and_showing_sessions_make_no_data_folder(lab):
    # a session another PC of the lab made: its data folder is on that PC, not here
    made = Lab.find(lab)
    try:
        other = made.database.create_session("rat-1", "mock", 1, {})
    finally:
        made.close()
    for args in (["session", "list"], ["session", "list", "--json"],
                 ["session", "show", other.id], ["session", "show", other.id, "--json"],
                 ["subject", "show", "rat-1"], ["subject", "show", "rat-1", "--json"]):
        result = run_in_process("moalab", *args, cwd=lab)
        assert result.returncode == 0, result.stdout + result.stderr
        assert list((lab / "data").iterdir()) == [], args
    (listed,) = moalab_json(lab, "session", "list", runner=run_in_process)
    assert listed["data_dir"] == str((lab / "data" / other.id).resolve())  # where it would be


def test_a_busy_refusal_prints_only_the_refusal(lab):
    # rat-1's session running in a live process (this one) of this computer
    made = Lab.find(lab)
    try:
        running = made.database.create_session("rat-1", "mock", 1, {})
        made.database.claim_session(running.id, socket.gethostname(), os.getpid())
    finally:
        made.close()
    result = run_in_process("moalab", "session", "run", MOCK, "--subject", "rat-1",
                            "--dry-run", cwd=lab)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""  # no line for the session it made, then deleted
    assert running.id in result.stderr and "rat-1" in result.stderr
    assert [s.id for s in only_session(lab)] == [running.id]


def test_a_session_is_named_by_a_unique_start_of_its_id(lab):
    made = Lab.find(lab)
    try:
        # 17 ids of 16 first digits: two at least share their first one
        ids = [made.database.create_session("rat-1", "mock", 1, {}).id for _ in range(17)]
    finally:
        made.close()
    first = next(id[0] for id in ids if sum(other[0] == id[0] for other in ids) > 1)
    sharing = sorted(id for id in ids if id[0] == first)
    shown = moalab_json(lab, "session", "show", sharing[0][:8], runner=run_in_process)
    assert shown["id"] == sharing[0]
    result = run_in_process("moalab", "session", "abandon", sharing[1][:8], cwd=lab)
    assert result.returncode == 0 and f"session {sharing[1]} abandoned" in result.stdout
    refused = run_in_process("moalab", "session", "resume", sharing[1][:8], "--dry-run",
                             cwd=lab)  # abandoned: found by its prefix, then refused
    assert refused.returncode == 2 and f"session {sharing[1]} is abandoned" in refused.stderr
    for args in (["session", "show", first], ["session", "abandon", first],
                 ["session", "resume", first, "--dry-run"]):
        result = run_in_process("moalab", *args, cwd=lab)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"'{first}' is the start of {len(sharing)} sessions' ids: " in result.stderr
        assert all(id in result.stderr for id in sharing) and "give more" in result.stderr
    result = run_in_process("moalab", "session", "show", "xyz", cwd=lab)
    assert result.returncode == 2 and "no session 'xyz'" in result.stderr
    assert "`moalab session list` lists them" in result.stderr


def test_the_session_table_shows_whole_ids_on_100_columns(lab):
    made = Lab.find(lab)
    try:
        info = made.database.create_session("rat-1", "mock", 1, {})
        made.database.claim_session(info.id, socket.gethostname(), os.getpid())
        made.database.end_session(info.id, "submitted")  # its times make the row wide
    finally:
        made.close()
    for args in (["session", "list"], ["subject", "show", "rat-1"]):
        result = subprocess.run([*command("moalab"), *args], cwd=lab,
                                env={**env(), "COLUMNS": "100"}, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert max(map(len, result.stdout.splitlines())) <= 100
        assert info.id in result.stdout, result.stdout
