"""Where a network's rows live: the :class:`NetworkStore` interface every back-end
implements, and :class:`MemoryStore` (in memory, for simulations and tests).

A store holds rows, not behaviour: networks, nodes, vectors, infos and transmissions
go in and come out as frozen dataclasses (a vector, an info and a transmission are the
lab's own rows, :mod:`moalab.store.infos`, plain dataclasses); the topologies' rules live in
:mod:`moalab.network.model` and :mod:`moalab.network.topologies`. The store gives
every row its id and its ``creation_time`` (UTC); lists come out in creation order.
Two rules are the store's because only it can keep them under concurrent joins:
:meth:`NetworkStore.add_node` refuses, atomically, a node past the network's
``max_size`` (counting non-failed nodes) and a second node of one participant.

Every method is blocking and may be called from any thread.
"""

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from ..store.infos import InformationInfo, TransmissionInfo, VectorInfo
from .errors import NetworkError, NetworkFull, ParticipantInNetwork, UnknownNetworkRow

__all__ = (
    "KEEP",
    "MemoryStore",
    "NetworkRow",
    "NetworkStore",
    "NodeRow",
)

Role = Literal["practice", "experiment"]
ROLES: Final = ("practice", "experiment")


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()
"""The default of :meth:`NetworkStore.update_node`'s fields: leave the value as it is."""


@dataclass(frozen=True)
class NetworkRow:
    """A network: ``type`` is its class as ``'module:qualname'``; ``properties`` its
    topology's parameters (JSON values), written once at creation."""

    id: int
    type: str
    role: Role
    max_size: int
    properties: Mapping[str, Any]
    creation_time: datetime


@dataclass(frozen=True)
class NodeRow:
    """A node (a participant's, or a source): ``type`` is its class as
    ``'module:qualname'``; ``participant`` whose node it is (None for a source or a
    simulated node)."""

    id: int
    network_id: int
    type: str
    participant: str | None
    fitness: float | None
    generation: int | None
    properties: Mapping[str, Any]
    creation_time: datetime
    failed: bool = False
    time_of_death: datetime | None = None


class NetworkStore(ABC):
    """The rows of networks, whatever holds them (memory, the lab database).

    Contract for every implementation (tests/network/test_store.py checks it):
    ids are ints the store gives, unique per kind; ``creation_time`` is an aware UTC
    datetime and, among one network's nodes, strictly increases with creation order;
    every list is in creation order; an unknown id raises :class:`UnknownNetworkRow`;
    failed rows stay (they are listed, with ``failed=True``).
    """

    # networks

    @abstractmethod
    def add_network(self, type: str, role: Role, max_size: int,
                    properties: Mapping[str, Any] | None = None) -> NetworkRow:
        """Store a new network; raise :class:`NetworkError` for a role other than
        'practice' or 'experiment' or a negative ``max_size``."""

    @abstractmethod
    def network(self, network_id: int) -> NetworkRow:
        """The network ``network_id``."""

    @abstractmethod
    def networks(self, role: Role | None = None, full: bool | None = None) -> list[NetworkRow]:
        """The networks, filtered by ``role`` and by fullness (full: its non-failed
        nodes number at least its ``max_size``), None meaning either."""

    # nodes

    @abstractmethod
    def add_node(self, network_id: int, type: str, participant: str | None = None,
                 fitness: float | None = None, generation: int | None = None,
                 properties: Mapping[str, Any] | None = None) -> NodeRow:
        """Store a new node in ``network_id``, atomically refusing it when the
        network is full (:class:`NetworkFull`: its non-failed nodes number its
        ``max_size``) or when ``participant`` already has a node there, failed or not
        (:class:`ParticipantInNetwork`). Two processes adding at once never overfill."""

    @abstractmethod
    def delete_node(self, node_id: int) -> None:
        """Remove node ``node_id`` and every vector, info and transmission that
        touches it: undoes :meth:`add_node` when a topology refuses the node."""

    @abstractmethod
    def node(self, node_id: int) -> NodeRow:
        """The node ``node_id``."""

    @abstractmethod
    def nodes(self, network_id: int) -> list[NodeRow]:
        """Every node of ``network_id``, failed ones too."""

    @abstractmethod
    def update_node(self, node_id: int, *, fitness: float | None | _Keep = KEEP,
                    generation: int | None | _Keep = KEEP) -> NodeRow:
        """Change a node's ``fitness`` and/or ``generation``; return the new row."""

    @abstractmethod
    def fail_node(self, node_id: int) -> NodeRow:
        """Fail node ``node_id``, its vectors (either way), its infos and its pending
        transmissions (either way), at once; failing a failed node changes nothing."""

    # vectors

    @abstractmethod
    def add_vector(self, origin_id: int, destination_id: int) -> VectorInfo:
        """The non-failed vector from ``origin_id`` to ``destination_id``, made if
        there is none (so never two). Both nodes must be non-failed and in one
        network, else :class:`NetworkError`."""

    @abstractmethod
    def vectors(self, network_id: int) -> list[VectorInfo]:
        """Every vector of ``network_id``, failed ones too."""

    # infos

    @abstractmethod
    def add_info(self, origin_id: int, type: str, contents: Any = None,
                 asset_id: int | None = None) -> InformationInfo:
        """Store an info made by node ``origin_id`` (``contents`` a JSON value)."""

    @abstractmethod
    def info(self, info_id: int) -> InformationInfo:
        """The info ``info_id``."""

    @abstractmethod
    def infos(self, network_id: int) -> list[InformationInfo]:
        """Every info of ``network_id``, failed ones too."""

    # transmissions

    @abstractmethod
    def add_transmission(self, vector_id: int, info_id: int) -> TransmissionInfo:
        """A pending transmission of ``info_id`` along non-failed vector ``vector_id``
        (else :class:`NetworkError`)."""

    @abstractmethod
    def transmissions(self, network_id: int) -> list[TransmissionInfo]:
        """Every transmission of ``network_id``, failed ones too."""

    @abstractmethod
    def receive(self, node_id: int) -> list[TransmissionInfo]:
        """Mark every pending, non-failed transmission to ``node_id`` received, at
        once, and return them (as received), in creation order."""


def check_network_args(role: str, max_size: int) -> None:
    """Raise :class:`NetworkError` for a role or max_size no network accepts (for
    every store's :meth:`NetworkStore.add_network`)."""
    if role not in ROLES:
        raise NetworkError(f"network role {role!r} is not one of {ROLES}")
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 0:
        raise NetworkError(f"network max_size {max_size!r} is not accepted: give an int >= 0")


@dataclass
class _Tables:
    networks: dict[int, NetworkRow] = field(default_factory=dict)
    nodes: dict[int, NodeRow] = field(default_factory=dict)
    vectors: dict[int, VectorInfo] = field(default_factory=dict)
    infos: dict[int, InformationInfo] = field(default_factory=dict)
    transmissions: dict[int, TransmissionInfo] = field(default_factory=dict)


class MemoryStore(NetworkStore):
    """A :class:`NetworkStore` in this process's memory (gone when it exits), for
    simulations and tests. One lock makes every method atomic across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables = _Tables()
        self._ids = itertools.count(1)
        self._last_time = datetime.min.replace(tzinfo=UTC)

    def _now(self) -> datetime:
        # Strictly increasing, so creation_time orders rows even within a clock tick.
        now = max(datetime.now(UTC), self._last_time + timedelta(microseconds=1))
        self._last_time = now
        return now

    def _get(self, table: dict[int, Any], kind: str, row_id: int) -> Any:
        try:
            return table[row_id]
        except (KeyError, TypeError):
            raise UnknownNetworkRow(kind, row_id) from None

    @staticmethod
    def _of(table: dict[int, Any], network_id: int) -> list[Any]:
        return [row for row in table.values() if row.network_id == network_id]

    def _live_count(self, network_id: int) -> int:
        return sum(not n.failed for n in self._of(self._tables.nodes, network_id))

    # networks

    def add_network(self, type: str, role: Role, max_size: int,
                    properties: Mapping[str, Any] | None = None) -> NetworkRow:
        check_network_args(role, max_size)
        with self._lock:
            row = NetworkRow(next(self._ids), type, role, max_size, dict(properties or {}),
                             self._now())
            self._tables.networks[row.id] = row
            return row

    def network(self, network_id: int) -> NetworkRow:
        with self._lock:
            return self._get(self._tables.networks, "network", network_id)

    def networks(self, role: Role | None = None, full: bool | None = None) -> list[NetworkRow]:
        with self._lock:
            return [n for n in self._tables.networks.values()
                    if (role is None or n.role == role)
                    and (full is None or (self._live_count(n.id) >= n.max_size) == full)]

    # nodes

    def add_node(self, network_id: int, type: str, participant: str | None = None,
                 fitness: float | None = None, generation: int | None = None,
                 properties: Mapping[str, Any] | None = None) -> NodeRow:
        with self._lock:
            network = self._get(self._tables.networks, "network", network_id)
            if self._live_count(network_id) >= network.max_size:
                raise NetworkFull(network_id, network.max_size)
            if participant is not None:
                for other in self._of(self._tables.nodes, network_id):
                    if other.participant == participant:
                        raise ParticipantInNetwork(network_id, participant, other.id)
            row = NodeRow(next(self._ids), network_id, type, participant, fitness,
                          generation, dict(properties or {}), self._now())
            self._tables.nodes[row.id] = row
            return row

    def delete_node(self, node_id: int) -> None:
        with self._lock:
            self._get(self._tables.nodes, "node", node_id)
            t = self._tables
            del t.nodes[node_id]
            gone_infos = {i.id for i in t.infos.values() if i.origin_id == node_id}
            t.vectors = {k: v for k, v in t.vectors.items()
                         if node_id not in (v.origin_id, v.destination_id)}
            t.infos = {k: i for k, i in t.infos.items() if k not in gone_infos}
            t.transmissions = {k: x for k, x in t.transmissions.items()
                               if node_id not in (x.origin_id, x.destination_id)
                               and x.info_id not in gone_infos}

    def node(self, node_id: int) -> NodeRow:
        with self._lock:
            return self._get(self._tables.nodes, "node", node_id)

    def nodes(self, network_id: int) -> list[NodeRow]:
        with self._lock:
            return self._of(self._tables.nodes, network_id)

    def update_node(self, node_id: int, *, fitness: float | None | _Keep = KEEP,
                    generation: int | None | _Keep = KEEP) -> NodeRow:
        with self._lock:
            row = self._get(self._tables.nodes, "node", node_id)
            changes = {name: value for name, value in
                       (("fitness", fitness), ("generation", generation)) if value is not KEEP}
            row = self._tables.nodes[node_id] = replace(row, **changes)
            return row

    def fail_node(self, node_id: int) -> NodeRow:
        with self._lock:
            row = self._get(self._tables.nodes, "node", node_id)
            if row.failed:
                return row
            t = self._tables
            row = t.nodes[node_id] = replace(row, failed=True, time_of_death=self._now())
            for v in list(t.vectors.values()):
                if node_id in (v.origin_id, v.destination_id) and not v.failed:
                    t.vectors[v.id] = replace(v, failed=True)
            for i in list(t.infos.values()):
                if i.origin_id == node_id:
                    t.infos[i.id] = replace(i, failed=True)
            for x in list(t.transmissions.values()):
                if node_id in (x.origin_id, x.destination_id) and x.status == "pending":
                    t.transmissions[x.id] = replace(x, failed=True)
            return row

    # vectors

    def add_vector(self, origin_id: int, destination_id: int) -> VectorInfo:
        with self._lock:
            origin = self._get(self._tables.nodes, "node", origin_id)
            destination = self._get(self._tables.nodes, "node", destination_id)
            check_vector_ends(origin, destination)
            for v in self._tables.vectors.values():
                if (v.origin_id, v.destination_id, v.failed) == (origin_id, destination_id, False):
                    return v
            row = VectorInfo(next(self._ids), origin.network_id, origin_id, destination_id,
                             self._now(), failed=False)
            self._tables.vectors[row.id] = row
            return row

    def vectors(self, network_id: int) -> list[VectorInfo]:
        with self._lock:
            return self._of(self._tables.vectors, network_id)

    # infos

    def add_info(self, origin_id: int, type: str, contents: Any = None,
                 asset_id: int | None = None) -> InformationInfo:
        with self._lock:
            origin = self._get(self._tables.nodes, "node", origin_id)
            row = InformationInfo(next(self._ids), origin.network_id, origin_id, type,
                                  contents, asset_id, self._now(), failed=False)
            self._tables.infos[row.id] = row
            return row

    def info(self, info_id: int) -> InformationInfo:
        with self._lock:
            return self._get(self._tables.infos, "info", info_id)

    def infos(self, network_id: int) -> list[InformationInfo]:
        with self._lock:
            return self._of(self._tables.infos, network_id)

    # transmissions

    def add_transmission(self, vector_id: int, info_id: int) -> TransmissionInfo:
        with self._lock:
            vector = self._get(self._tables.vectors, "vector", vector_id)
            info = self._get(self._tables.infos, "info", info_id)
            if vector.failed:
                raise NetworkError(f"vector {vector_id} (node {vector.origin_id} to node "
                                   f"{vector.destination_id}) has failed: transmit along a "
                                   f"vector that has not")
            row = TransmissionInfo(next(self._ids), vector.network_id, vector_id, info.id,
                                   vector.origin_id, vector.destination_id, self._now(),
                                   status="pending", receive_time=None, failed=False)
            self._tables.transmissions[row.id] = row
            return row

    def transmissions(self, network_id: int) -> list[TransmissionInfo]:
        with self._lock:
            return self._of(self._tables.transmissions, network_id)

    def receive(self, node_id: int) -> list[TransmissionInfo]:
        with self._lock:
            self._get(self._tables.nodes, "node", node_id)
            now = self._now()
            received = []
            for x in list(self._tables.transmissions.values()):
                if (x.destination_id, x.status, x.failed) == (node_id, "pending", False):
                    x = self._tables.transmissions[x.id] = replace(
                        x, status="received", receive_time=now)
                    received.append(x)
            return received


def check_vector_ends(origin: NodeRow, destination: NodeRow) -> None:
    """Raise :class:`NetworkError` unless a vector may join ``origin`` to
    ``destination`` (for every store's :meth:`NetworkStore.add_vector`)."""
    if origin.network_id != destination.network_id:
        raise NetworkError(f"node {origin.id} (network {origin.network_id}) and node "
                           f"{destination.id} (network {destination.network_id}) are in "
                           f"different networks: connect nodes of one network")
    if origin.id == destination.id:
        raise NetworkError(f"node {origin.id} cannot connect to itself")
    for end in (origin, destination):
        if end.failed:
            raise NetworkError(f"node {end.id} has failed: connect nodes that have not")
