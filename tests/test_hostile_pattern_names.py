"""Metric and field names that polars would read as patterns (``^.*$``, ``*``): each is the one
column it names everywhere (check, export, the store's series, derived stats, search filters, the
dashboard), never every column at once. Before, ``rltop check`` failed with polars'
``DuplicateError`` (exit 3) on a run that logged a metric named ``^.*$``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from rltop.core.cols import is_pattern, named
from rltop.core.follow import Follower
from rltop.core.search import search
from rltop.ui.app import make_app

from uihelp import loaded, wait_for

PATTERNS = ["^.*$", "*", "^loss$"]


def write_run(root: Path, steps: int = 120) -> Path:
    run = root / "run"
    run.mkdir(parents=True)
    with open(run / "metrics.jsonl", "w") as fh:
        for s in range(1, steps + 1):
            row = {"step": s, "reward": s / steps, "loss": 1 / s}
            row.update({"^.*$": 1000.0 + s, "*": 7.0, "^loss$": -1.0})
            fh.write(json.dumps(row) + "\n")
    with open(run / "rollouts.jsonl", "w") as fh:
        for s in range(1, 21):
            fh.write(
                json.dumps(
                    {
                        "step": s,
                        "prompt": f"p{s}",
                        "completion": f"c{s}",
                        "reward": s % 2,
                        "^.*$": f"tag{s % 3}",
                    }
                )
                + "\n"
            )
    return run


def test_named_is_one_column_whatever_the_name() -> None:
    frame = pl.DataFrame({"^.*$": [1, None], "*": [2, 3], "a": [4, 5]})
    assert all(is_pattern(n) for n in PATTERNS) and not is_pattern("loss") and not is_pattern("^")
    for name in frame.columns:
        got = frame.select(named(name).drop_nulls().last())
        assert got.columns == [name]
        assert got.item() == frame.get_column(name).drop_nulls()[-1]


def test_store_series_and_snapshot_keep_each_pattern_named_metric_apart(tmp_path: Path) -> None:
    follower = Follower([str(write_run(tmp_path))])
    follower.read_all()
    run = follower.store.snapshot().runs[0]
    assert {"reward", "loss", *PATTERNS} <= set(run.metric_names)
    steps, values = run.series("^.*$")
    assert list(steps[:3]) == [1, 2, 3] and list(values[:3]) == [1001.0, 1002.0, 1003.0]
    _, loss = run.series("loss")
    assert loss[0] == 1.0


def test_check_and_export_read_pattern_named_metrics(tmp_path: Path) -> None:
    logs = write_run(tmp_path / "logs").parent
    done = subprocess.run(
        [sys.executable, "-m", "rltop", "check", "--json", str(logs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1, 2), done.stderr
    report = json.loads(done.stdout)
    assert report["runs"] and "DuplicateError" not in done.stderr

    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "rltop", "export", "--out", str(out), str(logs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (written,) = out.glob("*.metrics.csv")
    with open(written, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[0]["^.*$"]) == 1001.0 and float(rows[0]["*"]) == 7.0
    assert float(rows[0]["loss"]) == 1.0


def test_a_rollout_field_named_like_a_pattern_is_read_as_itself(tmp_path: Path) -> None:
    follower = Follower([str(write_run(tmp_path))])
    follower.read_all()
    frame = follower.store.snapshot().runs[0].rollouts
    assert frame is not None and "^.*$" in frame.columns
    assert frame.get_column("^.*$").to_list()[:3] == ["tag1", "tag2", "tag0"]
    assert len(search(frame, "c1")) >= 1  # text search still runs over such a frame


@pytest.mark.asyncio
async def test_the_dashboard_shows_a_card_per_pattern_named_metric(tmp_path: Path) -> None:
    from rltop.ui.widgets.metric_grid import MetricGrid

    app = make_app([str(write_run(tmp_path))])
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, loaded(app))
        grid = app.screen.query_one(MetricGrid)
        await wait_for(pilot, lambda: {"^.*$", "*", "^loss$"} <= {c.name for c in grid.cards})
        cards = {c.name: c for c in grid.cards}
        assert cards["^.*$"].latest == 1120.0 and cards["*"].latest == 7.0
