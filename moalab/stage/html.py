"""HTML rendering of a stage tree, for notebooks (``MoaStage._repr_html_``).

Pure functions of the tree's current state; nothing here imports IPython. The
tree is read without locking, so rendering a tree that runs in another thread
shows a recent, not necessarily consistent, snapshot.
"""

from collections.abc import Iterator
from html import escape
from typing import TYPE_CHECKING

from .runstate import RunState

if TYPE_CHECKING:
    from .stage import MoaStage

__all__ = ("stage_tree_html", "state_badge_html", "trial_text")

_STATE_COLOURS = {
    RunState.IDLE: "#6e7781",
    RunState.RUNNING: "#1a7f37",
    RunState.PAUSED: "#9a6700",
    RunState.DONE: "#0969da",
    RunState.STOPPED: "#6e7781",
    RunState.FAILED: "#cf222e",
    "disabled": "#afb8c1",
}


def state_badge_html(state: str) -> str:
    """A coloured label for a run state (or 'disabled', or a run handle's status)."""
    colour = _STATE_COLOURS.get(state, "#6e7781")
    return (
        f'<span style="color:white;background:{colour};border-radius:3px;'
        f'padding:0 4px;font-size:90%">{escape(str(state))}</span>'
    )


def trial_text(stage: "MoaStage") -> str:
    """The trial a stage is at, as ``'<trials started>/<repeat>'`` (``∞`` for repeat -1)."""
    repeat = "∞" if stage.repeat < 0 else str(stage.repeat)
    return f"{stage.count + 1}/{repeat}"


def _walk(stage: "MoaStage", depth: int) -> Iterator[tuple["MoaStage", int]]:
    yield stage, depth
    for child in list(stage.stages):
        yield from _walk(child, depth + 1)


def stage_tree_html(root: "MoaStage") -> str:
    """Render ``root`` and its descendants as an HTML table, one row per stage.

    Columns: the stage name (indented by depth; active stages in bold), its
    class, its run state (or 'disabled') and its trial count (``trial_text``).
    """
    rows = []
    for stage, depth in _walk(root, 0):
        name = escape(stage.name or "(unnamed)")
        if stage.active:
            name = f"<b>{name}</b>"
        state = "disabled" if stage.disabled else stage.run_state
        indent = depth * 1.5
        rows.append(
            "<tr>"
            f'<td style="text-align:left;padding-left:{indent + 0.3:.1f}em">{name}</td>'
            f'<td style="text-align:left"><code>{escape(type(stage).__name__)}</code></td>'
            f'<td style="text-align:left">{state_badge_html(state)}</td>'
            f'<td style="text-align:right">{trial_text(stage)}</td>'
            "</tr>"
        )
    return (
        '<table class="moalab-stage-tree">'
        '<thead><tr><th style="text-align:left">stage</th><th style="text-align:left">type</th>'
        '<th style="text-align:left">state</th><th style="text-align:right">trial</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
