"""`moalab network list | show ID [--png FILE]` on a lab's networks: a chain made in one
process is listed and shown by another (a real subprocess), then in process (each
process costs ~1.5 s): its nodes, vectors, infos, transmissions, the drawing, and bad
ids named."""

import json

import matplotlib.image
import pytest

from moalab.cli.main import main
from moalab.network import Chain, Empty, Info, Node, Source
from moalab.network.lab_store import LabNetworkStore
from moalab.store.lab import Lab

from .helpers import run


def make_chain(lab: Lab) -> tuple[Chain, list[Node]]:
    """In ``lab``: a Chain with a source and three nodes; the source's info received by
    the first, the first's info pending to the second, the third failed. Also a
    practice Empty network, full."""
    store = LabNetworkStore(lab.database)
    chain = Chain(max_size=5, store=store)
    source = chain.add(Source(contents={"freq": 440.0}))
    nodes = [chain.add(Node(participant=f"rat-{i}")) for i in range(3)]
    source.transmit()
    nodes[0].receive()
    Info(origin=nodes[0], contents={"freq": 452.5})
    nodes[0].transmit()
    nodes[2].fail()
    practice = Empty(max_size=1, role="practice", store=store)
    practice.add(Node(participant="rat-0"))
    return chain, [source, *nodes]


def moalab(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["network", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_network_list_in_another_process(lab, tmp_path):
    chain, _ = make_chain(lab)
    listed = run("moalab", "network", "list", "--lab", lab.folder, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [{k: e[k] for k in ("id", "type", "role", "max_size", "size", "full", "nodes",
                               "vectors", "infos", "transmissions")} for e in entries] == [
        {"id": chain.id, "type": "Chain", "role": "experiment", "max_size": 5, "size": 3,
         "full": False, "nodes": 4, "vectors": 3, "infos": 2, "transmissions": 2},
        {"id": entries[1]["id"], "type": "Empty", "role": "practice", "max_size": 1,
         "size": 1, "full": True, "nodes": 1, "vectors": 0, "infos": 0, "transmissions": 0}]


def test_network_list_filters_and_its_table(lab, capsys):
    chain, _ = make_chain(lab)
    code, out, _ = moalab(capsys, "list", "--lab", str(lab.folder), "--not-full", "--json")
    assert code == 0 and [e["id"] for e in json.loads(out)] == [chain.id]
    code, out, _ = moalab(capsys, "list", "--lab", str(lab.folder), "--role", "practice",
                          "--json")
    assert code == 0 and [e["type"] for e in json.loads(out)] == ["Empty"]
    code, out, _ = moalab(capsys, "list", "--lab", str(lab.folder))
    assert code == 0 and "Chain" in out and "3/5" in out and "Empty" in out and "1/1" in out
    code, out, _ = moalab(capsys, "list", "--lab", str(lab.folder), "--full", "--role",
                          "experiment")
    assert code == 0 and "has no networks of that kind" in out


def test_network_show_lists_the_rows_and_draws(lab, capsys, tmp_path):
    chain, (source, first, second, third) = make_chain(lab)
    code, out, err = moalab(capsys, "show", str(chain.id), "--lab", str(lab.folder), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["type"] == "Chain" and shown["size"] == 3
    assert [(n["id"], n["participant"], n["failed"]) for n in shown["nodes"]] == [
        (source.id, None, False), (first.id, "rat-0", False), (second.id, "rat-1", False),
        (third.id, "rat-2", True)]
    assert [(v["origin_id"], v["destination_id"], v["failed"]) for v in shown["vectors"]] == [
        (source.id, first.id, False), (first.id, second.id, False),
        (second.id, third.id, True)]
    assert [i["contents"] for i in shown["infos"]] == [{"freq": 440.0}, {"freq": 452.5}]
    assert [(t["origin_id"], t["destination_id"], t["status"])
            for t in shown["transmissions"]] == [(source.id, first.id, "received"),
                                                  (first.id, second.id, "pending")]
    assert shown["nodes"][0]["creation_time"].endswith("+00:00")

    png = tmp_path / "chain.png"
    code, out, err = moalab(capsys, "show", str(chain.id), "--lab", str(lab.folder), "--png",
                            str(png))
    assert code == 0, err
    assert f"network {chain.id}: Chain (experiment), 3/5 nodes, not full" in out
    for title in ("nodes", "vectors", "infos", "transmissions"):
        assert f"\n{title}" in out
    assert "rat-2" in out and "failed" in out and "pending" in out and '{"freq": 452.5}' in out
    assert f"drawn in {png}" in out
    assert matplotlib.image.imread(png).shape[0] > 100


def test_network_show_names_a_bad_id(lab, capsys):
    chain, _ = make_chain(lab)
    code, out, err = moalab(capsys, "show", "999", "--lab", str(lab.folder))
    assert code == 2 and not out
    assert "there is no network 999; the networks are: " in err and str(chain.id) in err
    with pytest.raises(SystemExit):  # argparse: not a whole number
        main(["network", "show", "chain", "--lab", str(lab.folder)])
    assert "invalid int value: 'chain'" in capsys.readouterr().err


def test_network_list_of_a_lab_without_networks(lab, capsys):
    code, out, _ = moalab(capsys, "list", "--lab", str(lab.folder))
    assert code == 0 and "has no networks: a protocol with create_network() makes them" in out
