"""A format read by columns against the same format read line by line (``COLUMNS_FROM`` of its
module set to 0 or out of reach): the stores must be the same."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from polars.testing import assert_frame_equal

from rltop.core.follow import Follower


def read(path: Path, module: ModuleType, columns: bool) -> Follower:
    """The folder of ``path`` read whole, by columns or line by line."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "COLUMNS_FROM", 0 if columns else 1 << 62)
        follower = Follower([str(path.parent)])
        follower.read_all()
    return follower


def assert_same_both_ways(path: Path, module: ModuleType) -> None:
    """Frames, text values, and per file the rows, skips, ignored lines and their reasons."""
    a = read(path, module, False).store.snapshot()
    b = read(path, module, True).store.snapshot()
    assert len(a.runs) == len(b.runs)
    for ra, rb in zip(a.runs, b.runs, strict=True):
        assert_frame_equal(ra.metrics, rb.metrics)
        assert ra.text_metrics == rb.text_metrics
    for sa, sb in zip(a.sources, b.sources, strict=True):
        assert (sa.rows, sa.skipped, sa.ignored, sa.lines_read) == (
            sb.rows,
            sb.skipped,
            sb.ignored,
            sb.lines_read,
        )
        assert sa.skip_reasons == sb.skip_reasons
        assert sa.ignore_reasons == sb.ignore_reasons
        assert list(sa.recent_skips) == list(sb.recent_skips)
