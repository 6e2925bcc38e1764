"""Fixtures shared by test packages: a real moalab-server subprocess."""

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio

if TYPE_CHECKING:
    from moalab.store.lab import Lab

REPO = Path(__file__).resolve().parents[1]

# Every moalab-server and client the tests start shares this token (both read
# MOALAB_TOKEN), and no server writes a generated token under the real home.
os.environ.setdefault("MOALAB_TOKEN", "moalab-test-token")
os.environ.setdefault("XDG_DATA_HOME", tempfile.mkdtemp(prefix="moalab-test-data-"))
# Started in the background by a shell without job control (``pytest &`` in a
# script), this process inherits SIGINT ignored, and so would every process a test
# starts: the tests that stop one as Ctrl-C does need the signal back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
AUTH_HEADERS = {"Authorization": f"Bearer {os.environ['MOALAB_TOKEN']}"}
"""For raw HTTP and WebSocket clients of the tests' servers."""
WS_AUTH_HEADERS = [(k.encode(), v.encode()) for k, v in AUTH_HEADERS.items()]
TEST_DEVICES = "tests.executor.devices"


class TaskSteps(trio.abc.Instrument):
    """Counts the steps of one trio task (each time the scheduler runs it): added with
    ``trio.lowlevel.add_instrument``."""

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.steps += 1


STRICT_ENV = "MOALAB_TESTS_STRICT"
"""Set to 1 (``.ci/run`` does) and a test missing a service or tool fails instead of
skipping: CI must run every test."""


def require(available: bool, reason: str) -> None:
    """Skip the calling test with ``reason`` unless ``available``; under
    ``MOALAB_TESTS_STRICT=1`` fail with it instead."""
    __tracebackhide__ = True  # pytest reports the skip at the calling test's line
    if available:
        return
    if os.environ.get(STRICT_ENV) == "1":
        pytest.fail(f"{reason} ({STRICT_ENV}=1: this test must run here)", pytrace=False)
    pytest.skip(reason)


def repo_env() -> dict[str, str]:
    """The environment with the repository on PYTHONPATH, so child processes import
    ``tests.executor.devices`` whatever their working directory."""
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


@dataclass
class ServerProcess:
    process: subprocess.Popen
    port: int
    stderr: object
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 15) -> None:
    """Send ``sig`` to the process group ``process`` leads (started with
    ``start_new_session=True``), unless it exited; SIGKILL it after ``grace`` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid`` in MiB (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def running_server(*args: str, graceful_timeout: float = 0.2,
                   env: dict[str, str | None] | None = None, host: str = "127.0.0.1",
                   netns: str | None = None) -> Iterator[ServerProcess]:
    """Start ``moalab-server`` on ``host`` with a free port; stop it at the end.

    ``env`` changes the server's environment (None removes a variable); ``netns``
    runs it in that network namespace (``ip netns exec``).
    """
    command = [sys.executable, "-m", "moalab.cli.server", "--host", host, "--port", "0",
               "--graceful-timeout", str(graceful_timeout), "--allow", TEST_DEVICES, *args]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    environ = repo_env()
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=environ, stdout=subprocess.PIPE,
                                   stderr=stderr)
        try:
            line = process.stdout.readline().decode()
            address = re.escape(host)
            match = re.fullmatch(rf"moalab-server listening on https?://{address}:(\d+)\s*", line)
            if match is None:
                process.kill()
                process.wait()
                stderr.seek(0)
                raise RuntimeError(f"moalab-server did not start: stdout {line!r}, stderr "
                                   f"{stderr.read().decode(errors='replace')}")
            yield ServerProcess(process, int(match[1]), stderr, host)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            process.stdout.close()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator["Lab"]:
    """A new, empty lab in ``tmp_path / "lab"`` (an SQLite database), closed at the end."""
    # imported here: this module sets the environment moalab reads before it is imported
    from moalab.store.lab import Lab

    made = Lab.init(tmp_path / "lab")
    yield made
    made.close()


@pytest.fixture(scope="session")
def moalab_server() -> Iterator[ServerProcess]:
    """One moalab-server for the session, allowing ``tests.executor.devices``."""
    with running_server() as server:
        yield server
