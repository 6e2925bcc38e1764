"""Fixtures of tests/network: ``store``, each NetworkStore back-end in turn, so the
store contract (test_store.py) and the model (test_model.py) run on every one."""

from collections.abc import Callable

import pytest

from moalab.network import MemoryStore, NetworkStore
from moalab.network.lab_store import LabNetworkStore
from moalab.store import Database
from tests.store.conftest import (  # noqa: F401 - the fixtures, for the labs
    migrated_database,
    migrated_postgres,
    migrated_sqlite,
    postgres_url,
)

STORES: dict[str, Callable[[pytest.FixtureRequest], NetworkStore]] = {
    "memory": lambda request: MemoryStore(),
    "lab-sqlite": lambda request: _lab(migrated_database(request, "sqlite")),
    "lab-postgresql": lambda request: _lab(migrated_database(request, "postgresql")),
}
"""Back-end name -> a function of the test's request (for other fixtures, e.g.
``request.getfixturevalue("tmp_path")``) returning a fresh, empty store."""


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest) -> NetworkStore:
    return STORES[request.param](request)


def _lab(database: Database) -> LabNetworkStore:
    """A LabNetworkStore on a new lab database (closed after the test), holding assets
    1 to 10: the lab's infos carry real asset records, and the tests give asset ids in
    that range."""
    for i in range(1, 11):
        database.record_asset(f"cached/{i:064x}.wav", "cached", ".wav")
    return LabNetworkStore(database)
