"""moalab-server deletes a namespace nobody uses after its grace time (issue 13): the
objects of a client killed mid-run do not stay on the rig for good, and a client
that comes back within the grace time finds them as it left them.

Each test has a server of its own, with a short ``--namespace-grace``.
"""

import signal
import subprocess
import sys
import time

import httpx
import trio

from moalab.executor.websocket import WebSocketExecutor
from tests.conftest import AUTH_HEADERS, REPO, repo_env, running_server
from tests.executor.conftest import wait_until
from tests.executor.devices import Probe

GRACE = 4.0
PROBE = "tests.executor.devices:Probe"

# A run's client: its executor in a namespace a run gives it; prints "ready" once its
# lever (value 7) is on the server, then waits to be killed.
CLIENT = """
import sys, trio
from moalab.executor.websocket import WebSocketExecutor
from tests.executor.devices import Probe

async def main(port, namespace):
    executor = WebSocketExecutor("127.0.0.1", int(port), clock_sync=None)
    executor.use_namespace(namespace)
    async with executor:
        lever = Probe(name="lever", executor=executor)
        await executor.ensure_remote_instance(lever)
        await lever.set_value(7)
        print("ready", flush=True)
        await trio.sleep_forever()

trio.run(main, *sys.argv[1:])
"""


def health(server) -> dict:
    return httpx.get(f"{server.url}/health", timeout=10).json()


def names_in(server, namespace: str) -> list[str]:
    """The names of the server's objects in ``namespace``."""
    listed = httpx.get(f"{server.url}/api/objects", headers=AUTH_HEADERS, timeout=10).json()
    return [entry["name"] for entry in listed if entry["namespace"] == namespace]


async def seconds_until_gone(server, namespace: str) -> float:
    """Real seconds from now until ``namespace`` holds no object on ``server``."""
    start = time.monotonic()
    await wait_until(lambda: not names_in(server, namespace), timeout=GRACE + 30, interval=0.1)
    return time.monotonic() - start


async def test_a_killed_clients_namespace_goes_after_the_grace_time():
    with running_server("--namespace-grace", str(GRACE)) as server:
        namespace = "run-killed"
        shared = httpx.post(f"{server.url}/api/objects", headers=AUTH_HEADERS, timeout=10,
                            json={"name": "kept", "cls": PROBE})  # "" nobody watches
        assert shared.status_code == 201
        client = subprocess.Popen([sys.executable, "-c", CLIENT, str(server.port), namespace],
                                  cwd=REPO, env=repo_env(), stdout=subprocess.PIPE)
        try:
            ready = await trio.to_thread.run_sync(client.stdout.readline)
            assert ready == b"ready\n"
        finally:
            client.send_signal(signal.SIGKILL)  # no stop: nothing deleted by the client
            client.wait(10)
            client.stdout.close()
        await wait_until(lambda: health(server)["sessions"] == 0)  # the server saw it go
        assert names_in(server, namespace) == ["lever"]

        # a reconnection within the grace time (half of it gone) finds the lever as it
        # was left; the grace starts again when it leaves
        await trio.sleep(GRACE / 2)
        async with WebSocketExecutor("127.0.0.1", server.port, clock_sync=None,
                                     namespace=namespace) as executor:
            lever = Probe(name="lever", executor=executor)
            assert await executor.ensure_remote_instance(lever) is False
            assert lever.value == 7
        # nobody uses it from here: gone after the grace time, not before
        waited = await seconds_until_gone(server, namespace)
        assert GRACE - 0.3 <= waited <= GRACE + 20
        assert names_in(server, "") == ["kept"]  # the shared namespace never expires
        assert health(server)["namespaces"] == 1
        log = " ".join(server.log().split())
        assert (f"deleted namespace '{namespace}' and its 1 object(s): no client used it for "
                f"{GRACE:g} s") in log


async def test_rest_requests_keep_a_namespace_in_use():
    """A REST client leaves no session: its requests are what shows it is there."""
    grace = 2.0
    with running_server("--namespace-grace", str(grace)) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH_HEADERS, timeout=10,
                                     params={"namespace": "by-rest"}) as client:
            created = await client.post("/api/objects", json={"name": "lever", "cls": PROBE})
            assert created.status_code == 201
            start = time.monotonic()
            while time.monotonic() - start < 2.5 * grace:
                reply = await client.post("/api/objects/lever/call/echo", json={"args": [1]})
                assert reply.status_code == 200, reply.text
                await trio.sleep(grace / 4)
        assert names_in(server, "by-rest") == ["lever"]
        assert grace - 0.5 <= await seconds_until_gone(server, "by-rest")
