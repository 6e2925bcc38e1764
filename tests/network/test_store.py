"""The NetworkStore contract, on every back-end of conftest.STORES: store-given ids,
creation order, atomic joins (max_size of non-failed nodes, one node per participant),
failing and deleting, receiving once."""

import dataclasses
import itertools
import threading
from datetime import UTC

import pytest

from moalab.network import (
    NetworkError,
    NetworkFull,
    ParticipantInNetwork,
    UnknownNetworkRow,
)
from moalab.network.store import KEEP

NODE = "tests.network:Node"


def test_ids_are_given_and_rows_come_out_in_creation_order(store):
    network = store.add_network("tests.network:Chain", "experiment", 10, {"n": [1, {"a": 2}]})
    assert store.network(network.id) == network
    assert network.properties == {"n": [1, {"a": 2}]}
    nodes = [store.add_node(network.id, NODE, f"p{i}") for i in range(5)]
    assert len({n.id for n in nodes}) == 5
    assert store.nodes(network.id) == nodes
    times = [n.creation_time for n in nodes]
    assert all(t.tzinfo is not None and t.utcoffset() == UTC.utcoffset(None) for t in times)
    assert times == sorted(times) and len(set(times)) == 5  # strictly increasing
    vectors = [store.add_vector(a.id, b.id) for a, b in itertools.pairwise(nodes)]
    assert store.vectors(network.id) == vectors
    infos = [store.add_info(n.id, "tests.network:Info", {"i": i}) for i, n in enumerate(nodes)]
    assert store.infos(network.id) == infos
    assert [store.info(i.id).contents for i in infos] == [{"i": i} for i in range(5)]
    sent = [store.add_transmission(v.id, i.id) for v, i in zip(vectors, infos, strict=False)]
    assert store.transmissions(network.id) == sent
    with pytest.raises(dataclasses.FrozenInstanceError):
        nodes[0].fitness = 1.0


def test_networks_filter_by_role_and_fullness_of_non_failed_nodes(store):
    practice = store.add_network("t:N", "practice", 1)
    experiment = store.add_network("t:N", "experiment", 2)
    node = store.add_node(practice.id, NODE)
    assert store.networks() == [practice, experiment]
    assert store.networks(role="practice") == [practice]
    assert store.networks(full=True) == [practice]
    assert store.networks(role="experiment", full=False) == [experiment]
    store.fail_node(node.id)
    assert store.networks(full=True) == []


def test_bad_network_arguments_are_named(store):
    with pytest.raises(NetworkError, match="role 'pilot' is not one of"):
        store.add_network("t:N", "pilot", 3)
    with pytest.raises(NetworkError, match="max_size -1 is not accepted"):
        store.add_network("t:N", "experiment", -1)


@pytest.mark.parametrize("lookup", ["network", "node", "info"])
def test_an_unknown_id_is_named(store, lookup):
    with pytest.raises(UnknownNetworkRow, match=f"no {lookup} with id 999999"):
        getattr(store, lookup)(999999)


def test_add_node_refuses_past_max_size_counting_non_failed_nodes(store):
    network = store.add_network("t:N", "experiment", 2)
    first = store.add_node(network.id, NODE)
    store.add_node(network.id, NODE)
    with pytest.raises(NetworkFull, match=f"network {network.id} is full"):
        store.add_node(network.id, NODE)
    store.fail_node(first.id)
    store.fail_node(first.id)  # failing twice frees one place, once
    store.add_node(network.id, NODE)
    with pytest.raises(NetworkFull):
        store.add_node(network.id, NODE)
    assert len(store.nodes(network.id)) == 3


def test_a_participant_takes_one_node_per_network_failed_or_not(store):
    network = store.add_network("t:N", "experiment", 5)
    other = store.add_network("t:N", "experiment", 5)
    node = store.add_node(network.id, NODE, "m1")
    store.add_node(other.id, NODE, "m1")  # another network: fine
    store.fail_node(node.id)
    with pytest.raises(ParticipantInNetwork, match=f"'m1' already has node {node.id}"):
        store.add_node(network.id, NODE, "m1")
    store.add_node(network.id, NODE)  # nodes of no participant are not limited
    store.add_node(network.id, NODE)


def test_threads_joining_at_once_never_overfill(store):
    network = store.add_network("t:N", "experiment", 3)
    start = threading.Barrier(8)
    outcomes = []

    def join(i: int) -> None:
        start.wait()
        try:
            store.add_node(network.id, NODE, f"p{i}")
            outcomes.append("joined")
        except NetworkFull:
            outcomes.append("full")

    threads = [threading.Thread(target=join, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["full"] * 5 + ["joined"] * 3
    assert len(store.nodes(network.id)) == 3


def test_update_node_changes_only_what_is_given(store):
    network = store.add_network("t:N", "experiment", 3)
    node = store.add_node(network.id, NODE, fitness=2.0, generation=1)
    assert store.update_node(node.id, fitness=3.5).generation == 1
    assert store.update_node(node.id, generation=None).fitness == 3.5
    assert store.update_node(node.id, fitness=KEEP) == store.node(node.id)
    assert (store.node(node.id).fitness, store.node(node.id).generation) == (3.5, None)


def _triangle(store):
    """Nodes a -> b -> c, a's info sent to b (received) and b's to c (pending)."""
    network = store.add_network("t:N", "experiment", 5)
    a, b, c = (store.add_node(network.id, NODE) for _ in range(3))
    ab, bc = store.add_vector(a.id, b.id), store.add_vector(b.id, c.id)
    store.add_transmission(ab.id, store.add_info(a.id, "t:I", "from a").id)
    store.receive(b.id)
    pending = store.add_transmission(bc.id, store.add_info(b.id, "t:I", "from b").id)
    return network, (a, b, c), (ab, bc), pending


def test_fail_node_fails_its_vectors_infos_and_pending_transmissions(store):
    network, (a, b, c), _, pending = _triangle(store)
    failed = store.fail_node(b.id)
    assert failed.failed and failed.time_of_death is not None
    assert store.fail_node(b.id) == failed  # twice: nothing changes
    assert [v.failed for v in store.vectors(network.id)] == [True, True]
    assert [i.failed for i in store.infos(network.id)] == [False, True]  # b's own
    by_id = {t.id: t for t in store.transmissions(network.id)}
    assert by_id[pending.id].failed and by_id[pending.id].status == "pending"
    received = next(t for t in by_id.values() if t.id != pending.id)
    assert (received.status, received.failed) == ("received", False)  # history kept
    assert store.receive(c.id) == []
    assert not store.node(a.id).failed and not store.node(c.id).failed


def test_delete_node_takes_its_rows_and_its_place(store):
    network, (a, b, c), _, _ = _triangle(store)
    network = store.network(network.id)
    store.delete_node(b.id)
    assert [n.id for n in store.nodes(network.id)] == [a.id, c.id]
    assert store.vectors(network.id) == []
    assert [i.origin_id for i in store.infos(network.id)] == [a.id]
    assert store.transmissions(network.id) == []
    with pytest.raises(UnknownNetworkRow):
        store.node(b.id)


def test_add_vector_makes_no_second_vector_and_checks_its_ends(store):
    network = store.add_network("t:N", "experiment", 5)
    other = store.add_network("t:N", "experiment", 5)
    a, b = store.add_node(network.id, NODE), store.add_node(network.id, NODE)
    stranger = store.add_node(other.id, NODE)
    vector = store.add_vector(a.id, b.id)
    assert store.add_vector(a.id, b.id) == vector
    assert store.add_vector(b.id, a.id) != vector  # the other way is another vector
    assert len(store.vectors(network.id)) == 2
    with pytest.raises(NetworkError, match="different networks"):
        store.add_vector(a.id, stranger.id)
    with pytest.raises(NetworkError, match="itself"):
        store.add_vector(a.id, a.id)
    store.fail_node(b.id)
    with pytest.raises(NetworkError, match=f"node {b.id} has failed"):
        store.add_vector(a.id, b.id)


def test_a_failed_vector_carries_nothing(store):
    network = store.add_network("t:N", "experiment", 5)
    a, b = store.add_node(network.id, NODE), store.add_node(network.id, NODE)
    vector = store.add_vector(a.id, b.id)
    info = store.add_info(a.id, "t:I", 1)
    store.fail_node(b.id)
    with pytest.raises(NetworkError, match=f"vector {vector.id} .* has failed"):
        store.add_transmission(vector.id, info.id)


def test_receive_marks_pending_transmissions_received_once(store):
    network = store.add_network("t:N", "experiment", 5)
    a, b = store.add_node(network.id, NODE), store.add_node(network.id, NODE)
    vector = store.add_vector(a.id, b.id)
    infos = [store.add_info(a.id, "t:I", value, asset_id=7 if value else None)
             for value in (None, 1.5, "s", [1, 2], {"k": "v"})]
    sent = [store.add_transmission(vector.id, i.id) for i in infos]
    received = store.receive(b.id)
    assert [t.id for t in received] == [t.id for t in sent]
    assert all(t.status == "received" and t.receive_time is not None for t in received)
    assert store.transmissions(network.id) == received
    assert store.receive(b.id) == []
    assert [store.info(t.info_id).contents for t in received] == [None, 1.5, "s", [1, 2],
                                                                 {"k": "v"}]
    assert [store.info(t.info_id).asset_id for t in received] == [None, 7, 7, 7, 7]
