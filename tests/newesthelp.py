"""Reading a large file newest first (``Follower`` with ``previews``), step by step, against a
straight read from the start (tests of the W&B and TensorBoard readers)."""

from __future__ import annotations

from pathlib import Path

from polars.testing import assert_frame_equal

from rltop.core import follow
from rltop.core.follow import Follower


def small_reads(monkeypatch) -> None:
    """Reads small enough for small files to take the newest-first path in several reads."""
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 96 * 1024)
    monkeypatch.setattr(follow, "FIRST_READ", 64 * 1024)
    monkeypatch.setattr(follow, "RECORDS_CHUNK", 128 * 1024)


def straight(root: Path) -> Follower:
    follower = Follower([str(root)])
    follower.read_all()
    return follower


def newest_first(root: Path, path: Path) -> tuple[Follower, list[tuple[int, int | None, int]]]:
    """Read with previews (as the app does); (rows, last step, bytes read) after each read."""
    follower = Follower([str(root)], previews=True)
    follower.first_frame_shown.set()
    follower.scan()
    followed = follower.followed[str(path)]
    seen = []
    while True:
        _changed, more = follower.read_source(followed)
        run = follower.store.snapshot().run(followed.info.run_id)
        seen.append((run.metrics.height, run.last_step, follower.progress()[0]))
        if not more:
            break
    return follower, seen


def assert_same(a: Follower, b: Follower, rows: bool = True) -> None:
    """One run each, with the same frame, config, name and per-file counts (``rows``: also the
    rows each file gave; a format whose steps span records gives a step cut by a read twice)."""
    (ra,), (rb,) = a.store.snapshot().runs, b.store.snapshot().runs
    assert_frame_equal(ra.metrics, rb.metrics)
    assert ra.config == rb.config
    assert ra.name == rb.name
    sa = {Path(s.path).name: s for s in a.store.snapshot().sources}
    sb = {Path(s.path).name: s for s in b.store.snapshot().sources}
    for name, info in sa.items():
        other = sb[name]
        assert (info.ignored, info.skipped) == (other.ignored, other.skipped)
        assert info.rows == other.rows or not rows
        assert info.ignore_reasons == other.ignore_reasons
        assert info.skip_reasons == other.skip_reasons
