"""The dashboard in a real browser (Debian's Chromium through Playwright), against real
``moalab run SCRIPT --dashboard 127.0.0.1:0`` subprocesses: the page follows the
running stage, its buttons pause, resume and stop the run, a device change reaches
the page in under 100 ms at p95, it says when live updates stop and how to get the
link without the token, and its memory stays flat under a 1 kHz analog stream; and
the rig's page of a real moalab-server shows its objects' properties live.

Plain (not async) tests: Playwright's sync API must not run inside a trio loop.
Screenshots go to tests/artifacts/ (git-ignored), or $MOALAB_TEST_ARTIFACTS.
"""

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH_HEADERS, REPO, repo_env, stop_group

ARTIFACTS = Path(os.environ.get("MOALAB_TEST_ARTIFACTS", REPO / "tests" / "artifacts"))
URL_LINE = re.compile(r"dashboard: (?P<url>http://[^/\s]+)/\?token=(?P<token>\S+)")
STARTUP = 30.0  # seconds for a run to print its URL, generous on a shared machine
TIMEOUT_MS = 20_000  # for the page to show a state, generous on a shared machine

# A trial of two stages forever, a device whose value is the wall clock (ms) at each
# change, every 60 ms, and (ANALOG=1) a 1 kHz two-channel ADC
SCRIPT = textwrap.dedent('''
    import os
    import time

    import trio

    from moalab import Delay, Device, MoaStage
    from moalab.core.events import NumericProperty
    from moalab.device.virtual import VirtualADCPort


    class WallClock(Device):
        """Its value is the wall-clock time (ms) at its latest change."""

        _logged_names_ = ("wall_ms",)
        wall_ms = NumericProperty(0)

        async def pump_state(self):
            while True:
                await trio.sleep(0.06)
                self.update(wall_ms=int(time.time() * 1000))


    root = MoaStage(name="root")
    trial = MoaStage(name="trial", repeat=1_000_000)
    trial.add_stage(Delay(delay=0.4, name="cue"))
    trial.add_stage(Delay(delay=0.4, name="response"))
    root.add_stage(trial)
    devices = [WallClock(name="wall")]
    if os.environ.get("ANALOG") == "1":
        devices = [VirtualADCPort(name="adc", frequency=1000.0, num_channels=2,
                                  block_size=250, seed=1)]
''')


@dataclass
class DashboardRun:
    """A ``moalab run --dashboard`` subprocess and its page's address."""

    process: subprocess.Popen
    url: str
    token: str
    output: list[str]

    def runs(self) -> list[dict]:
        """``/api/runs``, with the token."""
        response = httpx.get(f"{self.url}/api/runs", timeout=5,
                             headers={"Authorization": f"Bearer {self.token}"})
        response.raise_for_status()
        return response.json()

    def status(self) -> str:
        return self.runs()[-1]["status"]


@pytest.fixture
def dashboard_run(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[DashboardRun]:
    """``moalab run`` of :data:`SCRIPT` with a dashboard on a free port, stopped at the
    end; ``@pytest.mark.parametrize("dashboard_run", [{"args": [...], "env": {...}}],
    indirect=True)`` adds command-line arguments and environment variables."""
    param = getattr(request, "param", {})
    env = {**repo_env(), **param.get("env", {})}
    script = tmp_path / "experiment.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen(
        [sys.executable, "-m", "moalab.cli.main", "run", str(script), "--no-live",
         "--log", str(tmp_path / "log.csv"), "--dashboard", "127.0.0.1:0", *param.get("args", [])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True)
    output: list[str] = []
    found = threading.Event()

    def read() -> None:
        # keep reading, so the run never blocks on a full pipe
        for line in process.stdout:
            output.append(line)
            if URL_LINE.search(line):
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(STARTUP), f"no dashboard URL printed: {''.join(output)}"
        match = next(filter(None, map(URL_LINE.search, output)))
        yield DashboardRun(process, match["url"], match["token"], output)
    finally:
        stop_group(process, signal.SIGINT, 10)
        reader.join(5)


def open_dashboard(page, run: DashboardRun) -> None:
    """Open the printed link (the token sets the cookie) and wait for live updates."""
    page.goto(f"{run.url}/?token={run.token}")
    page.wait_for_function("document.body.dataset.live === 'live'", timeout=TIMEOUT_MS)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q / 100 * (len(ordered) - 1))]


def change_latency(page, changes: int = 50) -> float:
    """The p95 (ms) from the wall clock of the next ``changes`` changes of the script's
    device to their stamps' arrival in the page (printed with where the time goes)."""
    start = page.evaluate("window.moalabSeen.length")
    page.wait_for_function(f"window.moalabSeen.slice({start}).filter(s => s.prop === "
                           f"'wall_ms').length >= {changes}", timeout=30_000)
    stamps = [s for s in page.evaluate(f"window.moalabSeen.slice({start})")
              if s["prop"] == "wall_ms"]
    latencies = sorted(s["client_ms"] - float(s["value"]) for s in stamps)
    p95 = percentile(latencies, 95)
    # from the change to the dashboard's feed, and from there to the page
    feed = percentile([s["server_ms"] - float(s["value"]) for s in stamps], 95)
    push = percentile([s["client_ms"] - s["server_ms"] for s in stamps], 95)
    print(f"device change to page: {len(latencies)} changes, p50 "
          f"{percentile(latencies, 50):.1f} ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms "
          f"(p95 to the feed {feed:.1f} ms, feed to page {push:.1f} ms)")
    return p95


def wait_for_status(run: DashboardRun, status: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := run.status()) != status:
        assert time.monotonic() < deadline, f"the run is {seen!r}, not {status!r}"
        time.sleep(0.05)


def test_without_the_token_the_page_says_how_to_get_it(page, dashboard_run):
    page.goto(dashboard_run.url + "/")
    text = page.inner_text("body")
    assert "token" in text.lower() and "link" in text.lower(), text
    assert dashboard_run.token not in page.content()
    # no cookie: no live updates
    assert page.evaluate("window.moalabSeen === undefined || window.moalabSeen.length === 0")


def test_the_page_follows_the_run_and_its_buttons_steer_it(page, dashboard_run):
    open_dashboard(page, dashboard_run)
    # the token left the address bar for an HttpOnly cookie
    assert dashboard_run.token not in page.url
    assert dashboard_run.token not in page.evaluate("document.cookie")
    for stage in ("root/trial/cue", "root/trial/response", "root/trial/cue"):
        page.wait_for_function(f"document.querySelector('#status .current').innerText === "
                               f"{stage!r}", timeout=TIMEOUT_MS)
    assert page.inner_text("#tree li.current > .name") in ("cue", "response")

    # a device change reaches the page in p95 < 100 ms; a window of 50 changes measured
    # again (up to 3) when another process's load spiked it: a slow push fails all three
    windows = []
    for _ in range(3):
        windows.append(change_latency(page))
        if windows[-1] < 100:
            break
    assert windows[-1] < 100, f"p95 of each window: {windows} ms"
    assert page.inner_text("#devices").count("wall") >= 1
    screenshot(page, "dashboard.png")

    page.click("#pause")
    wait_for_status(dashboard_run, "paused")
    page.wait_for_function("document.querySelector('#status [data-status]').innerText === "
                           "'paused'", timeout=TIMEOUT_MS)
    page.click("#resume")
    wait_for_status(dashboard_run, "running")
    confirms: list[str] = []

    def confirm(dialog) -> None:
        confirms.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.click("#stop")
    # the command ends with its run, and its dashboard with it
    assert dashboard_run.process.wait(30) == 0, "".join(dashboard_run.output)
    assert confirms and "Stop" in confirms[0], "Stop asks first"
    assert "stopped after" in "".join(dashboard_run.output)


def test_the_page_says_when_live_updates_stop(page, dashboard_run):
    # 10 s without an event in use (two missed heartbeats): 2 s here, to stay quick
    page.add_init_script("window.moalabStaleAfterMs = 2000")
    open_dashboard(page, dashboard_run)
    assert page.is_hidden("#live-notice")
    os.killpg(dashboard_run.process.pid, signal.SIGKILL)  # the feed stops dead
    dashboard_run.process.wait(10)
    page.wait_for_function("document.body.dataset.live === 'stale'", timeout=TIMEOUT_MS)
    assert page.is_visible("#live-notice")
    assert "Live updates stopped" in page.inner_text("#live-notice")


@pytest.mark.parametrize("dashboard_run", [{"args": ["--speed", "40"], "env": {"ANALOG": "1"}}],
                         indirect=True)
def test_memory_stays_flat_under_a_1khz_stream(page, browser, dashboard_run):
    # 15 s at 40 times real time: a 10-minute run's 600,000 samples per channel
    open_dashboard(page, dashboard_run)
    cdp = browser.new_cdp_session(page)

    def measure() -> tuple[float, int]:
        # the JS heap after a full collection; the nodes in the document (Chromium's
        # own node counter also counts swapped-out nodes its DOM collector has not
        # freed yet, 1,000 to 13,000 here whatever the page holds)
        cdp.send("HeapProfiler.collectGarbage")
        heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20
        return heap, page.evaluate("document.getElementsByTagName('*').length")

    page.wait_for_function("document.querySelector('#plot-analog canvas') !== null",
                           timeout=TIMEOUT_MS)
    time.sleep(2)  # the charts made, the window filling
    samples = [measure()]
    for _ in range(6):
        time.sleep(2)
        samples.append(measure())
    print("JS heap (MiB), DOM nodes: " + ", ".join(f"{h:.1f}/{n}" for h, n in samples))
    heaps, nodes = zip(*samples)
    assert dashboard_run.process.poll() is None, "".join(dashboard_run.output)
    assert max(heaps[3:]) < heaps[0] + 3, "the page's JS heap grows with the stream"
    # the tables and charts swap in place: a node a plot event (4 a second) would be 50
    assert max(nodes) - min(nodes) < 25, "the page's DOM grows with the stream"
    screenshot(page, "dashboard-analog.png")
    # its clean stop is tests/cli/test_dashboard.py's: here a SIGINT takes 4-10 s, the
    # CSV sink writing the blocks it fell behind on while Chromium had the CPU
    os.killpg(dashboard_run.process.pid, signal.SIGKILL)
    dashboard_run.process.wait(10)


def test_the_rig_page_shows_its_objects_live(page, moalab_server):
    # a controller's run makes its objects in a namespace of the rig's server
    params = {"namespace": f"run-{uuid.uuid4().hex[:8]}"}
    api = httpx.Client(base_url=moalab_server.url, headers=AUTH_HEADERS, params=params,
                       timeout=10)
    created = api.post("/api/objects", json={"name": "lever",
                                              "cls": "tests.executor.devices:Probe"})
    assert created.status_code in (200, 201), created.text
    # imported here: the browser fixture has checked Playwright is installed
    from playwright.sync_api import expect

    try:
        page.goto(f"{moalab_server.url}/dashboard/")
        assert "token" in page.inner_text("body").lower()  # no cookie yet
        page.goto(f"{moalab_server.url}/dashboard/?token={os.environ['MOALAB_TOKEN']}")
        value = page.locator(f"[data-namespace={params['namespace']!r}] "
                             "tr[data-device='lever'][data-prop='value'] .value")
        assert value.inner_text() == "0"
        page.wait_for_function("document.body.dataset.live === 'live'", timeout=TIMEOUT_MS)
        api.post("/api/objects/lever/call/set_value", json={"args": [7.5]}).raise_for_status()
        # the live stream swaps the table: the locator finds its new cell
        expect(value).to_have_text("7.5", timeout=TIMEOUT_MS)
    finally:
        api.delete("/api/objects/lever")
        api.close()
