"""ProcessExecutor: the child process's life, and classes of the running script."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import trio

from moalab.executor.process import MultiprocessSocketExecutor, ProcessExecutor

from ..conftest import repo_env
from .devices import Probe


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
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


PARENT = """
import trio
from moalab.executor.process import ProcessExecutor

async def main():
    async with ProcessExecutor() as executor:
        print(executor.process.pid, flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


def test_child_exits_when_the_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE,
                              env=repo_env())
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(child), f"the child {child} outlived its parent killed with SIGKILL"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


SCRIPT = """
import os
import sys

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
