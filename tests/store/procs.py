"""Processes the store tests start, each with its own connections:
``python -m tests.store.procs COMMAND URL ARGS...``. Each prints ``ready`` once it is
connected, then waits for a line on stdin, so the test can start several at once."""

import os
import socket
import sys

from moalab.store import Database, SubjectBusy


def main(command: str, url: str, *args: str) -> None:
    database = Database(url)
    database.list_subjects()  # connected before the start signal
    print("ready", flush=True)
    sys.stdin.readline()
    if command == "claim":  # claim SESSION_ID, then hold it until stdin closes
        try:
            database.claim_session(args[0], socket.gethostname(), os.getpid())
            print("claimed", flush=True)
        except SubjectBusy as error:
            print("busy", error.session_id, flush=True)
        sys.stdin.read()
    elif command == "join":  # join NETWORK_ID PARTICIPANT...: print how many got a node
        from moalab.network.errors import NetworkFull, ParticipantInNetwork
        from moalab.network.lab_store import LabNetworkStore

        store, joined = LabNetworkStore(database), 0
        for participant in args[1:]:
            try:
                store.add_node(int(args[0]), "tests:Node", participant)
                joined += 1
            except (NetworkFull, ParticipantInNetwork):
                pass
        print(joined, flush=True)
    elif command == "networks":  # networks LAB: make a protocol's networks, print how many
        from moalab.protocol import ProtocolRunner
        from moalab.store import Lab
        from tests.network.test_protocol_networks import Repeated

        lab = Lab(args[0])
        print(len(ProtocolRunner(lab, Repeated).make_networks()), flush=True)
        lab.close()
    elif command == "slots":  # slots COUNTER CAP TRIES: print how many were taken
        counter, cap, tries = args[0], int(args[1]), int(args[2])
        print(sum(database.take_slot(counter, cap) for _ in range(tries)), flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}")
    database.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
