"""examples/pi_rig.py as a real subprocess: --mock serves gpiozero's mock pins over a real
WebSocket in the example's own process, with a simulated animal on the beam pin."""

import socket
import subprocess
import sys

import pytest

from .helpers import EXAMPLES, env, lines, read_rows, signal_when, stage_events
from .test_run import SEED_STAGE_EVENTS, delay_events

PI_RIG = EXAMPLES / "pi_rig.py"

pytest.importorskip("gpiozero")


def pi_rig(*args, cwd, timeout=90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PI_RIG), *map(str, args)], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def test_help(tmp_path):
    result = pi_rig("--help", cwd=tmp_path)
    assert result.returncode == 0
    for flag in ("--server", "--port", "--beam-pin", "--motor-pin", "--mock", "--speed"):
        assert flag in result.stdout


def test_mock_rig_runs_the_sugar_pellet_tree(tmp_path):
    log = tmp_path / "rig.csv"
    result = pi_rig("--mock", "--speed", "50", "--beam-pin", "5", "--motor-pin", "GPIO6",
                    "--log", log, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "started a local moalab-server with mock pins at http://127.0.0.1:" in result.stdout
    assert lines(result.stdout)[-1] == "experiment done"

    rows = read_rows(log)
    assert stage_events(rows) == SEED_STAGE_EVENTS
    # the motor's pin opened low (on first use), then went high and low once per trial
    motor = [r["value"] for r in rows if r["name"] == "pellet_motor" and r["item"] == "state"]
    assert motor == ["False", "True", "False", "True", "False"]
    # each gate exited on a beam break the server mirrored back (the beam may be
    # whole again by the time the gate's end is logged)
    beam = [(int(r["index"]), r["value"]) for r in rows
            if r["name"] == "beam" and r["item"] == "state"]
    gate_ends = [int(r["index"]) for r in rows
                 if (r["name"], r["trigger"]) == ("photobeam_stage", "on_stage_end")]
    for previous, gate_end in zip([-1, *gate_ends], gate_ends):
        assert "True" in [value for index, value in beam if previous < index < gate_end]


def test_ctrl_c_stops_the_mock_rig_cleanly(tmp_path):
    log = tmp_path / "rig.csv"
    # real time: the 20 s habituation has begun
    process, stdout, stderr, stopped_after = signal_when(
        [sys.executable, str(PI_RIG), "--mock", "--log", str(log)], tmp_path,
        lambda: log.exists() and ("Habituation", "on_trial_start")
        in stage_events(read_rows(log)), "the habituation to start")
    assert process.returncode == 130, stdout + stderr
    assert stopped_after < 15
    assert "Traceback" not in stderr
    assert lines(stdout)[-1] == "experiment stopped"
    assert stage_events(read_rows(log)) == [
        ("Root stage", "on_stage_start"), ("Root stage", "on_trial_start"),
        *delay_events("Habituation"),
        ("Root stage", "on_trial_end"), ("Root stage", "on_stage_end"),
    ]


@pytest.mark.parametrize(
    "args, expected",
    [
        ([], "give --server HOST (the Pi running moalab-server), or --mock"),
        (["--mock", "--server", "pi"], "give --server HOST (the Pi running moalab-server), or"),
        (["--mock", "--beam-pin", "5", "--motor-pin", "5"], "--beam-pin and --motor-pin are "
                                                            "both 5"),
        (["--mock", "--speed", "0"], "argument --speed: '0' must be above 0"),
    ],
)
def test_bad_arguments(tmp_path, args, expected):
    result = pi_rig(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in lines(result.stderr)[-1]


def test_no_server_at_that_address(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = pi_rig("--server", "127.0.0.1", "--port", port, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = lines(result.stderr)
    assert line.startswith(f"pi_rig: cannot connect to moalab-server at ws://127.0.0.1:{port}/ws")
