"""`moalab network list | show ID [--png FILE]`: a lab's networks, their nodes, vectors,
infos and transmissions, and a drawing of one.

``network list --json`` prints a list of ``{"id", "type", "role", "max_size", "size",
"full", "creation_time", "nodes", "vectors", "infos", "transmissions"}`` (``size``:
its non-failed nodes; the last four: how many rows of each, failed ones too).
``network show ID --json`` prints that network's entry with ``nodes``, ``vectors``,
``infos`` and ``transmissions`` as lists of their rows (see
:mod:`moalab.network.store`), in creation order; times are ISO 8601 UTC.
"""

import argparse
import dataclasses
import datetime
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..core.errors import InvalidArgument
from ..network.store import NetworkRow, NetworkStore
from ..store.lab import Lab

__all__ = ("add_network_command", "network_summary", "run_network_command", "show_network")


def add_network_command(commands: Any) -> None:
    """Add `moalab network` to ``commands`` (the `moalab` subparsers)."""
    network = commands.add_parser(
        "network", help="list the lab's networks (Dallinger's), show and draw one",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = network.add_parser("list", help="list the lab's networks: type, role, size")
    listing.add_argument("--role", choices=("practice", "experiment"))
    fullness = listing.add_mutually_exclusive_group()
    fullness.add_argument("--full", dest="full", action="store_const", const=True,
                          help="only the full networks")
    fullness.add_argument("--not-full", dest="full", action="store_const", const=False,
                          help="only the networks not full")
    show = network.add_parser("show", help="show a network's nodes, vectors, infos and "
                              "transmissions; --png draws it (needs networkx, matplotlib)")
    show.add_argument("id", type=int, metavar="ID", help="the network's id (network list)")
    show.add_argument("--png", type=Path, metavar="FILE", help="draw the network into FILE "
                      "(its format from the suffix: .png, .svg, .pdf)")
    for parser in (listing, show):
        parser.add_argument("--json", action="store_true", help="print JSON (a stable format)")
        parser.add_argument("--lab", metavar="DIR", help="the lab folder (default: "
                            "$MOALAB_LAB, else the current folder)")


def run_network_command(args: argparse.Namespace, console: Console) -> int:
    """Run a `moalab network` action on the lab's networks; raises
    :class:`~moalab.MoaError` with the message to show."""
    from ..network.lab_store import LabNetworkStore

    lab = Lab.find(args.lab)
    try:
        store = LabNetworkStore(lab.database)
        if args.action == "list":
            return list_networks(store, console, role=args.role, full=args.full,
                                 as_json=args.json, where=f"lab {lab.name!r}")
        return show_network(store, args.id, console, png=args.png, as_json=args.json)
    finally:
        lab.close()


def _plain(value: Any) -> Any:
    """``value`` (a row, a datetime, a mapping...) as JSON data."""
    if dataclasses.is_dataclass(value):
        return {field.name: _plain(getattr(value, field.name))
                for field in dataclasses.fields(value)}
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _short(type_name: str) -> str:
    """A row's class ('module:qualname') by its qualname."""
    return type_name.rpartition(":")[2] or type_name


def network_summary(store: NetworkStore, network: NetworkRow) -> dict[str, Any]:
    """``network``'s entry of ``network list --json`` (see the module's docstring)."""
    nodes = store.nodes(network.id)
    size = sum(not node.failed for node in nodes)
    return {"id": network.id, "type": _short(network.type), "role": network.role,
            "max_size": network.max_size, "size": size, "full": size >= network.max_size,
            "creation_time": network.creation_time.isoformat(), "nodes": len(nodes),
            "vectors": len(store.vectors(network.id)), "infos": len(store.infos(network.id)),
            "transmissions": len(store.transmissions(network.id))}


def _table(console: Console, title: str, columns: Sequence[str],
           rows: Iterable[Sequence[Any]]) -> None:
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    console.print(table)


def list_networks(store: NetworkStore, console: Console, *, role: str | None = None,
                  full: bool | None = None, as_json: bool = False,
                  where: str = "this store") -> int:
    """Print ``store``'s networks (of ``role``, full or not as ``full``; None: all)."""
    summaries = [network_summary(store, network)
                 for network in store.networks(role=role, full=full)]  # type: ignore[arg-type]
    if as_json:
        console.out(json.dumps(summaries, indent=2))
        return 0
    if not summaries:
        kind = " of that kind" if role is not None or full is not None else ""
        console.print(f"{where} has no networks{kind}: a protocol with create_network() "
                      "makes them as its sessions run", soft_wrap=True)
        return 0
    _table(console, "networks", ("id", "type", "role", "nodes (live/max)", "full", "vectors",
                                 "infos", "transmissions"),
           ((s["id"], s["type"], s["role"], f"{s['size']}/{s['max_size']}",
             "yes" if s["full"] else "no", s["vectors"], s["infos"], s["transmissions"])
            for s in summaries))
    return 0


def show_network(store: NetworkStore, network_id: int, console: Console, *,
                 png: Path | None = None, as_json: bool = False) -> int:
    """Print network ``network_id`` of ``store`` (its nodes, vectors, infos and
    transmissions) and, with ``png``, draw it there (:func:`moalab.network.drawing.
    draw_network`). Raises :class:`~moalab.network.errors.UnknownNetworkRow` naming an
    unknown id (with the ids there are)."""
    try:
        network = store.network(network_id)
    except InvalidArgument:
        ids = [row.id for row in store.networks()]
        raise InvalidArgument(f"there is no network {network_id}; the networks are: "
                              f"{', '.join(map(str, ids)) or 'none yet'} "
                              "(moalab network list)") from None
    summary = network_summary(store, network)
    rows = {"nodes": store.nodes(network_id), "vectors": store.vectors(network_id),
            "infos": store.infos(network_id), "transmissions": store.transmissions(network_id)}
    if png is not None:
        from ..network.drawing import draw_network

        draw_network(store, network_id, png)
    if as_json:
        console.out(json.dumps({**summary, **_plain(rows)}, indent=2))
        return 0
    console.print(f"network {network.id}: {summary['type']} ({network.role}), "
                  f"{summary['size']}/{network.max_size} nodes, "
                  f"{'full' if summary['full'] else 'not full'}"
                  + (f"; properties {dict(network.properties)}" if network.properties else ""),
                  soft_wrap=True, highlight=False)
    failed = {True: "failed", False: ""}
    _table(console, "nodes", ("id", "type", "participant", "fitness", "generation",
                              "created (UTC)", "failed"),
           ((n.id, _short(n.type), n.participant, n.fitness, n.generation,
             n.creation_time.strftime("%Y-%m-%d %H:%M:%S"), failed[n.failed])
            for n in rows["nodes"]))
    _table(console, "vectors", ("id", "from", "to", "failed"),
           ((v.id, v.origin_id, v.destination_id, failed[v.failed]) for v in rows["vectors"]))
    _table(console, "infos", ("id", "origin", "type", "contents", "asset", "failed"),
           ((i.id, i.origin_id, _short(i.type), _contents(i.contents), i.asset_id,
             failed[i.failed]) for i in rows["infos"]))
    _table(console, "transmissions", ("id", "info", "from", "to", "status", "failed"),
           ((t.id, t.info_id, t.origin_id, t.destination_id, t.status, failed[t.failed])
            for t in rows["transmissions"]))
    if png is not None:
        console.print(f"network {network.id}: drawn in {png}", soft_wrap=True)
    return 0


def _contents(contents: Any, width: int = 60) -> str:
    """An info's contents as JSON, cut to ``width`` characters."""
    text = json.dumps(contents)
    return text if len(text) <= width else text[:width - 3] + "..."
