"""The sugar-pellet experiment with its devices behind an executor.

``python examples/remote_sugar_pellet.py --executor websocket`` runs the
guide's experiment with the photobeam and the motor on a moalab-server (one
started in this process on 127.0.0.1 unless ``--server``/``--port`` name one),
``--executor process`` in a child process, ``--executor thread`` in a worker
thread. ``--speed 20`` runs it 20 times faster than real time.
"""

import argparse
from pathlib import Path

import trio
import trio.testing

from moalab import SimpleCSVLogger, SimpleTerminalLogger
from moalab.examples.remote_devices import VirtualDevice
from moalab.examples.sugar_pellet import build_root
from moalab.executor import (
    DummyRemoteExecutor,
    ProcessExecutor,
    RestExecutor,
    ThreadExecutor,
    WebSocketExecutor,
)
from moalab.runner import run_experiment
from moalab.server import ServerConfig, serve

EXECUTORS = ('thread', 'process', 'websocket', 'rest', 'dummy')


async def run(kind: str, server: str | None, port: int, log: Path | None) -> None:
    async with trio.open_nursery() as nursery:
        if kind in ('websocket', 'rest') and server is None:
            # no server named: serve one here, on a free port of this computer
            (url,) = await nursery.start(lambda task_status: serve(
                ServerConfig(port=0), graceful_timeout=0.1, task_status=task_status))
            server, port = '127.0.0.1', int(url.rsplit(':', 1)[1])
            print(f'started a local moalab-server at {url}')
        executor = {
            'thread': ThreadExecutor,
            'process': ProcessExecutor,
            'dummy': DummyRemoteExecutor,
            'websocket': lambda: WebSocketExecutor(server=server, port=port),
            'rest': lambda: RestExecutor(server=server, port=port),
        }[kind]()
        photo_bream_device = VirtualDevice(name='photobeam_device', executor=executor)
        motor_device = VirtualDevice(name='motor_device', executor=executor)
        root = build_root(photo_bream_device, motor_device)

        loggers = [SimpleTerminalLogger()] + ([SimpleCSVLogger(log)] if log else [])
        for logger in loggers:
            for stage in root.iterate_stages():
                logger.add_logged_instance(stage)
            logger.add_logged_instance(motor_device)

        async with executor:
            await executor.ensure_remote_instance(photo_bream_device)
            await executor.ensure_remote_instance(motor_device)
            await run_experiment(root, [photo_bream_device])
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--executor', choices=EXECUTORS, default='websocket')
    parser.add_argument('--server', help='a moalab-server host (default: start one here)')
    parser.add_argument('--port', type=int, default=5000, help='its port (default 5000)')
    parser.add_argument('--speed', type=float, help='run this many times faster than real time')
    parser.add_argument('--log', type=Path, help='also log to this CSV file')
    args = parser.parse_args()
    clock = trio.testing.MockClock(rate=args.speed) if args.speed else None
    trio.run(run, args.executor, args.server, args.port, args.log, clock=clock)


if __name__ == '__main__':
    main()
