"""LabNetworkStore: networks in the lab database (a real SQLite file and a real
PostgreSQL): kept across Database objects as across sessions and PCs, scoped to a
protocol, and never overfilled by processes joining one network at once."""

import pytest

from moalab.network.errors import NetworkError, NetworkFull, ParticipantInNetwork
from moalab.network.lab_store import LabNetworkStore
from moalab.store import Database
from tests.store.conftest import database  # noqa: F401
from tests.store.test_concurrency import started


def test_a_network_made_in_one_session_is_there_in_the_next(database):
    store = LabNetworkStore(database, protocol="chain")
    network = store.add_network("tests:Chain", "experiment", 3, {"n": 2})
    first = store.add_node(network.id, "tests:Node", "m1")
    second = store.add_node(network.id, "tests:Node", "m2", fitness=0.5)
    vector = store.add_vector(first.id, second.id)
    info = store.add_info(first.id, "tests:Info", {"frequency": 440.0})
    sent = store.add_transmission(vector.id, info.id)

    later = Database(database.url)  # another process, another PC sharing the lab
    try:
        again = LabNetworkStore(later, protocol="chain")
        assert again.network(network.id) == network
        assert again.networks(role="experiment", full=False) == [network]
        assert again.nodes(network.id) == [first, second]
        assert again.vectors(network.id) == [vector]
        assert again.info(info.id).contents == {"frequency": 440.0}
        [received] = again.receive(second.id)
        assert (received.id, received.status) == (sent.id, "received")
        assert again.receive(second.id) == []  # received once
        assert LabNetworkStore(later, protocol="other").networks() == []
        assert [n.id for n in LabNetworkStore(later).networks()] == [network.id]
    finally:
        later.close()


def test_the_network_is_full_of_non_failed_nodes_only(database):
    store = LabNetworkStore(database)
    network = store.add_network("tests:Chain", "practice", 2)
    first = store.add_node(network.id, "tests:Node", "m1")
    store.add_node(network.id, "tests:Node", "m2")
    assert store.networks(full=True) == [network]
    with pytest.raises(NetworkFull, match=f"network {network.id} is full"):
        store.add_node(network.id, "tests:Node", "m3")
    store.fail_node(first.id)
    store.fail_node(first.id)  # twice: the size goes down once
    assert store.networks(full=False) == [network]
    store.add_node(network.id, "tests:Node", "m3")
    with pytest.raises(NetworkFull):
        store.add_node(network.id, "tests:Node", "m4")
    store.fail_node(store.nodes(network.id)[1].id)
    # failed or not, one node per participant
    with pytest.raises(ParticipantInNetwork, match=f"'m1' already has node {first.id}"):
        store.add_node(network.id, "tests:Node", "m1")
    assert len([n for n in store.nodes(network.id) if not n.failed]) == 1  # size kept
    store.add_node(network.id, "tests:Node", "m4")


def test_a_deleted_node_takes_its_rows_and_its_place(database):
    store = LabNetworkStore(database)
    network = store.add_network("tests:Chain", "experiment", 2)
    first = store.add_node(network.id, "tests:Node", "m1")
    second = store.add_node(network.id, "tests:Node", "m2")
    vector = store.add_vector(first.id, second.id)
    store.add_transmission(vector.id, store.add_info(first.id, "tests:Info", 1).id)
    store.delete_node(second.id)
    assert [n.id for n in store.nodes(network.id)] == [first.id]
    assert store.vectors(network.id) == [] and store.transmissions(network.id) == []
    third = store.add_node(network.id, "tests:Node", "m2")
    assert third.id > second.id  # a deleted id is never given again


def test_bad_rows_are_refused_by_name(database):
    store = LabNetworkStore(database)
    with pytest.raises(NetworkError, match="role 'main' is not one of"):
        store.add_network("tests:Chain", "main", 2)
    network = store.add_network("tests:Chain", "experiment", 2)
    node = store.add_node(network.id, "tests:Node", "m1")
    with pytest.raises(NetworkError, match="cannot connect to itself"):
        store.add_vector(node.id, node.id)
    with pytest.raises(NetworkError, match="no node with id 99"):
        store.node(99)
    other = store.add_node(store.add_network("tests:Chain", "experiment", 1).id, "tests:Node")
    with pytest.raises(NetworkError, match="different networks"):
        store.add_vector(node.id, other.id)


def test_two_processes_joining_one_network_at_once_never_overfill_it(database):
    store = LabNetworkStore(database)
    network = store.add_network("tests:Chain", "experiment", 5)
    # both first join as one participant at once, then each as its own until refused
    participants = [["m0", *(f"{side}{i}" for i in range(8))] for side in "ab"]
    with started(database.url, *[["join", str(network.id), *p] for p in participants]
                 ) as procs:
        joined = [int(process.stdout.readline()) for process in procs]
    assert sum(joined) == 5, joined
    nodes = store.nodes(network.id)
    assert len(nodes) == 5 and not any(node.failed for node in nodes)
    assert [node.participant for node in nodes].count("m0") == 1
    assert store.networks(full=True) == [network]
