"""Stages: the nodes of an experiment tree, and the stage library."""

from .delay import Delay, GaussianRandomDelay, RandomDelay, UniformRandomDelay
from .gate import AnalogGateStage, DigitalGateStage, GateStage
from .runstate import RunState
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
)
