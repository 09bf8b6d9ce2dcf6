"""Shared test helpers: where the real fixtures live, and reading folders into a snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from rltop.core.follow import Follower
from rltop.core.store import StoreSnapshot

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def read_snapshot(*paths: Path | str, **kwargs) -> StoreSnapshot:
    follower = Follower([str(p) for p in paths], **kwargs)
    follower.read_all()
    return follower.store.snapshot()


@pytest.fixture
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"real log fixtures not found at {FIXTURES} (shared/ must sit beside the repo)")
    return FIXTURES
