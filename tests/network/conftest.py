"""Fixtures of tests/network: ``store``, each NetworkStore back-end in turn, so the
store contract (test_store.py) and the model (test_model.py) run on every one."""

from collections.abc import Callable

import pytest

from moalab.network import MemoryStore, NetworkStore

STORES: dict[str, Callable[[pytest.FixtureRequest], NetworkStore]] = {
    "memory": lambda request: MemoryStore(),
}
"""Back-end name -> a function of the test's request (for other fixtures, e.g.
``request.getfixturevalue("tmp_path")``) returning a fresh, empty store."""


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest) -> NetworkStore:
    return STORES[request.param](request)
