"""Namespaces of remote objects on a moalab-server: two runs may each have a `lever`.

Every test talks to the session's real moalab-server; namespaces are unique per
test (the server is shared), the device is always named ``lever``.
"""

import signal
import time

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from moalab.core.errors import InvalidArgument
from moalab.executor import ExecutorError, ThreadExecutor
from moalab.executor.errors import UnknownObject
from moalab.executor.messages import Call
from moalab.executor.rest import RestExecutor
from moalab.executor.websocket import BAD_REQUEST, WebSocketExecutor

from ..conftest import AUTH_HEADERS, WS_AUTH_HEADERS, running_server
from .conftest import unique_name, wait_until
from .devices import Probe

LEVER = "lever"
BAD_NAMESPACES = ["a b", "run/3", "x" * 65, "é", "a\n", 3]


def ws_executor(server, namespace: str | None = None) -> WebSocketExecutor:
    return WebSocketExecutor("127.0.0.1", server.port, clock_sync=None, namespace=namespace)


def rest_executor(server, namespace: str | None = None) -> RestExecutor:
    return RestExecutor("127.0.0.1", server.port, clock_sync=None, namespace=namespace)


async def raw_call(executor, name: str):
    """Call ``echo(1)`` of object ``name`` with a bare call request: unlike a device's
    call, it does not create the object first."""
    return await executor._request(Call(None, name, "echo", [1], {}))


def values_of(device: Probe) -> list[float]:
    """The values ``device``'s mirror takes from now on."""
    seen: list[float] = []
    device.fbind("value", lambda _obj, value: seen.append(value))
    return seen


async def levers(executor) -> dict[str, dict]:
    """The server's objects named ``lever``, by namespace."""
    return {entry["namespace"]: entry for entry in await executor.list_remote_instances()
            if entry["name"] == LEVER}


async def test_two_namespaces_make_two_objects(moalab_server):
    ns_a, ns_b = unique_name("a"), unique_name("b")
    async with ws_executor(moalab_server, ns_a) as ex_a, \
            ws_executor(moalab_server, ns_b) as ex_b:
        lever_a = Probe(name=LEVER, executor=ex_a)
        lever_b = Probe(name=LEVER, executor=ex_b)
        assert await ex_a.ensure_remote_instance(lever_a) is True
        assert await ex_b.ensure_remote_instance(lever_b) is True  # not attached to a's
        listed = await levers(ex_a)
        assert {ns_a, ns_b} <= set(listed)
        assert listed[ns_a]["watchers"] == listed[ns_b]["watchers"] == 1

        seen_a, seen_b = values_of(lever_a), values_of(lever_b)
        with trio.fail_after(20):
            assert await lever_a.tick(3, 0.02) == 3  # changes on the far side, one by one
            await lever_b.set_value(9)
        await wait_until(lambda: seen_a == [1, 2, 3] and seen_b == [9])
        await trio.sleep(0.3)  # room for an update that should not come
        assert (seen_a, seen_b) == ([1, 2, 3], [9])

        # the far side agrees: each namespace's lever has its own value
        async with ws_executor(moalab_server, ns_a) as again_a, \
                ws_executor(moalab_server, ns_b) as again_b:
            view_a = Probe(name=LEVER, executor=again_a)
            view_b = Probe(name=LEVER, executor=again_b)
            assert await again_a.ensure_remote_instance(view_a) is False
            assert await again_b.ensure_remote_instance(view_b) is False
            assert (view_a.value, view_b.value) == (3, 9)

        await ex_a.delete_remote_instance(lever_a)
        listed = await levers(ex_b)
        assert ns_a not in listed and ns_b in listed  # deleted in a's namespace only
        await lever_b.set_value(10)
        assert lever_b.value == 10
        await ex_b.delete_remote_instance(lever_b)


async def test_one_namespace_attaches(moalab_server):
    namespace = unique_name("shared")
    async with ws_executor(moalab_server, namespace) as first_executor, \
            ws_executor(moalab_server, namespace) as second_executor:
        first = Probe(name=LEVER, executor=first_executor)
        second = Probe(name=LEVER, executor=second_executor)
        assert await first_executor.ensure_remote_instance(first) is True
        assert await second_executor.ensure_remote_instance(second) is False
        assert (await levers(first_executor))[namespace]["watchers"] == 2
        await first.set_value(4)
        await wait_until(lambda: second.value == 4)
        await first_executor.delete_remote_instance(first)


async def test_rest_clients_have_namespaces_too(moalab_server):
    ns_a, ns_b = unique_name("a"), unique_name("b")
    async with rest_executor(moalab_server, ns_a) as rest_a, \
            rest_executor(moalab_server, ns_b) as rest_b, \
            ws_executor(moalab_server, ns_a) as ws_a:
        lever_a, lever_b = Probe(name=LEVER, executor=rest_a), Probe(name=LEVER, executor=rest_b)
        mirror_a = Probe(name=LEVER, executor=ws_a)
        assert await rest_a.ensure_remote_instance(lever_a) is True
        assert await rest_b.ensure_remote_instance(lever_b) is True
        assert await ws_a.ensure_remote_instance(mirror_a) is False  # REST's a is WS's a
        seen_b = values_of(lever_b)

        await lever_a.set_value(6)
        await wait_until(lambda: mirror_a.value == 6)
        await trio.sleep(0.3)  # b's updates stream would have brought it by now
        assert lever_b.value == 0 and seen_b == []

        await rest_b.delete_remote_instance(lever_b)
        listed = await levers(rest_a)
        assert ns_a in listed and ns_b not in listed
        with pytest.raises(UnknownObject, match=f"'lever' in namespace '{ns_b}'"):
            await raw_call(rest_b, LEVER)  # a bare request: it does not create the object
        assert await lever_b.echo(1) == [[1], {}]  # a device's call creates it again, in b
        assert (await levers(rest_a))[ns_b]["watchers"] >= 1
        assert lever_b.value == 0 and mirror_a.value == 6  # a new one; a's untouched
        await rest_b.delete_remote_instance(lever_b)
        await rest_a.delete_remote_instance(lever_a)


async def test_no_namespace_is_the_shared_one_as_before(moalab_server):
    name = unique_name(LEVER)
    async with ws_executor(moalab_server) as shared, rest_executor(moalab_server) as rest, \
            ws_executor(moalab_server, unique_name("run")) as in_run:
        assert shared.namespace == rest.namespace == ""
        device = Probe(name=name, executor=shared)
        assert await shared.ensure_remote_instance(device) is True
        assert await rest.ensure_remote_instance(Probe(name=name, executor=rest)) is False
        entry, = [e for e in await shared.list_remote_instances() if e["name"] == name]
        assert entry["namespace"] == ""
        # another namespace does not see it; the message names where it looked
        with pytest.raises(UnknownObject, match=f"no object named '{name}' in namespace "
                                                f"'{in_run.namespace}' on the server"):
            await raw_call(in_run, name)  # a bare request: it does not create the object
        # a device's first call there creates an object of that namespace's own
        await device.set_value(4)
        await wait_until(lambda: device.value == 4)
        in_run_device = Probe(name=name, executor=in_run)
        assert await in_run_device.echo(1) == [[1], {}]
        assert in_run_device.value == 0
        assert {e["namespace"] for e in await shared.list_remote_instances()
                if e["name"] == name} == {"", in_run.namespace}
        await in_run.delete_remote_instance(in_run_device)
        await shared.delete_remote_instance(device)
        with pytest.raises(UnknownObject, match=f"no object named '{name}' on the server"):
            await raw_call(shared, name)


def health(server) -> dict:
    return httpx.get(f"{server.url}/health", timeout=10).json()


async def test_objects_outlive_their_clients_in_their_namespace(moalab_server):
    """As in the shared namespace, a client leaving leaves its objects; its namespace
    lasts as long as they do, and goes with the last one."""
    namespace = unique_name("run")
    before = health(moalab_server)
    async with ws_executor(moalab_server, namespace) as executor:
        await executor.ensure_remote_instance(Probe(name=LEVER, executor=executor, value=2))
    assert health(moalab_server)["namespaces"] == before["namespaces"] + 1
    async with ws_executor(moalab_server, namespace) as executor:
        listed = await levers(executor)
        assert listed[namespace]["watchers"] == 0
        lever = Probe(name=LEVER, executor=executor)
        assert await executor.ensure_remote_instance(lever) is False
        assert lever.value == 2
        await executor.delete_remote_instance(lever)
        assert namespace not in {e["namespace"] for e in await executor.list_remote_instances()}
    after = health(moalab_server)
    assert (after["objects"], after["namespaces"]) == (before["objects"], before["namespaces"])


async def test_use_namespace_gives_way_to_an_explicit_one(moalab_server):
    explicit = ws_executor(moalab_server, "rig-shared")
    explicit.use_namespace("run-1")
    assert explicit.namespace == "rig-shared"
    shared = ws_executor(moalab_server, "")  # explicitly the shared one
    shared.use_namespace("run-1")
    assert shared.namespace == ""

    executor = ws_executor(moalab_server)
    executor.use_namespace("run-1")
    assert executor.namespace == "run-1"
    executor.use_namespace("run-2")  # not started: a run may still move it
    namespace = executor.namespace
    async with executor:
        executor.use_namespace(namespace)  # no change: no error
        with pytest.raises(ExecutorError, match=f"runs in namespace '{namespace}': it cannot "
                                                "move to namespace 'run-3' while running"):
            executor.use_namespace("run-3")
        assert executor.namespace == namespace
        lever = Probe(name=LEVER, executor=executor)
        await executor.ensure_remote_instance(lever)
        assert namespace in await levers(executor)
        await executor.delete_remote_instance(lever)
    ThreadExecutor().use_namespace("run-1")  # local executors have none: a no-op


@pytest.mark.parametrize("bad", BAD_NAMESPACES)
@pytest.mark.parametrize("make", [ws_executor, rest_executor])
def test_a_bad_namespace_is_refused(moalab_server, make, bad):
    with pytest.raises(InvalidArgument, match=r"namespace=.* is not accepted: give at most 64 "
                                              r"ASCII letters, digits, '-', '_' or '\.'"):
        make(moalab_server, bad)
    executor = make(moalab_server)
    with pytest.raises(InvalidArgument, match="namespace="):
        executor.use_namespace(bad)
    assert executor.namespace == ""


@pytest.mark.parametrize("path", ["/api/objects", "/api/objects/lever/call/echo",
                                  "/api/objects/lever/updates"])
def test_the_server_refuses_a_bad_namespace_over_rest(moalab_server, path):
    method = "POST" if "/call/" in path else "GET"
    response = httpx.request(method, f"{moalab_server.url}{path}", params={"namespace": "a b"},
                             headers=AUTH_HEADERS, json={} if method == "POST" else None,
                             timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"].endswith("InvalidArgument")
    assert error["message"].startswith("namespace='a b' is not accepted")


async def test_the_server_refuses_a_bad_namespace_over_websocket(moalab_server):
    url = f"ws://127.0.0.1:{moalab_server.port}/ws?namespace={'x' * 200}"
    with trio.fail_after(10):
        async with open_websocket_url(url, extra_headers=WS_AUTH_HEADERS) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
    assert closed.value.reason.code == BAD_REQUEST
    assert closed.value.reason.reason.startswith("namespace='xxx")
    assert "is not accepted" in closed.value.reason.reason
    assert health(moalab_server)["status"] == "ok"  # and the server serves on


async def test_a_namespace_the_server_refuses_fails_the_start_with_its_reason(moalab_server):
    """A server whose rules differ from the client's (another version) refuses the
    namespace when the WebSocket opens: the start fails with the server's reason."""
    executor = ws_executor(moalab_server)
    executor._namespace = "not one"  # past the client's own check
    with pytest.raises(InvalidArgument, match=r"refused the connection: namespace='not one' "
                                              "is not accepted"):
        with trio.fail_after(10):
            await executor.start_executor()


async def run_executor_with_lever(server, **options) -> tuple[WebSocketExecutor, str]:
    """A started executor in a run's namespace (as a run gives it), with a lever there."""
    executor = WebSocketExecutor("127.0.0.1", server.port, clock_sync=None, **options)
    executor.use_namespace(unique_name("run"))
    await executor.start_executor()
    await executor.ensure_remote_instance(Probe(name=LEVER, executor=executor))
    return executor, executor.namespace


async def timed_stop(executor) -> float:
    start = time.monotonic()
    with trio.fail_after(20):
        await executor.stop_executor()
    return time.monotonic() - start


async def test_a_stop_does_not_wait_for_a_frozen_server(caplog):
    """A server that answers nothing (stopped by SIGSTOP, as a Pi that hangs): the
    stop gives up deleting the run's objects after 2 s, logs it, and ends."""
    with running_server() as server:
        # heartbeats that would take 30 s to call the link dead: only the stop's limit acts
        executor, namespace = await run_executor_with_lever(server, heartbeat=(0.5, 30))
        server.process.send_signal(signal.SIGSTOP)
        try:
            took = await timed_stop(executor)
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert 1.5 <= took <= 10  # the deletion's 2 s, then the close's 2 s at most
        assert (f"in namespace '{namespace}': deleting the run's objects took over 2 s"
                in caplog.text)
        async with ws_executor(server) as lister:  # the deletion sent, run once it wakes
            await wait_until(lambda: levers_gone(lister, namespace))


async def levers_gone(executor, namespace: str) -> bool:
    return namespace not in await levers(executor)


async def test_a_stop_with_the_link_down_deletes_nothing_and_says_so(caplog):
    with running_server() as server:
        executor, namespace = await run_executor_with_lever(server)
        server.process.send_signal(signal.SIGKILL)
        await wait_until(lambda: not executor.connected)
        assert await timed_stop(executor) <= 5
    assert f"in namespace '{namespace}': the link is down at the stop" in caplog.text
