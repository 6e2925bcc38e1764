"""Dallinger's topologies: :class:`~moalab.network.model.Network` subclasses whose
``add_node`` hook connects each new node.

Where moalab differs from Dallinger, on purpose: fullness counts non-failed nodes
whenever asked; :class:`Empty` connects a source to nodes added after it too;
:class:`ScaleFree` draws each partner by real preferential attachment; a topology
that cannot place a source raises :class:`NetworkError` (and the node is not added).
"""

import random
from collections.abc import Sequence

from .errors import NetworkError
from .model import DEFAULT_MAX_SIZE, Network, Node, Source
from .store import NetworkStore, Role

__all__ = (
    "Burst",
    "Chain",
    "DelayedChain",
    "DiscreteGenerational",
    "Empty",
    "FullyConnected",
    "ScaleFree",
    "SequentialMicrosociety",
    "SplitSampleNetwork",
)


def _others(network: Network, node: Node) -> list[Node]:
    """The network's non-failed nodes but ``node``, oldest first."""
    return [n for n in network.nodes() if n != node]


def _no_source(network: Network, node: Node, why: str) -> None:
    if isinstance(node, Source):
        raise NetworkError(f"{type(network).__name__} network {network.id} cannot take "
                           f"{node!r}: {why}")


def _draw(rng: random.Random, candidates: Sequence[Node], weights: Sequence[float]) -> Node:
    """One of ``candidates`` with probability proportional to ``weights``, uniformly
    when they are all zero."""
    if sum(weights) <= 0:
        return rng.choice(candidates)
    return rng.choices(candidates, weights=weights)[0]


class Empty(Network):
    """No vectors between nodes; a source connects 'to' every node, those already
    there and those added after it (so everyone gets the stimulus)."""

    def add_node(self, node: Node) -> None:
        """Connect a new source 'to' every node there; connect every source there
        'to' a new node. Called by :meth:`Network.add`."""
        others = _others(self, node)
        if isinstance(node, Source):
            node.connect([n for n in others if not isinstance(n, Source)])
        else:
            for source in others:
                if isinstance(source, Source):
                    source.connect(node)


class Chain(Network):
    """Source -> node -> node -> ...: each node receives from the newest node before
    it. A source only as the first node."""

    def add_node(self, node: Node) -> None:
        """Connect the newest node before ``node`` 'to' it (nothing for the first).
        Called by :meth:`Network.add`; raises :class:`NetworkError` for a source after
        the first node."""
        others = _others(self, node)
        if others:
            _no_source(self, node, "a chain takes a source only as its first node")
            others[-1].connect(node)


class DelayedChain(Network):
    """A chain that starts late: while the network has at most 11 nodes, a node
    hangs off the sources (none without one); from the 12th on, each node receives
    from the newest before it. With a source: ten nodes off the source, then a
    chain; without: eleven unconnected, the 12th receives from the 11th."""

    START = 11
    """Nodes (sources included) before the chain starts."""

    def add_node(self, node: Node) -> None:
        """Connect every source 'to' ``node`` while the network has fewer than
        :attr:`START` nodes before it, else the newest node before it. Called by
        :meth:`Network.add`; raises :class:`NetworkError` for a source past the first
        :attr:`START` nodes."""
        others = _others(self, node)
        if len(others) >= self.START:
            _no_source(self, node, "a delayed chain takes sources only among its first "
                                   f"{self.START} nodes")
            others[-1].connect(node)
        else:
            for source in others:
                if isinstance(source, Source):
                    source.connect(node)


class Star(Network):
    """The first node is the centre, connected 'both' ways with every later node.
    No sources (a source cannot receive)."""

    def add_node(self, node: Node) -> None:
        """Connect the centre (the first node) and ``node`` 'both' ways. Called by
        :meth:`Network.add`; raises :class:`NetworkError` for a source."""
        _no_source(self, node, "a star's vectors go both ways and a source never receives")
        others = _others(self, node)
        if others:
            others[0].connect(node, direction="both")


class Burst(Network):
    """The first node (a source, or a node) is the centre, connected 'to' every
    later node."""

    def add_node(self, node: Node) -> None:
        """Connect the centre (the first node) 'to' ``node``. Called by
        :meth:`Network.add`; raises :class:`NetworkError` for a source after the first
        node."""
        others = _others(self, node)
        if others:
            _no_source(self, node, "a burst takes a source only as its centre")
            others[0].connect(node)


class FullyConnected(Network):
    """Every pair of nodes connected 'both' ways; sources, only before any node,
    connect 'to' every node."""

    def add_node(self, node: Node) -> None:
        """Connect ``node`` 'both' ways with every node there, and every source
        'to' it. Called by :meth:`Network.add`; raises :class:`NetworkError` for a
        source once the network has a node."""
        others = _others(self, node)
        if isinstance(node, Source):
            if any(not isinstance(n, Source) for n in others):
                raise NetworkError(f"FullyConnected network {self.id} cannot take {node!r}: "
                                   f"it already has nodes; add sources first")
            return
        for other in others:
            if isinstance(other, Source):
                other.connect(node)
            else:
                node.connect(other, direction="both")


class SequentialMicrosociety(Network):
    """Each new node receives from the ``n - 1`` newest nodes before it."""

    def __init__(self, n: int, max_size: int = DEFAULT_MAX_SIZE, role: Role = "experiment",
                 store: NetworkStore | None = None, rng: random.Random | None = None) -> None:
        if not isinstance(n, int) or n < 1:
            raise NetworkError(f"SequentialMicrosociety n={n!r} is not accepted: give an "
                               f"int >= 1 (how many nodes are active at once)")
        super().__init__(max_size, role, store, rng, {"n": n})

    @property
    def n(self) -> int:
        """How many nodes are active at once: each new node receives from the
        ``n - 1`` newest before it (a property of the network, kept in the store)."""
        return self.properties["n"]

    def add_node(self, node: Node) -> None:
        """Connect each of the ``n - 1`` newest nodes before ``node`` 'to' it.
        Called by :meth:`Network.add`; raises :class:`NetworkError` for a source after
        the first node."""
        others = _others(self, node)
        if others and self.n > 1:
            _no_source(self, node, "a microsociety takes a source only as its first node")
            for predecessor in others[-(self.n - 1):]:
                predecessor.connect(node)


class DiscreteGenerational(Network):
    """Non-overlapping generations of ``generation_size`` nodes, ``generations`` of
    them; with ``initial_source``, the first generation hangs off the oldest source
    (add it first). A later node's parent is drawn from the previous generation's
    non-failed nodes with probability proportional to fitness (None counting 0;
    uniformly when all are 0); the parent connects 'to' it and transmits.

    Each node's ``generation`` is set when it is added; ``max_size`` defaults to
    ``generations * generation_size`` (+ 1 for the source).
    """

    def __init__(self, generations: int, generation_size: int, initial_source: bool,
                 max_size: int | None = None, role: Role = "experiment",
                 store: NetworkStore | None = None, rng: random.Random | None = None) -> None:
        for name, value in (("generations", generations), ("generation_size", generation_size)):
            if not isinstance(value, int) or value < 1:
                raise NetworkError(f"DiscreteGenerational {name}={value!r} is not accepted: "
                                   f"give an int >= 1")
        if max_size is None:
            max_size = generations * generation_size + bool(initial_source)
        super().__init__(max_size, role, store, rng,
                         {"generations": generations, "generation_size": generation_size,
                          "initial_source": bool(initial_source)})

    @property
    def generations(self) -> int:
        """How many generations, as given (with :attr:`generation_size`, it sets the
        default ``max_size``)."""
        return self.properties["generations"]

    @property
    def generation_size(self) -> int:
        """How many nodes make one generation, as given."""
        return self.properties["generation_size"]

    @property
    def initial_source(self) -> bool:
        """Whether the first generation hangs off the network's oldest source (which
        must be added before any node)."""
        return self.properties["initial_source"]

    def add_node(self, node: Node) -> None:
        """Set ``node.generation`` and connect its parent 'to' it, which transmits
        to it at once: the oldest source for generation 0 (with ``initial_source``),
        else a node of the previous generation drawn by fitness (none if they all
        failed). Called by :meth:`Network.add`; raises :class:`NetworkError` for a
        source after a node, or generation 0 with ``initial_source`` and no source."""
        if isinstance(node, Source):
            if any(not isinstance(n, Source) for n in _others(self, node)):
                raise NetworkError(f"DiscreteGenerational network {self.id} cannot take "
                                   f"{node!r}: add the source before any node")
            return
        agents = [n for n in self.nodes() if not isinstance(n, Source)]
        generation = (len(agents) - 1) // self.generation_size
        node.generation = generation
        if generation == 0:
            sources = self.nodes(type=Source)
            if not self.initial_source:
                return
            if not sources:
                raise NetworkError(f"DiscreteGenerational network {self.id} has "
                                   f"initial_source=True but no source: add a Source first")
            parent = sources[0]
        else:
            previous = [n for n in agents if n.generation == generation - 1]
            if not previous:
                return  # every node of the previous generation failed: no parent
            parent = _draw(self.rng, previous, [n.fitness or 0.0 for n in previous])
        parent.connect(node)
        parent.transmit(to_whom=node)


class ScaleFree(Network):
    """Barabási–Albert: the first ``m0`` nodes fully connected ('both'); each later
    node makes ``m`` 'both' connections, each partner drawn, among the nodes it is
    not yet connected to, with probability proportional to the partner's outgoing
    vectors (uniformly when all have none). No sources."""

    def __init__(self, m0: int, m: int, max_size: int = DEFAULT_MAX_SIZE,
                 role: Role = "experiment", store: NetworkStore | None = None,
                 rng: random.Random | None = None) -> None:
        if not (isinstance(m0, int) and isinstance(m, int) and 1 <= m <= m0):
            raise NetworkError(f"ScaleFree m0={m0!r}, m={m!r} are not accepted: give ints "
                               f"with 1 <= m <= m0")
        super().__init__(max_size, role, store, rng, {"m0": m0, "m": m})

    @property
    def m0(self) -> int:
        """How many first nodes are fully connected, as given."""
        return self.properties["m0"]

    @property
    def m(self) -> int:
        """How many partners each later node connects with ('both' ways), as given;
        ``1 <= m <= m0``."""
        return self.properties["m"]

    def add_node(self, node: Node) -> None:
        """Connect ``node`` 'both' ways: with every node while there are fewer than
        :attr:`m0`, else with :attr:`m` partners drawn by their outgoing vectors'
        count, from the network's ``rng``. Called by :meth:`Network.add`; raises :class:`NetworkError`
        for a source."""
        _no_source(self, node, "a scale-free network's vectors go both ways and a source "
                               "never receives")
        others = _others(self, node)
        if len(others) < self.m0:
            node.connect(others, direction="both")
            return
        degree = {n.id: 0 for n in others}
        for vector in self.vectors():
            if vector.origin_id in degree:
                degree[vector.origin_id] += 1
        candidates = list(others)
        for _ in range(self.m):
            partner = _draw(self.rng, candidates, [degree[n.id] for n in candidates])
            node.connect(partner, direction="both")
            candidates.remove(partner)


class SplitSampleNetwork(Network):
    """A network with ``exploratory`` True or False, with probability 0.5 each,
    drawn at creation (from ``rng``) and kept: the split-sample design's half."""

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE, role: Role = "experiment",
                 store: NetworkStore | None = None, rng: random.Random | None = None) -> None:
        rng = rng if rng is not None else random.Random()
        super().__init__(max_size, role, store, rng, {"exploratory": rng.random() < 0.5})

    @property
    def exploratory(self) -> bool:
        """Whether this network is in the exploratory half of the data."""
        return self.properties["exploratory"]
