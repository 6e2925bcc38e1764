"""A dead link through a real network: the server runs in a network namespace of the
test's own, at the far end of a veth pair, reached through :class:`DelayProxy` (this
kernel has no netem) that delays each chunk 5 ms +- 3 ms each way and loses 2 % of them
(as TCP does: they come a retransmission timeout later). 2,000 calls cross it; then the
proxy black-holes the link for 10 s (nothing forwarded, nothing closed: a Pi whose WiFi
drops) and the executor must notice within its dead time plus 0.5 s."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio

from moalab import RunState, run_experiment
from moalab.executor import ConnectionLost, WebSocketExecutor

from ..conftest import ServerProcess, require, running_server
from .devices import Probe, VirtualDevice
from .proxy import Delay, DelayProxy, open_delay_proxy
from .test_link_loss import assert_every_stage_logged, pellet_tree

LINK = Delay(base=0.005, spread=0.003, loss=0.02)
CALLS = 2000
CALLERS = 20  # calls in flight at once: 2,000 one after the other would take 30 s
HOLE = 10.0  # seconds the link is black-holed
SHORT_HOLE = 3.0  # a short drop: just past the dead time
NOTICE_SLACK = 0.5  # noticed within the dead time plus this
NAMESPACE = f"moalab-link-{os.getpid()}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def network_namespace(name: str) -> Iterator[str]:
    """Make network namespace ``name`` joined to this one by a veth pair; yield the
    address of its end; delete it (and so the pair) at the end. Skips (fails under
    MOALAB_TESTS_STRICT=1) where namespaces cannot be made."""
    require(shutil.which("ip") is not None, "iproute2's `ip` is missing: no network namespace")
    try:
        _ip("netns", "add", name)
    except subprocess.CalledProcessError as exc:
        require(False, f"`ip netns add` failed (root is needed): {exc.stderr.decode().strip()}")
    pid = os.getpid()
    outside, inside = f"mlo{pid}", f"mli{pid}"  # interface names have at most 15 characters
    subnet = f"10.231.{pid % 250}"
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", name)
        _ip("addr", "add", f"{subnet}.1/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("-n", name, "addr", "add", f"{subnet}.2/30", "dev", inside)
        _ip("-n", name, "link", "set", inside, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield f"{subnet}.2"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)  # and its veth end
        subprocess.run(["ip", "link", "del", outside], capture_output=True)  # if it outlived


@pytest.fixture(scope="module")
def namespaced_server() -> Iterator[ServerProcess]:
    with network_namespace(NAMESPACE) as address:
        with running_server(host=address, netns=NAMESPACE) as server:
            yield server


async def black_hole_until_noticed(proxy: DelayProxy, executor: WebSocketExecutor) -> float:
    """Black-hole the link; return the seconds until the executor marked it down."""
    start = trio.current_time()
    proxy.black_hole()
    with trio.fail_after(HOLE):
        while executor.connected:
            await trio.sleep(0.005)
    return trio.current_time() - start


async def test_lossy_link_then_a_black_hole_pauses_and_resumes_the_tree(namespaced_server):
    """on_lost='pause': 2,000 calls over the lossy link, then a 10 s black hole mid tree
    is noticed within the dead time plus 0.5 s; the tree waits paused and, once the
    link is back, completes with every stage's rows logged."""
    server = namespaced_server
    async with open_delay_proxy(server.port, server.host, up=LINK, down=LINK,
                                seed=21) as proxy:
        executor = WebSocketExecutor(port=proxy.port, clock_sync=None, on_lost="pause")
        probe = Probe(name=f"probe-netns-{os.getpid()}", executor=executor)
        motor = VirtualDevice(name=f"motor-netns-{os.getpid()}", executor=executor)
        root, trial, logger = pellet_tree(motor, trials=8, iti=0.1)
        changes = []
        executor.add_link_listener(lambda up: changes.append((up, root.run_state)))
        async with executor:
            await executor.ensure_remote_instance(probe)
            await executor.ensure_remote_instance(motor)

            async def caller(k: int) -> None:
                for i in range(CALLS // CALLERS):
                    assert await probe.echo(k, i) == [[k, i], {}]

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for k in range(CALLERS):
                        nursery.start_soon(caller, k)
            assert proxy.lost["up"] + proxy.lost["down"] > 0  # the link did lose chunks

            done = trio.Event()

            async def experiment() -> None:
                await run_experiment(root, executors=[executor])
                done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(experiment)
                with trio.fail_after(30):
                    while trial.count < 3:
                        await trio.sleep(0.005)
                hole_start = trio.current_time()
                noticed = await black_hole_until_noticed(proxy, executor)
                assert root.run_state is RunState.PAUSED
                await trio.sleep_until(hole_start + HOLE)
                assert root.run_state is RunState.PAUSED and not executor.connected
                proxy.restore()
                with trio.fail_after(30):
                    await done.wait()

    assert noticed < executor.heartbeat[1] + NOTICE_SLACK
    assert changes[:3] == [(True, RunState.IDLE), (False, RunState.RUNNING),
                           (True, RunState.PAUSED)]  # up, lost mid tree, back: then resumed
    assert root.run_state is RunState.DONE
    assert_every_stage_logged(logger, trials=8)


async def test_calls_in_flight_fail_when_the_link_is_black_holed(namespaced_server):
    """on_lost='fail': calls in flight end with ConnectionLost once the silence passes
    the dead time, never later; once the link is back, calls work again."""
    server = namespaced_server
    async with open_delay_proxy(server.port, server.host, up=LINK, down=LINK,
                                seed=12) as proxy:
        executor = WebSocketExecutor(port=proxy.port, clock_sync=None)
        probe = Probe(name=f"probe-netns-fail-{os.getpid()}", executor=executor)
        async with executor:
            await executor.ensure_remote_instance(probe)
            ended = []

            async def in_flight(call) -> None:
                with pytest.raises(ConnectionLost):
                    await call()
                ended.append(trio.current_time())

            with trio.fail_after(HOLE):  # a call that hangs fails the test
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(in_flight, lambda: probe.async_sleep(60))
                    nursery.start_soon(in_flight, lambda: probe.async_sleep(30))
                    await trio.sleep(0.2)
                    start = trio.current_time()
                    noticed = await black_hole_until_noticed(proxy, executor)
            dead_after = executor.heartbeat[1]
            assert noticed < dead_after + NOTICE_SLACK
            assert len(ended) == 2 and max(ended) - start < dead_after + NOTICE_SLACK
            with pytest.raises(ConnectionLost, match="reconnecting"):
                await probe.echo(1)
            proxy.restore()
            with trio.fail_after(30):
                while not executor.connected:
                    await trio.sleep(0.05)
            assert await probe.echo(2) == [[2], {}]


async def test_a_short_drop_is_ridden_out_as_soon_as_the_link_is_back(namespaced_server):
    """A 3 s drop: noticed, and the executor is connected again right after the link
    comes back (closing the dead connection does not wait for its close handshake)."""
    server = namespaced_server
    async with open_delay_proxy(server.port, server.host, up=LINK, down=LINK,
                                seed=3) as proxy:
        executor = WebSocketExecutor(port=proxy.port, clock_sync=None, on_lost="retry")
        probe = Probe(name=f"probe-netns-drop-{os.getpid()}", executor=executor)
        async with executor:
            await executor.ensure_remote_instance(probe)
            start = trio.current_time()
            await black_hole_until_noticed(proxy, executor)
            await trio.sleep_until(start + SHORT_HOLE)
            proxy.restore()
            back = trio.current_time()
            with trio.fail_after(30):
                assert await probe.echo(1) == [[1], {}]  # waits for the link (retry)
            assert trio.current_time() - back < 0.8
