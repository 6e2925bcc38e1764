"""Dallinger's topologies, each rule over sequences of nodes with and without sources,
up to and past max_size; ScaleFree's preferential attachment, DiscreteGenerational's
parent draws and SplitSampleNetwork's halves checked statistically (chi-square over
many draws with fixed seeds)."""

import random

import pytest
from scipy.stats import chisquare

from moalab.network import (
    Burst,
    Chain,
    DelayedChain,
    DiscreteGenerational,
    Empty,
    FullyConnected,
    Info,
    Network,
    NetworkError,
    NetworkFull,
    Node,
    ScaleFree,
    SequentialMicrosociety,
    Source,
    SplitSampleNetwork,
    Star,
)

P_FLOOR = 0.001
"""A chi-square p-value below this fails the test: with fixed seeds each check passes
or fails the same way every run; the floor leaves room for a changed seed."""


def build(network: Network, kinds: str) -> list[Node]:
    """Add a node per letter of ``kinds``: 'S' a Source, 'N' a Node."""
    return [network.add(Source() if kind == "S" else Node()) for kind in kinds]


def edges(network: Network) -> set[tuple[int, int]]:
    """The live vectors as (origin, destination) positions in creation order."""
    position = {n.id: i for i, n in enumerate(network.nodes(failed="all"))}
    return {(position[v.origin_id], position[v.destination_id]) for v in network.vectors()}


def both(*pairs: tuple[int, int]) -> set[tuple[int, int]]:
    return {p for a, b in pairs for p in ((a, b), (b, a))}


def refuses_source(network: Network, match: str) -> None:
    """Adding a source raises ``match`` and leaves the network as it was."""
    before = (network.nodes(failed="all"), edges(network))
    with pytest.raises(NetworkError, match=match):
        network.add(Source())
    assert (network.nodes(failed="all"), edges(network)) == before


TOPOLOGIES = {
    "Network": lambda size: Network(max_size=size),
    "Empty": lambda size: Empty(max_size=size),
    "Chain": lambda size: Chain(max_size=size),
    "DelayedChain": lambda size: DelayedChain(max_size=size),
    "Star": lambda size: Star(max_size=size),
    "Burst": lambda size: Burst(max_size=size),
    "FullyConnected": lambda size: FullyConnected(max_size=size),
    "SequentialMicrosociety": lambda size: SequentialMicrosociety(3, max_size=size),
    "DiscreteGenerational": lambda size: DiscreteGenerational(2, 2, False, max_size=size),
    "ScaleFree": lambda size: ScaleFree(2, 1, max_size=size),
    "SplitSampleNetwork": lambda size: SplitSampleNetwork(max_size=size),
}


@pytest.mark.parametrize("name", list(TOPOLOGIES))
def test_every_topology_takes_max_size_of_non_failed_nodes(name):
    network = TOPOLOGIES[name](4)
    nodes = build(network, "NNNN")
    assert network.full and network.max_size == 4
    with pytest.raises(NetworkFull, match=f"network {network.id} is full"):
        network.add(Node())
    assert network.size() == 4
    nodes[-1].fail()
    assert not network.full
    network.add(Node())
    assert network.full and network.size(failed="all") == 5


def test_empty_connects_a_source_to_every_node_before_and_after_it():
    network = Empty(max_size=6)
    build(network, "NNSNSN")
    assert edges(network) == {(2, 0), (2, 1), (2, 3), (2, 5), (4, 0), (4, 1), (4, 3), (4, 5)}
    plain = Empty()
    build(plain, "NNN")
    assert edges(plain) == set()


def test_chain_connects_each_node_from_the_newest_before_it():
    network = Chain(max_size=4)
    build(network, "SNNN")
    assert edges(network) == {(0, 1), (1, 2), (2, 3)}
    plain = Chain()
    build(plain, "NNN")
    assert edges(plain) == {(0, 1), (1, 2)}
    refuses_source(plain, "a chain takes a source only as its first node")


def test_chain_skips_a_failed_node():
    network = Chain()
    _, a, b = build(network, "SNN")
    b.fail()  # B's session failed: C receives from A
    network.add(Node())
    assert edges(network) == {(0, 1), (1, 3)}
    assert network.nodes()[-1].neighbors(direction="from") == [a]


def test_delayed_chain_without_a_source():
    network = DelayedChain(max_size=14)
    build(network, "N" * 14)
    assert edges(network) == {(10, 11), (11, 12), (12, 13)}  # the 12th from the 11th


def test_delayed_chain_with_a_source():
    network = DelayedChain()
    build(network, "S" + "N" * 13)
    assert edges(network) == {(0, i) for i in range(1, 11)} | {(10, 11), (11, 12), (12, 13)}
    refuses_source(network, "only among its first 11 nodes")


def test_star_connects_the_first_node_both_ways_with_every_other():
    network = Star(max_size=4)
    build(network, "NNNN")
    assert edges(network) == both((0, 1), (0, 2), (0, 3))
    refuses_source(Star(), "a source never receives")
    late = Star()
    build(late, "NN")
    refuses_source(late, "a source never receives")


def test_burst_connects_the_centre_to_every_other():
    network = Burst(max_size=4)
    build(network, "SNNN")
    assert edges(network) == {(0, 1), (0, 2), (0, 3)}
    plain = Burst()
    build(plain, "NNN")
    assert edges(plain) == {(0, 1), (0, 2)}
    refuses_source(plain, "a source only as its centre")


def test_fully_connected_connects_every_pair_and_sources_to_everyone():
    network = FullyConnected(max_size=5)
    build(network, "SSNNN")
    assert edges(network) == ({(s, n) for s in (0, 1) for n in (2, 3, 4)}
                              | both((2, 3), (2, 4), (3, 4)))
    late = FullyConnected()
    build(late, "NN")
    refuses_source(late, "it already has nodes; add sources first")


def test_sequential_microsociety_connects_the_n_minus_1_newest():
    network = SequentialMicrosociety(3, max_size=5)
    build(network, "SNNNN")
    assert edges(network) == {(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4)}
    assert SequentialMicrosociety.load(network.store, network.id).n == 3
    lonely = SequentialMicrosociety(1)
    build(lonely, "NNN")
    assert edges(lonely) == set()
    with pytest.raises(NetworkError, match="n=0 is not accepted"):
        SequentialMicrosociety(0)


def test_discrete_generational_sets_generations_and_hangs_the_first_off_the_source():
    network = DiscreteGenerational(generations=3, generation_size=2, initial_source=True,
                                   rng=random.Random(1))
    assert network.max_size == 7
    nodes = [network.add(Source())]
    for _ in range(6):
        nodes.append(network.add(Node()))
        Info(nodes[-1], f"made by {len(nodes) - 1}")  # what it will pass on
    assert [n.generation for n in nodes[1:]] == [0, 0, 1, 1, 2, 2]
    assert {(0, 1), (0, 2)} <= edges(network)
    for node in nodes[1:]:
        [parent] = node.neighbors(direction="from")
        assert parent.generation == (node.generation - 1 if parent in nodes[1:] else None)
        [info] = node.receive()  # the parent transmitted when the node joined
        assert info.origin == parent
    with pytest.raises(NetworkFull):
        network.add(Node())
    without = DiscreteGenerational(2, 2, False)
    assert without.max_size == 4
    build(without, "NN")
    assert edges(without) == set()
    needs_source = DiscreteGenerational(2, 2, True)
    with pytest.raises(NetworkError, match="initial_source=True but no source"):
        needs_source.add(Node())
    refuses_source(without, "add the source before any node")


@pytest.mark.parametrize("fitnesses", [[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
def test_discrete_generational_draws_parents_in_proportion_to_fitness(fitnesses):
    rng = random.Random(20261201)
    counts = [0] * 4
    for _ in range(250):
        network = DiscreteGenerational(2, 4, False, rng=rng)
        first = build(network, "NNNN")
        for node, fitness in zip(first, fitnesses, strict=True):
            node.fitness = fitness
        for child in build(network, "NNNN"):
            [parent] = child.neighbors(direction="from")
            counts[first.index(parent)] += 1
    total = sum(fitnesses)
    expected = [1000 * (f / total if total else 0.25) for f in fitnesses]
    assert chisquare(counts, expected).pvalue > P_FLOOR, counts


def test_scale_free_starts_fully_connected_then_makes_m_connections():
    network = ScaleFree(m0=3, m=2, max_size=8, rng=random.Random(3))
    nodes = build(network, "N" * 8)
    assert both((0, 1), (0, 2), (1, 2)) <= edges(network)
    for node in nodes[3:]:
        older = [n for n in node.neighbors(direction="both") if n.id < node.id]
        assert len(older) == 2  # m distinct partners, both ways
    assert len(edges(network)) == 2 * (3 + 2 * 5)
    refuses_source(ScaleFree(3, 2), "a source never receives")
    with pytest.raises(NetworkError, match="m0=1, m=2 are not accepted"):
        ScaleFree(1, 2)


def test_scale_free_attaches_in_proportion_to_outgoing_vectors():
    # m0=2, m=1: nodes 0 and 1 joined; node 2 joins one of them (the hub, 2 outgoing
    # vectors after), so node 3 joins the hub, the other core node and node 2 with
    # probabilities 2/4, 1/4, 1/4 (Dallinger's loop always took node 2).
    rng = random.Random(17)
    counts = {"hub": 0, "other": 0, "newest": 0}
    for _ in range(1200):
        network = ScaleFree(m0=2, m=1, rng=rng)
        core0, core1, newest, last = build(network, "NNNN")
        [hub] = [n for n in newest.neighbors() if n in (core0, core1)]
        [partner] = last.neighbors()
        kind = "newest" if partner == newest else "hub" if partner == hub else "other"
        counts[kind] += 1
    observed = [counts["hub"], counts["other"], counts["newest"]]
    assert chisquare(observed, [600, 300, 300]).pvalue > P_FLOOR, counts


def test_split_sample_halves_are_drawn_once_at_creation():
    rng = random.Random(5)
    networks = [SplitSampleNetwork(max_size=2, rng=rng) for _ in range(800)]
    exploratory = sum(n.exploratory for n in networks)
    assert chisquare([exploratory, 800 - exploratory]).pvalue > P_FLOOR
    first = networks[0]
    again = SplitSampleNetwork.load(first.store, first.id, rng=random.Random(99))
    assert again.exploratory == first.exploratory
