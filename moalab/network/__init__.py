"""Networks (Dallinger's): subjects and stimuli as nodes, connected by a topology;
information passed along vectors by transmit and receive, in memory or in the lab."""

from .drawing import draw_network, network_graph
from .errors import NetworkError, NetworkFull, ParticipantInNetwork, UnknownNetworkRow
from .imitator import ToneImitator
from .lab_store import LabNetworkStore, copy_network, networks
from .model import Info, Network, Node, Source, Transmission, Vector
from .store import MemoryStore, NetworkStore
from .topologies import (
    Burst,
    Chain,
    DelayedChain,
    DiscreteGenerational,
    Empty,
    FullyConnected,
    ScaleFree,
    SequentialMicrosociety,
    SplitSampleNetwork,
    Star,
)

__all__ = (
    "Burst",
    "Chain",
    "DelayedChain",
    "DiscreteGenerational",
    "Empty",
    "FullyConnected",
    "Info",
    "LabNetworkStore",
    "MemoryStore",
    "Network",
    "NetworkError",
    "NetworkFull",
    "NetworkStore",
    "Node",
    "ParticipantInNetwork",
    "ScaleFree",
    "SequentialMicrosociety",
    "Source",
    "SplitSampleNetwork",
    "Star",
    "ToneImitator",
    "Transmission",
    "UnknownNetworkRow",
    "Vector",
    "copy_network",
    "draw_network",
    "network_graph",
    "networks",
)
