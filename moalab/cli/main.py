"""The `moalab` command."""

import argparse
import sys
import traceback
from pathlib import Path

from rich.console import Console
from rich.text import Text

from ..core.errors import MoaError
from . import failure
from .bench import add_bench_arguments, run_bench
from .export import add_export_command, run_export
from .lab import LAB_COMMANDS, add_lab_commands, run_lab_command
from .loop import add_loop_command, run_loop_command
from .network import add_network_command, run_network_command
from .run_options import EXIT_INTERRUPTED, add_dashboard_option, default_log_path
from .script import CONVENTION, load_module, load_script

__all__ = ("main",)

DEMO_MODULE = "moalab.examples.sugar_pellet"
DEMO_SPEED = 20.0


SPEED_MAX = 1e6
"""The fastest --speed accepted: beyond it a run's own microseconds of work become
seconds of virtual time."""
SPEED_WARN = 20.0
"""Above this --speed, the run's own work shows in logged durations: a warning says so
(measured on a loaded 2-core machine: a 0.1 s Delay logged as 0.11-0.15 s at 10,
0.31-0.69 s at 100, 0.34-0.60 s at 1000; the demo runs at 20)."""

SPEED_HELP = (
    "run in virtual time FACTOR times faster than real time: sleeps and delays pass "
    "FACTOR times faster, but the run's own work (stage transitions, logging, device "
    "calls) is not sped up, so it shows in the logged durations multiplied by FACTOR "
    f"(0.1 ms of work is logged as 0.1 s at 1000); a warning says so above {SPEED_WARN:g}. "
    f"Accepted: above 0, up to {SPEED_MAX:,.0f}"
)


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= SPEED_MAX:  # also refuses nan; inf is above the maximum
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range: give a factor above 0 and up to {SPEED_MAX:,.0f} "
            "(1 is real time; --dry-run passes delays at once)"
        )
    return value


def _add_timing(parser: argparse.ArgumentParser) -> None:
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--dry-run", action="store_true",
                        help="run in virtual time: delays pass at once")
    timing.add_argument("--speed", type=_speed, metavar="FACTOR", help=SPEED_HELP)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_timing(parser)
    parser.add_argument("--log", type=Path, metavar="FILE.csv",
                        help="CSV log file (default: <name>-<date>-<time>.csv here)")
    parser.add_argument("--overwrite", action="store_true", help="overwrite an existing log file")
    parser.add_argument("--no-live", dest="live", action="store_false",
                        help="no live view of the stage tree")
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, print the full traceback (by default, only the "
                        "frames of the experiment's own code)")


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
    add_dashboard_option(run)

    demo = commands.add_parser(
        "demo", help="run the sugar-pellet demo on virtual devices",
        description=f"Run the sugar-pellet experiment on virtual devices, {DEMO_SPEED:g} times "
        "faster than real time (or at once with --dry-run).",
    )
    _add_run_options(demo)
    add_dashboard_option(demo)

    add_lab_commands(commands, _add_timing)
    add_export_command(commands)
    add_loop_command(commands)
    add_network_command(commands)

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

    if getattr(args, "speed", None) is not None and args.speed > SPEED_WARN:
        errors.print(Text.assemble(
            ("warning: ", "yellow"),
            f"at --speed {args.speed:g} the run's own work is not sped up: each 0.1 ms of "
            f"it adds {args.speed * 1e-4:g} s to the logged durations",
        ))
    try:
        if args.command in LAB_COMMANDS:
            return run_lab_command(args, console)
        if args.command == "export":
            return run_export(args, console)
        if args.command == "loop":
            return run_loop_command(args, console)
        if args.command == "network":
            return run_network_command(args, console)
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
                shown = (failure.full_traceback(exc) if args.traceback else
                         failure.user_traceback(exc)
                         or "".join(traceback.format_exception_only(exc)))
                errors.out(shown, highlight=False, end="")
                return error(f"the script {str(args.script)!r} raised {type(exc).__name__} "
                             f"while loading ({exc}); fix it and run again")
            stem = args.script.stem
        log_path = args.log or default_log_path(stem)
        # imported here: trio, the runner and the dashboard, which the other commands
        # (the lab's) do without
        from .run import run_cli_experiment

        return run_cli_experiment(
            experiment, log_path, dry_run=args.dry_run, speed=args.speed, live=args.live,
            overwrite=args.overwrite, console=console, errors=errors,
            full_traceback=args.traceback, dashboard=getattr(args, "dashboard", None),
        )
    except MoaError as exc:
        return error(str(exc))
    except KeyboardInterrupt:  # Ctrl-C while the script loads: nothing ran yet
        error("interrupted before the experiment started")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
