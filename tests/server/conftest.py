"""Fixtures of the server's tests."""

import httpx
import pytest

from ..conftest import AUTH_HEADERS


@pytest.fixture
def client(moalab_server):
    """An httpx client of the ``moalab_server`` fixture's server, with the tests' token."""
    with httpx.Client(base_url=moalab_server.url, headers=AUTH_HEADERS, timeout=20) as client:
        yield client
