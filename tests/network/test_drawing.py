"""network_graph is a network's nodes, vectors and transmissions as a networkx graph;
draw_network draws it (sources gold, failed nodes grey) into an image file."""

import itertools
import sys

import matplotlib.image
import numpy as np
import pytest

from moalab import MoaError
from moalab.network.drawing import draw_network, network_graph
from moalab.network.errors import UnknownNetworkRow
from moalab.network.model import Info, Network, Node, Source


def chain_with_source(n: int = 4) -> tuple[Network, Source, list[Node]]:
    """A source, then ``n`` participants, each connected from the one before."""
    network = Network(max_size=n + 2)
    source = network.add(Source(contents={"freq": 440.0}))
    nodes, parent = [], source
    for i in range(n):
        node = network.add(Node(participant=f"rat-{i}"))
        parent.connect(node)
        nodes.append(node)
        parent = node
    return network, source, nodes


def test_graph_has_the_nodes_vectors_and_transmissions():
    network, source, nodes = chain_with_source()
    source.transmit()
    nodes[0].receive()
    Info(origin=nodes[0], contents={"freq": 452.0})
    nodes[0].transmit()  # pending: nodes[1] has not received it
    nodes[2].fail()

    graph = network_graph(network.store, network.id)
    assert list(graph) == [source.id, *(node.id for node in nodes)]
    assert graph.nodes[source.id]["source"] and graph.nodes[source.id]["type"] == "Source"
    assert [graph.nodes[node.id]["participant"] for node in nodes] == [
        "rat-0", "rat-1", "rat-2", "rat-3"]
    assert [graph.nodes[node.id]["failed"] for node in nodes] == [False, False, True, False]
    chain = [source.id, *(node.id for node in nodes)]
    assert sorted(graph.edges) == sorted(itertools.pairwise(chain))
    edges = graph.edges
    assert (edges[source.id, nodes[0].id]["received"], edges[source.id, nodes[0].id][
        "pending"]) == (1, 0)
    assert (edges[nodes[0].id, nodes[1].id]["received"], edges[nodes[0].id, nodes[1].id][
        "pending"]) == (0, 1)
    # the failed node's vectors, either way
    assert [edges[pair]["failed"] for pair in itertools.pairwise(chain)] == [
        False, False, True, True]
    assert graph.graph == {"id": network.id, "type": "Network", "role": "experiment",
                           "max_size": 6}


def _colour_fraction(image: np.ndarray, rgb: tuple[float, float, float]) -> float:
    return float(np.mean(np.all(np.abs(image[..., :3] - rgb) < 0.02, axis=-1)))


GOLD = (1.0, 0.843, 0.0)
NODE_BLUE = (0.690, 0.769, 0.871)  # lightsteelblue
FAILED_GREY = (0.827, 0.827, 0.827)  # lightgrey


def test_draw_network_draws_sources_nodes_and_failed_nodes(tmp_path):
    network, _, nodes = chain_with_source()
    nodes[1].fail()
    draw_network(network.store, network.id, tmp_path / "chain.png")
    image = matplotlib.image.imread(tmp_path / "chain.png")
    assert _colour_fraction(image, GOLD) > 1e-3
    assert _colour_fraction(image, NODE_BLUE) > 2 * _colour_fraction(image, FAILED_GREY) > 0  # 3 live, 1 failed

    star = Network(max_size=4)
    centre = star.add(Node(participant="centre"))
    centre.connect([star.add(Node(participant=f"p{i}")) for i in range(3)], direction="both")
    draw_network(star.store, star.id, tmp_path / "star.svg")  # a cycle: the spring layout
    assert (tmp_path / "star.svg").read_text().count("<path") > 6


def test_an_empty_network_draws(tmp_path):
    network = Network(max_size=2)
    draw_network(network.store, network.id, tmp_path / "empty.png")
    assert (tmp_path / "empty.png").read_bytes().startswith(b"\x89PNG")


def test_unknown_network_and_missing_networkx_are_named(tmp_path, monkeypatch):
    network, _, _ = chain_with_source()
    with pytest.raises(UnknownNetworkRow, match="no network with id 999"):
        network_graph(network.store, 999)
    monkeypatch.setitem(sys.modules, "networkx", None)  # not installed
    with pytest.raises(MoaError, match=r'needs networkx.*pip install "moalab\[network\]"'):
        draw_network(network.store, network.id, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
