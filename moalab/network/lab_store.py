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

from ..store.database import Database
from ..store.infos import InformationInfo, NodeInfo, TransmissionInfo, VectorInfo
from ..store.errors import NameTaken, UnknownName
from ..store.lab import Lab
from .errors import NetworkError, NetworkFull, ParticipantInNetwork, UnknownNetworkRow
from .model import Network
from .store import (
    KEEP,
    NetworkRow,
    NetworkStore,
    NodeRow,
    Role,
    _Keep,
    check_network_args,
    check_vector_ends,
)

__all__ = ("LabNetworkStore", "networks", "copy_network")

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
    without, it lists every network of the lab. With ``session`` (a lab session's
    id), the participants' nodes it adds are that session's: they fail when it
    fails or is abandoned, and :meth:`session_nodes` finds them again.

    Every method is one transaction of the database and blocks: call it from a
    worker thread when inside a trio run.
    """

    def __init__(self, database: Database, protocol: str | None = None,
                 session: str | None = None) -> None:
        self.database = database
        self.protocol = protocol
        self.session = session

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
                 properties: Mapping[str, Any] | None = None) -> NodeRow:
        session = self.session if participant is not None else None
        try:
            with _known():
                info = self.database.add_node(network_id, type, participant, fitness,
                                              generation, dict(properties or {}), session)
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
        """The nodes lab session ``session_id`` took, failed ones too, in the order
        taken."""
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

    def add_vector(self, origin_id: int, destination_id: int) -> VectorInfo:
        with _known():
            return self.database.add_vector(origin_id, destination_id, check=_vector_ends)

    def vectors(self, network_id: int) -> list[VectorInfo]:
        return self.database.list_vectors(network_id)

    # infos

    def add_info(self, origin_id: int, type: str, contents: Any = None,
                 asset_id: int | None = None) -> InformationInfo:
        with _known():
            return self.database.add_information(origin_id, type, contents, asset_id)

    def info(self, info_id: int) -> InformationInfo:
        with _known():
            return self.database.get_information(info_id)

    def infos(self, network_id: int) -> list[InformationInfo]:
        return self.database.list_information(network_id)

    # transmissions

    def add_transmission(self, vector_id: int, info_id: int) -> TransmissionInfo:
        with _known():
            return self.database.add_transmission(vector_id, info_id, check=_live_vector)

    def transmissions(self, network_id: int) -> list[TransmissionInfo]:
        return self.database.list_transmissions(network_id)

    def receive(self, node_id: int) -> list[TransmissionInfo]:
        with _known():
            return self.database.receive(node_id)

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


def networks(lab: Lab, role: Role | None = None, full: bool | None = None,
             protocol: str | None = None) -> list[Network]:
    """The lab's networks (Dallinger's ``exp.networks(...)``), in the order made, each
    as an object of its class: only ``protocol``'s, of ``role`` and full or not (its
    non-failed nodes number its max_size, asked now) when given. Blocks on the
    database."""
    store = LabNetworkStore(lab.database, protocol)
    return [Network.load(store, row.id) for row in store.networks(role, full)]


def copy_network(network: Network, store: NetworkStore, role: Role) -> Network:
    """``network`` (e.g. a protocol's ``create_network()``, made in memory) made again
    in ``store`` with ``role``: its class, max_size and properties, and its nodes,
    vectors, infos and pending transmissions in their order. Raises
    :class:`NetworkError` for a network with failed nodes or received transmissions
    (copy a network as it is made, before it is used)."""
    source = network.store
    if any(node.failed for node in source.nodes(network.id)) or any(
            sent.status != "pending" for sent in source.transmissions(network.id)):
        raise NetworkError(f"{network!r} has failed nodes or received transmissions: copy "
                           f"a network as it is made, before it is used")
    row = source.network(network.id)
    copy = store.add_network(row.type, role, row.max_size, row.properties)
    nodes = {node.id: store.add_node(copy.id, node.type, node.participant, node.fitness,
                                     node.generation, node.properties).id
             for node in source.nodes(network.id)}
    vectors = {vector.id: store.add_vector(nodes[vector.origin_id],
                                           nodes[vector.destination_id]).id
               for vector in source.vectors(network.id)}
    infos = {info.id: store.add_info(nodes[info.origin_id], info.type, info.contents,
                                     info.asset_id).id
             for info in source.infos(network.id)}
    for sent in source.transmissions(network.id):
        store.add_transmission(vectors[sent.vector_id], infos[sent.info_id])
    return Network.load(store, copy.id, network.rng)
