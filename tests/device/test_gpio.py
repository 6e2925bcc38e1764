"""GPIO devices against gpiozero's mock pins (the only stand-in: the Pi's pins)."""

import os
import platform
import subprocess
import sys
import threading
from time import perf_counter

import pytest
import trio

gpiozero = pytest.importorskip("gpiozero")
from gpiozero import Device as GPIODevice  # noqa: E402
from gpiozero.pins.mock import MockFactory, MockPWMPin  # noqa: E402

from moalab.core.errors import InvalidArgument  # noqa: E402
from moalab.device.gpio import (  # noqa: E402
    GPIODigitalInput,
    GPIODigitalOutput,
    GPIODigitalPort,
    GPIOError,
    GPIOPWMOutput,
)
from moalab.runner.experiment import run_experiment  # noqa: E402
from moalab.stage import DigitalGateStage, RunState  # noqa: E402


@pytest.fixture
def factory():
    """gpiozero's default pin factory replaced by mock pins (PWM-capable) for one test."""
    previous = GPIODevice.pin_factory
    mock = MockFactory(pin_class=MockPWMPin)
    GPIODevice.pin_factory = mock
    try:
        yield mock
    finally:
        GPIODevice.pin_factory = previous
        mock.close()


def record_updates(device, *names):
    """Return a list that gets ``(timestamp, *values)`` on every update of ``device``."""
    rows = []
    device.fbind(
        "on_data_update",
        lambda dev, *_: rows.append((dev.timestamp, *(getattr(dev, n) for n in names))),
    )
    return rows


async def wait_for(predicate, timeout=5.0):
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.001)


# ------------------------------------------------------------------------ input


async def test_input_going_high_makes_gate_exit(factory):
    beam = GPIODigitalInput(17, name="beam")
    gate = DigitalGateStage(device=beam, exit_state=True, name="wait beam")
    pin = factory.pin(17)
    async with trio.open_nursery() as nursery:
        with trio.fail_after(5):
            await nursery.start(run_experiment, gate, [beam])
        await wait_for(lambda: beam.is_open)  # the pump opens the pin
        assert beam.state is False
        await trio.sleep(0.05)
        assert gate.active, "the gate exited while the pin was low"
        before = perf_counter()
        await trio.to_thread.run_sync(pin.drive_high)
        after = perf_counter()
        await wait_for(lambda: not gate.active)
    assert gate.run_state == RunState.DONE
    assert gate.state is True
    assert beam.state is True
    assert before <= beam.timestamp <= after
    # the pump opened the pin, so it released it when the experiment ended
    assert not beam.is_open
    assert pin.when_changed is None


async def test_burst_while_trio_is_blocked_keeps_every_edge_in_order(factory):
    n = 2000
    beam = GPIODigitalInput(5)
    pin = factory.pin(5)
    rows = record_updates(beam, "state")
    stamps = []

    def burst():
        for i in range(n):
            before = perf_counter()
            pin.drive_high() if i % 2 == 0 else pin.drive_low()
            stamps.append((before, perf_counter()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(beam.pump_state)
        await wait_for(lambda: beam.is_open)
        thread = threading.Thread(target=burst)
        thread.start()
        thread.join()  # blocks the trio thread: every edge is queued before delivery
        assert beam.pending_edges == n
        await wait_for(lambda: len(rows) == 1 + n)
        nursery.cancel_scope.cancel()

    edges = rows[1:]
    assert [state for _, state in edges] == [i % 2 == 0 for i in range(n)]
    # each timestamp was taken at its edge, not when trio delivered it
    for (timestamp, _), (before, after) in zip(edges, stamps, strict=True):
        assert before <= timestamp <= after
    assert beam.pending_edges == 0


async def test_burst_from_a_thread_while_trio_runs_keeps_every_edge_in_order(factory):
    n = 3000
    beam = GPIODigitalInput("GPIO6", pull_up=True)
    pin = factory.pin(6)
    rows = record_updates(beam, "state")
    ticks = []  # the trio thread keeps running while the edges come

    def burst():
        for i in range(n):
            pin.drive_low() if i % 2 == 0 else pin.drive_high()

    async def busy():
        while True:
            ticks.append(perf_counter())
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(beam.pump_state)
        nursery.start_soon(busy)
        await wait_for(lambda: beam.is_open)
        assert beam.state is True  # pulled up
        await trio.to_thread.run_sync(burst)
        await wait_for(lambda: len(rows) == 1 + n)
        nursery.cancel_scope.cancel()

    assert len(ticks) > 1
    edges = rows[1:]
    assert [state for _, state in edges] == [i % 2 == 1 for i in range(n)]
    timestamps = [t for t, _ in edges]
    assert timestamps == sorted(timestamps)


async def test_edges_before_the_pump_wait_for_it(factory):
    beam = GPIODigitalInput(13, bounce_time=0.01)
    pin = factory.pin(13)
    async with beam:
        assert pin.bounce == 0.01 and pin.pull == "down"
        rows = record_updates(beam, "state")
        pin.drive_high()
        pin.drive_low()
        assert rows == [] and beam.pending_edges == 2
        async with trio.open_nursery() as nursery:
            nursery.start_soon(beam.pump_state)
            await wait_for(lambda: len(rows) == 2)
            nursery.cancel_scope.cancel()
        assert [state for _, state in rows] == [True, False]
        # the pump did not open the pin, so it left it open
        assert beam.is_open
    assert not beam.is_open


async def test_read_state_reads_the_level_after_queued_edges(factory):
    beam = GPIODigitalInput(12)
    rows = record_updates(beam, "state")
    await beam.read_state()
    factory.pin(12).drive_high()
    await beam.read_state()
    assert [state for _, state in rows] == [False, False, True, True]
    beam.close()


async def test_one_pump_at_a_time(factory):
    beam = GPIODigitalInput(16)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(beam.pump_state)
        await wait_for(lambda: beam.is_open)
        with pytest.raises(GPIOError, match="already pumped"):
            await beam.pump_state()
        nursery.cancel_scope.cancel()


async def test_a_pump_releases_the_pin_it_opened_and_a_later_pump_opens_it_again(factory):
    # e.g. two experiments in a row on one device: releasing the pin is not close()
    beam = GPIODigitalInput(17, name="beam")
    pin = factory.pin(17)
    for drive in (pin.drive_high, pin.drive_low):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(beam.pump_state)
            await wait_for(lambda: beam.is_open)
            await trio.to_thread.run_sync(drive)
            await wait_for(lambda: beam.state is bool(pin.state))
            nursery.cancel_scope.cancel()
        assert not beam.is_open and pin.when_changed is None
    beam.close()  # the caller's close() is final
    with pytest.raises(GPIOError, match="closed; call open"):
        await beam.pump_state()


# ----------------------------------------------------------------------- output


async def test_write_state_drives_the_output_pin(factory):
    motor = GPIODigitalOutput(22, name="motor")
    pin = factory.pin(22)
    rows = record_updates(motor, "state")
    before = perf_counter()
    await motor.write_state(True)
    assert pin.state == 1 and motor.state is True
    await motor.write_state(False)
    assert pin.state == 0 and motor.state is False
    await motor.write_state(1)
    assert pin.state == 1
    assert [state for _, state in rows] == [False, True, False, True]  # open, then writes
    assert all(before <= t <= perf_counter() for t, _ in rows)
    await motor.read_state()
    assert rows[-1][1] is True
    for bad in ("yes", 2, 0.5, None):
        with pytest.raises(InvalidArgument, match="motor.*state=.*True or False"):
            await motor.write_state(bad)
    assert pin.state == 1
    motor.close()
    assert pin.function == "input"  # released
    with pytest.raises(GPIOError, match="closed"):
        await motor.write_state(False)
    motor.open()
    await motor.write_state(True)
    assert pin.state == 1
    motor.close()


async def test_output_initial_level_and_context_manager(factory):
    async with GPIODigitalOutput(23, initial=True) as out:
        assert out.is_open and out.state is True
        assert factory.pin(23).state == 1
    assert not out.is_open
    # the pin is free again
    async with GPIODigitalOutput(23) as again:
        await again.write_state(True)


async def test_port_writes_several_pins(factory):
    port = GPIODigitalPort({"light": 17, "motor": "GPIO27"}, name="rig")
    assert port.channel_names == ["light", "motor"]
    light, motor = factory.pin(17), factory.pin(27)
    rows = record_updates(port, "light", "motor")
    async with port:
        await port.write_states(high=["light", "motor"])
        assert (light.state, motor.state) == (True, True)
        await port.write_states(low=["light"])
        assert (light.state, motor.state) == (False, True)
        await port.write_state("motor", False)
        assert (light.state, motor.state) == (False, False)
        with pytest.raises(InvalidArgument, match="no channel 'fan'"):
            await port.write_states(high=["fan"])
        with pytest.raises(InvalidArgument, match="both high and low"):
            await port.write_states(high=["light"], low=["light"])
        await port.read_state()
    assert [r[1:] for r in rows] == [
        (False, False),  # opened
        (True, True),
        (False, True),
        (False, False),
        (False, False),  # read back
    ]
    assert not port.is_open and light.function == "input"


async def test_port_rejects_bad_pins(factory):
    with pytest.raises(InvalidArgument, match="non-empty"):
        GPIODigitalPort({})
    with pytest.raises(InvalidArgument, match=r"channel 'b'.*pin=-3"):
        GPIODigitalPort({"a": 1, "b": -3})
    for taken in ("pins", "initial", "pin_factory", "open", "name"):
        with pytest.raises(InvalidArgument, match=f"channel name '{taken}' is already"):
            GPIODigitalPort({taken: 4})
    port = GPIODigitalPort({"a": 20, "b": "GPIO20"})  # one pin named twice
    with pytest.raises(InvalidArgument, match="'GPIO20' cannot be used.*in use"):
        port.open()
    assert not port.is_open
    # the pin opened before the failure was released
    GPIODigitalOutput(20).open()


async def test_pwm_output(factory):
    led = GPIOPWMOutput(18, frequency=50, name="led")
    pin = factory.pin(18)
    await led.write_state(0.25)
    assert pin.state == pytest.approx(0.25) and pin.frequency == 50
    assert led.state == pytest.approx(0.25)
    await led.write_state(1)
    assert pin.state == 1
    for bad in (1.5, -0.1, float("nan"), "half", None):
        with pytest.raises(InvalidArgument, match="led.*duty cycle from 0"):
            await led.write_state(bad)
    assert pin.state == 1
    await led.read_state()
    assert led.state == 1
    led.close()
    with pytest.raises(InvalidArgument, match="frequency=0"):
        GPIOPWMOutput(18, frequency=0)


async def test_pwm_on_a_pin_without_pwm_is_a_clear_error():
    plain = MockFactory()  # MockPin has no PWM
    try:
        led = GPIOPWMOutput(18, pin_factory=plain)
        with pytest.raises(InvalidArgument, match="does not support PWM"):
            await led.write_state(0.5)
    finally:
        plain.close()


# ----------------------------------------------------------------------- remote


async def test_remote_instances_through_the_executor_protocol(factory):
    # the full remote path (encode, object registry, decode) in this process;
    # the "server side" devices use the same mock pins
    from moalab.executor.dummy import DummyRemoteExecutor

    async with DummyRemoteExecutor() as executor:
        motor = GPIODigitalOutput(22, name="motor", executor=executor)
        beam = GPIODigitalInput(17, name="beam", executor=executor)
        await executor.ensure_remote_instance(motor)
        await executor.ensure_remote_instance(beam)
        assert not motor.is_open and not beam.is_open  # the mirrors hold no pins

        await motor.write_state(True)
        assert factory.pin(22).state == 1
        await wait_for(lambda: motor.state is True)
        assert not motor.is_open  # the write ran on the far side

        async with trio.open_nursery() as nursery:
            nursery.start_soon(beam.pump_state)  # runs on the far side
            await wait_for(lambda: beam.state is False)
            before = perf_counter()
            await trio.to_thread.run_sync(factory.pin(17).drive_high)
            await wait_for(lambda: beam.state is True)
            assert beam.timestamp >= before
            nursery.cancel_scope.cancel()

        # deleting the remote instance releases its pin
        await executor.delete_remote_instance(motor)
        assert factory.pin(22).function == "input"


# ----------------------------------------------------------------- construction


@pytest.mark.parametrize("pin", [-1, True, None, 3.5, "", [17]])
def test_bad_pin_values_are_rejected_before_touching_hardware(pin):
    with pytest.raises(InvalidArgument, match=r"pin=.*BCM GPIO number"):
        GPIODigitalInput(pin)


def test_bad_input_options():
    with pytest.raises(InvalidArgument, match="bounce_time=-1"):
        GPIODigitalInput(17, bounce_time=-1)
    with pytest.raises(InvalidArgument, match="pull_up='up'"):
        GPIODigitalInput(17, pull_up="up")


async def test_unknown_and_busy_pins_fail_on_open(factory):
    with pytest.raises(InvalidArgument, match="'GPIO99' cannot be used"):
        await GPIODigitalInput("GPIO99").read_state()
    async with GPIODigitalOutput(21):
        with pytest.raises(InvalidArgument, match="pin 21 cannot be used.*in use"):
            GPIODigitalInput(21).open()


def test_construction_neither_opens_pins_nor_needs_gpiozero(factory, monkeypatch):
    beam = GPIODigitalInput(17, pull_up=True, bounce_time=0.005, name="beam")
    assert not beam.is_open
    # the keyword arguments recreate an equal device (e.g. on a moalab-server)
    again = GPIODigitalInput(**beam.init_kwargs)
    assert (again.pin, again.pull_up, again.bounce_time, again.name) == (17, True, 0.005, "beam")
    port = GPIODigitalPort({"a": 2, "b": 3}, initial=True)
    assert port.init_kwargs == {"pins": {"a": 2, "b": 3}, "initial": True}
    assert GPIODigitalPort(**port.init_kwargs).channel_names == ["a", "b"]
    pwm = GPIOPWMOutput(12, frequency=200)
    assert pwm.init_kwargs == {"pin": 12, "frequency": 200.0, "initial": 0.0}
    monkeypatch.setitem(sys.modules, "gpiozero", None)  # as if it were not installed
    with pytest.raises(GPIOError, match=r"moalab\[pi\]"):
        beam.open()


def test_import_moalab_does_not_import_gpiozero():
    code = (
        "import sys, moalab, moalab.device, moalab.device.gpio; "
        "assert 'gpiozero' not in sys.modules, 'gpiozero imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def run_script(code, **env):
    """Run ``code`` in a fresh Python with ``env`` added; return its stdout."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GPIOZERO_")}
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        env={**environ, **env}, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_gpiozero_default_factory_from_the_environment():
    # how a moalab-server process gets mock pins: GPIOZERO_PIN_FACTORY=mock
    out = run_script(
        "import trio, gpiozero\n"
        "from moalab.device.gpio import GPIODigitalOutput, GPIOPWMOutput\n"
        "async def main():\n"
        "    out, pwm = GPIODigitalOutput(17), GPIOPWMOutput(18)\n"
        "    await out.write_state(True)\n"
        "    await pwm.write_state(0.5)\n"
        "    f = gpiozero.Device.pin_factory\n"
        "    print(type(f).__name__, f.pin(17).state, f.pin(18).state)\n"
        "trio.run(main)\n",
        GPIOZERO_PIN_FACTORY="mock",
        GPIOZERO_MOCK_PIN_CLASS="mockpwmpin",
    )
    assert out.split() == ["MockFactory", "1.0", "0.5"]


@pytest.mark.skipif(
    platform.machine() in ("aarch64", "armv7l", "armv6l"),
    reason="a Raspberry Pi may have a real pin factory",
)
def test_no_pin_factory_is_a_clear_error():
    out = run_script(
        "from moalab.device.gpio import GPIODigitalOutput, GPIOError\n"
        "try:\n"
        "    GPIODigitalOutput(17).open()\n"
        "except GPIOError as exc:\n"
        "    print(exc)\n"
    )
    assert "no GPIO pin factory" in out and "GPIOZERO_PIN_FACTORY=mock" in out
