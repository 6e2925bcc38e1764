"""HTML rendering of a run, for notebooks (a :class:`~moalab.runner.handle.RunHandle`)."""

from html import escape

from ..stage.html import stage_tree_html, state_badge_html
from ..stage.snapshot import StageSnapshot

__all__ = ("run_handle_html",)


def run_handle_html(tree: StageSnapshot, *, status: str, elapsed: float,
                    error: str | None = None, title: str | None = None) -> str:
    """Render a run: its title, status, elapsed seconds, current stage path(s), error
    and stage tree.

    ``tree`` is the run's tree (its deepest active stages are the current paths);
    ``error`` the text shown for a failed run's exception (e.g. its repr), None for
    none; ``title`` defaults to ``'run of <root name>'``. Plain values only: it
    reads no live object, so any thread may call it.
    """
    title = f"run of {tree.name or '(unnamed)'}" if title is None else title
    paths = tree.active_paths
    where = ", ".join(f"<code>{escape(path)}</code>" for path in paths) if paths else "&ndash;"
    lines = [
        f"<b>{escape(title)}</b> {state_badge_html(status)} after {elapsed:.1f} s",
        f"at {where}",
    ]
    if error is not None:
        lines.append(f'<span style="color:#cf222e">error: <code>{escape(error)}</code></span>')
    return (
        '<div class="moalab-run">'
        + "<br>".join(lines)
        + f"<details open><summary>stages</summary>{stage_tree_html(tree)}</details>"
        "</div>"
    )
