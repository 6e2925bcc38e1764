"""The lab database's network tables (migration 0003) through Database's methods,
on a real SQLite file and a real PostgreSQL: a session's nodes fail with it, a
network's size follows its non-failed nodes, bad rows are refused by name."""

import pytest

from moalab import InvalidArgument
from moalab.store import UnknownName


def test_a_failed_or_abandoned_session_fails_its_nodes_an_interrupted_one_keeps_them(
        database):
    database.add_subject("m1")
    network = database.add_network("t:Chain", "experiment", 3)
    source = database.add_node(network.id, "t:Source")
    sessions = {status: database.create_session("m1", "p", 1, {}).id
                for status in ("interrupted", "failed", "abandoned")}
    nodes = {status: database.add_node(network.id, "t:Node", f"m1-{status}",
                                       session_id=session_id)
             for status, session_id in sessions.items() if status != "abandoned"}
    assert database.get_network(network.id).full
    vector = database.add_vector(source.id, nodes["failed"].id)
    info = database.add_information(source.id, "t:Info", {"f": 440})
    database.add_transmission(vector.id, info.id)

    for status, session_id in sessions.items():
        database.end_session(session_id, status)
    listed = {node.participant: node for node in database.list_nodes(network.id)}
    assert not listed["m1-interrupted"].failed
    assert listed["m1-failed"].failed and listed["m1-failed"].time_of_death is not None
    assert database.get_network(network.id).size == 2  # the source and the interrupted
    assert [v.failed for v in database.list_vectors(network.id)] == [True]
    assert [t.failed for t in database.list_transmissions(network.id)] == [True]
    assert database.receive(nodes["failed"].id) == []
    assert database.list_nodes(session_id=sessions["failed"]) == [listed["m1-failed"]]


def test_bad_network_rows_are_refused_by_name(database):
    with pytest.raises(InvalidArgument, match="network role 'main' is not one of "
                                              "practice, experiment"):
        database.add_network("t:Chain", "main", 3)
    with pytest.raises(InvalidArgument, match="max_size -1 is not accepted"):
        database.add_network("t:Chain", "practice", -1)
    network = database.add_network("t:Chain", "practice", 3)
    node = database.add_node(network.id, "t:Node", "m1")
    with pytest.raises(InvalidArgument, match="no asset 5 in this lab"):
        database.add_information(node.id, "t:Info", asset_id=5)
    with pytest.raises(InvalidArgument, match="cannot be stored"):
        database.add_information(node.id, "t:Info", {"f": object()})
    with pytest.raises(InvalidArgument, match="origin_id cannot be changed"):
        database.update_node(node.id, origin_id=3)
    with pytest.raises(UnknownName, match="no network '9'"):
        database.add_node(9, "t:Node")
    with pytest.raises(UnknownName, match="no asset '9'"):
        database.get_asset(9)
