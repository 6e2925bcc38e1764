"""`moalab session run`'s progress bar of the stimuli sent to a rig."""

import io

from rich.console import Console

from moalab.cli.session_run import _SyncBar


def bar_output(terminal: bool, reports) -> str:
    out = io.StringIO()
    bar = _SyncBar(Console(file=out, force_terminal=terminal, width=100))
    for report in reports:
        bar(*report)
    bar.close()
    return out.getvalue()


def test_the_bar_shows_only_a_transfer_on_a_terminal():
    sent = [(0, 3 << 20), (1 << 20, 3 << 20), (3 << 20, 3 << 20)]
    shown = bar_output(True, sent)
    assert "stimuli to the rig" in shown and "3.1 MB" in shown
    assert bar_output(False, sent) == ""  # a pipe, a log file
    assert bar_output(True, [(0, 0)]) == ""  # the rig had everything
