"""A hundred runs read quickly: metrics files parsed side by side (``ReadAhead``) give exactly the
store a one-by-one read gives, and the catch-up's frames are not paced like a streaming writer."""

from __future__ import annotations

import json
import threading

import pytest
from polars.testing import assert_frame_equal

from rltop.core import follow
from rltop.core.follow import Follower, ReadAhead
from rltop.core.formats.jsonl import JsonlMetricsParser


def _runs(root, count: int = 6, steps: int = 400, clash: bool = True) -> None:
    """Runs with one or two metrics files each (the second with other keys, some steps shared,
    with ``clash`` a key of the first at the same steps), a CSV, a rollout file and a bad line:
    everything whose order the store could see."""
    for r in range(count):
        run = root / f"run{r}"
        run.mkdir(parents=True)
        with open(run / "metrics.jsonl", "w") as fh:
            for step in range(1, steps + 1):
                row = {"step": step, f"m{r}": step * 0.5, "loss": 1.0 / step}
                fh.write(json.dumps(row) + "\n")
            if r == 2:
                fh.write("{not json\n")
        if r % 2:
            with open(run / "eval.jsonl", "w") as fh:
                for step in range(50, steps + 1, 50):
                    row = {"step": step, "eval/acc": step / steps, **({"loss": 9} if clash else {})}
                    fh.write(json.dumps(row) + "\n")
        if r == 3:
            (run / "progress.csv").write_text("step,kl\n1,0.1\n2,0.2\n")
            with open(run / "rollouts.jsonl", "w") as fh:
                for i in range(20):
                    item = {"step": i // 4, "prompt": "p", "completion": f"c{i}", "reward": 1}
                    fh.write(json.dumps(item) + "\n")


def _state(follower: Follower):
    snap = follower.store.snapshot()
    runs = [(r.run_id, r.name, r.metrics, r.rollouts.height) for r in snap.runs]
    sources = [(s.path, s.format, s.rows, s.lines_read, s.skipped, s.status) for s in snap.sources]
    return runs, sources


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few kB go through polars' reader, as megabytes do in real use."""
    monkeypatch.setattr(JsonlMetricsParser, "BULK_MIN_BYTES", 1024)


def test_side_by_side_reads_give_the_same_store_as_one_by_one(tmp_path, monkeypatch, small_blocks):
    _runs(tmp_path)
    monkeypatch.setattr(follow, "READ_THREADS", 1)
    serial = Follower([str(tmp_path)])
    serial.read_all()
    monkeypatch.setattr(follow, "READ_THREADS", 4)
    parallel = Follower([str(tmp_path)])
    parallel.read_all()
    (runs_a, sources_a), (runs_b, sources_b) = _state(serial), _state(parallel)
    assert [r[:2] for r in runs_a] == [r[:2] for r in runs_b] and len(runs_a) == 6
    for a, b in zip(runs_a, runs_b, strict=True):
        assert_frame_equal(a[2], b[2])  # same columns in the same order, same values
        assert a[3] == b[3]
    assert sources_a == sources_b
    assert serial.store.version == parallel.store.version  # the same changes, one by one


def test_metrics_files_are_parsed_side_by_side(tmp_path, monkeypatch, small_blocks):
    """Two parsers are at work at the same time (each waits for the other at a barrier: read one
    after the other, the first would give up and its block would be a parser error)."""
    _runs(tmp_path, count=2)
    monkeypatch.setattr(follow, "READ_THREADS", 2)
    barrier = threading.Barrier(2, timeout=10)
    real = JsonlMetricsParser.feed

    def feed(self, block, first_line):
        if first_line == 1 and self.path.endswith("metrics.jsonl"):  # run0's and run1's
            barrier.wait()
        return real(self, block, first_line)

    monkeypatch.setattr(JsonlMetricsParser, "feed", feed)
    follower = Follower([str(tmp_path)])
    follower.read_all()
    snap = follower.store.snapshot()
    assert all(s.skipped == 0 for s in snap.sources)
    assert [r.last_step for r in snap.runs] == [400, 400]


def test_a_failing_read_stops_like_a_serial_one_and_keeps_what_was_read(tmp_path, monkeypatch):
    """An error in a worker reaches the caller in the sources' order; the blocks other workers
    had read by then are in the store, so nothing read is lost."""
    _runs(tmp_path, count=4)
    monkeypatch.setattr(follow, "READ_THREADS", 2)
    follower = Follower([str(tmp_path)])
    follower.scan()
    bad = next(p for p in follower.followed if "run1" in p and p.endswith("metrics.jsonl"))
    real = Follower._take

    def take(self, followed):
        if followed.info.path == bad:
            raise RuntimeError("disk on fire")
        return real(self, followed)

    monkeypatch.setattr(Follower, "_take", take)
    with pytest.raises(RuntimeError, match="disk on fire"):
        follower._drain()
    snap = follower.store.snapshot()
    run0 = next(r for r in snap.runs if r.name.endswith("run0"))
    assert run0.last_step == 400  # the source before the failing one
    for path, followed in follower.followed.items():
        info = next(s for s in snap.sources if s.path == path)
        # whatever a worker read is in the store: a file's offset never runs ahead of its rows
        assert (followed.tail.offset > 0) == (info.lines_read > 0), path


def test_read_ahead_only_takes_metrics_files_read_line_by_line(tmp_path):
    _runs(tmp_path)
    follower = Follower([str(tmp_path)])
    follower.scan()
    kinds = {f.info.format: ReadAhead.suits(f) for f in follower.followed.values()}
    assert kinds["jsonl-metrics"] and not kinds["rollouts-jsonl"]


async def test_the_catch_up_is_not_paced_like_a_streaming_writer(tmp_path):
    """Redraws while the files there at start are read come every REDRAW_INTERVAL however many
    changes in a row were deferred; once the caught-up frame is shown, a writer streaming changes
    is paced at STREAM_REDRAW_INTERVAL."""
    from rltop.ui import app as appmod

    _runs(tmp_path, count=2)
    app = appmod.make_app([str(tmp_path)])
    app._deferred_in_a_row = 5
    app.follower.caught_up_version = None
    app._catching_up_shown = True
    assert app.redraw_interval() == appmod.REDRAW_INTERVAL
    app.follower.caught_up_version = 7  # read, but the frame saying so is not drawn yet
    assert app.redraw_interval() == appmod.REDRAW_INTERVAL
    app._catching_up_shown = False
    assert app.redraw_interval() == appmod.STREAM_REDRAW_INTERVAL
    app._deferred_in_a_row = 0
    assert app.redraw_interval() == appmod.REDRAW_INTERVAL


@pytest.fixture(scope="module")
def s3():
    from s3help import s3_server

    with s3_server() as server:
        yield server


def test_objects_are_parsed_beside_the_fetches_and_read_as_the_folder(
    tmp_path, monkeypatch, small_blocks, s3
):
    """Each metrics object is parsed in a reader thread as it lands (the listing's thread goes
    on with the fetches), and the bucket reads exactly as the same folder."""
    # (two files of a run giving one key different values at one step: which one wins follows the
    # objects' arrival, as it did before the reads went side by side)
    _runs(tmp_path / "runs", clash=False)
    s3.bucket("scale")
    s3.upload_tree(tmp_path / "runs", "scale", "sweep")
    monkeypatch.setattr(follow, "READ_THREADS", 2)
    threads: set[str] = set()
    real = JsonlMetricsParser.feed

    def feed(self, block, first_line):
        threads.add(threading.current_thread().name)
        return real(self, block, first_line)

    monkeypatch.setattr(JsonlMetricsParser, "feed", feed)
    remote = Follower(["s3://scale/sweep/"])
    remote.read_all()
    assert threads and all(name.startswith("rltop-read") for name in threads)
    local = Follower([str(tmp_path / "runs")])
    local.read_all()

    def by_name(follower):
        snap = follower.store.snapshot()
        return {r.name: r for r in snap.runs}

    remote_runs, local_runs = by_name(remote), by_name(local)
    assert sorted(remote_runs) == sorted(local_runs) and len(local_runs) == 6
    for name, run in local_runs.items():
        # the same columns and values (their order follows the objects' arrival, as it did)
        columns = sorted(run.metrics.columns)
        assert_frame_equal(remote_runs[name].metrics.select(columns), run.metrics.select(columns))
        assert remote_runs[name].rollouts.height == run.rollouts.height
