"""HTML rendering of a stage tree, for notebooks (``MoaStage._repr_html_``).

Pure functions of a :class:`~moalab.stage.snapshot.StageSnapshot`; nothing here
imports IPython.
"""

from collections.abc import Iterator
from html import escape

from .runstate import RunState
from .snapshot import StageSnapshot, trial_text

__all__ = ("stage_tree_html", "state_badge_html")

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


def _walk(stage: StageSnapshot, depth: int) -> Iterator[tuple[StageSnapshot, int]]:
    yield stage, depth
    for child in stage.children:
        yield from _walk(child, depth + 1)


def stage_tree_html(root: StageSnapshot) -> str:
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
            f'<td style="text-align:left"><code>{escape(stage.type)}</code></td>'
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
