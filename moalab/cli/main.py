"""The `moalab` command."""

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text
from rich.traceback import Traceback

from ..core.errors import MoaError
from .bench import add_bench_arguments, run_bench
from .run import default_log_path, run_cli_experiment
from .script import CONVENTION, load_module, load_script

__all__ = ("main",)

DEMO_MODULE = "moalab.examples.sugar_pellet"
DEMO_SPEED = 20.0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--dry-run", action="store_true",
                        help="run in virtual time: delays pass at once")
    timing.add_argument("--speed", type=_positive, metavar="FACTOR",
                        help="run in virtual time FACTOR times faster than real time")
    parser.add_argument("--log", type=Path, metavar="FILE.csv",
                        help="CSV log file (default: <name>-<date>-<time>.csv here)")
    parser.add_argument("--overwrite", action="store_true", help="overwrite an existing log file")
    parser.add_argument("--no-live", dest="live", action="store_false",
                        help="no live view of the stage tree")


def _script_traceback(exc: BaseException, script: Path) -> Traceback:
    """The traceback of an exception raised by ``script``, from the script's first frame
    on (runpy's and moalab's frames above it say nothing to the script's author)."""
    tb, target = exc.__traceback__, script.resolve()
    while tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve() != target:
        tb = tb.tb_next
    return Traceback.from_exception(type(exc), exc, tb, max_frames=4)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moalab", description="Run behavioural and neuroscience experiments."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run an experiment script",
        description="Run the stage tree an experiment script defines, with its device pumps, "
        "a live view, and a CSV log of every stage and device change. Ctrl-C stops the tree "
        "cleanly (twice aborts).",
        epilog=CONVENTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("script", type=Path, help="the experiment script (.py)")
    _add_run_options(run)

    demo = commands.add_parser(
        "demo", help="run the sugar-pellet demo on virtual devices",
        description=f"Run the sugar-pellet experiment on virtual devices, {DEMO_SPEED:g} times "
        "faster than real time (or at once with --dry-run).",
    )
    _add_run_options(demo)

    add_bench_arguments(commands.add_parser(
        "bench", help="run the executor benchmark suite (from a source checkout)",
        description="Time every executor, the transport floor and the stage engine's timing; "
        "with --compare pymoa, side by side with PyMoa. See benchmarks/README.md.",
    ))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        return run_bench(args)
    console = Console()
    # errors go to stderr, one line each whatever the terminal's width (no markup:
    # messages quote user values such as [...])
    errors = Console(stderr=True, soft_wrap=True)

    def error(message: str) -> int:
        errors.print(Text.assemble((f"moalab {args.command}: ", "red"), message))
        return 2

    try:
        if args.command == "demo":
            experiment = load_module(DEMO_MODULE)
            stem = "moalab-demo"
            if not args.dry_run and args.speed is None:
                args.speed = DEMO_SPEED
        else:
            try:
                experiment = load_script(args.script)
            except MoaError:
                raise
            except Exception as exc:  # the user's script failed: show where, briefly
                errors.print(_script_traceback(exc, args.script), soft_wrap=False)
                return error(f"the script {str(args.script)!r} raised {type(exc).__name__} "
                             f"while loading ({exc}); fix it and run again")
            stem = args.script.stem
        log_path = args.log or default_log_path(stem)
        return run_cli_experiment(
            experiment, log_path, dry_run=args.dry_run, speed=args.speed, live=args.live,
            overwrite=args.overwrite, console=console,
        )
    except MoaError as exc:
        return error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
