"""HTML rendering of a :class:`~moalab.runner.handle.RunHandle`, for notebooks."""

from html import escape
from typing import TYPE_CHECKING

from ..stage.html import stage_tree_html, state_badge_html

if TYPE_CHECKING:
    from .handle import RunHandle

__all__ = ("run_handle_html",)


def run_handle_html(handle: "RunHandle") -> str:
    """Render the run's status, elapsed time, current stage path(s), error and stage tree."""
    paths = handle.current_path
    where = ", ".join(f"<code>{escape(path)}</code>" for path in paths) if paths else "&ndash;"
    lines = [
        f"<b>run of {escape(handle.root.name or '(unnamed)')}</b> "
        f"{state_badge_html(handle.status)} after {handle.elapsed:.1f} s",
        f"at {where}",
    ]
    if handle.error is not None:
        lines.append(
            f'<span style="color:#cf222e">error: <code>{escape(repr(handle.error))}</code></span>'
        )
    return (
        '<div class="moalab-run">'
        + "<br>".join(lines)
        + f"<details open><summary>stages</summary>{stage_tree_html(handle.root)}</details>"
        "</div>"
    )
