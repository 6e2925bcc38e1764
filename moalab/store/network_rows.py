"""The lab database's networks: networks, nodes, vectors, infos and transmissions
(``Database`` has these methods; ``moalab.network.LabNetworkStore`` keeps its rows
here)."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

from ..core.errors import InvalidArgument
from .errors import NameTaken
from .infos import (
    InformationInfo,
    NetworkInfo,
    NodeInfo,
    TransmissionInfo,
    VectorInfo,
)
from .info_rows import row_info
from .models import (
    NETWORK_ROLES,
    Asset,
    InfoRow,
    NetworkRow,
    NodeRow,
    TransmissionRow,
    VectorRow,
)
from .rows import checked_json, row_by_id, utc_now


class NetworkRows:
    """The network methods of :class:`~moalab.store.database.Database`."""

    def add_network(self, type: str, role: str, max_size: int,
                    properties: dict[str, Any] | None = None,
                    protocol: str | None = None) -> NetworkInfo:
        """Store a network of class ``type`` ('module:qualname'), ``role`` 'practice'
        or 'experiment', made by ``protocol`` (None: made directly). Raises
        InvalidArgument for another role, a max_size that is not a whole number >= 0
        or properties that are not JSON."""
        if role not in NETWORK_ROLES:
            raise InvalidArgument(f"network role {role!r} is not one of "
                                  f"{', '.join(NETWORK_ROLES)}")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
            raise InvalidArgument(f"network max_size {max_size!r} is not accepted: give a "
                                  f"whole number >= 0")
        row = NetworkRow(type=type, protocol=protocol, role=role, max_size=max_size, size=0,
                         properties=checked_json("network properties", dict(properties or {})),
                         creation_time=utc_now())
        with self._unit(write=True) as session:
            session.add(row)
        return row_info(row)

    def get_network(self, network_id: int) -> NetworkInfo:
        """The network ``network_id``; raises UnknownName."""
        with self._unit() as session:
            return row_info(self._network_row(session, network_id))

    def list_networks(self, protocol: str | None = None, role: str | None = None,
                      full: bool | None = None) -> list[NetworkInfo]:
        """The networks in the order made; only ``protocol``'s, of ``role`` and full or
        not (its non-failed nodes number at least its max_size) when given."""
        where = [column == value for column, value in (
            (NetworkRow.protocol, protocol), (NetworkRow.role, role)) if value is not None]
        if full is not None:
            where.append((NetworkRow.size >= NetworkRow.max_size) if full
                         else (NetworkRow.size < NetworkRow.max_size))
        with self._unit() as session:
            return [row_info(row) for row in session.scalars(
                select(NetworkRow).where(*where).order_by(NetworkRow.id))]

    def add_node(self, network_id: int, type: str, participant: str | None = None,
                 fitness: float | None = None, generation: int | None = None,
                 properties: dict[str, Any] | None = None,
                 session_id: str | None = None) -> NodeInfo | None:
        """Add a node of class ``type`` to network ``network_id`` (``participant``'s,
        taken by session ``session_id``, when given); its creation_time is later than
        every other node's of the network. Returns None, adding nothing, when the
        network is full. Atomic across processes and hosts: the network's size is
        raised in the same statement that checks it, and the database keeps it at
        most max_size. Raises NameTaken when ``participant`` has a node there already
        (failed or not), UnknownName for an unknown network."""
        properties = checked_json("node properties", dict(properties or {}))
        try:
            with self._unit(write=True) as session:
                # one statement: PostgreSQL re-checks the WHERE on the row it locks (a
                # second joiner waits for the first to commit), SQLite holds its write
                # lock from BEGIN IMMEDIATE
                if not session.execute(update(NetworkRow).where(
                        NetworkRow.id == network_id, NetworkRow.size < NetworkRow.max_size,
                ).values(size=NetworkRow.size + 1)).rowcount:
                    self._network_row(session, network_id)
                    return None
                last = session.scalar(select(func.max(NodeRow.creation_time)).where(
                    NodeRow.network_id == network_id))
                now = utc_now()
                if last is not None and now <= last:  # strictly after, whatever the clocks
                    now = last + timedelta(microseconds=1)
                row = NodeRow(network_id=network_id, type=type, participant=participant,
                              session_id=session_id, fitness=fitness, generation=generation,
                              properties=properties, failed=False, creation_time=now)
                session.add(row)
        except IntegrityError:
            if participant is None or self.participant_node(network_id, participant) is None:
                raise
            raise NameTaken(f"participant {participant!r} already has a node in network "
                            f"{network_id}: a participant takes one node per network, so "
                            f"give them a node in another") from None
        return row_info(row)

    def participant_node(self, network_id: int, participant: str) -> NodeInfo | None:
        """``participant``'s node in network ``network_id`` (failed or not); None if none."""
        with self._unit() as session:
            row = session.scalar(select(NodeRow).where(
                NodeRow.network_id == network_id, NodeRow.participant == participant))
            return row_info(row) if row is not None else None

    def delete_node(self, node_id: int) -> None:
        """Delete node ``node_id`` with its vectors, infos and transmissions (a node a
        topology refused). Raises UnknownName."""
        with self._unit(write=True) as session:
            row = row_by_id(session, NodeRow, "node", node_id)
            if not row.failed:
                session.execute(update(NetworkRow).where(NetworkRow.id == row.network_id)
                                .values(size=NetworkRow.size - 1))
            for table, columns in ((TransmissionRow, ("origin_id", "destination_id")),
                                   (InfoRow, ("origin_id",)),
                                   (VectorRow, ("origin_id", "destination_id"))):
                # a transmission of a deleted info goes with it, whoever received it
                where = [getattr(table, column) == node_id for column in columns]
                if table is TransmissionRow:
                    where.append(TransmissionRow.info_id.in_(
                        select(InfoRow.id).where(InfoRow.origin_id == node_id)))
                session.execute(delete(table).where(or_(*where)))
            session.execute(delete(NodeRow).where(NodeRow.id == node_id))

    def get_node(self, node_id: int) -> NodeInfo:
        """The node ``node_id``; raises UnknownName."""
        with self._unit() as session:
            return row_info(row_by_id(session, NodeRow, "node", node_id))

    def list_nodes(self, network_id: int | None = None,
                   session_id: str | None = None) -> list[NodeInfo]:
        """The nodes in the order made, failed ones too; only those of network
        ``network_id`` and taken by session ``session_id`` when given."""
        return self._network_parts(NodeRow, network_id, NodeRow.session_id == session_id
                                   if session_id is not None else None)

    def update_node(self, node_id: int, **values: Any) -> NodeInfo:
        """Set a node's ``fitness`` and/or ``generation``; return it. Raises
        UnknownName, InvalidArgument for another field."""
        unknown = set(values) - {"fitness", "generation"}
        if unknown:
            raise InvalidArgument(f"node {node_id}: {', '.join(sorted(unknown))} cannot be "
                                  f"changed; give fitness or generation")
        with self._unit(write=True) as session:
            row = row_by_id(session, NodeRow, "node", node_id)
            for name, value in values.items():
                setattr(row, name, value)
        return row_info(row)

    def fail_node(self, node_id: int) -> NodeInfo:
        """Fail node ``node_id`` (out of its network's size), its vectors either way,
        its infos and the pending transmissions to or from it, in one transaction; a
        failed node stays as it is. Raises UnknownName."""
        with self._unit(write=True) as session:
            row = row_by_id(session, NodeRow, "node", node_id)
            self._fail_node(session, row)
            session.refresh(row)
            return row_info(row)

    @staticmethod
    def _fail_node(session: OrmSession, row: NodeRow) -> None:
        node_id = row.id
        # conditional: two processes failing it at once lower the size once
        if not session.execute(update(NodeRow).where(
                NodeRow.id == node_id, NodeRow.failed.is_(False),
        ).values(failed=True, time_of_death=utc_now())).rowcount:
            return
        session.execute(update(NetworkRow).where(NetworkRow.id == row.network_id)
                        .values(size=NetworkRow.size - 1))
        session.execute(update(VectorRow).where(
            or_(VectorRow.origin_id == node_id, VectorRow.destination_id == node_id),
            VectorRow.failed.is_(False)).values(failed=True))
        session.execute(update(InfoRow).where(InfoRow.origin_id == node_id)
                        .values(failed=True))
        session.execute(update(TransmissionRow).where(
            or_(TransmissionRow.origin_id == node_id,
                TransmissionRow.destination_id == node_id),
            TransmissionRow.status == "pending").values(failed=True))

    def add_vector(self, origin_id: int, destination_id: int,
                   check: Callable[[NodeInfo, NodeInfo], None] | None = None) -> VectorInfo:
        """The vector from node ``origin_id`` to node ``destination_id`` that has not
        failed, made if there is none (never two, across processes). ``check(origin,
        destination)`` may refuse it by raising, inside the transaction. Raises
        UnknownName for an unknown node."""
        with self._unit(write=True) as session:
            origin, destination = (row_by_id(session, NodeRow, "node", node)
                                   for node in (origin_id, destination_id))
            if check is not None:
                check(row_info(origin), row_info(destination))
            live = (VectorRow.origin_id == origin_id,
                    VectorRow.destination_id == destination_id, VectorRow.failed.is_(False))
            session.execute(self._insert()(VectorRow).values(
                network_id=origin.network_id, origin_id=origin_id,
                destination_id=destination_id, failed=False, creation_time=utc_now(),
            ).on_conflict_do_nothing(index_elements=["origin_id", "destination_id"],
                                     index_where=text("NOT failed")))
            return row_info(session.scalar(select(VectorRow).where(*live)))

    def list_vectors(self, network_id: int) -> list[VectorInfo]:
        """The network's vectors in the order made, failed ones too."""
        return self._network_parts(VectorRow, network_id)

    def add_information(self, origin_id: int, type: str, contents: Any = None,
                        asset_id: int | None = None) -> InformationInfo:
        """Store an info of class ``type`` made by node ``origin_id``: ``contents`` (a
        JSON value) and the asset ``asset_id`` it carries. Raises UnknownName for an
        unknown node, InvalidArgument for contents that are not JSON or an unknown
        asset."""
        checked_json(f"node {origin_id}'s info contents", contents)
        with self._unit(write=True) as session:
            origin = row_by_id(session, NodeRow, "node", origin_id)
            if asset_id is not None and session.get(Asset, asset_id) is None:
                raise InvalidArgument(f"node {origin_id}'s info: no asset {asset_id} in this "
                                      f"lab; give the id of a recorded asset")
            row = InfoRow(network_id=origin.network_id, origin_id=origin_id, type=type,
                          contents=contents, asset_id=asset_id, failed=False,
                          creation_time=utc_now())
            session.add(row)
        return row_info(row)

    def get_information(self, info_id: int) -> InformationInfo:
        """The info ``info_id``; raises UnknownName."""
        with self._unit() as session:
            return row_info(row_by_id(session, InfoRow, "info", info_id))

    def list_information(self, network_id: int) -> list[InformationInfo]:
        """The network's infos in the order made, failed ones too."""
        return self._network_parts(InfoRow, network_id)

    def add_transmission(self, vector_id: int, info_id: int,
                         check: Callable[[VectorInfo], None] | None = None,
                         ) -> TransmissionInfo:
        """A pending transmission of info ``info_id`` along vector ``vector_id``;
        ``check(vector)`` may refuse it by raising, inside the transaction (e.g. a
        failed vector). Raises UnknownName for an unknown vector or info."""
        with self._unit(write=True) as session:
            vector = row_by_id(session, VectorRow, "vector", vector_id)
            row_by_id(session, InfoRow, "info", info_id)
            if check is not None:
                check(row_info(vector))
            row = TransmissionRow(network_id=vector.network_id, vector_id=vector_id,
                                  info_id=info_id, origin_id=vector.origin_id,
                                  destination_id=vector.destination_id, status="pending",
                                  failed=False, creation_time=utc_now())
            session.add(row)
        return row_info(row)

    def list_transmissions(self, network_id: int) -> list[TransmissionInfo]:
        """The network's transmissions in the order made, failed ones too."""
        return self._network_parts(TransmissionRow, network_id)

    def receive(self, node_id: int) -> list[TransmissionInfo]:
        """Mark received every pending transmission to node ``node_id`` that has not
        failed, and return them in the order sent (a transmission is received once,
        whichever process asks). Raises UnknownName."""
        with self._unit(write=True) as session:
            row_by_id(session, NodeRow, "node", node_id)
            received = session.scalars(update(TransmissionRow).where(
                TransmissionRow.destination_id == node_id,
                TransmissionRow.status == "pending", TransmissionRow.failed.is_(False),
            ).values(status="received", receive_time=utc_now()).returning(TransmissionRow)
                .execution_options(synchronize_session=False)).all()
            return sorted((row_info(row) for row in received), key=lambda row: row.id)

    @staticmethod
    def _network_row(session: OrmSession, network_id: int) -> NetworkRow:
        return row_by_id(session, NetworkRow, "network", network_id)


    def _network_parts(self, table: Any, network_id: int | None,
                       *where: Any) -> list[Any]:
        where = tuple(w for w in where if w is not None)
        if network_id is not None:
            where += (table.network_id == network_id,)
        with self._unit() as session:
            return [row_info(row) for row in
                    session.scalars(select(table).where(*where).order_by(table.id))]
