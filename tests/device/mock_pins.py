"""Test-only: the gpiozero mock pins of a moalab-server process, within a client's reach.

A ``moalab-server`` started with ``GPIOZERO_PIN_FACTORY=mock`` simulates its
pins, and nothing outside that process can touch them. A test creates a
:class:`MockPinProbe` on that server (``--allow tests.device.mock_pins``) to
drive an input pin as a sensor would and read an output pin as a motor would.
It refuses to run on any pin factory but gpiozero's ``MockFactory``, so it can
never drive a real rig's pins.

Importable as ``tests.device.mock_pins`` here and in the server process (the
repository is on its ``PYTHONPATH``).
"""

import threading
from typing import Any

from moalab import Device
from moalab.executor import apply_executor


def _mock_factory() -> Any:
    import gpiozero
    from gpiozero.pins.mock import MockFactory

    factory = gpiozero.Device.pin_factory
    if factory is None:
        # gpiozero chooses its default factory when its first device opens; this
        # makes the same choice (GPIOZERO_PIN_FACTORY) for a probe that comes first
        factory = gpiozero.Device.pin_factory = gpiozero.Device._default_pin_factory()
    if not isinstance(factory, MockFactory):
        raise RuntimeError(
            f"MockPinProbe drives only mock pins; this process uses {type(factory).__name__}: "
            "start the server with GPIOZERO_PIN_FACTORY=mock"
        )
    return factory


class MockPinProbe(Device):
    """Drives and reads the mock pins of the process it lives in (a test's server).

    The methods run in the object's worker thread on the server, so an edge
    driven here reaches a GPIO input from a thread other than trio's, as a real
    edge reaches it from gpiozero's callback thread.
    """

    @apply_executor
    def drive(self, pin: int, high: bool) -> None:
        """Drive input pin ``pin`` high or low, as the sensor wired to it would."""
        mock = _mock_factory().pin(pin)
        mock.drive_high() if high else mock.drive_low()

    @apply_executor
    async def pulse(self, pin: int, count: int) -> None:
        """Drive ``pin`` high then low ``count`` times from another thread while the
        server's trio thread waits blocked, so every edge is queued before any is
        delivered (as when edges come faster than the server's loop turns)."""
        mock = _mock_factory().pin(pin)

        def pulses() -> None:
            for _ in range(count):
                mock.drive_high()
                mock.drive_low()

        thread = threading.Thread(target=pulses, name="mock pulses")
        thread.start()
        thread.join()  # blocks the trio thread on purpose

    @apply_executor
    def level(self, pin: int) -> bool:
        """The level of pin ``pin`` now (True: high)."""
        return bool(_mock_factory().pin(pin).state)

    @apply_executor
    def function(self, pin: int) -> str:
        """What pin ``pin`` is set up as: 'input' (also when released) or 'output'."""
        return _mock_factory().pin(pin).function
