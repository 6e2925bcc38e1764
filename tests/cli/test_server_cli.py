"""`moalab-server` as a real subprocess: the listening line, config errors, signals."""

import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from .helpers import command, env, lines, no_traceback, run

LISTENING = re.compile(r"moalab-server listening on http://127\.0\.0\.1:(\d+)")


def start(tmp_path, *args: str) -> tuple[subprocess.Popen, int]:
    """Start moalab-server; return it and its port once it printed its listening line."""
    process = subprocess.Popen(
        [*command("moalab-server"), "--graceful-timeout", "0.2", *args], cwd=tmp_path,
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    match = LISTENING.fullmatch(line.strip())
    if match is None:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"no listening line: stdout {line!r}, stderr {stderr!r}")
    return process, int(match[1])


def health(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
        return response.status


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_listens_on_a_free_port_and_stops_on_a_signal(tmp_path, sig):
    process, port = start(tmp_path, "--port", "0")
    try:
        assert port not in (0, 5000)
        assert health(port) == 200
        sent = time.monotonic()
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert time.monotonic() - sent < 15
    assert "Traceback" not in stderr
    assert "allowed device modules: moalab" in stderr
    with pytest.raises(OSError):  # nothing listens any more
        health(port)


def test_flags_override_the_config_file(tmp_path):
    (tmp_path / "server.toml").write_text(
        'host = "127.0.0.1"\nport = 5000\nallow = ["tests.executor.devices"]\n')
    process, port = start(tmp_path, "--config", "server.toml", "--port", "0")
    try:
        assert port != 5000
        assert health(port) == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
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
    result = run("moalab-server", "--config", "server.toml", "--port", "0", cwd=tmp_path,
                 timeout=30)
    assert result.returncode == 2
    assert no_traceback(result), result.stderr
    (line,) = lines(result.stderr)
    assert line.startswith("moalab-server: server config 'server.toml") and expected in line
    assert result.stdout == ""


def test_a_missing_config_file(tmp_path):
    result = run("moalab-server", "--config", "nowhere.toml", cwd=tmp_path, timeout=30)
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
    result = run("moalab-server", *flags, cwd=tmp_path, timeout=30)
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
