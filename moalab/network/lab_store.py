"""Networks in the lab database: :class:`LabNetworkStore`, the :class:`NetworkStore`
whose rows are the lab's (``moalab.store``'s network tables), so a network made in
one session is there in the next, and on every PC that shares a PostgreSQL lab.

The rules that concurrent joins could break are the database's: a network's size
of non-failed nodes is raised by the statement that checks it against max_size,
and a participant's second node in a network is refused by a unique constraint.
"""

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from ..store.database import Database, NodeInfo, VectorInfo
from ..store.errors import NameTaken, UnknownName
from .errors import NetworkError, NetworkFull, ParticipantInNetwork, UnknownNetworkRow
from .store import (
    KEEP,
    InfoRow,
    NetworkRow,
    NetworkStore,
    NodeRow,
    Role,
    TransmissionRow,
    VectorRow,
    _Keep,
    check_network_args,
    check_vector_ends,
)

__all__ = ("LabNetworkStore",)

Row = TypeVar("Row")


def _row(cls: type[Row], info: Any) -> Row:
    """The network row ``cls`` of the lab's ``info`` (the fields both have)."""
    return cls(**{field.name: getattr(info, field.name)  # type: ignore[call-arg]
                  for field in dataclasses.fields(cls)})  # type: ignore[arg-type]


@contextmanager
def _known() -> Iterator[None]:
    """The lab's UnknownName for a network's row as the store's UnknownNetworkRow."""
    try:
        yield
    except UnknownName as error:
        raise UnknownNetworkRow(error.kind, _id(error.name)) from None


def _id(name: str) -> Any:
    return int(name) if name.isdigit() else name


class LabNetworkStore(NetworkStore):
    """A :class:`NetworkStore` on the lab ``database``. With ``protocol``, the
    networks it adds are that protocol's and :meth:`networks` lists only those;
    without, it lists every network of the lab.

    Every method is one transaction of the database and blocks: call it from a
    worker thread when inside a trio run.
    """

    def __init__(self, database: Database, protocol: str | None = None) -> None:
        self.database = database
        self.protocol = protocol

    # networks

    def add_network(self, type: str, role: Role, max_size: int,
                    properties: Mapping[str, Any] | None = None) -> NetworkRow:
        check_network_args(role, max_size)
        return _row(NetworkRow, self.database.add_network(
            type, role, max_size, dict(properties or {}), protocol=self.protocol))

    def network(self, network_id: int) -> NetworkRow:
        with _known():
            return _row(NetworkRow, self.database.get_network(network_id))

    def networks(self, role: Role | None = None, full: bool | None = None) -> list[NetworkRow]:
        return [_row(NetworkRow, info) for info in self.database.list_networks(
            protocol=self.protocol, role=role, full=full)]

    # nodes

    def add_node(self, network_id: int, type: str, participant: str | None = None,
                 fitness: float | None = None, generation: int | None = None,
                 properties: Mapping[str, Any] | None = None,
                 session_id: str | None = None) -> NodeRow:
        """As :meth:`NetworkStore.add_node`; ``session_id`` is the lab session that
        takes the node (:meth:`session_nodes` finds it again)."""
        try:
            with _known():
                info = self.database.add_node(network_id, type, participant, fitness,
                                              generation, dict(properties or {}), session_id)
        except NameTaken:
            other = self.database.participant_node(network_id, participant or "")
            raise ParticipantInNetwork(network_id, participant or "",
                                       other.id if other else -1) from None
        if info is None:
            raise NetworkFull(network_id, self.network(network_id).max_size)
        return _row(NodeRow, info)

    def delete_node(self, node_id: int) -> None:
        with _known():
            self.database.delete_node(node_id)

    def node(self, node_id: int) -> NodeRow:
        with _known():
            return _row(NodeRow, self.database.get_node(node_id))

    def nodes(self, network_id: int) -> list[NodeRow]:
        return [_row(NodeRow, info) for info in self.database.list_nodes(network_id)]

    def session_nodes(self, session_id: str) -> list[NodeRow]:
        """The nodes lab session ``session_id`` took, in the order taken."""
        return [_row(NodeRow, info) for info in
                self.database.list_nodes(session_id=session_id)]

    def update_node(self, node_id: int, *, fitness: float | None | _Keep = KEEP,
                    generation: int | None | _Keep = KEEP) -> NodeRow:
        changes = {name: value for name, value in
                   (("fitness", fitness), ("generation", generation)) if value is not KEEP}
        with _known():
            return _row(NodeRow, self.database.update_node(node_id, **changes))

    def fail_node(self, node_id: int) -> NodeRow:
        with _known():
            return _row(NodeRow, self.database.fail_node(node_id))

    # vectors

    def add_vector(self, origin_id: int, destination_id: int) -> VectorRow:
        with _known():
            return _row(VectorRow, self.database.add_vector(
                origin_id, destination_id, check=_vector_ends))

    def vectors(self, network_id: int) -> list[VectorRow]:
        return [_row(VectorRow, info) for info in self.database.list_vectors(network_id)]

    # infos

    def add_info(self, origin_id: int, type: str, contents: Any = None,
                 asset_id: int | None = None) -> InfoRow:
        with _known():
            return _row(InfoRow, self.database.add_information(
                origin_id, type, contents, asset_id))

    def info(self, info_id: int) -> InfoRow:
        with _known():
            return _row(InfoRow, self.database.get_information(info_id))

    def infos(self, network_id: int) -> list[InfoRow]:
        return [_row(InfoRow, info) for info in self.database.list_information(network_id)]

    # transmissions

    def add_transmission(self, vector_id: int, info_id: int) -> TransmissionRow:
        with _known():
            return _row(TransmissionRow, self.database.add_transmission(
                vector_id, info_id, check=_live_vector))

    def transmissions(self, network_id: int) -> list[TransmissionRow]:
        return [_row(TransmissionRow, info)
                for info in self.database.list_transmissions(network_id)]

    def receive(self, node_id: int) -> list[TransmissionRow]:
        with _known():
            return [_row(TransmissionRow, info) for info in self.database.receive(node_id)]

    def __repr__(self) -> str:
        scope = f", protocol={self.protocol!r}" if self.protocol else ""
        return f"LabNetworkStore({self.database.shown_url!r}{scope})"


def _vector_ends(origin: NodeInfo, destination: NodeInfo) -> None:
    check_vector_ends(_row(NodeRow, origin), _row(NodeRow, destination))


def _live_vector(vector: VectorInfo) -> None:
    if vector.failed:
        raise NetworkError(f"vector {vector.id} (node {vector.origin_id} to node "
                           f"{vector.destination_id}) has failed: transmit along a vector "
                           f"that has not")
