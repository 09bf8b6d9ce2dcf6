"""The memory budget: old steps' text moves to disk, numbers stay, text reads back by offset."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rltop.core import coldtext, numfmt
from rltop.core.follow import Follower
from rltop.core.search import parse_query, search


@pytest.fixture
def small_budget():
    old = coldtext.BUDGET.max_memory
    coldtext.set_max_memory(2 * 1024 * 1024)  # frames may hold ~1 MB
    yield
    coldtext.set_max_memory(old)


def _write(folder, steps=40, per_step=16, size=2000):
    """verl-style dumps, one file per step."""
    folder.mkdir(parents=True, exist_ok=True)
    for step in range(1, steps + 1):
        with open(folder / f"{step}.jsonl", "w") as fh:
            for i in range(per_step):
                fh.write(
                    json.dumps(
                        {
                            "prompt": f"question {i} " + "p" * 100,
                            "completion": f"step {step} answer {i} " + "c" * size,
                            "reward": (i % 4) / 3,
                            "step": step,
                            "acc": i % 2 == 0,
                            "gts": str(i),
                        }
                    )
                    + "\n"
                )


def _read(path):
    follower = Follower([str(path)])
    follower.read_all()
    return follower.store.snapshot().runs[0]


def test_old_steps_move_to_disk_and_read_back(tmp_path, small_budget):
    path = tmp_path / "run" / "rollouts"
    _write(path)
    run = _read(path)
    frame = run.rollouts
    assert frame.height == 40 * 16
    cold = frame.filter(pl.col("completion").is_null())
    hot = frame.filter(pl.col("completion").is_not_null())
    assert cold.height and hot.height
    # the newest steps are the ones kept
    assert hot.get_column("step").min() > cold.get_column("step").max() - 1
    assert cold.get_column("reward").null_count() == 0  # numbers stay
    # load_text reads the line back by offset
    row = coldtext.load_text(cold.row(0, named=True))
    assert row["completion"].startswith(f"step {row['step']} answer ")
    assert row["prompt"].startswith("question ")
    filled = coldtext.fill_text(cold.head(50))
    assert filled.get_column("completion").null_count() == 0
    # per-step stats are the same as when everything is in memory
    coldtext.set_max_memory(None)
    full = _read(path)
    stats = [c for c in full.metrics.columns if c.startswith("rollouts/")]
    assert stats
    assert_frame_equal(run.metrics.select(stats), full.metrics.select(stats))
    # a text search finds cold rows through the loader
    query = parse_query("step 3 answer 5 ", dict(frame.schema))
    found = search(frame, query, loader=coldtext.fill_text)
    assert len(found) == 1 and frame.row(int(found[0]), named=True)["step"] == 3
    # hot and cold matches together, newest step first
    found = search(frame, parse_query("answer 5 ", dict(frame.schema)), loader=coldtext.fill_text)
    steps = [frame.row(int(i), named=True)["step"] for i in found]
    assert steps == list(range(40, 0, -1))


def test_budget_bounds_the_frames(tmp_path, small_budget):
    path = tmp_path / "run" / "rollouts"
    _write(path, steps=60)
    follower = Follower([str(path)])
    follower.read_all()
    tables = coldtext.BUDGET.live_tables()
    held = sum(t.held_bytes() for t in tables)
    assert held <= coldtext.BUDGET.limit


def test_changed_file_gives_a_note_not_an_error(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("garbage\n")
    row = {"_path": str(path), "_offset": 0, "_len": 7, "prompt": None, "completion": None}
    assert "not available" in coldtext.load_text(row)["completion"]


def test_parse_size():
    assert numfmt.parse_size("2G") == 2 * 1024**3
    assert numfmt.parse_size("512M") == 512 * 1024**2
    assert numfmt.parse_size("1.5GB") == int(1.5 * 1024**3)
    with pytest.raises(ValueError):
        numfmt.parse_size("lots")
