"""Stages: the nodes of an experiment tree, and the stage library."""

from .delay import Delay, GaussianRandomDelay, RandomDelay, UniformRandomDelay
from .gate import AnalogGateStage, DigitalGateStage, GateStage
from .runstate import RunState
from .snapshot import StageSnapshot, TreeTracker, snapshot_tree
from .stage import MoaStage

__all__ = (
    "MoaStage",
    "RunState",
    "Delay",
    "RandomDelay",
    "UniformRandomDelay",
    "GaussianRandomDelay",
    "GateStage",
    "DigitalGateStage",
    "AnalogGateStage",
    "StageSnapshot",
    "TreeTracker",
    "snapshot_tree",
)
