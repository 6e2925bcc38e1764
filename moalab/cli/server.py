"""The `moalab-server` command: serve a rig's devices over REST and WebSocket.

Tests only: the environment variable ``MOALAB_CLOCK_SKEW=OFFSET,DRIFT_PPM`` runs
the server on a skewed clock, like a Pi's (see :mod:`moalab.core.clock`). It is
deliberately not a flag: no rig's command line sets it by accident.
"""

import argparse
import signal
import sys

import trio
from rich.console import Console
from rich.text import Text

from ..core.errors import MoaError
from ..core.nursery import unwrap_group
from ..server.config import ServerConfig, load_config, merge_config
from ..server.serve import serve

__all__ = ("main",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moalab-server",
        description="Serve moalab devices over REST and WebSocket, for WebSocketExecutor and "
        "RestExecutor clients. Stops cleanly on Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--config", metavar="FILE", help="a TOML config file (flags override it)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1: this computer "
                        "only; 0.0.0.0: every network interface)")
    parser.add_argument("--port", type=int, help="TCP port (default 5000; 0 picks a free one)")
    parser.add_argument("--allow", action="append", metavar="MODULE",
                        help="a module whose device classes clients may create (repeatable; "
                        "moalab's own devices are always allowed)")
    parser.add_argument("--graceful-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="how long open connections get to finish at shutdown (default 5)")
    return parser


async def _until_signal() -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


async def _main(config: ServerConfig, graceful_timeout: float, console: Console) -> None:
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(lambda task_status: serve(
            config, graceful_timeout=graceful_timeout, shutdown_trigger=_until_signal,
            task_status=task_status))
        for url in binds:
            # tests and scripts read the port from this line
            print(f"moalab-server listening on {url}", flush=True)
        console.print(f"allowed device modules: moalab, {', '.join(config.allow) or '(none)'}",
                      highlight=False)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # one line per message whatever the terminal's width (journalctl shows them as lines)
    console = Console(stderr=True, soft_wrap=True)
    try:
        config = load_config(args.config) if args.config else ServerConfig()
        config = merge_config(config, host=args.host, port=args.port, allow=args.allow)
        if args.graceful_timeout < 0:
            raise MoaError(f"--graceful-timeout {args.graceful_timeout} must be 0 or more")
    except MoaError as exc:
        console.print(Text.assemble(("moalab-server: ", "red"), str(exc)))
        return 2
    try:
        try:
            trio.run(_main, config, args.graceful_timeout, console)
        except BaseExceptionGroup as group:  # hypercorn's nurseries wrap a bind error
            raise unwrap_group(group) from None
    except OSError as exc:
        console.print(Text.assemble(("moalab-server: ", "red"), f"cannot listen on "
                                    f"{config.host}:{config.port}: {exc.strerror or exc}"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
