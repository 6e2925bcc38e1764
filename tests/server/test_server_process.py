"""The moalab-server command: graceful shutdown on signals, command-line errors."""

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from moalab.executor.websocket import WebSocketExecutor
from tests.conftest import AUTH_HEADERS, REPO, WS_AUTH_HEADERS, repo_env, running_server
from tests.executor.devices import Probe


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_graceful_shutdown_with_open_connections(signum):
    with running_server(graceful_timeout=0.5) as server:
        async with WebSocketExecutor("127.0.0.1", server.port) as executor, \
                httpx.AsyncClient(base_url=server.url, headers=AUTH_HEADERS) as client:
            device = Probe(name="probe", executor=executor)
            await executor.ensure_remote_instance(device)
            assert await device.echo(1) == [[1], {}]
            assert (await client.get("/health")).status_code == 200  # a keep-alive connection
            async with open_websocket_url(f"ws://127.0.0.1:{server.port}/ws",
                                          extra_headers=WS_AUTH_HEADERS):
                start = time.monotonic()
                server.process.send_signal(signum)
                code = await trio.to_thread.run_sync(server.process.wait, 20)
        assert code == 0, server.log()
        assert time.monotonic() - start < 10
        assert "Traceback" not in server.log()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "moalab.cli.server", *args], cwd=REPO,
                          env=repo_env(), capture_output=True, text=True, timeout=60)


def test_negative_graceful_timeout_is_refused():
    result = run_cli("--port", "0", "--graceful-timeout", "-1")
    assert result.returncode == 2
    assert "--graceful-timeout" in result.stderr


def test_a_bad_namespace_grace_is_refused():
    result = run_cli("--port", "0", "--namespace-grace", "0")
    assert result.returncode == 2
    assert ("command line: namespace_grace = 0.0 is not accepted; give seconds, more than 0"
            in " ".join(result.stderr.split()))


def test_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in " ".join(result.stderr.split())
