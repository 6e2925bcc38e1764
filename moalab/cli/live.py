"""The live terminal view of a running stage tree (rich)."""

from collections.abc import Callable

from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from ..stage.runstate import RunState
from ..stage.snapshot import StageSnapshot, trial_text

__all__ = ("render_tree", "LiveView")

_STYLE = {
    RunState.IDLE: "dim",
    RunState.RUNNING: "bold green",
    RunState.PAUSED: "bold yellow",
    RunState.DONE: "blue",
    RunState.STOPPED: "magenta",
    RunState.FAILED: "bold red",
}


def _label(stage: StageSnapshot) -> Text:
    trial = f"trial {trial_text(stage)}"
    text = Text(stage.name or stage.type, style=_STYLE[stage.run_state])
    if stage.disabled:
        text.append("  disabled", style="dim")
    else:
        text.append(f"  {stage.run_state}  {trial}", style="dim" if not stage.active else "")
    return text


def render_tree(stage: StageSnapshot, parent: Tree | None = None) -> Tree:
    """Return a rich tree of ``stage`` and its descendants with state and trial counts."""
    node = Tree(_label(stage)) if parent is None else parent.add(_label(stage))
    for child in stage.children:
        render_tree(child, node)
    return node


class LiveView:
    """Renders the tree, the deepest active stage paths and the elapsed experiment time.

    ``tree`` returns the run's tree now (e.g. a
    :class:`~moalab.stage.snapshot.TreeTracker`'s ``snapshot``), ``elapsed`` the
    seconds since the start; :meth:`render` may be called from rich's refresh
    thread (it only reads, both from one snapshot).
    """

    def __init__(self, tree: Callable[[], StageSnapshot], elapsed: Callable[[], float],
                 log_path: str) -> None:
        self.tree = tree
        self.elapsed = elapsed
        self.log_path = log_path

    def render(self) -> Group:
        tree = self.tree()
        header = Text.assemble(
            ("elapsed ", "dim"), f"{self.elapsed():9.3f} s   ",
            ("now ", "dim"), ", ".join(tree.active_paths) or "-", "\n",
            ("log ", "dim"), self.log_path,
        )
        return Group(header, render_tree(tree))
