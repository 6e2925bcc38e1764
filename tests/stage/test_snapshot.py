"""One snapshot of a stage tree: from the live stages, from a run's records, and rendered."""

import math
import re
import threading
from datetime import datetime, timezone
from html import unescape

import pytest
import trio
from rich.console import Console

from moalab import Delay, InvalidArgument, MoaStage, RunState
from moalab.cli.live import LiveView, render_tree
from moalab.core.records import (
    Change,
    DeviceUpdate,
    RunStart,
    StageEnd,
    StageInfo,
    StageStart,
    TrialEnd,
    TrialStart,
)
from moalab.runner.display import run_handle_html
from moalab.stage.html import stage_tree_html
from moalab.stage.snapshot import StageSnapshot, TreeTracker, snapshot_tree, trial_text


def make_tree() -> MoaStage:
    """root (serial): a Delay parent with a child, then parallel children, then a
    disabled stage."""
    root = MoaStage(name="root")
    wait = Delay(name="wait", delay=10, repeat=2)  # its children run beside its delay
    wait.add_stage(Delay(name="tone", delay=3))
    together = MoaStage(name="together", order="parallel")
    together.add_stage(Delay(name="left", delay=10))
    together.add_stage(Delay(name="right", delay=20, repeat=-1))
    root.add_stage(wait)
    root.add_stage(together)
    root.add_stage(Delay(name="skipped", disabled=True))
    return root


def by_path(snapshot: StageSnapshot) -> dict[str, StageSnapshot]:
    stages, todo = {}, [snapshot]
    while todo:
        stage = todo.pop()
        stages[stage.path] = stage
        todo.extend(stage.children)
    return stages


def states(snapshot: StageSnapshot) -> dict[str, tuple[str, str, str]]:
    """Each stage's (run state, trial text, paused_by), by path."""
    return {path: (str(stage.run_state), trial_text(stage), stage.paused_by)
            for path, stage in by_path(snapshot).items()}


class Recorder:
    """Makes the records a run of ``root`` would have, by hand from its events, and
    feeds them to a :class:`TreeTracker` (the runner's record stream stands in here)."""

    def __init__(self, root: MoaStage) -> None:
        self.seq = 0
        self.tracker = TreeTracker.from_run_start(self.record(
            RunStart, root=root.name, clock="virtual", started_at=datetime.now(timezone.utc),
            stages=tuple(StageInfo(stage.path, stage.name, type(stage).__name__,
                                   stage.repeat, stage.disabled)
                         for stage in root.iterate_stages())))
        for stage in root.iterate_stages():
            stage.fbind("on_stage_start", self.stage, StageStart)
            stage.fbind("on_trial_start", self.stage, TrialStart)
            stage.fbind("on_stage_end", self.stage, StageEnd)
            stage.fbind("paused_by", self.paused)

    def record(self, cls, **fields):
        self.seq += 1
        return cls(run_id="run", seq=self.seq - 1, time=trio.current_time(), **fields)

    def stage(self, cls, stage, *args):
        extra = {"outcome": str(stage.run_state)} if cls is StageEnd else {}
        self.tracker.apply(self.record(cls, path=stage.path, name=stage.name,
                                       count=stage.count, values={}, **extra))

    def paused(self, stage, by):
        self.tracker.apply(self.record(Change, source=stage.name, path=stage.path,
                                       trigger="paused_by", values={"paused_by": by}))


def test_a_tree_before_its_run():
    snapshot = snapshot_tree(make_tree())
    assert [(child.name, child.type) for child in snapshot.children] == [
        ("wait", "Delay"), ("together", "MoaStage"), ("skipped", "Delay")]
    assert states(snapshot) == {
        path: ("idle", "0/∞" if path == "root/together/right" else
               "0/2" if path == "root/wait" else "0/1", "")
        for path in ["root", "root/wait", "root/wait/tone", "root/together",
                     "root/together/left", "root/together/right", "root/skipped"]
    }
    assert snapshot.children[2].disabled and not snapshot.children[0].disabled
    assert not snapshot.active and snapshot.active_paths == ()
    # a snapshot is a value: the same state gives an equal one
    assert snapshot_tree(make_tree()) == snapshot


async def test_a_tree_during_and_after_its_run_and_its_records_agree(autojump_clock):
    root = make_tree()
    recorder = Recorder(root)
    assert recorder.tracker.snapshot() == snapshot_tree(root)
    seen = []

    def check(expected_paths):
        live = snapshot_tree(root)
        assert recorder.tracker.snapshot() == live
        assert live.active_paths == expected_paths
        seen.append(states(live))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(1)  # the Delay parent and its child
        check(("root/wait/tone",))
        await trio.sleep(3)  # the child is done, the parent's own delay goes on
        check(("root/wait",))
        await trio.sleep(8)  # its second trial
        check(("root/wait/tone",))
        assert seen[-1]["root/wait"][1] == "2/2"
        await trio.sleep(9)  # parallel children
        check(("root/together/left", "root/together/right"))
        root.stages[1].pause(by="user")
        check(("root/together/left", "root/together/right"))
        await trio.sleep(30)  # paused: nothing moves
        check(("root/together/left", "root/together/right"))
        root.stages[1].resume()
        await trio.sleep(10)  # left is done, right goes on
        check(("root/together/right",))
        root.stop_stage()
    check(())

    during = seen[4]
    assert during["root/together"] == ("paused", "1/1", "user")
    assert during["root/together/left"] == ("paused", "1/1", "")
    assert during["root/together/right"] == ("paused", "1/∞", "")
    assert during["root"] == ("running", "1/1", "")  # above the paused stage
    assert seen[1]["root/wait/tone"] == ("done", "1/1", "")
    assert seen[-1] == {
        "root": ("stopped", "1/1", ""),
        "root/wait": ("done", "2/2", ""),
        "root/wait/tone": ("done", "1/1", ""),
        "root/together": ("stopped", "1/1", ""),
        "root/together/left": ("done", "1/1", ""),
        "root/together/right": ("stopped", "1/∞", ""),
        "root/skipped": ("idle", "0/1", ""),
    }


def test_a_tracker_follows_hand_built_records():
    stages = (StageInfo("root", "root", "MoaStage", 1, False),
              StageInfo("root/a", "a", "Delay", 3, False),
              StageInfo("root/a/x", "x", "Delay", 1, False),
              StageInfo("root/b", "b", "Delay", -1, True))
    tracker = TreeTracker.from_run_start(RunStart(
        run_id="r", seq=0, time=0.0, root="root", clock="real",
        started_at=datetime.now(timezone.utc), stages=stages))
    fields = {"run_id": "r", "seq": 1, "time": 0.0}

    def stage(cls, path, count, **extra):
        tracker.apply(cls(path=path, name=path.rsplit("/", 1)[-1], count=count, values={},
                          **fields, **extra))

    def paused_by(path, by):
        tracker.apply(Change(source=path.rsplit("/", 1)[-1], path=path, trigger="paused_by",
                             values={"paused_by": by}, **fields))

    stage(StageStart, "root", -1)
    stage(TrialStart, "root", 0)
    stage(StageStart, "root/a", -1)
    stage(TrialStart, "root/a", 1)
    stage(StageStart, "root/a/x", -1)
    assert tracker.snapshot().active_paths == ("root/a/x",)
    paused_by("root/a", "lost link: rig")
    assert states(tracker.snapshot()) == {
        "root": ("running", "1/1", ""),
        "root/a": ("paused", "2/3", "lost link: rig"),
        "root/a/x": ("paused", "0/1", ""),
        "root/b": ("idle", "0/∞", ""),
    }
    # records of other kinds, other triggers and unknown paths change nothing
    before = tracker.snapshot()
    tracker.apply(DeviceUpdate(device="lever", values={"state": True}, **fields))
    tracker.apply(Change(source="a", path="root/a", trigger="on_trial_end", values={}, **fields))
    stage(TrialEnd, "root/a", 1, outcome="done")
    stage(StageStart, "elsewhere/a", -1)
    paused_by("elsewhere", "user")
    assert tracker.snapshot() is before  # unchanged: not even rebuilt
    paused_by("root/a", "")
    assert states(tracker.snapshot())["root/a/x"] == ("running", "0/1", "")
    assert states(tracker.snapshot())["root/a"] == ("running", "2/3", "")
    stage(StageEnd, "root/a/x", 0, outcome="cancelled")  # shown as the live stage shows it
    stage(StageEnd, "root/a", 2, outcome="failed")
    stage(StageEnd, "root", 0, outcome="stopped")
    assert {path: state[0] for path, state in states(tracker.snapshot()).items()} == {
        "root": "stopped", "root/a": "failed", "root/a/x": "stopped", "root/b": "idle"}
    snapshot = tracker.snapshot()
    assert snapshot.children[1].disabled and snapshot.children[1].type == "Delay"


def test_a_tracker_refuses_what_is_not_one_tree():
    with pytest.raises(InvalidArgument, match="got none"):
        TreeTracker(())
    with pytest.raises(InvalidArgument, match="'other' is not below the root 'root'"):
        TreeTracker((StageInfo("root", "root", "MoaStage", 1, False),
                     StageInfo("other", "other", "MoaStage", 1, False)))


def test_a_snapshot_taken_while_records_apply_is_whole():
    # a pause or resume of a wide stage, applied in one thread while another
    # snapshots: each snapshot has all of the pause or none of it
    width = 300
    stages = (StageInfo("root", "root", "MoaStage", 1, False),
              *(StageInfo(f"root/{i}", str(i), "Delay", 1, False) for i in range(width)))
    tracker = TreeTracker(stages)
    fields = {"run_id": "r", "seq": 1, "time": 0.0}
    for info in stages:
        tracker.apply(StageStart(path=info.path, name=info.name, count=-1, values={}, **fields))
    pauses = [Change(source="root", path="root", trigger="paused_by", values={"paused_by": by},
                     **fields) for by in ("user", "")]
    done = threading.Event()

    def apply():
        for i in range(300):
            tracker.apply(pauses[i % 2])
        done.set()

    thread = threading.Thread(target=apply)
    thread.start()
    try:
        mixed = 0
        while not done.is_set():
            snapshot = tracker.snapshot()
            paused = {child.run_state for child in snapshot.children}
            expected = RunState.PAUSED if snapshot.paused_by else RunState.RUNNING
            mixed += paused != {expected} or snapshot.run_state is not expected
    finally:
        thread.join(timeout=30)
    assert mixed == 0


def test_trial_text_of_a_live_stage_and_a_snapshot():
    stage = Delay(name="d", repeat=3)
    assert trial_text(stage) == trial_text(snapshot_tree(stage)) == "0/3"
    stage.repeat = math.inf  # repeats until stopped, as -1 does
    assert trial_text(stage) == trial_text(snapshot_tree(stage)) == "0/∞"


def cells(html):
    return [[unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                            row)]
            for row in re.findall(r"<tr>(.*?)</tr>", html) if "<td" in row]


def paused_snapshot() -> StageSnapshot:
    """A tree with a paused parallel stage, a done one, an idle and a disabled one."""
    def stage(name, path, state, children=(), count=0, repeat=1, disabled=False, by=""):
        return StageSnapshot(name, path, "Delay" if not children else "MoaStage",
                             RunState(state), count, repeat, disabled, by, tuple(children))

    return stage("root", "root", "running", [
        stage("first", "root/first", "done", count=2, repeat=3),
        stage("both <2>", "root/both <2>", "paused", [
            stage("left", "root/both <2>/left", "paused"),
            stage("right", "root/both <2>/right", "paused", repeat=-1, count=4),
        ], by="user"),
        stage("later", "root/later", "idle", count=-1),
        stage("off", "root/off", "idle", count=-1, disabled=True),
    ])


def test_the_html_of_a_snapshot():
    html = stage_tree_html(paused_snapshot())
    assert cells(html) == [
        ["root", "MoaStage", "running", "1/1"],
        ["first", "Delay", "done", "3/3"],
        ["both <2>", "MoaStage", "paused", "1/1"],
        ["left", "Delay", "paused", "1/1"],
        ["right", "Delay", "paused", "5/∞"],
        ["later", "Delay", "idle", "0/1"],
        ["off", "Delay", "disabled", "0/1"],
    ]
    assert "<b>both &lt;2&gt;</b>" in html and "<b>first</b>" not in html  # active in bold
    indents = [float(x) for x in re.findall(r"padding-left:([\d.]+)em", html)]
    assert indents[0] < indents[1] == indents[2] < indents[3]


def test_the_html_of_a_run():
    tree = paused_snapshot()
    html = run_handle_html(tree, status="paused", elapsed=12.34)
    assert "<b>run of root</b>" in html and ">paused<" in html and "after 12.3 s" in html
    assert "at <code>root/both &lt;2&gt;/left</code>, <code>root/both &lt;2&gt;/right</code>" \
        in html
    assert "error" not in html and stage_tree_html(tree) in html
    failed = run_handle_html(snapshot_tree(Delay(name="")), status="failed", elapsed=0,
                             error="ValueError('no <pellets>')", title="run 7 of <box 2>")
    assert "<b>run 7 of &lt;box 2&gt;</b>" in failed and "at &ndash;" in failed
    assert "error: <code>ValueError(&#x27;no &lt;pellets&gt;&#x27;)</code>" in failed
    assert run_handle_html(snapshot_tree(Delay(name="")), status="idle", elapsed=0).startswith(
        '<div class="moalab-run"><b>run of (unnamed)</b>')


def test_the_live_view_of_a_snapshot():
    tree = paused_snapshot()
    console = Console(record=True, width=80, color_system=None)
    console.print(LiveView(lambda: tree, lambda: 1.5, "run.csv").render())
    text = console.export_text()
    assert [line.rstrip() for line in text.splitlines()] == [
        "elapsed     1.500 s   now root/both <2>/left, root/both <2>/right",
        "log run.csv",
        "root  running  trial 1/1",
        "├── first  done  trial 3/3",
        "├── both <2>  paused  trial 1/1",
        "│   ├── left  paused  trial 1/1",
        "│   └── right  paused  trial 5/∞",
        "├── later  idle  trial 0/1",
        "└── off  disabled",
    ]
    unnamed = render_tree(snapshot_tree(Delay(name="")))
    assert str(unnamed.label) == "Delay  idle  trial 0/1"  # an unnamed stage shows its type
