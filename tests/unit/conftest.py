"""Fixtures of the unit tests."""

import pytest

from holdfast.inventory import read_inventory
from tests.conftest import FLEET

PROD = "inventories/prod.py"


@pytest.fixture
def prod(monkeypatch):
    """The production inventory of the lab's fleet (lab/fleet)."""
    monkeypatch.chdir(FLEET)
    return read_inventory(PROD)
