"""Following live: appended lines and new files reach the store, by inotify and by polling."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time

import pytest

from rltop.core.follow import Follower


def _wait(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("polling", [False, True], ids=["watchfiles", "polling"])
def test_appends_new_files_and_new_folders_are_followed(tmp_path, polling):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "reward": 0.1}) + "\n")
    follower = Follower([str(tmp_path)], force_polling=polling, rescan_interval=0.5)
    stop = threading.Event()
    changes = []
    thread = threading.Thread(
        target=follower.run, args=(stop, lambda: changes.append(1)), daemon=True
    )
    thread.start()
    store = follower.store
    try:
        assert _wait(lambda: store.snapshot().runs and store.snapshot().runs[0].last_step == 1)
        with open(path, "a") as fh:
            fh.write(json.dumps({"step": 2, "reward": 0.2}) + "\n")
            fh.write('{"step": 3, "rew')  # half-written: must wait
        assert _wait(lambda: store.snapshot().runs[0].last_step == 2)
        time.sleep(0.3)
        assert store.snapshot().runs[0].last_step == 2
        with open(path, "a") as fh:
            fh.write('ard": 0.3}\n')
        assert _wait(lambda: store.snapshot().runs[0].last_step == 3)
        sub = tmp_path / "later" / "rollouts"
        sub.mkdir(parents=True)
        (sub / "7.jsonl").write_text(
            json.dumps({"prompt": "p", "completion": "c", "score": 1.0}) + "\n"
        )
        assert _wait(lambda: any(r.rollouts.height for r in store.snapshot().runs))
        later = next(r for r in store.snapshot().runs if r.rollouts.height)
        assert later.name == "later" and later.rollouts["step"].to_list() == [7]
        assert follower.watch_mode == ("polling" if polling else "watchfiles")
        assert changes
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_following_never_writes_into_the_logs_folder(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text(json.dumps({"step": 1, "reward": 0.1}) + "\n")
    (tmp_path / "run" / "trainer_state.json").write_text(
        json.dumps({"log_history": [{"step": 1, "loss": 1.0}]})
    )
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")}
    follower = Follower([str(tmp_path)])
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop, lambda: None), daemon=True)
    thread.start()
    assert _wait(
        lambda: follower.store.snapshot().runs and follower.store.snapshot().runs[0].metric_names
    )
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=5)
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")}
    assert after == before
    assert not any(
        name.startswith(".") for _root, dirs, files in os.walk(tmp_path) for name in dirs + files
    )


def test_rltop_poll_means_what_it_says(monkeypatch):
    from rltop.core.follow import Follower

    for value, polling in (("0", False), ("no", False), ("", False), ("1", True), ("on", True)):
        monkeypatch.setenv("RLTOP_POLL", value)
        assert Follower(["."]).force_polling is polling, value


def test_a_streaming_writer_is_read_in_batches(tmp_path):
    """Lines every 20 ms: the follower reads at most every STREAM_READ_GAP and loses none."""
    from rltop.core import follow

    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 0, "reward": 0.0}) + "\n")
    follower = Follower([str(tmp_path)])
    reads = []
    real = follower._read_paths
    # the follower's own clock reading for each read: what its pacing decides from
    follower._read_paths = lambda *a: (reads.append(follower._last_read), real(*a))[1]
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop, lambda: None), daemon=True)
    thread.start()
    store = follower.store
    try:
        assert _wait(lambda: follower.caught_up_version is not None)
        reads.clear()
        with open(path, "a") as fh:
            for step in range(1, 61):  # 1.2 s of a line every 20 ms
                fh.write(json.dumps({"step": step, "reward": step / 100}) + "\n")
                fh.flush()
                time.sleep(0.02)
        assert _wait(lambda: store.snapshot().runs[0].last_step == 60)
        assert store.snapshot().runs[0].metrics.height == 61  # every line
        # batches: fewer reads than lines, never two within STREAM_READ_GAP (a count over the
        # writer's real time would depend on the machine's load)
        assert 1 <= len(reads) < 60
        gaps = [b - a for a, b in itertools.pairwise(reads)]
        assert all(gap >= follow.STREAM_READ_GAP - 1e-3 for gap in gaps), gaps
    finally:
        stop.set()
        thread.join(5)
