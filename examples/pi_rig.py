"""The sugar-pellet experiment on a Raspberry Pi rig, run from the lab PC.

The Pi runs ``moalab-server`` (see rpi/README.md). Its beam-break sensor and
pellet motor are GPIO pins: this script creates a ``GPIODigitalInput`` and a
``GPIODigitalOutput`` on the Pi over WebSocket and runs the guide's stage tree
(``build_root`` of examples/sugar_pellet.py) here, on the PC::

    python examples/pi_rig.py --server raspberrypi.local --beam-pin 17 --motor-pin 27

Wiring: the sensor drives its pin high while the beam is broken (the pin has
the Pi's pull-down); the motor driver turns the motor on while its pin is high.
The beam's pump runs on the Pi, which stamps each edge when it happens; the
gate on the PC sees the level the Pi mirrors back.

``--mock`` tries it without a Pi: a moalab-server starts in this process on
gpiozero's mock pins, and a simulated animal breaks the beam now and then.
``--speed 20`` runs 20 times faster than real time, ``--log FILE.csv`` also
logs to a CSV file. Ctrl-C stops the experiment cleanly (twice aborts).
"""

import argparse
import random
import signal
import sys
from pathlib import Path

import trio
import trio.testing

from moalab import (
    GPIODigitalInput,
    GPIODigitalOutput,
    MoaError,
    SimpleCSVLogger,
    SimpleTerminalLogger,
    WebSocketExecutor,
)
from moalab.examples.sugar_pellet import build_root
from moalab.runner import run_experiment


async def simulated_animal(beam_pin) -> None:
    """``--mock`` only: now and then the animal puts its head in the food port,
    breaking the beam for half a second (driving the mock pin the sensor would)."""
    while True:
        await trio.sleep(random.uniform(2, 8))
        await trio.to_thread.run_sync(beam_pin.drive_high)
        await trio.sleep(0.5)
        await trio.to_thread.run_sync(beam_pin.drive_low)


async def stop_on_signals(root, cancel_scope: trio.CancelScope, stopped: trio.Event,
                          task_status=trio.TASK_STATUS_IGNORED) -> None:
    """The first Ctrl-C (or SIGTERM) stops the tree cleanly; the second aborts.
    Started (``nursery.start``) once the signals are caught: a Ctrl-C as the tree
    starts stops it too."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for _ in signals:
            if stopped.is_set() or not root.active:
                cancel_scope.cancel()
            stopped.set()
            print('stopping the experiment (Ctrl-C again to abort)...')
            root.stop_stage()


async def run(args: argparse.Namespace, pin_factory=None) -> bool:
    """Run the experiment on the rig; return whether a signal stopped it."""
    stopped = trio.Event()
    async with trio.open_nursery() as nursery:
        server, port = args.server, args.port
        if pin_factory is not None:
            # --mock: a moalab-server here, on a free port, with this process's mock pins
            from moalab.server import ServerConfig, serve

            (url,) = await nursery.start(lambda task_status: serve(
                ServerConfig(port=0), graceful_timeout=0.1, task_status=task_status))
            server, port = '127.0.0.1', int(url.rsplit(':', 1)[1])
            print(f'started a local moalab-server with mock pins at {url}')
            nursery.start_soon(simulated_animal, pin_factory.pin(args.beam_pin))

        executor = WebSocketExecutor(server=server, port=port)
        beam = GPIODigitalInput(args.beam_pin, name='beam', executor=executor)
        motor = GPIODigitalOutput(args.motor_pin, name='pellet_motor', executor=executor)
        root = build_root(beam, motor)

        loggers = [SimpleTerminalLogger()] + ([SimpleCSVLogger(args.log)] if args.log else [])
        for logger in loggers:
            for stage in root.iterate_stages():
                logger.add_logged_instance(stage)
            logger.add_logged_instance(beam)
            logger.add_logged_instance(motor)

        try:
            async with executor:
                # the pins exist on the Pi while the experiment runs, and are released after
                async with executor.remote_instance(beam), executor.remote_instance(motor):
                    await nursery.start(stop_on_signals, root, nursery.cancel_scope,
                                        stopped)
                    await run_experiment(root, [beam])
        finally:
            for logger in loggers:
                logger.remove_all()
                close = getattr(logger, 'close', None)
                if close is not None:
                    close()
        nursery.cancel_scope.cancel()
    print(f'experiment {root.run_state}')
    return stopped.is_set()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog='Pins are BCM GPIO numbers (17) or gpiozero names (GPIO17, BOARD11).')
    parser.add_argument('--server', metavar='HOST',
                        help='the Raspberry Pi running moalab-server')
    parser.add_argument('--port', type=int, default=5000, help='its port (default 5000)')
    parser.add_argument('--beam-pin', type=pin, default=17, metavar='PIN',
                        help='the beam-break sensor input (default 17)')
    parser.add_argument('--motor-pin', type=pin, default=27, metavar='PIN',
                        help='the pellet motor output (default 27)')
    parser.add_argument('--mock', action='store_true',
                        help='no Pi: serve mock pins from this process, with a simulated '
                        'animal breaking the beam')
    parser.add_argument('--speed', type=positive, metavar='FACTOR',
                        help='run FACTOR times faster than real time')
    parser.add_argument('--log', type=Path, metavar='FILE.csv', help='also log to this CSV file')
    return parser


def pin(text: str):
    return int(text) if text.isdigit() else text


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f'{text!r} must be above 0')
    return value


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mock == (args.server is not None):
        parser.error('give --server HOST (the Pi running moalab-server), or --mock to try it '
                     'without a Pi')
    if args.beam_pin == args.motor_pin:
        parser.error(f'--beam-pin and --motor-pin are both {args.beam_pin}: give two pins')
    pin_factory = None
    if args.mock:
        import gpiozero
        from gpiozero.pins.mock import MockFactory

        pin_factory = gpiozero.Device.pin_factory = MockFactory()
    clock = trio.testing.MockClock(rate=args.speed) if args.speed else None
    code = 1
    try:
        code = 130 if trio.run(run, args, pin_factory, clock=clock) else 0
    except* MoaError as group:  # e.g. no server at that address: say so, no traceback
        print(f'pi_rig: {first_leaf(group)}', file=sys.stderr)
    finally:
        if pin_factory is not None:
            pin_factory.close()
    return code


def first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


if __name__ == '__main__':
    sys.exit(main())
