"""`moalab run` as a real subprocess: the log it writes, its errors, Ctrl-C, devices; the
errors found before a run starts (bad flags, a missing script or root) in process (each
process costs 1.5 s of imports)."""

import signal
import textwrap
import time

import pytest

from .helpers import (
    EXAMPLES,
    command,
    lines,
    no_traceback,
    read_rows,
    run,
    run_in_process,
    signal_when,
    stage_events,
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
    # the script's `devices` are pumped and logged: the photobeam; as in PyMoa's guide,
    # not the motor (its pump would flip it at random), which a stage holds: it is
    # logged, with the pellet stage's writes only, high then low in each trial
    assert "photobeam_device" in {r["name"] for r in rows}
    motor = [r["value"] for r in rows if r["name"] == "motor_device" and r["item"] == "state"]
    assert motor == ["True", "False"] * 2, motor
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
    result = run_in_process("moalab", "run", name, "--dry-run", "--no-live", *extra,
                            cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert no_traceback(result), result.stderr
    first = lines(result.stderr)[0]
    assert first.startswith("moalab run: ") and expected in first, result.stderr
    assert result.stdout == ""
    assert not list(tmp_path.glob("*.csv")), "a log was written for a run that did not start"


def test_existing_log_is_kept_without_overwrite(tmp_path):
    log = tmp_path / "seed.csv"
    log.write_text("an older experiment\n")
    result = run_in_process("moalab", "run", SUGAR_PELLET, "--dry-run", "--log", log,
                            "--no-live", cwd=tmp_path)
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
    assert 'File "broken.py", line 2, in <module>' in result.stderr
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
        *((["--speed", value], f"moalab run: error: argument --speed: {value!r} is out of "
           "range: give a factor above 0 and up to 1,000,000 (1 is real time; --dry-run "
           "passes delays at once)") for value in ("-1", "0", "1e9", "inf", "nan")),
        (["--speed", "fast"], "moalab run: error: argument --speed: 'fast' is not a number"),
        (["--dry-run", "--speed", "2"],
         "moalab run: error: argument --speed: not allowed with argument --dry-run"),
        # argparse reports unknown flags of a subcommand as the main command's
        (["--no-such-flag"], "moalab: error: unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_flags(tmp_path, flags, expected):
    result = run_in_process("moalab", "run", SUGAR_PELLET, "--log", "x.csv", *flags,
                            cwd=tmp_path)
    assert result.returncode == 2
    assert no_traceback(result), result.stderr
    assert lines(result.stderr)[-1] == expected
    assert not (tmp_path / "x.csv").exists()


def test_no_script_given(tmp_path):
    result = run_in_process("moalab", "run", cwd=tmp_path)
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
    process, stdout, stderr, stopped_after = signal_when(
        [*command("moalab"), "run", str(script), "--log", str(log), "--no-live"], tmp_path,
        # the header is written just after the file is made: wait for a row after it
        lambda: log.exists() and log.read_text().count("\n") > 1
        and ("long wait", "on_trial_start") in stage_events(read_rows(log)),
        "the long delay to start", sig)
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


# ------------------------------------------------- an exception of the experiment

LEAF = """\
from moalab import MoaStage

class Bad(MoaStage):
    async def do_trial(self):
        1 / 0

root = MoaStage(name='root')
root.add_stage(Bad(name='bad'))
"""

NESTED = """\
from moalab import Delay, MoaStage

def check(value):
    raise ValueError(f'the reward size {value} is not allowed')

class Reward(MoaStage):
    async def do_trial(self):
        check(-1)

root = MoaStage(name='root')
block = MoaStage(name='block', repeat=2)
root.add_stage(Delay(delay=1, name='wait'))
root.add_stage(block)
block.add_stage(Delay(delay=1, name='iti'))
block.add_stage(Reward(name='reward'))
"""

DEVICE_METHOD = """\
from moalab import DigitalChannel, MoaStage, ThreadExecutor, apply_executor

class Lever(DigitalChannel):
    @apply_executor
    def read_state(self):
        raise OSError("the lever's cable is unplugged")

executor = ThreadExecutor()
executors = [executor]
lever = Lever(name='lever', executor=executor)

class Press(MoaStage):
    async def do_trial(self):
        await lever.read_state()

root = MoaStage(name='root')
root.add_stage(Press(name='press'))
"""

HINT = " (--traceback shows every frame)"


def assert_only_user_frames(stderr: str) -> None:
    for internal in ("site-packages", "trio", "moalab/", "ExceptionGroup", "runpy"):
        assert internal not in stderr, (internal, stderr)


@pytest.mark.parametrize(
    "script, frames, headline",
    [
        pytest.param(LEAF, [("do_trial", "1 / 0")],
                     "ZeroDivisionError in stage 'bad' (root/bad): division by zero",
                     id="leaf"),
        pytest.param(NESTED, [("do_trial", "check(-1)"), ("check", "raise ValueError")],
                     "ValueError in stage 'reward' (root/block/reward): the reward size -1 "
                     "is not allowed", id="nested-stage"),
        pytest.param(DEVICE_METHOD, [("do_trial", "await lever.read_state()"),
                                     ("read_state", "raise OSError")],
                     "OSError in device 'lever', called by stage 'press' (root/press): the "
                     "lever's cable is unplugged", id="device-method"),
    ],
)
def test_an_exception_in_the_tree_is_the_users(tmp_path, script, frames, headline):
    write_script(tmp_path, script)
    log = tmp_path / "run.csv"
    # the default live view, so its last line and the summary must stay apart
    result = run("moalab", "run", "experiment.py", "--dry-run", "--log", log, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    # stdout: the live view and the summary, each line whole; no traceback
    assert "Traceback" not in result.stdout
    summary = lines(result.stdout)[-1]
    assert summary.startswith("experiment experiment.py: failed after "), result.stdout
    # stderr: a short traceback through the user's frames only, then one line
    err = lines(result.stderr)
    assert err[0] == "Traceback (most recent call last):", result.stderr
    shown = [(line.split(", in ")[1], code.strip()) for line, code in zip(err, err[1:])
             if line.startswith('  File "experiment.py", line ')]
    assert [(name, code[:len(prefix)]) for (name, code), (_, prefix) in zip(shown, frames)
            ] == frames, result.stderr
    assert len(shown) == len(frames), result.stderr
    assert_only_user_frames(result.stderr)
    assert err[-1] == f"error: {headline}{HINT}"
    assert len(err) <= 12, result.stderr
    # the log is whole: the root's end is its last row
    assert stage_events(read_rows(log))[-1] == ("root", "on_stage_end")


def test_traceback_flag_shows_every_frame(tmp_path):
    write_script(tmp_path, LEAF)
    result = run("moalab", "run", "experiment.py", "--dry-run", "--no-live", "--traceback",
                 "--log", tmp_path / "run.csv", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    # moalab's own frames too, which the default report leaves out
    assert "moalab/runner/run.py" in result.stderr and "moalab/stage/stage.py" in result.stderr
    assert 'File "experiment.py", line 5, in do_trial' in result.stderr
    assert lines(result.stderr)[-1] == (
        "error: ZeroDivisionError in stage 'bad' (root/bad): division by zero")


PUMP = """\
from moalab import Delay, MoaStage, VirtualDigitalChannel

class Flaky(VirtualDigitalChannel):
    async def read_state(self):
        raise RuntimeError('the sensor stopped answering')

beam = Flaky(name='beam', interval=(0.5, 0.5))
root = MoaStage(name='root')
root.add_stage(Delay(delay=5, name='wait'))
"""


def test_an_exception_in_a_device_pump_names_the_device(tmp_path):
    write_script(tmp_path, PUMP)
    result = run("moalab", "run", "experiment.py", "--dry-run", "--no-live",
                 "--log", tmp_path / "run.csv", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert_only_user_frames(result.stderr)
    assert 'File "experiment.py", line 5, in read_state' in result.stderr
    assert lines(result.stderr)[-1] == (
        f"error: RuntimeError in device 'beam': the sensor stopped answering{HINT}")


KEYBOARD = """\
from moalab import Delay, MoaStage

class Quit(MoaStage):
    async def do_trial(self):
        raise KeyboardInterrupt

root = MoaStage(name='root')
root.add_stage(Delay(delay=1, name='wait'))
root.add_stage(Quit(name='quit'))
"""


def test_a_keyboard_interrupt_in_the_tree_is_a_stop(tmp_path):
    write_script(tmp_path, KEYBOARD)
    log = tmp_path / "run.csv"
    result = run("moalab", "run", "experiment.py", "--dry-run", "--no-live", "--log", log,
                 cwd=tmp_path)
    assert result.returncode == 130, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert lines(result.stderr) == ["interrupted: KeyboardInterrupt in stage 'quit' (root/quit)"]
    assert stage_events(read_rows(log))[-1] == ("root", "on_stage_end")


SLOW_LOAD = """\
import pathlib, time
pathlib.Path('loading').touch()
time.sleep(60)
from moalab import Delay
root = Delay(delay=1)
"""


def test_sigint_while_the_script_loads(tmp_path):
    script = write_script(tmp_path, SLOW_LOAD)
    process, stdout, stderr, _ = signal_when(
        [*command("moalab"), "run", str(script), "--dry-run", "--no-live"], tmp_path,
        (tmp_path / "loading").exists, "the script to start loading")
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert lines(stderr) == ["moalab run: interrupted before the experiment started"]
    assert not list(tmp_path.glob("*.csv"))


# ------------------------------------------------------------------------ speed

SHORT = "from moalab import Delay\nroot = Delay(delay=0.1, name='short')\n"


@pytest.mark.parametrize("speed, warned", [("20", False), ("1000", True)])
def test_a_high_speed_warns_that_overhead_shows(tmp_path, speed, warned):
    write_script(tmp_path, SHORT)
    result = run("moalab", "run", "experiment.py", "--speed", speed, "--no-live",
                 "--log", tmp_path / "run.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    warning = (f"warning: at --speed {speed} the run's own work is not sped up: each 0.1 ms "
               f"of it adds {float(speed) * 1e-4:g} s to the logged durations")
    assert lines(result.stderr) == ([warning] if warned else [])


def test_help_says_what_speed_does_to_timing(tmp_path):
    result = run_in_process("moalab", "run", "--help", cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "the run's own work (stage transitions, logging, device calls) is not sped up" in text
    assert "multiplied by FACTOR" in text and "up to 1,000,000" in text
