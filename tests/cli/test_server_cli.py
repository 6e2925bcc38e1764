"""`moalab-server` as a real subprocess: the listening line, config errors, start-up checks,
signals and a stop that a device method blocks; the config file's and the flags' errors
in process (each process costs 1.5 s of imports; a process's are checked by the port in
use and the short tokens)."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
import trio

from moalab.executor.errors import ConnectionLost
from moalab.executor.websocket import WebSocketExecutor

from ..conftest import require
from .helpers import command, env, lines, no_traceback, run, run_in_process

LISTENING = re.compile(r"moalab-server listening on http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def served(tmp_path, *args: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """Start moalab-server; yield it and its port once it printed its listening line;
    kill it at the end if it still runs."""
    process = subprocess.Popen(
        [*command("moalab-server"), "--graceful-timeout", "0.2", *args], cwd=tmp_path,
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        match = LISTENING.fullmatch(line.strip())
        assert match is not None, f"no listening line: stdout {line!r}"
        yield process, int(match[1])
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def health(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
        return response.status


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_listens_on_a_free_port_and_stops_on_a_signal(tmp_path, sig):
    with served(tmp_path, "--port", "0") as (process, port):
        assert port not in (0, 5000)
        assert health(port) == 200
        sent = time.monotonic()
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert time.monotonic() - sent < 15
    assert "Traceback" not in stderr
    assert "allowed device modules: moalab" in stderr
    with pytest.raises(OSError):  # nothing listens any more
        health(port)


def test_no_token_says_so_and_its_page_opens_without_one(tmp_path):
    with served(tmp_path, "--port", "0", "--no-token", "--data-dir", tmp_path) as (
            process, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard/",
                                    timeout=10) as response:
            assert response.status == 200  # no ?token= needed
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert "allowed device modules: moalab only (--allow MODULE adds one)" in stderr, stderr
    assert "(none)" not in stderr and "token=" not in stderr, stderr
    assert "no token (--no-token): any client on this computer may" in stderr, stderr
    assert f"the rig's page: http://127.0.0.1:{port}/dashboard/\n" in stderr, stderr


def test_flags_override_the_config_file(tmp_path):
    (tmp_path / "server.toml").write_text(
        'host = "127.0.0.1"\nport = 5000\nallow = ["tests.executor.devices"]\n')
    with served(tmp_path, "--config", "server.toml", "--port", "0") as (process, port):
        assert port != 5000
        assert health(port) == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "allowed device modules: moalab, tests.executor.devices" in stderr


@pytest.mark.parametrize(
    "config, expected",
    [
        ('port = "5000"\n', "server.toml': port = '5000' is not accepted; give a whole number"),
        ("port = 70000\n", "port = 70000 is not accepted"),
        ("host = 5\n", "host = 5 is not accepted; give an address"),
        ('allow = "myrig"\n', "allow = 'myrig' is not accepted; give a list of module names"),
        ("prot = 5000\n", "unknown key 'prot' (= 5000); the accepted keys are host, port"),
        ("port = \n", "server.toml' is not valid TOML"),
    ],
    ids=["port-string", "port-range", "host", "allow", "unknown-key", "not-toml"],
)
def test_a_bad_config_file_names_the_key(tmp_path, config, expected):
    (tmp_path / "server.toml").write_text(config)
    result = run_in_process("moalab-server", "--config", "server.toml", "--port", "0",
                            cwd=tmp_path)
    assert result.returncode == 2
    assert no_traceback(result), result.stderr
    (line,) = lines(result.stderr)
    assert line.startswith("moalab-server: server config 'server.toml") and expected in line
    assert result.stdout == ""


def test_a_missing_config_file(tmp_path):
    result = run_in_process("moalab-server", "--config", "nowhere.toml", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = lines(result.stderr)
    assert "'nowhere.toml' cannot be read" in line


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--port", "70000"], "moalab-server: command line: port = 70000 is not accepted"),
        (["--host", ""], "moalab-server: command line: host = '' is not accepted"),
        (["--allow", "my rig"], "moalab-server: command line: allow = ['my rig'] is not "
                                "accepted; 'my rig' is not a module name"),
        (["--graceful-timeout", "-1"], "moalab-server: --graceful-timeout -1.0 must be 0 or more"),
        (["--port", "http"], "moalab-server: error: argument --port: invalid int value: 'http'"),
    ],
    ids=["port", "host", "allow", "graceful-timeout", "port-not-a-number"],
)
def test_bad_flag_values_name_the_key(tmp_path, flags, expected):
    result = run_in_process("moalab-server", *flags, cwd=tmp_path)
    assert result.returncode == 2
    assert no_traceback(result), result.stderr
    assert lines(result.stderr)[-1].startswith(expected), result.stderr


def test_a_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("moalab-server", "--port", port, cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert no_traceback(result), result.stderr
    assert lines(result.stderr)[-1].startswith(f"moalab-server: cannot listen on 127.0.0.1:{port}")


def test_an_allowed_module_in_the_working_folder_but_not_on_the_path(tmp_path):
    # the console script's import path holds its own folder, not the working folder
    require(command("moalab-server")[0] != sys.executable,
            "needs the installed moalab-server script (python -m puts the working folder "
            "on the path)")
    (tmp_path / "mydevs.py").write_text("from moalab import Device\n")
    result = run("moalab-server", "--port", "0", "--allow", "mydevs", cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    assert no_traceback(result), result.stderr
    assert result.stdout == ""  # it never listened
    (line,) = lines(result.stderr)
    assert line.startswith("moalab-server: allowed module 'mydevs' cannot be imported"), line
    assert f"{tmp_path / 'mydevs.py'} is in the working folder, which is not on" in line
    assert f"PYTHONPATH={tmp_path}" in line


def test_an_allowed_module_on_the_path_starts(tmp_path):
    (tmp_path / "mydevs.py").write_text("from moalab import Device\n")
    process = subprocess.Popen(
        [*command("moalab-server"), "--port", "0", "--allow", "mydevs"], cwd=tmp_path,
        env={**env(), "PYTHONPATH": f"{tmp_path}{os.pathsep}{env()['PYTHONPATH']}"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert LISTENING.fullmatch(process.stdout.readline().strip())
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert "allowed device modules: moalab, mydevs" in stderr


@pytest.mark.parametrize(
    "module, source, expected",
    [
        ("nosuch.module", None, "allowed module 'nosuch.module' cannot be imported (No module "
                                "named 'nosuch'); put the folder that holds it on PYTHONPATH, "
                                "or pip install the package that provides it"),
        ("needsdep", "import nosuchdep\n", "allowed module 'needsdep' cannot be imported: it "
                                           "imports 'nosuchdep', which is not installed"),
        ("broken", "raise RuntimeError('no rig here')\n",
         "allowed module 'broken' failed while being imported: RuntimeError: no rig here"),
    ],
    ids=["missing", "missing-dependency", "raises"],
)
def test_an_allowed_module_that_does_not_import(tmp_path, module, source, expected):
    folder = tmp_path / "lib"
    folder.mkdir()
    if source is not None:
        (folder / f"{module}.py").write_text(source)
    result = subprocess.run(
        [*command("moalab-server"), "--port", "0", "--allow", module], cwd=tmp_path,
        env={**env(), "PYTHONPATH": f"{folder}{os.pathsep}{env()['PYTHONPATH']}"},
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert no_traceback(result), result.stderr
    assert result.stdout == ""
    (line,) = lines(result.stderr)
    assert line.startswith(f"moalab-server: {expected}"), line


@pytest.mark.parametrize("where", ["flag", "config", "environment"])
def test_a_short_token_is_refused(tmp_path, where):
    args, environ = ["--port", "0"], env()
    if where == "flag":
        args += ["--token", "short"]
    elif where == "config":
        (tmp_path / "server.toml").write_text('token = "short"\n')
        args += ["--config", "server.toml"]
    else:
        environ["MOALAB_TOKEN"] = "short"
    result = subprocess.run([*command("moalab-server"), *args], cwd=tmp_path, env=environ,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert no_traceback(result), result.stderr
    assert result.stdout == ""
    (line,) = lines(result.stderr)
    assert "has 5 characters; a token needs at least 16" in line, line
    assert "secrets.token_urlsafe(32)" in line
    assert ("$MOALAB_TOKEN" if where == "environment" else "--token, or token in") in line


BLOCKERS = """
import time

from moalab import Device
from moalab.executor import apply_executor


class Blocker(Device):
    @apply_executor
    def sync_block(self, seconds):
        time.sleep(seconds)  # in the object's worker thread

    @apply_executor
    async def async_block(self, seconds):
        time.sleep(seconds)  # in the server's trio thread: it cannot serve meanwhile
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("method", ["sync_block", "async_block"])
async def test_a_method_blocking_the_stop_is_abandoned(tmp_path, monkeypatch, method, sig):
    (tmp_path / "blockers.py").write_text(BLOCKERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "blockers", raising=False)
    from blockers import Blocker  # written just above

    async def call_until_lost(device: Blocker) -> None:
        with contextlib.suppress(ConnectionLost):  # the server stops under it
            await getattr(device, method)(60)

    process = subprocess.Popen(
        [*command("moalab-server"), "--port", "0", "--graceful-timeout", "0.2",
         "--allow", "blockers"], cwd=tmp_path,
        env={**env(), "PYTHONPATH": f"{tmp_path}{os.pathsep}{env()['PYTHONPATH']}"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(LISTENING.fullmatch(process.stdout.readline().strip())[1])
        async with WebSocketExecutor("127.0.0.1", port, reconnect=False) as executor:
            device = Blocker(name="blocker", executor=executor)
            await executor.ensure_remote_instance(device)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call_until_lost, device)
                await trio.sleep(1)  # the call is under way
                sent = time.monotonic()
                process.send_signal(sig)
                _, stderr = await trio.to_thread.run_sync(process.communicate, None, 30)
                took = time.monotonic() - sent
                nursery.cancel_scope.cancel()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # 0.2 s of graceful timeout, then 0.5 s for the threads (sync) or 3 s more (async)
    assert took < 10, f"moalab-server took {took:.1f} s to stop"
    assert "Traceback" not in stderr
    (line,) = [line for line in lines(stderr) if "moalab-server:" in line]
    where = f"in {method} ({tmp_path / 'blockers.py'}:"
    if method == "sync_block":  # the trio thread stopped cleanly, the worker is left
        assert process.returncode == 0, stderr
        assert line.startswith("moalab-server: stopped; abandoned what was still running: "
                               f"moalab-object-blocker {where}"), line
    else:  # nothing could stop the trio thread: the process is ended
        assert process.returncode == 1, stderr
        assert line.startswith(f"moalab-server: not stopped 3.2 s after {sig.name}: ending "
                               f"the process; still running: MainThread {where}"), line
