"""`moalab run --dashboard` and `moalab session run --dashboard` as real processes: the
printed link opens the page, the buttons steer the run; bad values exit 2 with a reason
(in process: each process costs 1.5 s of imports)."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import textwrap
import threading
import time

import httpx
import pytest

from moalab.store import Lab

from .helpers import command, env, no_traceback, run_in_process

LINK = re.compile(r"dashboard: (http://127\.0\.0\.1:\d+/)\?token=(\S+)")

SCRIPT = textwrap.dedent("""
    from moalab import MoaStage
    from tests.runner.test_records import Pulser, Rewarding

    root = MoaStage(name="root")
    root.add_stage(Rewarding(name="reward", repeat=400))
    devices = [Pulser(name="pulser")]
""")


def _start(args: list[str], cwd) -> tuple[subprocess.Popen, str, str]:
    """Start ``moalab *args``; return it, its page's address and its token (its first line)."""
    process = subprocess.Popen([*command("moalab"), *args], cwd=cwd, env=env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    match = LINK.search(first)
    if match is None:
        process.kill()
        raise AssertionError(f"no dashboard link first: {first!r} {process.communicate()}")
    return process, match[1], match[2]


def _open_and_stop(url: str, token: str, process: subprocess.Popen, exit_code: int) -> str:
    """Open the page by its link, check it shows the run, stop the run with its button."""
    with httpx.Client(base_url=url, timeout=10, follow_redirects=True) as client:
        page = client.get(f"/?token={token}")
        assert page.status_code == 200 and 'id="tree"' in page.text
        # a session's run is listed once it is made (its session is running from its
        # claim on, a moment before), pending until its start, with its id from then on:
        # a loaded machine may take a while to get there
        runs = client.get("/api/runs").json()
        deadline = time.monotonic() + 30
        while not (runs and runs[0]["id"]) and time.monotonic() < deadline:
            time.sleep(0.05)
            runs = client.get("/api/runs").json()
        assert len(runs) == 1 and runs[0]["status"] in ("pending", "running"), runs
        assert runs[0]["id"], runs
        stopped = client.post(f"/runs/{runs[0]['id']}/stop")
        assert stopped.status_code == 200, stopped.text
    out, err = process.communicate(timeout=30)
    assert process.returncode == exit_code, err
    return out


ANALOG_SCRIPT = textwrap.dedent("""
    from moalab import Delay, MoaStage
    from moalab.device.virtual import VirtualADCPort

    root = MoaStage(name="root")
    root.add_stage(Delay(delay=1e6, name="wait"))
    devices = [VirtualADCPort(name="adc", frequency=1000.0, num_channels=2, block_size=250,
                              seed=1)]
""")


def test_ctrl_c_ends_a_fast_analog_run_promptly_with_a_page_open(tmp_path):
    # a 1 kHz ADC at --speed 40 with an event stream open: a SIGINT ends the process
    # as soon as its sinks have written what they had
    (tmp_path / "exp.py").write_text(ANALOG_SCRIPT)
    process, url, token = _start(["run", "exp.py", "--dashboard", "127.0.0.1:0", "--no-live",
                                  "--speed", "40", "--log", "run.csv"], tmp_path)
    events = 0
    read_enough = threading.Event()

    def read() -> None:  # as a page does, until the stream ends
        nonlocal events
        with httpx.Client(base_url=url, timeout=10, headers={"X-Moalab-Token": token}) as client:
            while not client.get("/api/runs").json():  # the link comes before the run
                time.sleep(0.05)
            deadline = time.monotonic() + 4
            with client.stream("GET", "/events") as stream, \
                    contextlib.suppress(httpx.HTTPError):
                for line in stream.iter_lines():
                    events += line.startswith("event: ")
                    if time.monotonic() > deadline:
                        read_enough.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert read_enough.wait(20), "the page's stream did not run for 4 s"
        process.send_signal(signal.SIGINT)  # the page still open
        stopping = time.monotonic()
        process.communicate(timeout=30)
        took = time.monotonic() - stopping
    finally:
        process.kill()
        process.wait()
    reader.join(10)
    assert events > 20 and process.returncode == 130
    assert took < 5, f"the run took {took:.1f} s to end after its SIGINT"  # 0.3-0.9 s here


def test_run_prints_a_working_link_and_the_stop_button_stops_it(tmp_path):
    (tmp_path / "exp.py").write_text(SCRIPT)
    process, url, token = _start(["run", "exp.py", "--dashboard", "127.0.0.1:0", "--no-live",
                                  "--speed", "1", "--log", "run.csv"], tmp_path)
    try:
        assert token == os.environ["MOALAB_TOKEN"]  # the tests' $MOALAB_TOKEN
        out = _open_and_stop(url, token, process, 0)
    finally:
        process.kill()
        process.wait()
    assert "stopped" in out and token not in out


@pytest.mark.parametrize("value, message", [
    ("nonsense", "--dashboard 'nonsense' is not an address: give [HOST:]PORT"),
    ("70000", "with a port from 0 to 65535"),
    ("busy", "cannot listen there"),
    ("dry", "a dry run is over before a page loads"),
])
def test_bad_dashboard_values_exit_2_with_the_reason(tmp_path, value, message):
    (tmp_path / "exp.py").write_text(SCRIPT)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        args = {"busy": [f"127.0.0.1:{taken.getsockname()[1]}"],
                "dry": ["0", "--dry-run"]}.get(value, [value])
        result = run_in_process("moalab", "run", "exp.py", "--no-live", "--dashboard", *args,
                                cwd=tmp_path)
    assert result.returncode == 2, result
    assert message in result.stderr and no_traceback(result)
    assert not (tmp_path / "exp.csv").exists() and not list(tmp_path.glob("exp-*.csv"))


def test_session_run_serves_its_page_with_the_lab_s_sessions(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    lab.database.add_subject("rat-1", species="rat")
    lab.close()
    process, url, token = _start(["session", "run", "moalab.protocol.mock", "--subject",
                                  "rat-1", "--speed", "1", "--arg", "n_trials=200",
                                  "--dashboard", "0"], tmp_path / "lab")
    try:
        with httpx.Client(base_url=url, timeout=10, follow_redirects=True) as client:
            client.get(f"/?token={token}")
            with client.stream("GET", "/events", params={"run": ""}) as events:
                for line in events.iter_lines():  # the sessions' fragment: this one, running
                    if line.startswith("data: ") and "rat-1" in line and "running" in line:
                        break
        out = _open_and_stop(url, token, process, 130)  # a stopped session: interrupted
    finally:
        process.kill()
        process.wait()
    assert "interrupted" in out
