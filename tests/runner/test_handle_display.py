"""Notebook rendering: a stage tree and a run handle as HTML."""

import re
import time
from html import unescape

import trio

from moalab import Delay, MoaStage
from moalab.runner import run, start


def rows(html):
    return [row for row in re.findall(r"<tr>(.*?)</tr>", html) if "<td" in row]


def cells(row):
    return [
        unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)
    ]


def make_tree():
    root = MoaStage(name="root")
    trial = MoaStage(name="trial <1>", repeat=3)
    root.add_stage(trial)
    trial.add_stage(Delay(name="iti", delay=0.01))
    root.add_stage(Delay(name="skipped", disabled=True))
    root.add_stage(MoaStage(name="forever", repeat=-1, disabled=True))
    return root


def test_a_stage_tree_renders_every_stage_with_state_and_trials():
    root = make_tree()
    html = root._repr_html_()
    assert [cells(row) for row in rows(html)] == [
        ["root", "MoaStage", "idle", "0/1"],
        ["trial <1>", "MoaStage", "idle", "0/3"],
        ["iti", "Delay", "idle", "0/1"],
        ["skipped", "Delay", "disabled", "0/1"],
        ["forever", "MoaStage", "disabled", "0/∞"],
    ]
    assert "trial &lt;1&gt;" in html  # names are escaped
    indents = [float(x) for x in re.findall(r"padding-left:([\d.]+)em", html)]
    assert indents[0] < indents[1] < indents[2] and indents[3] == indents[1]

    run(root)
    assert [cells(row)[2:] for row in rows(root._repr_html_())] == [
        ["done", "1/1"],
        ["done", "3/3"],
        ["done", "1/1"],
        ["disabled", "0/1"],
        ["disabled", "0/∞"],
    ]


def test_a_subtree_renders_from_that_stage_down():
    root = make_tree()
    assert [cells(row)[0] for row in rows(root.stages[0]._repr_html_())] == ["trial <1>", "iti"]


class Failing(MoaStage):
    async def do_trial(self):
        raise ValueError("no <pellets>")


def test_a_run_handle_renders_its_status_path_and_tree():
    root = MoaStage(name="root")
    root.add_stage(Delay(name="wait", delay=30))
    handle = start(root)
    try:
        deadline = time.monotonic() + 5
        while handle.current_path != ("root/wait",):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        html = handle._repr_html_()
        assert ">running<" in html and "<code>root/wait</code>" in html
        assert "<b>wait</b>" in html  # active stages are bold in the tree
        assert "running" in repr(handle) and "root/wait" in repr(handle)
    finally:
        handle.stop()
        handle.wait(timeout=5)
    html = handle._repr_html_()
    assert ">stopped<" in html and "error" not in html

    failing = MoaStage(name="failing")
    failing.add_stage(Failing(name="pellet"))
    failed = run(failing)
    html = failed._repr_html_()
    assert ">failed<" in html
    assert "ValueError(&#x27;no &lt;pellets&gt;&#x27;)" in html
    assert 'class="moalab-stage-tree"' in html


def test_rendering_needs_no_run():
    # rendering reads state only: it works outside any trio run too
    assert not trio.lowlevel.in_trio_run()
    assert "moalab-stage-tree" in MoaStage(name="alone")._repr_html_()
