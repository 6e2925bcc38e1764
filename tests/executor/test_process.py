"""ProcessExecutor: the child process's life, and classes of the running script."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio

from moalab.executor.process import MultiprocessSocketExecutor, ProcessExecutor

from ..conftest import repo_env
from .devices import Probe


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone (reading as it exits: ESRCH)
        return False


def wait_gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_pymoa_name():
    assert MultiprocessSocketExecutor is ProcessExecutor


async def test_child_exits_on_stop():
    async with ProcessExecutor() as executor:
        pid = executor.process.pid
        device = Probe(name="probe", executor=executor)
        await executor.ensure_remote_instance(device)
        assert (await device.where())[0] == pid != os.getpid()
        assert alive(pid)
    assert executor.process is None
    assert await trio.to_thread.run_sync(wait_gone, pid)



class CountingProcessExecutor(ProcessExecutor):
    """Counts the children it starts."""

    started = 0

    async def _connect(self, nursery):
        self.started += 1
        return await super()._connect(nursery)


async def test_a_stop_starts_no_second_child():
    executor = CountingProcessExecutor()
    async with executor:
        await executor.ensure_remote_instance(Probe(name="probe", executor=executor))
    await trio.sleep(0.5)  # a reconnection would have started by now (its backoff is 0.1 s)
    assert executor.started == 1


BLOCKING_PARENT = """
import os
import sys
import time

import pytest
import trio

from moalab import Device
from moalab.executor import apply_executor
from moalab.executor.process import ProcessExecutor


class Blocker(Device):
    @apply_executor
    def sync_block(self, marker):
        open(marker, "w").close()
        time.sleep(60)

    @apply_executor
    async def async_block(self, marker):
        open(marker, "w").close()
        time.sleep(60)  # blocks the child's trio thread


async def main(mode, marker, then):
    async with ProcessExecutor() as executor:
        device = Blocker(name="blocker", executor=executor)
        await executor.ensure_remote_instance(device)
        print(executor.process.pid, flush=True)
        async with trio.open_nursery() as nursery:
            if mode == "idle":
                open(marker, "w").close()
            else:
                nursery.start_soon(getattr(device, mode), marker)
            if then == "wait":
                await trio.sleep_forever()
            while not os.path.exists(marker):
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        print("stopping", flush=True)


if __name__ == "__main__":
    trio.run(main, *sys.argv[1:])
"""


@contextmanager
def blocking_parent(tmp_path, mode: str, then: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """Run a parent whose ProcessExecutor child runs ``mode`` (``idle``, ``sync_block``:
    a sync method sleeping in its worker thread, ``async_block``: an async one sleeping in
    the child's trio thread); yield the parent and its child's pid once ``mode`` runs,
    and kill both at the end. ``then``: ``wait`` (the parent waits for ever) or ``stop``
    (it stops the executor)."""
    script, marker = tmp_path / "parent.py", tmp_path / "running"
    script.write_text(BLOCKING_PARENT, encoding="utf-8")
    parent = subprocess.Popen([sys.executable, str(script), mode, str(marker), then],
                              stdout=subprocess.PIPE, text=True, env=repo_env())
    child = None
    try:
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline, f"{mode} did not start in the child"
            time.sleep(0.02)
        yield parent, child
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
        if child is not None and alive(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("mode", ["idle", "sync_block", "async_block"])
def test_child_exits_when_the_parent_is_killed(tmp_path, mode):
    with blocking_parent(tmp_path, mode, "wait") as (parent, child):
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(child, 2), f"the child {child} ({mode}) outlived its killed parent by 2 s"


def test_a_child_blocked_in_its_trio_thread_exits_soon_after_the_stop(tmp_path):
    # the parent lives: only the child's stdin watch (not the parent-death signal) ends it,
    # well before the parent's own 5 s kill
    with blocking_parent(tmp_path, "async_block", "stop") as (parent, child):
        assert parent.stdout.readline() == "stopping\n"
        assert wait_gone(child, 3), f"the child {child} blocked its stop for 3 s"


SCRIPT = """
import os
import sys

import pytest
import trio

from moalab import Device
from moalab.executor import apply_executor
from moalab.executor.process import ProcessExecutor


class MainDevice(Device):
    @apply_executor
    def where(self):
        return os.getpid()


async def main():
    async with ProcessExecutor() as executor:
        device = MainDevice(name="main-device", executor=executor)
        try:
            await executor.ensure_remote_instance(device)
            print("ran in", os.getpid(), await device.where(), flush=True)
        except Exception as exc:
            print("failed", type(exc).__name__, exc, flush=True)

"""


def run_script(tmp_path, main_block: str) -> tuple[str, list[str]]:
    script = tmp_path / "experiment.py"
    marker = tmp_path / "marker.txt"
    script.write_text(SCRIPT + textwrap.dedent(main_block), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script), str(marker)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env=repo_env())
    assert result.returncode == 0, result.stderr
    runs = marker.read_text().splitlines() if marker.exists() else []
    return result.stdout, runs


def test_class_of_a_main_script_with_a_main_guard(tmp_path):
    stdout, runs = run_script(tmp_path, """
        if __name__ == "__main__":
            with open(sys.argv[1], "a") as marker:
                marker.write("main block ran\\n")
            trio.run(main)
        """)
    words = stdout.split()
    assert words[:2] == ["ran", "in"], stdout
    parent, child = int(words[2]), int(words[3])
    assert parent != child
    assert runs == ["main block ran"]  # not again in the child


def test_class_of_a_main_script_without_a_main_guard(tmp_path):
    stdout, _ = run_script(tmp_path, """
        trio.run(main)
        """)
    assert stdout.startswith("failed InvalidArgument"), stdout
    assert "if __name__ == '__main__':" in stdout


async def test_a_virtual_clock_does_not_hurry_the_child(autojump_clock):
    # trio's clock jumps whenever every task waits: the start-up and stop limits are real time
    async with ProcessExecutor() as executor:
        process = executor.process
        device = Probe(name="probe", executor=executor)
        await executor.ensure_remote_instance(device)
        assert (await device.where())[0] == process.pid
    assert process.returncode == 0  # stopped, not killed
