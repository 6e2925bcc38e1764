"""GPIO devices as remote instances on a real moalab-server process with mock pins.

The server runs with ``GPIOZERO_PIN_FACTORY=mock`` (the only stand-in: the
Pi's pins) and allows ``tests.device.mock_pins``, whose probe drives and reads
those pins from inside the server process. Everything between the test and
the pins is real: the WebSocket, the server, its object registry, gpiozero.
"""

import itertools
import os
from time import perf_counter

import pytest
import trio

pytest.importorskip("gpiozero")

from moalab.core.errors import InvalidArgument  # noqa: E402
from moalab.device.gpio import GPIODigitalInput, GPIODigitalOutput  # noqa: E402
from moalab.executor.websocket import WebSocketExecutor  # noqa: E402
from moalab.runner.experiment import run_experiment  # noqa: E402
from moalab.stage import DigitalGateStage, RunState  # noqa: E402
from tests.conftest import running_server  # noqa: E402
from tests.device.mock_pins import MockPinProbe  # noqa: E402

_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


@pytest.fixture(scope="module")
def gpio_server():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPIOZERO_PIN_FACTORY", "mock")
        patch.delenv("GPIOZERO_MOCK_PIN_CLASS", raising=False)
        with running_server("--allow", "tests.device.mock_pins") as server:
            yield server


async def wait_for(predicate, timeout=10.0):
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.005)


def record_updates(device):
    """A list that gets ``(timestamp, state)`` of every update mirrored to ``device``."""
    rows = []
    device.fbind("on_data_update", lambda dev, *_: rows.append((dev.timestamp, dev.state)))
    return rows


async def test_remote_output_drives_the_server_pin(gpio_server):
    async with WebSocketExecutor(port=gpio_server.port, timeout=20) as executor:
        probe = MockPinProbe(name=unique("pins"), executor=executor)
        motor = GPIODigitalOutput(22, name=unique("motor"), executor=executor)
        async with executor.remote_instance(probe), executor.remote_instance(motor):
            assert await probe.function(22) == "input"  # not claimed until first used

            await motor.write_state(True)
            assert await probe.level(22) is True
            assert await probe.function(22) == "output"
            await wait_for(lambda: motor.state is True)  # mirrored back
            assert not motor.is_open  # this side holds no pin: the write ran on the server

            await motor.write_state(False)
            assert await probe.level(22) is False
            await wait_for(lambda: motor.state is False)

            # a bad value is refused on the server with moalab's own error type
            with pytest.raises(InvalidArgument, match="state='on' is not accepted"):
                await motor.write_state("on")
            assert await probe.level(22) is False
        # deleting the remote instance released the pin
        async with executor.remote_instance(probe):
            assert await probe.function(22) == "input"


async def run_gate_until_the_beam_breaks(beam, probe, pin, rows, opens_pin=True):
    """Run a local gate on remote ``beam``; break the beam on the server; return the
    time bounds of the edge. ``opens_pin``: the pump opens the pin (it was released)."""
    gate = DigitalGateStage(device=beam, exit_state=True, name="wait for the beam")
    async with trio.open_nursery() as nursery:
        # the beam's pump runs on the server; the gate here watches the mirror
        count = len(rows)
        await nursery.start(run_experiment, gate, [beam])
        if opens_pin:
            await wait_for(lambda: len(rows) > count)  # the pump opened the pin, read it
        assert beam.state is False
        await trio.sleep(0.2)
        assert gate.active, "the gate exited while the pin was low"

        before = perf_counter()
        await probe.drive(pin, True)
        after = perf_counter()
        await wait_for(lambda: not gate.active)
    assert gate.run_state == RunState.DONE
    assert beam.state is True
    return before, after


async def test_remote_input_edge_makes_a_local_gate_exit(gpio_server):
    async with WebSocketExecutor(port=gpio_server.port, timeout=20) as executor:
        probe = MockPinProbe(name=unique("pins"), executor=executor)
        beam = GPIODigitalInput(17, name=unique("beam"), executor=executor)
        rows = record_updates(beam)
        async with executor.remote_instance(probe), executor.remote_instance(beam):
            before, after = await run_gate_until_the_beam_breaks(beam, probe, 17, rows)
            # stamped at the edge, in the server process (same machine, same monotonic
            # clock), not when the update reached this side
            assert before <= beam.timestamp <= after

            # the pump released the pin when the experiment ended; a read opens it again
            await probe.drive(17, False)
            await beam.read_state()
            await wait_for(lambda: beam.state is False)

            # a second experiment on the same remote device (the read left the pin open)
            await run_gate_until_the_beam_breaks(beam, probe, 17, rows, opens_pin=False)
            await probe.drive(17, False)


async def test_a_burst_of_short_pulses_reaches_the_client_edge_by_edge(gpio_server):
    n = 25
    async with WebSocketExecutor(port=gpio_server.port, timeout=20) as executor:
        probe = MockPinProbe(name=unique("pins"), executor=executor)
        beam = GPIODigitalInput(27, name=unique("beam"), executor=executor)
        gate = DigitalGateStage(device=beam, exit_state=True, name="wait for the beam")
        rows = record_updates(beam)
        async with executor.remote_instance(probe), executor.remote_instance(beam):
            async with trio.open_nursery() as nursery:
                await nursery.start(run_experiment, gate, [beam])
                await wait_for(lambda: rows)  # the pump opened the pin and read it
                await probe.pulse(27, n)  # every edge queued before the pump delivers one
                with trio.move_on_after(5):
                    await wait_for(lambda: not gate.active)
                exited = not gate.active
                nursery.cancel_scope.cancel()
    assert [state for _, state in rows[1:]] == [True, False] * n
    assert exited, "the beam broke 25 times and the gate never saw it"
