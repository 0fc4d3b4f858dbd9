"""Fixtures of the unit tests."""

import pytest

from holdfast.inventory import read_inventory
from tests.conftest import REPO

PROD = "inventories/prod.py"


@pytest.fixture
def prod(monkeypatch):
    """The production inventory, read from the repository."""
    monkeypatch.chdir(REPO)
    return read_inventory(PROD)
