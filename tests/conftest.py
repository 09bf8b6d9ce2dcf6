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


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory, monkeypatch) -> None:
    """What the app remembers (the chat's base model per endpoint) stays out of the user's home."""
    monkeypatch.setenv("RLTOP_STATE_DIR", str(tmp_path_factory.mktemp("state")))


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``slow`` first (otherwise in file order): on two workers (``-n 2``) the longest
    start early instead of ending the run alone on one worker."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
