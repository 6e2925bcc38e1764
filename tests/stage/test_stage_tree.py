"""Building a stage tree: add_stage, remove_stage, iteration, paths."""

import pytest

from moalab import Delay, InvalidArgument, MoaStage


def build():
    root = MoaStage(name="root")
    a, b, c = MoaStage(name="a"), Delay(name="b"), Delay(name="c")
    root.add_stage(a)
    root.add_stage(c)
    a.add_stage(b)
    return root, a, b, c


def test_add_stage_sets_parent_and_order():
    root, a, b, c = build()
    assert root.stages == [a, c]
    assert a.parent is root and b.parent is a and root.parent is None
    d = Delay(name="d")
    root.add_stage(d, index=1)
    assert root.stages == [a, d, c]
    assert [s.name for s in root.iterate_stages()] == ["root", "a", "b", "d", "c"]
    assert list(b.iterate_parents()) == [a, root]
    assert b.path == "root/a/b" and root.path == "root"


def test_add_stage_errors():
    root, a, b, c = build()
    with pytest.raises(InvalidArgument, match="only MoaStage instances"):
        root.add_stage("a stage")
    with pytest.raises(InvalidArgument, match="already a child of 'a'"):
        root.add_stage(b)
    with pytest.raises(InvalidArgument, match="itself or its descendant"):
        root.add_stage(root)
    with pytest.raises(InvalidArgument, match="itself or its descendant"):
        b.add_stage(root)
    # nothing changed
    assert root.stages == [a, c] and a.stages == [b] and b.stages == []
    assert root.parent is None


def test_remove_stage():
    root, a, b, c = build()
    root.remove_stage(a)
    assert root.stages == [c] and a.parent is None
    assert a.stages == [b]  # the subtree stays whole
    with pytest.raises(InvalidArgument, match="'b' is not a child of 'root'"):
        root.remove_stage(b)
    c.add_stage(a)
    assert a.path == "root/c/a"


def test_stages_lists_are_per_instance():
    first, second = MoaStage(name="x"), MoaStage(name="y")
    first.add_stage(Delay(name="d"))
    assert second.stages == []
