"""Access tokens and TLS: a request without the right token executes nothing."""

import os
import stat
import subprocess
import sys

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from moalab.executor import AuthenticationError, RestExecutor, WebSocketExecutor
from moalab.server.token import load_or_create_token, token_matches

from ..conftest import REPO, repo_env, running_server
from ..executor.devices import Probe

TOKEN = os.environ["MOALAB_TOKEN"]
CREATE = {"name": "auth-probe", "cls": "tests.executor.devices:Probe"}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), {"Authorization": TOKEN}])
def test_rest_without_the_token_is_refused_and_runs_nothing(moalab_server, headers):
    with httpx.Client(base_url=moalab_server.url, timeout=20) as client:
        response = client.post("/api/objects", json=CREATE, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"]["type"].endswith("AuthenticationError")
        listed = client.get("/api/objects", headers=bearer(TOKEN)).json()
        assert "auth-probe" not in [entry["name"] for entry in listed]
        # the health check and the documentation stay open
        assert client.get("/health").status_code == 200
        assert client.get("/openapi.json").status_code == 200


async def test_websocket_without_the_token_is_closed_with_a_policy_code(moalab_server):
    async with open_websocket_url(f"ws://127.0.0.1:{moalab_server.port}/ws") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 1008


@pytest.mark.parametrize("executor", [WebSocketExecutor, RestExecutor])
async def test_executors_with_a_wrong_token_fail_to_start_clearly(moalab_server, executor):
    ex = executor(port=moalab_server.port, token="wrong")
    with trio.fail_after(20), pytest.raises(AuthenticationError, match="token"):
        await ex.start_executor()
    await ex.stop_executor()


@pytest.mark.parametrize("executor", [WebSocketExecutor, RestExecutor])
async def test_the_token_from_the_environment_lets_executors_in(moalab_server, executor):
    ex = executor(port=moalab_server.port)  # token from MOALAB_TOKEN
    probe = Probe(name=f"auth-{executor.__name__}", executor=ex)
    async with ex:
        await ex.ensure_remote_instance(probe)
        assert await probe.echo(7) == [[7], {}]
        await ex.delete_remote_instance(probe)


def test_a_token_is_generated_once_and_kept_private(tmp_path):
    env = {"MOALAB_TOKEN": None, "XDG_DATA_HOME": str(tmp_path)}
    with running_server(env=env) as first:
        token_file = tmp_path / "moalab" / "token"
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        with httpx.Client(base_url=first.url, timeout=20) as client:
            assert client.get("/api/objects").status_code == 401
            assert client.get("/api/objects", headers=bearer(token)).status_code == 200
        assert token in first.log()  # printed at its creation
    with running_server(env=env) as second:
        assert token_file.read_text().strip() == token
        with httpx.Client(base_url=second.url, timeout=20) as client:
            assert client.get("/api/objects", headers=bearer(token)).status_code == 200
        assert token not in second.log()  # and only then


def test_token_file_is_reused_and_created_with_mode_0600(tmp_path):
    token, created = load_or_create_token(tmp_path / "data")
    assert created and len(token) >= 32
    assert load_or_create_token(tmp_path / "data") == (token, False)
    assert stat.S_IMODE((tmp_path / "data" / "token").stat().st_mode) == 0o600


def test_token_comparison():
    assert token_matches("abc", "abc")
    assert not token_matches("abc", "abd")
    assert not token_matches("abc", None)
    assert not token_matches("abc", "")


def test_listening_beyond_this_computer_without_a_token_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "moalab.cli.server", "--host", "0.0.0.0", "--port", "0",
         "--no-token"], cwd=REPO, env=repo_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, as a lab would make for its rig."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "rig.pem", folder / "rig-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize("executor", [WebSocketExecutor, RestExecutor])
async def test_tls_with_the_lab_certificate(certificate, executor):
    cert, key = certificate
    with running_server("--certfile", str(cert), "--keyfile", str(key)) as server:
        ex = executor(port=server.port, ca_file=str(cert))
        assert ex.url.startswith(("wss://", "https://"))
        probe = Probe(name=f"tls-{executor.__name__}", executor=ex)
        async with ex:
            await ex.ensure_remote_instance(probe)
            assert await probe.echo("over tls") == [["over tls"], {}]
        # without the lab's certificate the server is not trusted
        untrusting = executor(port=server.port, tls=True)
        with trio.fail_after(20), pytest.raises(Exception, match="(?i)certificate|ssl"):
            await untrusting.start_executor()
        await untrusting.stop_executor()
