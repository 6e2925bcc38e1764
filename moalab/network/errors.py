"""Errors of moalab.network: networks, nodes, vectors, infos and their stores."""

from ..core.errors import InvalidArgument, MoaError

__all__ = ("NetworkError", "NetworkFull", "ParticipantInNetwork", "UnknownNetworkRow")


class NetworkError(MoaError):
    """A network, node, vector, info or transmission was used against its rules
    (a topology's, a source's, a store's). The message names the object, the bad
    value and what would be accepted."""


class NetworkFull(NetworkError):
    """A node was added to a network whose non-failed nodes already number its
    ``max_size``."""

    def __init__(self, network_id: int, max_size: int) -> None:
        self.network_id = network_id
        self.max_size = max_size
        super().__init__(f"network {network_id} is full: it has {max_size} non-failed "
                         f"node(s), its max_size; add the node to a network that is "
                         f"not full (networks(full=False)) or fail one of its nodes")


class ParticipantInNetwork(NetworkError):
    """A participant who already has a node in a network was given a second one."""

    def __init__(self, network_id: int, participant: str, node_id: int) -> None:
        self.network_id = network_id
        self.participant = participant
        self.node_id = node_id
        super().__init__(f"participant {participant!r} already has node {node_id} in "
                         f"network {network_id}; a participant takes at most one node "
                         f"per network: give them a node in another network")


class UnknownNetworkRow(NetworkError, InvalidArgument):
    """A network, node, vector or info id that the store does not hold."""

    def __init__(self, kind: str, row_id: int) -> None:
        self.kind = kind
        self.row_id = row_id
        super().__init__(f"no {kind} with id {row_id!r} in this network store")
