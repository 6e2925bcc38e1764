"""`moalab run` as a real subprocess: the log it writes, its errors, Ctrl-C, devices."""

import signal
import subprocess
import textwrap
import time

import pytest

from .helpers import (
    EXAMPLES,
    command,
    env,
    lines,
    no_traceback,
    read_rows,
    run,
    stage_events,
    wait_until,
)

SUGAR_PELLET = EXAMPLES / "sugar_pellet.py"


def trial_events() -> list[tuple[str, str]]:
    events = [("Trial", "on_trial_start")]
    for stage in ("photobeam_stage", "sugar pallet stage", "ITI"):
        events += [(stage, f"on_{kind}") for kind in
                   ("stage_start", "trial_start", "trial_end", "stage_end")]
    return events + [("Trial", "on_trial_end")]


def delay_events(name: str) -> list[tuple[str, str]]:
    return [(name, f"on_{kind}") for kind in
            ("stage_start", "trial_start", "trial_end", "stage_end")]


# the stage events of the seed guide's log table, in order ("state" rows left out)
SEED_STAGE_EVENTS = [
    ("Root stage", "on_stage_start"), ("Root stage", "on_trial_start"),
    *delay_events("Habituation"),
    ("Trial", "on_stage_start"), *trial_events(), *trial_events(), ("Trial", "on_stage_end"),
    *delay_events("post delay"),
    ("Root stage", "on_trial_end"), ("Root stage", "on_stage_end"),
]


def duration(rows, name: str) -> float:
    """Seconds from ``name``'s first on_stage_start to its first on_stage_end."""
    start = next(float(r["timestamp"]) for r in rows
                 if r["name"] == name and r["trigger"] == "on_stage_start")
    end = next(float(r["timestamp"]) for r in rows
               if r["name"] == name and r["trigger"] == "on_stage_end")
    return end - start


def write_script(tmp_path, body: str, name: str = "experiment.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


# ---------------------------------------------------------------------- dry run


def test_dry_run_of_the_seed_writes_its_log(tmp_path):
    log = tmp_path / "seed.csv"
    started = time.monotonic()
    result = run("moalab", "run", SUGAR_PELLET, "--dry-run", "--log", log, "--no-live",
                 cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 30, f"the dry run of 95+ s of delays took {elapsed:.1f} s"

    rows = read_rows(log)
    assert [int(r["index"]) for r in rows] == sorted(int(r["index"]) for r in rows)
    assert stage_events(rows) == SEED_STAGE_EVENTS
    assert (rows[-1]["name"], rows[-1]["trigger"]) == ("Root stage", "on_stage_end")
    # virtual time: the delays are exact in the log (up to the rounding of a float
    # timestamp: the post delay starts at a random time, after the ITI)
    assert duration(rows, "Habituation") == 20.0
    assert duration(rows, "post delay") == pytest.approx(15.0, abs=1e-9)
    assert duration(rows, "sugar pallet stage") == pytest.approx(0.2, abs=1e-9)
    assert 20 <= duration(rows, "ITI") <= 40
    # the script's `devices` are pumped and logged
    assert {r["name"] for r in rows} >= {"photobeam_device", "motor_device"}
    summary = lines(result.stdout)[-1]
    assert "done" in summary and "virtual time" in summary and str(log) in summary


def test_live_view_into_a_pipe(tmp_path):
    # the default live view, with stdout not a terminal (as under nohup or a CI log)
    log = tmp_path / "seed.csv"
    result = run("moalab", "run", SUGAR_PELLET, "--dry-run", "--log", log, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Root stage" in result.stdout and "photobeam_stage" in result.stdout
    assert "elapsed" in result.stdout
    assert read_rows(log)[-1]["trigger"] == "on_stage_end"


def test_overwrite_replaces_an_existing_log(tmp_path):
    log = tmp_path / "seed.csv"
    log.write_text("an older experiment\n")
    result = run("moalab", "run", SUGAR_PELLET, "--dry-run", "--log", log, "--no-live",
                 "--overwrite", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert stage_events(read_rows(log)) == SEED_STAGE_EVENTS


def test_default_log_name_in_the_current_folder(tmp_path):
    result = run("moalab", "run", SUGAR_PELLET, "--dry-run", "--no-live", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (log,) = tmp_path.glob("sugar_pellet-*.csv")
    assert str(log) in result.stdout
    assert stage_events(read_rows(log)) == SEED_STAGE_EVENTS


# ----------------------------------------------------------------------- errors

NO_ROOT = "from moalab import Delay\nwait = Delay(delay=1)\n"
RAISES = "import moalab\nraise ValueError('the rig is not plugged in')\n"


@pytest.mark.parametrize(
    "script, extra, expected",
    [
        pytest.param(None, (), "no experiment script at 'missing.py'", id="missing-script"),
        pytest.param(NO_ROOT, (), "defines nothing as `root`", id="no-root"),
        pytest.param("root = 42\n", (), "defines a int as `root`", id="root-not-a-stage"),
        pytest.param("", ("--log", "out"), "--log 'out' is a folder", id="log-is-a-folder"),
        pytest.param("", ("--log", "nowhere/x.csv"),
                     "cannot write the log file 'nowhere/x.csv' (No such file or directory)",
                     id="log-folder-missing"),
    ],
)
def test_our_errors_are_one_line_without_traceback(tmp_path, script, extra, expected):
    name = "missing.py"
    if script is not None:
        # a valid tree, unless the parameter replaces it
        name = "experiment.py"
        write_script(tmp_path, script or "from moalab import Delay\nroot = Delay(delay=1)\n")
    (tmp_path / "out").mkdir()
    result = run("moalab", "run", name, "--dry-run", "--no-live", *extra, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert no_traceback(result), result.stderr
    first = lines(result.stderr)[0]
    assert first.startswith("moalab run: ") and expected in first, result.stderr
    assert result.stdout == ""
    assert not list(tmp_path.glob("*.csv")), "a log was written for a run that did not start"


def test_existing_log_is_kept_without_overwrite(tmp_path):
    log = tmp_path / "seed.csv"
    log.write_text("an older experiment\n")
    result = run("moalab", "run", SUGAR_PELLET, "--dry-run", "--log", log, "--no-live",
                 cwd=tmp_path)
    assert result.returncode == 2
    assert no_traceback(result), result.stderr
    (line,) = lines(result.stderr)
    assert line.startswith("moalab run: log file ") and "already exists" in line
    assert "--overwrite" in line
    assert log.read_text() == "an older experiment\n"


def test_a_script_that_raises_shows_its_own_frames(tmp_path):
    write_script(tmp_path, RAISES, "broken.py")
    result = run("moalab", "run", "broken.py", "--dry-run", "--no-live", cwd=tmp_path)
    assert result.returncode == 2
    # the script's traceback (its line, not moalab's or runpy's frames), then one line
    assert "broken.py:2" in result.stderr
    assert "moalab/cli" not in result.stderr and "runpy" not in result.stderr
    last = lines(result.stderr)[-1]
    assert last == ("moalab run: the script 'broken.py' raised ValueError while loading "
                    "(the rig is not plugged in); fix it and run again")


def test_a_script_with_a_syntax_error(tmp_path):
    write_script(tmp_path, "root = (\n", "typo.py")
    result = run("moalab", "run", "typo.py", "--dry-run", "--no-live", cwd=tmp_path)
    assert result.returncode == 2
    assert "moalab/cli" not in result.stderr
    assert lines(result.stderr)[-1].startswith(
        "moalab run: the script 'typo.py' raised SyntaxError while loading")


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--speed", "-1"], "moalab run: error: argument --speed: '-1' must be above 0"),
        (["--speed", "0"], "moalab run: error: argument --speed: '0' must be above 0"),
        (["--speed", "fast"], "moalab run: error: argument --speed: 'fast' is not a number"),
        (["--dry-run", "--speed", "2"],
         "moalab run: error: argument --speed: not allowed with argument --dry-run"),
        # argparse reports unknown flags of a subcommand as the main command's
        (["--no-such-flag"], "moalab: error: unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_flags(tmp_path, flags, expected):
    result = run("moalab", "run", SUGAR_PELLET, "--log", "x.csv", *flags, cwd=tmp_path)
    assert result.returncode == 2
    assert no_traceback(result), result.stderr
    assert lines(result.stderr)[-1] == expected
    assert not (tmp_path / "x.csv").exists()


def test_no_script_given(tmp_path):
    result = run("moalab", "run", cwd=tmp_path)
    assert result.returncode == 2
    assert "the following arguments are required: script" in result.stderr


# ---------------------------------------------------------------------- Ctrl-C

LONG_RUN = """\
from moalab import Delay, MoaStage

root = MoaStage(name='Root stage')
root.add_stage(Delay(delay=0.05, name='warm up'))
root.add_stage(Delay(delay=600, name='long wait'))
root.add_stage(Delay(delay=600, name='never reached'))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_tree_cleanly_and_the_log_is_whole(tmp_path, sig):
    script = write_script(tmp_path, LONG_RUN)
    log = tmp_path / "long.csv"
    # real time: nothing but the signal ends this run before ten minutes
    process = subprocess.Popen(
        [*command("moalab"), "run", str(script), "--log", str(log), "--no-live"],
        cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_until(lambda: log.exists() and ("long wait", "on_trial_start")
                   in stage_events(read_rows(log)), 30, "the long delay to start")
        sent = time.monotonic()
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=30)
        stopped_after = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stdout + stderr
    assert stopped_after < 20
    assert "Traceback" not in stdout + stderr
    assert "stopping the experiment" in stdout and "stopped" in lines(stdout)[-1]

    events = stage_events(read_rows(log))
    assert events == [
        ("Root stage", "on_stage_start"), ("Root stage", "on_trial_start"),
        *delay_events("warm up"), *delay_events("long wait"),
        ("Root stage", "on_trial_end"), ("Root stage", "on_stage_end"),
    ]
    rows = read_rows(log)
    assert duration(rows, "long wait") < 60, "the long delay was not cut short"


# --------------------------------------------------------------------- devices

DEVICES = """\
from moalab import Delay, MoaStage, VirtualDigitalChannel

beam = VirtualDigitalChannel(name='beam', interval=(0.5, 0.5))
lever = VirtualDigitalChannel(name='lever', interval=(1.0, 1.0))
root = MoaStage(name='Root stage')
root.add_stage(Delay(delay=5, name='wait'))
"""


@pytest.mark.parametrize(
    "declaration, pumped",
    [
        pytest.param("", {"beam": 10, "lever": 5}, id="auto-discovered"),
        pytest.param("devices = [beam]\n", {"beam": 10}, id="devices-listed"),
        pytest.param("devices = []\n", {}, id="no-devices"),
    ],
)
def test_devices_of_a_script(tmp_path, declaration, pumped):
    write_script(tmp_path, DEVICES + declaration)
    log = tmp_path / "run.csv"
    result = run("moalab", "run", "experiment.py", "--dry-run", "--log", log, "--no-live",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = read_rows(log)
    updates = {}
    for row in rows:
        if row["trigger"] == "on_data_update" and row["item"] == "state":
            updates[row["name"]] = updates.get(row["name"], 0) + 1
    # each pump reads every `interval` seconds of the 5 s run (the last read may
    # fall on the very end)
    assert set(updates) == set(pumped), updates
    for name, expected in pumped.items():
        assert expected - 1 <= updates[name] <= expected, (name, updates)
    assert stage_events(rows)[-1] == ("Root stage", "on_stage_end")
