"""Networks (Dallinger's): subjects and stimuli as nodes, connected by a topology;
information passed along vectors by transmit and receive, in memory or in the lab."""

from ..core.lazy import lazy_names

_MODULES = {
    **dict.fromkeys(("draw_network", "network_graph"), "drawing"),
    **dict.fromkeys(("NetworkError", "NetworkFull", "ParticipantInNetwork",
                     "UnknownNetworkRow"), "errors"),
    "ToneImitator": "imitator",
    **dict.fromkeys(("LabNetworkStore", "copy_network", "networks"), "lab_store"),
    **dict.fromkeys(("Info", "Network", "Node", "Source", "Transmission", "Vector"), "model"),
    **dict.fromkeys(("MemoryStore", "NetworkStore"), "store"),
    **dict.fromkeys(("Burst", "Chain", "DelayedChain", "DiscreteGenerational", "Empty",
                     "FullyConnected", "ScaleFree", "SequentialMicrosociety",
                     "SplitSampleNetwork", "Star"), "topologies"),
}
"""Each public name and the module of this package holding it, imported on first use
(the lab's networks import its database: SQLAlchemy, which the other commands of
``moalab`` do without)."""

__getattr__ = lazy_names(__name__, _MODULES)

__all__ = tuple(sorted(_MODULES))
