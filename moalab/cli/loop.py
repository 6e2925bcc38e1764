"""`moalab loop run | show | plot`: a closed loop's workflow, checkpointed in the lab.

``loop show --json`` prints ``{"workflow", "file", "cycles_done", "steps"}``: ``steps``
a list, in order, of ``{"number", "cycle", "index", "name", "planned", "seconds",
"ended", "sizes"}`` (see :class:`~moalab.loop.workflow.StepRecord`).
"""

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..core.errors import InvalidArgument, MoaError
from ..store.lab import LAB_ENV, Lab
from . import failure
from .run_options import EXIT_INTERRUPTED

__all__ = ("add_loop_command", "run_loop_command")


def add_loop_command(commands: Any) -> None:
    """Add `moalab loop` to ``commands`` (the `moalab` subparsers)."""
    loop = commands.add_parser(
        "loop", help="run a closed loop's workflow (AutoRA's), checkpointed in the lab",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    run = loop.add_parser(
        "run", help="run a workflow's cycles, resuming after its last completed step",
        description="Run the cycles of a workflow file (it defines `state`, `cycle(state)` "
        "returning the cycle's on_state steps, and optionally CYCLES). The state is "
        "saved in the lab after every step (<lab>/loops/<file's stem>/); run again after "
        "a crash or a kill and the loop goes on after its last completed step. The file "
        "runs with $MOALAB_LAB set to the lab, so its rig_runner finds it.")
    run.add_argument("workflow", type=Path, metavar="WORKFLOW.py")
    run.add_argument("--cycles", type=int, metavar="N",
                     help="run until N cycles are done (default: the file's CYCLES); a "
                     "later run with a larger N goes on")
    show = loop.add_parser("show", help="list a workflow's cycles and steps done")
    show.add_argument("name", nargs="?", help="the workflow (its file's stem or path; "
                      "default: the lab's only one)")
    show.add_argument("--json", action="store_true", help="print JSON (a stable format)")
    plot = loop.add_parser("plot", help="draw the fitted parameters per cycle and the "
                           "models' predictions against the data (needs matplotlib)")
    plot.add_argument("out", type=Path, metavar="OUT.png")
    plot.add_argument("--workflow", dest="name", help="the workflow (default: the lab's "
                      "only one)")
    for parser in (run, show, plot):
        parser.add_argument("--lab", metavar="DIR", help="the lab folder (default: "
                            "$MOALAB_LAB, else the current folder)")


def run_loop_command(args: argparse.Namespace, console: Console) -> int:
    """Run a `moalab loop` action; raises :class:`~moalab.MoaError` with the message to
    show."""
    lab = Lab.find(args.lab)
    try:
        return _ACTIONS[args.action](lab, args, console)
    finally:
        lab.close()


def _run(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    # the workflow's own Lab.find() (a rig_runner's lab=None) finds this lab, and only
    # while it runs: a caller in the same process (a notebook, a test) keeps its own
    previous = os.environ.get(LAB_ENV)
    os.environ[LAB_ENV] = str(lab.folder)
    try:
        return _run_in_lab(lab, args, console)
    finally:
        if previous is None:
            os.environ.pop(LAB_ENV, None)
        else:
            os.environ[LAB_ENV] = previous


def _run_in_lab(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    from ..loop.workflow import check_cycles, load_workflow, run_workflow

    try:
        workflow = load_workflow(args.workflow)
    except MoaError:
        raise
    except Exception as exc:  # noqa: BLE001 - the file's own code failed: show where
        raise _user_error(exc, f"the workflow file {str(args.workflow)!r} raised "
                          f"{type(exc).__name__} while loading ({exc}); fix it and run "
                          "again") from None
    if args.cycles is not None:
        cycles = check_cycles(args.cycles, "--cycles")
    elif workflow.cycles is not None:
        cycles = workflow.cycles
    else:
        raise InvalidArgument(f"workflow {workflow.name!r} sets no CYCLES: give --cycles N")

    def shown(record: Any) -> None:
        sizes = ", ".join(f"{key} {value}" for key, value in record.sizes.items())
        console.print(f"cycle {record.cycle} step {record.index + 1}/{len(record.planned)} "
                      f"{record.name}: {record.seconds:.2f} s"
                      + (f" ({sizes})" if sizes else ""), soft_wrap=True, highlight=False)

    done: list[Any] = []
    try:
        run_workflow(workflow, lab, cycles, on_step=lambda r: (done.append(r), shown(r)))
    except MoaError:
        raise
    except KeyboardInterrupt:  # Ctrl-C: the step under way is cut, those done are saved
        console.print(f"[yellow]workflow {workflow.name!r} interrupted; the steps done are "
                      "saved: run the same command to go on[/]", soft_wrap=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a step failed: the steps before it are saved
        after = (f"after cycle {done[-1].cycle} step {done[-1].index + 1} ({done[-1].name})"
                 if done else "in its first step run here")
        raise _user_error(exc, f"workflow {workflow.name!r} failed {after}: "
                          f"{type(exc).__name__}: {exc}; the steps done are saved: fix it "
                          "and run again to go on from there") from None
    console.print(f"workflow {workflow.name!r}: {cycles} cycle(s) done; checkpoints in "
                  f"{lab.folder / 'loops' / workflow.name}", soft_wrap=True)
    return 0


def _user_error(exc: BaseException, message: str) -> MoaError:
    """Print the traceback of ``exc`` through the user's frames to stderr; return the
    error whose ``message`` the command shows."""
    sys.stderr.write(failure.user_traceback(exc) or "".join(
        traceback.format_exception_only(exc)))
    return MoaError(message)


def _name(lab: Lab, given: str | None) -> str:
    """The workflow named ``given`` (a stem or a path), else the lab's only one."""
    from ..loop.workflow import Checkpoints

    names = Checkpoints.names(lab)
    name = Path(given).stem if given else (names[0] if len(names) == 1 else None)
    if name is None:
        raise InvalidArgument(
            f"lab {lab.name!r} has {'no workflow' if not names else 'several workflows'}"
            + (f" ({', '.join(names)}): name one" if names else
               ": run one with `moalab loop run WORKFLOW.py`"))
    if name not in names:
        raise InvalidArgument(f"lab {lab.name!r} has no workflow {name!r}; it has: "
                              f"{', '.join(names) or 'none'}")
    return name


def _show(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    from ..loop.workflow import Checkpoints

    checkpoints = Checkpoints(lab, _name(lab, args.name))
    records = checkpoints.records()
    source = checkpoints.source()
    summary = {"workflow": checkpoints.name, "file": str(source) if source else None,
               "cycles_done": sum(r.ends_cycle for r in records),
               "steps": [r.to_json() for r in records]}
    if args.json:
        console.out(json.dumps(summary, indent=2))
        return 0
    console.print(f"workflow {checkpoints.name!r} ({summary['file']}): "
                  f"{summary['cycles_done']} cycle(s) done, {len(records)} step(s)",
                  soft_wrap=True)
    table = Table("cycle", "step", "name", "seconds", "ended (UTC)", "sizes")
    for r in records:
        table.add_row(str(r.cycle), f"{r.index + 1}/{len(r.planned)}", r.name,
                      f"{r.seconds:.2f}", r.ended[11:19],
                      ", ".join(f"{key} {value}" for key, value in r.sizes.items()))
    console.print(table)
    return 0


def _plot(lab: Lab, args: argparse.Namespace, console: Console) -> int:
    try:
        import matplotlib
    except ImportError as exc:
        raise InvalidArgument(f"loop plot needs matplotlib, which does not import here ({exc}): "
                              "pip install \"moalab[loop]\"") from None
    from ..loop.workflow import latest_state

    matplotlib.use("Agg")  # a file, never a window
    name = _name(lab, args.name)
    _draw(latest_state(lab, name), args.out, name)
    console.print(f"workflow {name!r}: drawn in {args.out}", soft_wrap=True)
    return 0


def _fitted(state: Any) -> dict[str, list[Any]]:
    """The state's fields holding fitted models (objects with ``params_``), one per cycle."""
    fields = getattr(state, "__dataclass_fields__", {})
    return {name: models for name in fields
            if isinstance(models := getattr(state, name), list) and models
            and all(hasattr(model, "params_") for model in models)}


def _draw(state: Any, out: Path, title: str) -> None:
    """Draw ``state``'s fitted parameters per cycle (a panel per parameter, a line per
    model field) and its last models' choice probabilities against the data of the
    last condition (the choices' mean over its subjects; the true probabilities where
    the runner gave them)."""
    import matplotlib.pyplot as plt
    import numpy as np

    fitted = _fitted(state)
    if not fitted:
        raise InvalidArgument(f"workflow {title!r}: its state holds no fitted models (lists "
                              "of estimators with params_) to draw yet")
    names = list(dict.fromkeys(key for models in fitted.values() for key in models[-1].params_))
    columns = min(3, len(names) + 1)
    rows = -(-(len(names) + 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.5 * rows),
                                squeeze=False)
    panels = list(axes.flat)
    for ax, name in zip(panels, names):
        for field, models in fitted.items():
            cycles = range(1, len(models) + 1)
            ax.plot(cycles, [model.params_.get(name, np.nan) for model in models], "o-",
                    label=field)
            ax.set(title=name, xlabel="cycle", xticks=list(cycles))
        ax.legend()
    ax = panels[len(names)]
    data = getattr(state, "experiment_data", None)
    if data is not None and len(data):
        schedule = np.asarray(data["reward-trajectory"].iloc[-1])
        same = [i for i, x in enumerate(data["reward-trajectory"])
                if np.array_equal(np.asarray(x), schedule)]

        def mean(column: str) -> Any:
            return np.mean([np.asarray(data[column].iloc[i])[:, 1] for i in same], axis=0)

        choices = mean("choice-trajectory")
        trials = np.arange(1, len(choices) + 1)
        ax.plot(trials, choices, ".", color="grey", label=f"choices ({len(same)} subjects)")
        if "choice-probability-trajectory" in data:
            ax.plot(trials, mean("choice-probability-trajectory"), "k--", label="true")
        for field, models in fitted.items():
            ax.plot(trials, np.asarray(models[-1].predict([schedule]))[0][:, 1],
                    label=f"{field}[-1]")
        ax.set(title="last condition", xlabel="trial", ylabel="P(arm 1)", ylim=(0, 1))
        ax.legend(fontsize="small")
    for ax in panels[len(names) + 1:]:
        ax.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


_ACTIONS = {"run": _run, "show": _show, "plot": _plot}
