"""The live terminal view of a running stage tree (rich)."""

from collections.abc import Callable

from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from ..stage.html import trial_text
from ..stage.runstate import RunState, deepest_active
from ..stage.stage import MoaStage

__all__ = ("render_tree", "LiveView")

_STYLE = {
    RunState.IDLE: "dim",
    RunState.RUNNING: "bold green",
    RunState.PAUSED: "bold yellow",
    RunState.DONE: "blue",
    RunState.STOPPED: "magenta",
    RunState.FAILED: "bold red",
}


def _label(stage: MoaStage) -> Text:
    trial = f"trial {trial_text(stage)}"
    text = Text(stage.name or type(stage).__name__, style=_STYLE[stage.run_state])
    if stage.disabled:
        text.append("  disabled", style="dim")
    else:
        text.append(f"  {stage.run_state}  {trial}", style="dim" if not stage.active else "")
    return text


def render_tree(stage: MoaStage, parent: Tree | None = None) -> Tree:
    """Return a rich tree of ``stage`` and its descendants with state and trial counts."""
    node = Tree(_label(stage)) if parent is None else parent.add(_label(stage))
    for child in stage.stages:
        render_tree(child, node)
    return node


class LiveView:
    """Renders the tree, the deepest active stage path and the elapsed experiment time.

    ``elapsed`` is a function returning seconds since the start; :meth:`render`
    may be called from rich's refresh thread (it only reads).
    """

    def __init__(self, root: MoaStage, elapsed: Callable[[], float], log_path: str) -> None:
        self.root = root
        self.elapsed = elapsed
        self.log_path = log_path

    def current_path(self) -> str:
        return ", ".join(stage.path for stage in deepest_active(self.root)) or "-"

    def render(self) -> Group:
        header = Text.assemble(
            ("elapsed ", "dim"), f"{self.elapsed():9.3f} s   ",
            ("now ", "dim"), self.current_path(), "\n",
            ("log ", "dim"), self.log_path,
        )
        return Group(header, render_tree(self.root))
