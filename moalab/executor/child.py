"""The child process of a ProcessExecutor: serves one connection from its parent.

Run as ``python -m moalab.executor.child [--main-script PATH]``. It listens on
127.0.0.1 (port 0), prints the port on stdout, serves the parent's connection,
and exits when that connection closes or its stdin closes: the parent holds
the other end of stdin, so the child exits even when the parent is killed with
SIGKILL. It inherits the parent's environment, ``MOALAB_CLOCK_SKEW`` (tests
only: a skewed clock, see :mod:`moalab.core.clock`) included.
"""

import argparse
import os

import trio

from .framing import FramedStream
from .registry import ObjectRegistry
from .session import Session


async def _exit_when_parent_dies(scope: trio.CancelScope) -> None:
    # unbuffered reads: a thread blocked in sys.stdin.buffer would hold its lock at exit
    while await trio.to_thread.run_sync(os.read, 0, 1024, abandon_on_cancel=True):
        pass
    scope.cancel()


async def serve(main_script: str | None) -> None:
    registry = ObjectRegistry(allow_all=True, main_script=main_script)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    listener = listeners[0]
    print(listener.socket.getsockname()[1], flush=True)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_exit_when_parent_dies, nursery.cancel_scope)
            stream = await listener.accept()
            await listener.aclose()
            framed = FramedStream(stream)
            await Session(registry, framed.send_frames).serve(framed.receive_frame)
            nursery.cancel_scope.cancel()
    finally:
        registry.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m moalab.executor.child")
    parser.add_argument("--main-script", help="the parent's main script, for its classes")
    args = parser.parse_args()
    trio.run(serve, args.main_script)


if __name__ == "__main__":
    main()
