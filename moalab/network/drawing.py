"""The drawing of a network: its nodes, vectors and transmissions as a networkx graph
(:func:`network_graph`) and as a PNG (:func:`draw_network`).

networkx and matplotlib (the ``network`` extra) are imported when called, so the rest
of :mod:`moalab.network` needs neither.
"""

import os
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidArgument
from .errors import NetworkError
from .store import NetworkStore, NodeRow

if TYPE_CHECKING:
    import networkx

__all__ = ("draw_network", "is_source", "network_graph")

EXTRA = 'pip install "moalab[network]"'


def is_source(row: NodeRow) -> bool:
    """Whether ``row`` is a source's node: its class (``row.type``) is a
    :class:`~moalab.network.model.Source`. A class that does not import here (a
    protocol file's, loaded under another name) counts as one when its name says so."""
    from .model import Node, Source, load_class

    try:
        return issubclass(load_class(row.type, Node, {}), Source)
    except NetworkError:
        return "Source" in row.type.rpartition(":")[2]


def _import_networkx() -> Any:
    try:
        import networkx
    except ImportError as exc:
        raise InvalidArgument(f"drawing a network needs networkx, which does not import "
                              f"here ({exc}): {EXTRA}") from None
    return networkx


def network_graph(store: NetworkStore, network_id: int) -> "networkx.DiGraph":
    """Network ``network_id`` of ``store`` as a :class:`networkx.DiGraph`: a graph node
    per network node (by id; attributes ``type`` (the class's name), ``participant``,
    ``source``, ``failed``, ``fitness``, ``generation``), an edge per connected pair
    in its direction (``failed`` when its vector has failed;
    ``received`` and ``pending``: its transmissions, failed ones left out). The
    graph's ``role`` and ``max_size`` are the network's.

    Raises :class:`~moalab.network.errors.UnknownNetworkRow` for an unknown id, and
    :class:`InvalidArgument` naming the install where networkx is missing.
    """
    nx = _import_networkx()
    network = store.network(network_id)
    graph = nx.DiGraph(id=network.id, type=network.type.rpartition(":")[2] or network.type,
                       role=network.role, max_size=network.max_size)
    for node in store.nodes(network_id):
        graph.add_node(node.id, type=node.type.rpartition(":")[2] or node.type,
                       participant=node.participant, source=is_source(node),
                       failed=node.failed, fitness=node.fitness, generation=node.generation)
    # one vector per pair: only a node's failure fails a vector, and a failed node
    # is never connected again
    for vector in store.vectors(network_id):
        graph.add_edge(vector.origin_id, vector.destination_id, failed=vector.failed,
                       received=0, pending=0)
    for transmission in store.transmissions(network_id):
        if not transmission.failed:
            graph.edges[transmission.origin_id, transmission.destination_id][
                transmission.status] += 1
    return graph


def _layout(graph: "networkx.DiGraph") -> dict[int, Any]:
    """Positions: left to right by generation when the vectors make no cycle (a chain
    is a line, a burst a fan), else a seeded spring layout (a star, a fully connected
    network)."""
    import networkx as nx

    if not nx.is_directed_acyclic_graph(graph):
        return nx.spring_layout(graph, seed=1)
    layers = {node: layer for layer, nodes in enumerate(nx.topological_generations(graph))
              for node in nodes}
    nx.set_node_attributes(graph, layers, "layer")
    return nx.multipartite_layout(graph, subset_key="layer")


def draw_network(store: NetworkStore, network_id: int, path: str | os.PathLike) -> None:
    """Draw network ``network_id`` of ``store`` into the image file ``path`` (its format
    from its suffix, e.g. ``.png``): sources as gold squares, participants' nodes as
    blue circles labelled with their id and participant, failed nodes and vectors
    grey and dashed, each edge labelled with its transmissions (received, and
    pending after a '+'). Raises as :func:`network_graph`, and :class:`InvalidArgument`
    naming the install where matplotlib is missing. Blocks (it renders): call from a
    worker thread inside a trio run."""
    graph = network_graph(store, network_id)
    try:
        import matplotlib
    except ImportError as exc:
        raise InvalidArgument(f"drawing a network needs matplotlib, which does not import "
                              f"here ({exc}): {EXTRA}") from None
    matplotlib.use("Agg")  # a file, never a window
    import matplotlib.pyplot as plt
    import networkx as nx

    positions = _layout(graph)
    # about 1.5 inches per node across and down: a chain is a strip, a star a square
    if nx.is_directed_acyclic_graph(graph):  # _layout's columns
        columns = Counter(round(x, 6) for x, _ in positions.values())
        across, down = len(columns), max(columns.values(), default=1)
    else:
        across = down = len(graph) ** 0.5
    figure, ax = plt.subplots(figsize=(max(4.0, 1.5 * across), max(2.5, 1.5 * down)))
    for source, shape, colour in ((True, "s", "gold"), (False, "o", "lightsteelblue")):
        for failed in (False, True):
            nodes = [n for n, data in graph.nodes(data=True)
                     if data["source"] == source and data["failed"] == failed]
            nx.draw_networkx_nodes(graph, positions, nodelist=nodes, node_shape=shape,
                                   node_color="lightgrey" if failed else colour,
                                   edgecolors="grey" if failed else "black", node_size=900,
                                   ax=ax)
    nx.draw_networkx_labels(graph, positions, ax=ax, font_size=8, labels={
        n: f"{n}\n{data['participant'] or data['type']}" for n, data in graph.nodes(data=True)})
    for failed in (False, True):
        edges = [e for e in graph.edges if graph.edges[e]["failed"] == failed]
        nx.draw_networkx_edges(graph, positions, edgelist=edges, ax=ax, node_size=900,
                               style="dashed" if failed else "solid",
                               edge_color="grey" if failed else "black", arrowsize=15,
                               connectionstyle="arc3,rad=0.1")
    counts = {e: f"{d['received']}" + (f"+{d['pending']}" if d["pending"] else "")
              for e, d in graph.edges.items() if d["received"] or d["pending"]}
    nx.draw_networkx_edge_labels(graph, positions, edge_labels=counts, ax=ax, font_size=7,
                                 connectionstyle="arc3,rad=0.1")
    live = sum(not data["failed"] for _, data in graph.nodes(data=True))
    ax.set_title(f"network {graph.graph['id']}: {graph.graph['type']} "
                 f"({graph.graph['role']}), {live}/{graph.graph['max_size']} nodes")
    # explicit limits: autoscaling ignores the nodes' size, and a chain's one row of
    # nodes would sit on the top edge
    for axis, values in ((ax.set_xlim, [x for x, _ in positions.values()]),
                         (ax.set_ylim, [y for _, y in positions.values()])):
        pad = max(0.15 * (max(values, default=0) - min(values, default=0)), 0.25)
        axis(min(values, default=0) - pad, max(values, default=0) + pad)
    ax.axis("off")
    figure.tight_layout()
    try:
        figure.savefig(path)
    finally:
        plt.close(figure)
