"""Fixtures shared by every folder of the suite. Helpers are imported from tests/support/ (this
file's folder is on sys.path: pytest's default prepend import mode)."""
from __future__ import annotations

import random

import pytest


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261128)
