"""Lost links: a killed or frozen server is noticed, the executor reconnects and
restores its objects, and the stage tree follows the executor's on_lost policy."""

import os
import signal

import pytest
import trio

from moalab import Delay, MemoryLogger, MoaStage, RunState, run_experiment
from moalab.executor import ConnectionLost, WebSocketExecutor
from moalab.executor.clock import ClockSync

from ..conftest import running_server
from .devices import Probe, VirtualDevice
from .proxy import Delay as LinkDelay
from .proxy import open_delay_proxy

NO_CLOCK_SYNC = None  # these tests are about the link, not the clock
FAST_HEARTBEAT = (0.2, 1.5)


class Pellet(MoaStage):
    """Drives the remote motor high then low each trial."""

    async def do_trial(self):
        await self.motor.write_state(True)
        await trio.sleep(0.05)
        await self.motor.write_state(False)


def pellet_tree(motor: VirtualDevice, trials: int, iti: float = 0.3
                ) -> tuple[MoaStage, MoaStage, MemoryLogger]:
    """A root of a habituation delay and ``trials`` trials of a pellet then an iti
    delay; returns the root, the trial stage and a logger of every stage."""
    root = MoaStage(name="root")
    trial = MoaStage(name="trial", repeat=trials)
    root.add_stage(Delay(name="habituation", delay=0.2))
    root.add_stage(trial)
    trial.add_stage(Pellet(name="pellet", motor=motor))
    trial.add_stage(Delay(name="iti", delay=iti))
    logger = MemoryLogger()
    for stage in root.iterate_stages():
        logger.add_logged_instance(stage)
    return root, trial, logger


def kill(server) -> None:
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()


async def test_pause_policy_rides_out_a_server_killed_mid_tree():
    """kill -9 the server during the trials, start it again on the same port: the tree
    pauses while the link is down, then completes with every event logged."""
    with running_server() as first:
        port = first.port
        executor = WebSocketExecutor(port=port, clock_sync=NO_CLOCK_SYNC, on_lost="pause",
                                     heartbeat=FAST_HEARTBEAT)
        motor = VirtualDevice(name="motor-link-loss", executor=executor)
        root, trial, logger = pellet_tree(motor, trials=4)
        states = []
        executor.add_link_listener(lambda up: states.append((up, str(root.run_state))))
        async with trio.open_nursery() as nursery:
            async def kill_during_trial_two():
                while trial.count < 1:
                    await trio.sleep(0.01)
                kill(first)

            nursery.start_soon(kill_during_trial_two)
            await executor.start_executor()
            await executor.ensure_remote_instance(motor)
            run = trio.Event()

            async def experiment():
                with trio.fail_after(60):
                    await run_experiment(root, executors=[executor])
                run.set()

            nursery.start_soon(experiment)
            with trio.fail_after(30):
                while executor.connected:
                    await trio.sleep(0.01)
            assert root.run_state is RunState.PAUSED  # the link is down: the tree waits
            await trio.sleep(0.5)
            assert root.run_state is RunState.PAUSED
            with running_server("--port", str(port)):
                with trio.fail_after(60):
                    await run.wait()

    assert root.run_state is RunState.DONE
    assert [up for up, _ in states][:3] == [True, False, True]  # up, lost, back (then stop)
    assert_every_stage_logged(logger, trials=4)
    # the log says what paused the tree, and when it went on
    assert [(r.name, r.value) for r in logger.rows if r.trigger == "paused_by"] == [
        ("root", f"lost link: WebSocketExecutor(ws://127.0.0.1:{port}/ws)"), ("root", ""),
    ]


def assert_every_stage_logged(logger: MemoryLogger, trials: int) -> None:
    """Each stage of a pellet tree (root, habituation, trial, pellet, iti) logged as
    many ends as starts, ``trials`` pellet trials, and the root's end last."""
    rows = [(r.name, r.trigger) for r in logger.rows]
    for name in ("root", "habituation", "trial", "pellet", "iti"):
        assert rows.count((name, "on_stage_start")) == rows.count((name, "on_stage_end")) > 0
    assert rows.count(("pellet", "on_trial_end")) == trials
    assert rows[-1] == ("root", "on_stage_end")


async def test_fail_policy_fails_calls_then_reconnects_and_restores_objects():
    with running_server() as first:
        port = first.port
        executor = WebSocketExecutor(port=port, clock_sync=NO_CLOCK_SYNC,
                                     heartbeat=FAST_HEARTBEAT)
        probe = Probe(name="probe-fail-policy", executor=executor)
        async with executor:
            await executor.ensure_remote_instance(probe)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, kill, first)
                with trio.fail_after(30), pytest.raises(ConnectionLost):
                    await probe.sleep(5)  # in flight when the server dies
            with pytest.raises(ConnectionLost, match="reconnecting"):
                await probe.echo(1)  # nothing to reach now
            with running_server("--port", str(port)):
                with trio.fail_after(30):
                    while not executor.connected:
                        await trio.sleep(0.05)
                # the object was created again on the new server
                assert await probe.echo(2) == [[2], {}]
                names = [o["name"] for o in await executor.list_remote_instances()]
                assert "probe-fail-policy" in names


async def test_a_frozen_server_is_noticed_by_heartbeats():
    """SIGSTOP keeps the TCP connection open but silent: only heartbeats can tell."""
    with running_server() as server:
        executor = WebSocketExecutor(port=server.port, clock_sync=NO_CLOCK_SYNC,
                                     heartbeat=FAST_HEARTBEAT, reconnect=False)
        probe = Probe(name="probe-frozen", executor=executor)
        async with executor:
            await executor.ensure_remote_instance(probe)
            os.kill(server.process.pid, signal.SIGSTOP)
            try:
                start = trio.current_time()
                with trio.fail_after(30), pytest.raises(ConnectionLost, match="no word"):
                    await probe.echo(3)
                # marked down as the silence passes dead_after, not after a close handshake
                assert trio.current_time() - start < FAST_HEARTBEAT[1] + 1.0
            finally:
                os.kill(server.process.pid, signal.SIGCONT)


async def test_a_link_lost_while_objects_are_restored_is_noticed_and_retried():
    """The server restarts; the new link goes silent just as the executor sends it the
    create of its object: that restore fails like any call, and the next one, once
    the link carries again, brings the executor back."""
    with running_server() as first:
        port = first.port
        async with open_delay_proxy(port, up=LinkDelay(base=0.05)) as proxy:
            executor = WebSocketExecutor(port=proxy.port, clock_sync=NO_CLOCK_SYNC,
                                         on_lost="retry", heartbeat=FAST_HEARTBEAT)
            probe = Probe(name="probe-restore-lost", executor=executor)
            async with executor:
                await executor.ensure_remote_instance(probe)
                kill(first)
                with trio.fail_after(30):
                    while executor.connected:
                        await trio.sleep(0.01)
                sent = proxy.chunks["up"]
                with running_server("--port", str(port)):
                    with trio.fail_after(30):
                        # the WebSocket handshake, the first echo, then the create
                        while proxy.chunks["up"] < sent + 3:
                            await trio.sleep(0.001)
                    proxy.black_hole()  # the create waits in the proxy: silence
                    await trio.sleep(FAST_HEARTBEAT[1] + 1.0)
                    assert not executor.connected
                    proxy.restore()
                    with trio.fail_after(30):
                        while not executor.connected:
                            await trio.sleep(0.01)
                    assert await probe.echo(2) == [[2], {}]


def test_policies_are_checked():
    with pytest.raises(ValueError, match="on_lost"):
        WebSocketExecutor(on_lost="ignore")
    with pytest.raises(ValueError, match="heartbeat"):
        WebSocketExecutor(heartbeat=(2.0, 1.0))
    assert isinstance(ClockSync(), ClockSync)
