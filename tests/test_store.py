"""The store: incremental appends give the same frames as reading at once."""

from __future__ import annotations

import itertools
import json
import random

import polars as pl
from polars.testing import assert_frame_equal

from rltop.core.formats.jsonl import JsonlMetricsParser
from rltop.core.formats.rollouts import RolloutJsonlParser
from rltop.core.model import ParseResult
from rltop.core.store import SourceInfo, Store


def _metric_lines(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    out = []
    for step in range(n):
        row = {"step": step, "loss": rng.random(), "reward": rng.random()}
        if step % 3 == 0:
            row["val/reward"] = rng.random()
        if step % 7 == 0:
            row["note"] = "text"
        if step == 5:
            row["reward"] = None
        out.append(json.dumps(row))
    # a step logged twice (eval row after train row, as HF does)
    out.append(json.dumps({"step": n - 1, "eval_loss": 0.25}))
    return ("\n".join(out) + "\n").encode()


def _rollout_lines(n: int, seed: int = 2) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        step = i // 8
        group = f"p{(i // 4) % 2}"
        out.append(
            json.dumps(
                {
                    "step": step,
                    "prompt": group,
                    "completion": "x" * rng.randint(1, 50),
                    "reward": rng.choice([0.0, 0.0, 1.0]),
                    "prompt_id": group,
                }
            )
        )
    return ("\n".join(out) + "\n").encode()


def _store_from_chunks(data: bytes, parser_cls, cuts: list[int]) -> Store:
    store = Store()
    store.add_run("r", "r", "/")
    store.add_source(SourceInfo(path="f", format="x", kind="metrics", run_id="r"))
    parser = parser_cls("f")
    lines = data.splitlines(keepends=True)
    bounds = [0, *cuts, len(lines)]
    for a, b in itertools.pairwise(bounds):
        block = b"".join(lines[a:b])
        if block:
            store.apply("f", parser.feed(block, a + 1), lines=b - a)
    return store


def test_metrics_in_chunks_equal_metrics_at_once():
    data = _metric_lines(200)
    once = _store_from_chunks(data, JsonlMetricsParser, []).snapshot().runs[0]
    for cuts in ([1], [50, 51, 120], list(range(1, 200, 7))):
        chunked = _store_from_chunks(data, JsonlMetricsParser, cuts).snapshot().runs[0]
        assert_frame_equal(
            chunked.metrics.select(sorted(chunked.metrics.columns)),
            once.metrics.select(sorted(once.metrics.columns)),
        )
        assert chunked.text_metrics == once.text_metrics
    m = once.metrics
    assert m.height == 200
    assert m.filter(pl.col("step") == 199)["eval_loss"][0] == 0.25
    assert m.filter(pl.col("step") == 199)["loss"][0] is not None


def test_rollouts_in_chunks_equal_rollouts_at_once():
    data = _rollout_lines(160)
    once = _store_from_chunks(data, RolloutJsonlParser, []).snapshot().runs[0]
    chunked = _store_from_chunks(data, RolloutJsonlParser, [3, 17, 40, 41, 100]).snapshot().runs[0]
    assert_frame_equal(chunked.rollouts, once.rollouts)
    assert_frame_equal(chunked.metrics, once.metrics)
    stats = once.metrics
    # 8 rollouts per step, two groups of 4
    assert stats["rollouts/group_size"].to_list()[0] == 4
    assert stats["rollouts/count"].to_list()[0] == 8


def test_rollout_stats_read_only_the_columns_they_need(monkeypatch):
    """Per-step statistics made again for new steps copy the numbers they read, not the rows'
    texts (the newest steps' texts are the bulk of a rollout frame), and equal a full pass."""
    from rltop.core import derive
    from rltop.core import store as store_module

    seen: list[list[str]] = []
    real = derive.rollout_step_stats

    def spy(frame):
        seen.append(frame.columns)
        return real(frame)

    monkeypatch.setattr(store_module, "rollout_step_stats", spy)
    data = _rollout_lines(160)
    chunked = _store_from_chunks(data, RolloutJsonlParser, [40, 100])
    run = chunked.snapshot().runs[0]
    assert seen and all("completion" not in c and "prompt" not in c for c in seen)
    full = real(run.rollouts)
    got = run.metrics.select(full.columns).filter(pl.col("step").is_in(full["step"].implode()))
    assert_frame_equal(got, full)


def test_out_of_order_steps_merge():
    store = Store()
    store.add_run("r", "r", "/")
    store.add_source(SourceInfo(path="f", format="x", kind="metrics", run_id="r"))
    store.apply("f", ParseResult(metrics=[{"step": 1, "a": 1.0}, {"step": 3, "a": 3.0}]))
    store.apply("f", ParseResult(metrics=[{"step": 2, "a": 2.0, "b": 5.0}]))
    m = store.snapshot().runs[0].metrics
    assert m["step"].to_list() == [1, 2, 3]
    assert m["a"].to_list() == [1.0, 2.0, 3.0]
    assert m["b"].to_list() == [None, 5.0, None]


def test_reset_drops_the_files_rows():
    store = Store()
    store.add_run("r", "r", "/")
    store.add_source(SourceInfo(path="f", format="x", kind="metrics", run_id="r"))
    store.add_source(SourceInfo(path="g", format="x", kind="metrics", run_id="r"))
    store.apply("f", ParseResult(metrics=[{"step": 1, "a": 1.0}, {"step": 2, "a": 2.0}]))
    store.apply("g", ParseResult(metrics=[{"step": 1, "b": 7.0}]))
    store.apply("f", ParseResult(metrics=[{"step": 1, "a": 10.0}]), reset=True)
    m = store.snapshot().runs[0].metrics
    assert m["step"].to_list() == [1]
    assert m["a"].to_list() == [10.0] and m["b"].to_list() == [7.0]


def test_version_moves_only_on_change():
    store = Store()
    store.add_run("r", "r", "/")
    store.add_source(SourceInfo(path="f", format="x", kind="metrics", run_id="r"))
    v = store.snapshot().version
    store.apply("f", ParseResult())
    assert store.snapshot().version == v
    store.apply("f", ParseResult(metrics=[{"step": 1, "a": 1.0}]))
    assert store.snapshot().version > v
