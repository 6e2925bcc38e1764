"""The network model over a store (every back-end of conftest.STORES): adding nodes,
fullness of non-failed nodes, connecting, transmitting and receiving, failing; the
seed's Ring example as written; a network reloaded from its store."""

from operator import attrgetter

import pytest

from moalab.network import (
    Chain,
    Info,
    Network,
    NetworkError,
    NetworkFull,
    Node,
    ParticipantInNetwork,
    ScaleFree,
    Source,
)


class Ring(Network):
    """The seed's example, as written there (bar Dallinger's mapper args)."""

    def add_node(self, node):
        other_nodes = [n for n in self.nodes() if n.id != node.id]

        if isinstance(node, Source):
            raise Exception(  # noqa: TRY002, TRY004 (the seed's text, as written)
                "Ring network cannot contain sources."
            )

        if other_nodes:
            parent = max(other_nodes, key=attrgetter('creation_time'))
            parent.connect(whom=node)

            if len(self.nodes) == self.max_size:
                parent = min(other_nodes, key=attrgetter('creation_time'))
                node.connect(whom=parent)


class Listener(Node):
    """A node that keeps what its update hook was given."""

    def update(self, infos):
        self.heard = [*getattr(self, "heard", []), *infos]


class Song(Info):
    pass


class Refuser(Network):
    """Connects each node to the first, then refuses the third."""

    def add_node(self, node):
        nodes = self.nodes()
        assert node in nodes and nodes[-1] == node  # in nodes() at once, newest
        if len(nodes) > 1:
            nodes[0].connect(node)
        if len(nodes) == 3:
            raise NetworkError("the third is refused")


def edges(network):
    """The network's live vectors as (origin, destination) positions in creation order."""
    position = {n.id: i for i, n in enumerate(network.nodes(failed="all"))}
    return {(position[v.origin_id], position[v.destination_id]) for v in network.vectors()}


def test_the_seeds_ring_works_as_written(store):
    ring = Ring(max_size=5, store=store)
    for _ in range(5):
        ring.add(Node())
    assert edges(ring) == {(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)}
    assert ring.full
    with pytest.raises(Exception, match="cannot contain sources"):
        Ring(max_size=3, store=store).add(Source())


def test_a_node_is_in_nodes_at_once_and_a_refused_one_leaves_no_trace(store):
    network = Refuser(max_size=5, store=store)
    first, second = network.add(Node("a")), network.add(Node("b"))
    assert first.creation_time < second.creation_time
    third = Node("c")
    with pytest.raises(NetworkError, match="the third is refused"):
        network.add(third)
    assert network.nodes() == [first, second]
    assert third.id is None and edges(network) == {(0, 1)}
    Network(store=store).add(third)  # refused, it is still a new node


def test_adding_checks_the_node_and_the_network(store):
    network = Network(max_size=2, store=store)
    node = network.add(Node("a"))
    with pytest.raises(NetworkError, match=f"node {node.id} is already in network"):
        network.add(node)
    with pytest.raises(NetworkError, match="cannot add 'a node'"):
        network.add("a node")
    with pytest.raises(ParticipantInNetwork, match="'a' already has node"):
        network.add(Node("a"))
    network.add(Node("b"))
    with pytest.raises(NetworkFull, match="is full"):
        network.add(Node("c"))


def test_a_failed_node_frees_its_place_whenever_fullness_is_asked(store):
    network = Network(max_size=2, store=store)
    first, second = network.add(Node()), network.add(Node())
    assert network.full and network.size() == 2
    first.fail()
    assert not network.full and network.size() == 1
    assert network.nodes() == [second]
    assert network.nodes(failed=True) == [first]
    assert network.nodes(failed="all") == [first, second]
    network.add(Node())
    assert network.full


def test_nodes_by_type(store):
    network = Network(store=store)
    source, node, listener = network.add(Source()), network.add(Node()), network.add(Listener())
    assert network.nodes(type=Source) == [source]
    assert network.nodes(type=Node) == [source, node, listener]
    assert network.nodes(type=Listener) == [listener]
    assert network.size(type=Source) == 1
    with pytest.raises(NetworkError, match="failed='yes' is not accepted"):
        network.nodes(failed="yes")


def test_connect_directions_and_no_second_vector(store):
    network = Network(store=store)
    a, b, c = (network.add(Node()) for _ in range(3))
    [ab] = a.connect(b)
    assert a.connect(whom=b) == [ab]
    assert len(b.connect(c, direction="both")) == 2
    a.connect([c], direction="from")
    assert edges(network) == {(0, 1), (1, 2), (2, 1), (2, 0)}
    assert a.is_connected(b) and not a.is_connected(b, direction="from")
    assert b.is_connected(c, direction="both") and not a.is_connected(c, direction="both")
    assert a.is_connected(c, direction="either") and c.is_connected(a)
    assert a.neighbors() == [b] and a.neighbors(direction="from") == [c]
    assert b.neighbors(direction="either") == [a, c]
    assert [v.destination for v in b.vectors("outgoing")] == [c]
    assert {v.origin for v in b.vectors("incoming")} == {a, c}
    assert len(b.vectors()) == 3
    with pytest.raises(NetworkError, match="direction 'sideways' is not one of"):
        a.connect(b, direction="sideways")
    with pytest.raises(NetworkError, match="cannot connect to itself"):
        a.connect(a)
    with pytest.raises(NetworkError, match="different networks"):
        a.connect(Network(store=store).add(Node()))


def test_a_source_connects_only_to(store):
    network = Network(store=store)
    source, a, b = network.add(Source()), network.add(Node()), network.add(Node())
    for direction in ("from", "both"):
        with pytest.raises(NetworkError, match="a source never receives"):
            source.connect(a, direction=direction)
    with pytest.raises(NetworkError, match="a source never receives"):
        a.connect([b, source])  # the list is refused whole: no vector to b either
    assert network.vectors() == []
    source.connect([a, b])
    assert source.neighbors() == [a, b] and a.neighbors(direction="from") == [source]
    with pytest.raises(NetworkError, match="a source only transmits"):
        source.receive()


def test_transmit_is_pending_until_received(store):
    network = Network(store=store)
    source, a, b = network.add(Source(contents="tone", asset_id=3)), network.add(Node()), \
        network.add(Listener())
    source.connect(a)
    [sent] = source.transmit()  # a source makes a new info
    assert (sent.status, sent.destination, sent.info.contents) == ("pending", a, "tone")
    assert sent.info.asset_id == 3 and sent.info.origin == source
    assert a.transmissions("incoming", "pending") == [sent]
    [info] = a.receive()
    assert (info.contents, info.asset_id) == ("tone", 3)
    assert a.receive() == []
    assert [t.status for t in a.transmissions()] == ["received"]
    assert a.received_infos() == [info]

    a.connect(b)
    songs = [Song(a, {"pitch": 440 + i}) for i in range(2)]
    plain = Info(a, "plain")
    assert len(a.transmit(Song)) == 2  # an Info class: its infos of that class
    assert len(a.transmit()) == 3  # None: all of its infos
    a.transmit(plain, to_whom=b)
    got = b.receive()
    assert [type(i) for i in got] == [Song, Song, Song, Song, Info, Info]
    assert b.heard == got  # the update hook saw them
    assert songs[0].contents == {"pitch": 440}


def test_transmit_refuses_what_it_cannot_send(store):
    network = Network(store=store)
    a, b, c = (network.add(Node()) for _ in range(3))
    a.connect(b)
    info = Info(a, 1)
    with pytest.raises(NetworkError, match="it is not connected to it"):
        a.transmit(info, to_whom=[b, c])
    assert network.transmissions() == []
    with pytest.raises(NetworkError, match="transmits only infos it made"):
        b.transmit(info)
    assert a.transmit(info) != [] and b.transmit() == []  # b has no infos


def test_info_contents_are_written_once_and_must_be_json(store):
    network = Network(store=store)
    a = network.add(Node())
    info = Info(a, [1, 2])
    with pytest.raises(NetworkError, match="written once"):
        info.contents = [3]
    assert network.infos() == [info] and a.infos()[0].contents == [1, 2]
    with pytest.raises(NetworkError, match="info contents of .* is not a JSON value"):
        Info(a, object())
    with pytest.raises(NetworkError, match="source contents .* is not a JSON value"):
        Source(contents={1, 2})
    with pytest.raises(NetworkError, match="Chain properties .* is not a JSON value"):
        Chain(properties={"when": object()})
    with pytest.raises(NetworkError, match="asset_id '7' of .* is not an asset id"):
        Info(a, asset_id="7")
    with pytest.raises(NetworkError, match="is not in a network"):
        Info(Node(), 1)


def test_fail_fails_the_node_its_vectors_and_pending_transmissions(store):
    network = Network(store=store)
    a, b, c = (network.add(Node()) for _ in range(3))
    a.connect(b)
    b.connect(c)
    a.transmit(Info(a, "to b"))
    b.receive()
    [pending] = b.transmit(Info(b, "to c"))
    b.fail()
    b.fail()  # twice: nothing more
    assert b.failed and b.time_of_death is not None
    assert network.vectors() == [] and len(network.vectors(failed=True)) == 2
    assert network.transmissions(failed=True) == [pending]
    assert [t.status for t in network.transmissions()] == ["received"]
    assert c.receive() == [] and a.neighbors() == []
    with pytest.raises(NetworkError, match="has failed: it cannot transmit"):
        b.transmit()
    with pytest.raises(NetworkError, match="has failed: it cannot receive"):
        b.receive()
    with pytest.raises(NetworkError, match="has failed: connect nodes that have not"):
        a.connect(b)


def test_fitness_and_generation_are_kept_in_the_store(store):
    network = Network(store=store)
    node = Node(fitness=1.5)
    assert node.fitness == 1.5 and node.id is None
    network.add(node)
    again = network.node(node.id)
    assert again.fitness == 1.5
    node.fitness = 4
    node.generation = 2
    assert (again.fitness, again.generation) == (4, 2)
    with pytest.raises(NetworkError, match="fitness 'high' is not a number"):
        node.fitness = "high"
    with pytest.raises(NetworkError, match="is not in a network: network.add"):
        Node().connect(node)


def test_a_network_reloaded_from_its_store_is_the_same_network(store):
    network = ScaleFree(m0=2, m=1, max_size=4, role="practice", store=store)
    source_network = Chain(max_size=3, store=store)
    source = source_network.add(Source(contents={"f": 440.0}))
    listener = source_network.add(Listener("m1"))
    Song(listener, "la")
    for _ in range(3):
        network.add(Node())

    again = Network.load(store, network.id)
    assert type(again) is ScaleFree and again == network
    assert (again.m0, again.m, again.role, again.max_size) == (2, 1, "practice", 4)
    assert edges(again) == edges(network)
    chain = Chain.load(store, source_network.id)
    assert [type(n) for n in chain.nodes()] == [Source, Listener]
    assert chain.nodes()[0].contents == {"f": 440.0} and chain.nodes()[0] == source
    assert chain.nodes()[1].participant == "m1"
    assert [type(i) for i in chain.infos()] == [Song]
    with pytest.raises(NetworkError, match="is not a Chain"):
        Chain.load(store, network.id)


def test_a_stored_type_that_cannot_be_imported_is_named(store):
    row = store.add_network("tests.network.nowhere:Gone", "experiment", 3)
    with pytest.raises(NetworkError, match="'tests.network.nowhere:Gone' cannot be imported"):
        Network.load(store, row.id)
