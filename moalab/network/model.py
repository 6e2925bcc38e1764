"""Networks of nodes (Dallinger's model): a :class:`Network` of :class:`Node` and
:class:`Source` objects joined by :class:`Vector` objects, along which
:class:`Info` objects pass as :class:`Transmission` objects.

Every object here is a handle on rows of the :class:`~moalab.network.store.NetworkStore`
its network holds (a :class:`~moalab.network.store.MemoryStore` unless one is given):
the store keeps the state, so two handles on one node agree, and a network kept in the
lab is the same network in the next session. Methods block on the store; call them from
a worker thread when the store is the lab database.

A topology is a :class:`Network` subclass that overrides :meth:`Network.add_node`, the
hook :meth:`Network.add` calls once the node is in :meth:`Network.nodes`; a topology's
parameters go in :attr:`Network.properties` (written once), so a reloaded network has
them. Classes are stored by ``'module:qualname'``: a network or node class reloaded in
another process must be importable (defined at a module's top level).
"""

import importlib
import json
import random
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

from ..store.infos import InformationInfo, TransmissionInfo, VectorInfo
from .errors import NetworkError
from .store import MemoryStore, NetworkRow, NetworkStore, NodeRow, Role

__all__ = ("Info", "Network", "NetworkError", "Node", "Source", "Transmission", "Vector")

DEFAULT_MAX_SIZE = 1_000_000
"""Dallinger's default: in effect no limit."""

Direction = Literal["to", "from", "both"]
_DIRECTIONS = ("to", "from", "both")
Failed = bool | Literal["all"]

T = TypeVar("T")


def class_path(cls: type) -> str:
    """``'module:qualname'`` of ``cls``, as the store keeps a row's type."""
    return f"{cls.__module__}:{cls.__qualname__}"


def load_class(path: str, base: type[T], known: dict[str, type]) -> type[T]:
    """The class stored as ``path`` (one of ``known`` or imported), which must be
    ``base`` or a subclass; else :class:`NetworkError` naming it."""
    cls = known.get(path)
    if cls is None:
        module, _, qualname = path.partition(":")
        try:
            cls = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
        except (ImportError, AttributeError):
            raise NetworkError(
                f"stored type {path!r} cannot be imported here: define the class at the "
                f"top level of a module this process can import") from None
        known[path] = cls
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise NetworkError(f"stored type {path!r} is not a {base.__name__}")
    return cls


def check_json(value: Any, what: str) -> None:
    """Raise :class:`NetworkError` unless ``value`` is a JSON value (every store
    keeps contents and properties as JSON); ``what`` names it in the message."""
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise NetworkError(f"{what} {value!r} is not a JSON value ({error}): give "
                           f"numbers, strings, lists and dicts of them") from None


def _check_failed(failed: Failed) -> None:
    if failed not in (True, False, "all"):
        raise NetworkError(f"failed={failed!r} is not accepted: give True, False or 'all'")


def _keep(row_failed: bool, failed: Failed) -> bool:
    return failed == "all" or row_failed == failed


def _as_list(whom: "Node | Sequence[Node]") -> list["Node"]:
    return [whom] if isinstance(whom, Node) else list(whom)


class _NodesQuery:
    """``network.nodes``: call it for a list (``nodes(type=None, failed=False)``);
    ``len(network.nodes)`` and iterating it give the non-failed nodes (the seed's
    ``Ring`` example writes ``len(self.nodes)``)."""

    def __init__(self, network: "Network") -> None:
        self._network = network

    def __call__(self, type: type["Node"] | None = None, failed: Failed = False) -> list["Node"]:
        return self._network._nodes(type, failed)

    def __len__(self) -> int:
        return len(self())

    def __iter__(self) -> Iterator["Node"]:
        return iter(self())


class Network:
    """A network of nodes: a topology's base class, and itself a network whose
    :meth:`add_node` connects nothing.

    ``max_size``: at most that many non-failed nodes (sources count); ``role``:
    'practice' or 'experiment'; ``store``: where the rows go (a new
    :class:`MemoryStore` if None); ``rng``: the random draws of a topology (seed it for
    a reproducible network); ``properties``: a subclass's parameters (JSON values).
    Creating a network stores it at once.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE, role: Role = "experiment",
                 store: NetworkStore | None = None, rng: random.Random | None = None,
                 properties: dict[str, Any] | None = None) -> None:
        store = MemoryStore() if store is None else store
        check_json(properties, f"{type(self).__name__} properties")
        row = store.add_network(class_path(type(self)), role, max_size, properties)
        self._attach(store, row, rng)

    def _attach(self, store: NetworkStore, row: NetworkRow, rng: random.Random | None) -> None:
        self.store = store
        self._row = row
        self.rng = rng if rng is not None else random.Random()
        self._types: dict[str, type] = {}

    @classmethod
    def load(cls, store: NetworkStore, network_id: int,
             rng: random.Random | None = None) -> "Network":
        """The network ``network_id`` of ``store``, as an object of its stored class
        (:class:`NetworkError` if that class is not ``cls`` or a subclass)."""
        row = store.network(network_id)
        network_cls = load_class(row.type, cls, {})
        network = network_cls.__new__(network_cls)
        network._attach(store, row, rng)
        return network

    @property
    def id(self) -> int:
        """The network's id in its :attr:`store` (given by the store at creation; pass
        it to :meth:`load` to get the network back)."""
        return self._row.id

    @property
    def role(self) -> Role:
        """'practice' or 'experiment', as given at creation."""
        return self._row.role

    @property
    def max_size(self) -> int:
        """At most this many non-failed nodes (sources count), as given at creation;
        :meth:`add` raises :class:`~moalab.network.NetworkFull` past it."""
        return self._row.max_size

    @property
    def properties(self) -> dict[str, Any]:
        """The topology's parameters, as given at creation (a copy)."""
        return dict(self._row.properties)

    @property
    def creation_time(self) -> datetime:
        """When the network was stored: an aware UTC datetime, given by the store."""
        return self._row.creation_time

    @property
    def nodes(self) -> _NodesQuery:
        """``nodes(type=None, failed=False)``: the nodes in creation order, of class
        ``type`` (and subclasses) if given; ``failed`` True, False or 'all'."""
        return _NodesQuery(self)

    def _nodes(self, type: type["Node"] | None, failed: Failed) -> list["Node"]:
        _check_failed(failed)
        nodes = [self._node(row) for row in self.store.nodes(self.id)
                 if _keep(row.failed, failed)]
        return [n for n in nodes if type is None or isinstance(n, type)]

    def _node(self, row: NodeRow) -> "Node":
        node_cls = load_class(row.type, Node, self._types)
        node = node_cls.__new__(node_cls)
        node._attach(self, row)
        return node

    def node(self, node_id: int) -> "Node":
        """The node ``node_id`` of this network, as an object of its stored class.
        Raises :class:`UnknownNetworkRow` for an unknown id, :class:`NetworkError` for
        a node of another network."""
        row = self.store.node(node_id)
        if row.network_id != self.id:
            raise NetworkError(f"node {node_id} is in network {row.network_id}, "
                               f"not in network {self.id}")
        return self._node(row)

    def size(self, type: type["Node"] | None = None, failed: Failed = False) -> int:
        """How many nodes ``nodes(type, failed)`` lists."""
        return len(self._nodes(type, failed))

    @property
    def full(self) -> bool:
        """Whether the non-failed nodes number ``max_size`` (asked now: a failed node
        frees its place)."""
        return self.size() >= self.max_size

    def add(self, node: "Node") -> "Node":
        """Put ``node`` (a new :class:`Node` or :class:`Source`) in this network, then
        call :meth:`add_node`; return ``node``.

        The node is in :meth:`nodes` at once, with its ``creation_time``; if
        :meth:`add_node` raises, the node and whatever the hook made are removed and
        the error propagates. Raises :class:`~moalab.network.errors.NetworkFull` when
        the network is full, :class:`NetworkError` when ``node`` is already in one.
        """
        if not isinstance(node, Node):
            raise NetworkError(f"network {self.id} cannot add {node!r}: give a Node or "
                               f"a Source")
        if node._row is not None:
            raise NetworkError(f"node {node.id} is already in network "
                               f"{node._row.network_id}: make a new Node")
        cls = type(node)
        self._types[class_path(cls)] = cls
        row = self.store.add_node(self.id, class_path(cls), node._new["participant"],
                                  node._new["fitness"], None, node._new["properties"])
        node._attach(self, row)
        try:
            self.add_node(node)
        except BaseException:
            self.store.delete_node(row.id)
            node._detach()
            raise
        return node

    def add_node(self, node: "Node") -> None:
        """Hook: connect ``node``, just added, as the topology wants (it is already
        in :meth:`nodes`). Raise to refuse it. The base network connects nothing."""

    def vectors(self, failed: Failed = False) -> list["Vector"]:
        """The network's vectors in creation order (``failed`` True, False or 'all')."""
        _check_failed(failed)
        return [Vector(self, row) for row in self.store.vectors(self.id)
                if _keep(row.failed, failed)]

    def infos(self, type: type["Info"] | None = None, failed: Failed = False) -> list["Info"]:
        """The network's infos in creation order, of class ``type`` if given."""
        _check_failed(failed)
        infos = [Info._load(self, row) for row in self.store.infos(self.id)
                 if _keep(row.failed, failed)]
        return [i for i in infos if type is None or isinstance(i, type)]

    def transmissions(self, status: Literal["all", "pending", "received"] = "all",
                      failed: Failed = False) -> list["Transmission"]:
        """The network's transmissions in creation order, by ``status``."""
        return [Transmission(self, row)
                for row in _select_transmissions(self.store.transmissions(self.id),
                                                 status, failed)]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Network) and other.store is self.store
                and other.id == self.id)

    def __hash__(self) -> int:
        return hash(("network", self.id))

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.id} {self.role} "
                f"{self.size()}/{self.max_size}>")


def _select_transmissions(rows: list[TransmissionInfo], status: str,
                          failed: Failed) -> list[TransmissionInfo]:
    if status not in ("all", "pending", "received"):
        raise NetworkError(f"transmission status {status!r} is not accepted: give 'all', "
                           f"'pending' or 'received'")
    _check_failed(failed)
    return [r for r in rows
            if (status == "all" or r.status == status) and _keep(r.failed, failed)]


class Node:
    """A participant (or a simulated agent) in a network.

    Made free-standing (``participant``: whose node, at most one per network;
    ``fitness``: a number some topologies use), then put in a network with
    :meth:`Network.add`; until then, it has no ``id`` and its other methods raise
    :class:`NetworkError`.
    """

    def __init__(self, participant: str | None = None, fitness: float | None = None) -> None:
        self._row: NodeRow | None = None
        self._network: Network | None = None
        self._new = {"participant": participant, "fitness": fitness,
                     "properties": self._properties()}

    def _properties(self) -> dict[str, Any]:
        """What a subclass keeps in its row's properties (JSON values)."""
        return {}

    def _attach(self, network: Network, row: NodeRow) -> None:
        self._network = network
        self._row = row

    def _detach(self) -> None:
        self._network = self._row = None

    def _unattached(self) -> NetworkError:
        return NetworkError(f"{self!r} is not in a network: network.add(node) first")

    @property
    def _stored(self) -> NodeRow:
        if self._row is None:
            raise self._unattached()
        return self._row

    @property
    def network(self) -> Network:
        """The network it is in (:class:`NetworkError` before :meth:`Network.add`)."""
        if self._network is None:
            raise self._unattached()
        return self._network

    def _fresh(self) -> NodeRow:
        # Mutable fields come from the store, so every handle on the node agrees.
        return self.network.store.node(self._stored.id)

    @property
    def id(self) -> int | None:
        """The node's id in its network's store; None until :meth:`Network.add`."""
        return None if self._row is None else self._row.id

    @property
    def participant(self) -> str | None:
        """Whose node it is (at most one per network), as given; None for a source or
        a simulated node."""
        return self._new["participant"] if self._row is None else self._row.participant

    @property
    def creation_time(self) -> datetime:
        """When :meth:`Network.add` stored it: an aware UTC datetime; among one
        network's nodes it strictly increases. Raises :class:`NetworkError` before."""
        return self._stored.creation_time

    @property
    def failed(self) -> bool:
        """Whether the node has failed (:meth:`fail`), read from the store now, so
        every handle on the node agrees. Raises :class:`NetworkError` before
        :meth:`Network.add`."""
        return self._fresh().failed

    @property
    def time_of_death(self) -> datetime | None:
        """When it failed (an aware UTC datetime), read from the store now; None while
        it has not."""
        return self._fresh().time_of_death

    @property
    def fitness(self) -> float | None:
        """A number some topologies use (e.g. for who is copied), or None; read from
        the store now. Setting it writes the store (before :meth:`Network.add`: kept
        for the add); raises :class:`NetworkError` for a value that is not a number."""
        return self._new["fitness"] if self._row is None else self._fresh().fitness

    @fitness.setter
    def fitness(self, value: float | None) -> None:
        if value is not None and not isinstance(value, int | float):
            raise NetworkError(f"{self!r} fitness {value!r} is not a number")
        if self._row is None:
            self._new["fitness"] = value
        else:
            self._row = self.network.store.update_node(self._row.id, fitness=value)

    @property
    def generation(self) -> int | None:
        """Its generation, in a :class:`~moalab.network.topologies.DiscreteGenerational`."""
        return self._fresh().generation

    @generation.setter
    def generation(self, value: int | None) -> None:
        if value is not None and not isinstance(value, int):
            raise NetworkError(f"{self!r} generation {value!r} is not an int")
        self._row = self.network.store.update_node(self._stored.id, generation=value)

    # connections

    def connect(self, whom: "Node | Sequence[Node]",
                direction: Direction = "to") -> list["Vector"]:
        """Connect to ``whom`` (a node or nodes): 'to' (a vector from this node),
        'from' (to this node) or 'both'; return the vectors, an existing vector
        reused (connecting twice makes no second one). No vector ends at a source:
        a source connects only 'to'. Raises :class:`NetworkError`, making no vector,
        for a bad direction, a node of another network, itself, or a source at a
        vector's end."""
        if direction not in _DIRECTIONS:
            raise NetworkError(f"{self!r}.connect direction {direction!r} is not one of "
                               f"{_DIRECTIONS}")
        store = self.network.store
        pairs = []
        for other in _as_list(whom):
            if not isinstance(other, Node) or other._row is None:
                raise NetworkError(f"{self!r} cannot connect to {other!r}: give nodes "
                                   f"in its network")
            if direction in ("to", "both"):
                pairs.append((self, other))
            if direction in ("from", "both"):
                pairs.append((other, self))
        for origin, destination in pairs:
            if isinstance(destination, Source):
                raise NetworkError(
                    f"{origin!r} cannot connect to {destination!r}: a source never "
                    f"receives, it connects only 'to' (direction {direction!r} given)")
        return [Vector(self.network, store.add_vector(o._stored.id, d._stored.id))
                for o, d in pairs]

    def vectors(self, direction: Literal["all", "incoming", "outgoing"] = "all",
                failed: Failed = False) -> list["Vector"]:
        """Its vectors, in creation order: 'outgoing' (from it), 'incoming' (to it) or
        'all'; ``failed`` True, False or 'all'. Raises :class:`NetworkError` for
        another ``direction``, or before :meth:`Network.add`."""
        if direction not in ("all", "incoming", "outgoing"):
            raise NetworkError(f"{self!r}.vectors direction {direction!r} is not one of "
                               f"('all', 'incoming', 'outgoing')")
        me = self._stored.id
        return [v for v in self.network.vectors(failed)
                if (direction != "incoming" and v.origin_id == me)
                or (direction != "outgoing" and v.destination_id == me)]

    def neighbors(self, type: type["Node"] | None = None,
                  direction: Literal["to", "from", "both", "either"] = "to") -> list["Node"]:
        """The non-failed nodes it has a live vector to ('to'), from ('from'), both
        ways ('both') or either way ('either'), in creation order; of class ``type``
        (and subclasses) if given. Raises :class:`NetworkError` for another
        ``direction``, or before :meth:`Network.add`."""
        if direction not in (*_DIRECTIONS, "either"):
            raise NetworkError(f"{self!r}.neighbors direction {direction!r} is not one of "
                               f"('to', 'from', 'both', 'either')")
        me = self._stored.id
        vectors = self.network.store.vectors(self.network.id)
        to = {v.destination_id for v in vectors if v.origin_id == me and not v.failed}
        frm = {v.origin_id for v in vectors if v.destination_id == me and not v.failed}
        ids = {"to": to, "from": frm, "both": to & frm, "either": to | frm}[direction]
        return [n for n in self.network.nodes(type) if n.id in ids]

    def is_connected(self, whom: "Node",
                     direction: Literal["to", "from", "both", "either"] = "to") -> bool:
        """Whether a live vector joins it to ``whom`` ('to'), ``whom`` to it ('from'),
        both ways ('both') or either way ('either'), ``whom`` not failed. Raises
        :class:`NetworkError` if ``whom`` is not a node or for another ``direction``."""
        if not isinstance(whom, Node):
            raise NetworkError(f"{self!r}.is_connected whom {whom!r} is not a node")
        return whom in self.neighbors(direction=direction)

    # information

    def infos(self, type: type["Info"] | None = None, failed: Failed = False) -> list["Info"]:
        """The infos it made, in creation order."""
        me = self._stored.id
        return [i for i in self.network.infos(type, failed) if i.origin_id == me]

    def transmissions(self, direction: Literal["all", "incoming", "outgoing"] = "all",
                      status: Literal["all", "pending", "received"] = "all",
                      failed: Failed = False) -> list["Transmission"]:
        """Its transmissions in creation order, sent ('outgoing'), to it ('incoming') or
        'all'; by ``status`` ('pending', 'received' or 'all') and ``failed``. Raises
        :class:`NetworkError` for another ``direction`` or ``status``."""
        if direction not in ("all", "incoming", "outgoing"):
            raise NetworkError(f"{self!r}.transmissions direction {direction!r} is not "
                               f"one of ('all', 'incoming', 'outgoing')")
        me = self._stored.id
        return [t for t in self.network.transmissions(status, failed)
                if (direction != "incoming" and t.origin_id == me)
                or (direction != "outgoing" and t.destination_id == me)]

    def received_infos(self) -> list["Info"]:
        """The infos it has received, in the order they were sent."""
        return [t.info for t in self.transmissions("incoming", "received")]

    def _what(self, what: "Info | Sequence[Info] | type[Info] | None") -> list["Info"]:
        if what is None:
            return self.infos()
        if isinstance(what, type) and issubclass(what, Info):
            return self.infos(type=what)
        infos = [what] if isinstance(what, Info) else list(what)
        for info in infos:
            if not isinstance(info, Info) or info.origin_id != self.id:
                raise NetworkError(f"{self!r} cannot transmit {info!r}: a node transmits "
                                   f"only infos it made (make an Info of its own)")
        return infos

    def transmit(self, what: "Info | Sequence[Info] | type[Info] | None" = None,
                 to_whom: "Node | Sequence[Node] | None" = None) -> list["Transmission"]:
        """Send infos along its vectors; return the transmissions (pending until
        received).

        ``what``: an info or infos it made, an Info class (its infos of that class),
        or None (all its infos). ``to_whom``: a node or nodes it is connected to, or
        None (all its outgoing neighbours). Raises :class:`NetworkError`, sending
        nothing, when it has failed or is not connected to a node in ``to_whom``.
        """
        if self.failed:
            raise NetworkError(f"{self!r} has failed: it cannot transmit")
        infos = self._what(what)
        vectors = {v.destination_id: v for v in self.vectors("outgoing")}
        if to_whom is None:
            receivers = self.neighbors()
        else:
            receivers = _as_list(to_whom)
            for node in receivers:
                if not isinstance(node, Node) or node.id not in vectors:
                    raise NetworkError(
                        f"{self!r} cannot transmit to {node!r}: it is not connected to "
                        f"it (connect it first: node.connect(whom))")
        store = self.network.store
        return [Transmission(self.network, store.add_transmission(vectors[node.id].id, info.id))
                for node in receivers for info in infos]

    def receive(self) -> list["Info"]:
        """Receive its pending transmissions: mark them received, call
        :meth:`update` with their infos, and return the infos (in the order sent).
        Raises :class:`NetworkError` for a source (a source never receives) or a
        failed node."""
        if self.failed:
            raise NetworkError(f"{self!r} has failed: it cannot receive")
        rows = self.network.store.receive(self._stored.id)
        infos = [Info._load(self.network, self.network.store.info(r.info_id)) for r in rows]
        self.update(infos)
        return infos

    def update(self, infos: list["Info"]) -> None:
        """Hook: react to infos just received (the base node does nothing)."""

    def fail(self) -> None:
        """Fail this node, its vectors, its infos and its pending transmissions; it
        no longer counts toward its network's size. Failing twice changes nothing."""
        self._row = self.network.store.fail_node(self._stored.id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node) or self._row is None or other._row is None:
            return self is other
        return other.network.store is self.network.store and other._row.id == self._row.id

    def __hash__(self) -> int:
        return hash(("node", self.id)) if self._row is not None else id(self)

    def __repr__(self) -> str:
        where = ("unattached" if self._row is None
                 else f"{self.id} in network {self._row.network_id}")
        return f"<{type(self).__name__} {where}>"


class Source(Node):
    """A node that only sends: a stimulus. It connects only 'to' and never receives;
    :meth:`transmit` with no ``what`` sends a new info from :meth:`create_information`.

    ``contents`` (a JSON value) and ``asset_id`` (a lab asset, e.g. a tone) are what
    the default :meth:`create_information` puts in each info.
    """

    def __init__(self, contents: Any = None, asset_id: int | None = None) -> None:
        check_json(contents, "source contents")
        self._contents, self._asset_id = contents, asset_id
        super().__init__()

    def _properties(self) -> dict[str, Any]:
        return {"contents": self._contents, "asset_id": self._asset_id}

    @property
    def contents(self) -> Any:
        """The JSON value given at creation, which :meth:`create_information` puts in
        each info; raises :class:`NetworkError` before :meth:`Network.add`."""
        return self._stored.properties.get("contents")

    @property
    def asset_id(self) -> int | None:
        """The lab asset given at creation (e.g. a tone), which
        :meth:`create_information` puts in each info; None if none. Raises
        :class:`NetworkError` before :meth:`Network.add`."""
        return self._stored.properties.get("asset_id")

    def create_information(self) -> "Info":
        """A new info of this source's (override it for a stimulus made anew each
        time); :meth:`transmit` calls it."""
        return Info(self, self.contents, asset_id=self.asset_id)

    def transmit(self, what: "Info | Sequence[Info] | type[Info] | None" = None,
                 to_whom: "Node | Sequence[Node] | None" = None) -> list["Transmission"]:
        """As :meth:`Node.transmit`, but ``what`` None sends a new info from
        :meth:`create_information`."""
        return super().transmit([self.create_information()] if what is None else what,
                                to_whom)

    def receive(self) -> list["Info"]:
        """Raises :class:`NetworkError`: a source never receives (no vector ends at
        one)."""
        raise NetworkError(f"{self!r} cannot receive: a source only transmits")


class _Handle:
    """A handle on one row (info, vector, transmission) of its network's store;
    handles on one row are equal. Fields are as when the row was read."""

    _kind: ClassVar[str]

    def __init__(self, network: Network, row: Any) -> None:
        self.network = network
        self._row = row

    @property
    def id(self) -> int:
        """The row's id in its network's store (unique among rows of its kind)."""
        return self._row.id

    @property
    def origin_id(self) -> int:
        """The id of the node it starts from (an info's: the node that made it)."""
        return self._row.origin_id

    @property
    def origin(self) -> Node:
        """The node it starts from, as an object of its stored class (read from the
        store on each access)."""
        return self.network.node(self.origin_id)

    @property
    def creation_time(self) -> datetime:
        """When the store made the row: an aware UTC datetime."""
        return self._row.creation_time

    @property
    def failed(self) -> bool:
        """Whether the row has failed (its node failed), as when this handle read the
        row: get the handle again (e.g. ``network.vectors('all')``) for news."""
        return self._row.failed

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Handle) and other._kind == self._kind
                and other.network.store is self.network.store and other.id == self.id)

    def __hash__(self) -> int:
        return hash((self._kind, self.id))


class _Link(_Handle):
    """A handle on a row from one node to another (a vector, a transmission)."""

    @property
    def destination_id(self) -> int:
        """The id of the node it leads to."""
        return self._row.destination_id

    @property
    def destination(self) -> Node:
        """The node it leads to, as an object of its stored class (read from the store
        on each access)."""
        return self.network.node(self.destination_id)


class Info(_Handle):
    """Information a node made, stored at once: ``contents`` (a JSON value, written
    once) and optionally ``asset_id``, a lab asset it carries (a subject's recording).
    """

    _kind = "info"
    _row: InformationInfo

    def __init__(self, origin: Node, contents: Any = None, asset_id: int | None = None) -> None:
        check_json(contents, f"info contents of {origin!r}")
        if asset_id is not None and (not isinstance(asset_id, int) or isinstance(asset_id, bool)):
            raise NetworkError(f"info asset_id {asset_id!r} of {origin!r} is not an asset "
                               f"id (an int)")
        if origin.failed:
            raise NetworkError(f"{origin!r} has failed: it makes no infos")
        row = origin.network.store.add_info(origin._stored.id, class_path(type(self)),
                                            contents, asset_id)
        origin.network._types[class_path(type(self))] = type(self)
        super().__init__(origin.network, row)

    @classmethod
    def _load(cls, network: Network, row: InformationInfo) -> "Info":
        info_cls = load_class(row.type, Info, network._types)
        info = info_cls.__new__(info_cls)
        _Handle.__init__(info, network, row)
        return info

    @property
    def contents(self) -> Any:
        """The JSON value given at creation. Written once: setting it raises
        :class:`NetworkError` (make a new :class:`Info` instead)."""
        return self._row.contents

    @contents.setter
    def contents(self, value: Any) -> None:
        raise NetworkError(f"{self!r} contents are written once, at creation: make a new "
                           f"Info for new contents")

    @property
    def asset_id(self) -> int | None:
        """The id of the lab asset it carries (e.g. a subject's recording), or None."""
        return self._row.asset_id

    @property
    def failed(self) -> bool:
        """Whether its origin has failed (read now: infos are long-lived)."""
        return self.network.store.info(self.id).failed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} from node {self.origin_id}>"


class Vector(_Link):
    """A one-way connection from ``origin`` to ``destination`` (made by
    :meth:`Node.connect`)."""

    _kind = "vector"
    _row: VectorInfo

    def transmissions(self, status: Literal["all", "pending", "received"] = "all",
                      failed: Failed = False) -> list["Transmission"]:
        """The transmissions along this vector."""
        return [t for t in self.network.transmissions(status, failed)
                if t.vector_id == self.id]

    def __repr__(self) -> str:
        return f"<Vector {self.id}: node {self.origin_id} -> node {self.destination_id}>"


class Transmission(_Link):
    """An info sent along a vector: ``status`` 'pending' until the destination
    calls :meth:`Node.receive`, then 'received' (with ``receive_time``)."""

    _kind = "transmission"
    _row: TransmissionInfo

    @property
    def vector_id(self) -> int:
        """The id of the :class:`Vector` it was sent along."""
        return self._row.vector_id

    @property
    def info_id(self) -> int:
        """The id of the :class:`Info` it carries."""
        return self._row.info_id

    @property
    def info(self) -> Info:
        """The :class:`Info` it carries, as an object of its stored class (read from the
        store on each access)."""
        return Info._load(self.network, self.network.store.info(self.info_id))

    @property
    def status(self) -> Literal["pending", "received"]:
        """'pending' until the destination's :meth:`Node.receive`, then 'received';
        as when this handle read the row (a handle taken before the receive still
        says 'pending')."""
        return self._row.status

    @property
    def receive_time(self) -> datetime | None:
        """When it was received (an aware UTC datetime), as when this handle read the
        row; None while pending."""
        return self._row.receive_time

    def __repr__(self) -> str:
        return (f"<Transmission {self.id} of info {self.info_id}: node {self.origin_id} -> "
                f"node {self.destination_id}, {self.status}>")
