"""A large rollout file on a screen: its newest lines are in the store at once, then the whole
file replaces them (same rows as a headless read, counted once)."""

from __future__ import annotations

import pytest
from polars.testing import assert_frame_equal

from rltop.core import follow
from rltop.core.follow import Follower
from rltop.core.formats.rollouts import RolloutJsonlParser
from test_catch_up import NUMBERS, rows, small_threshold, write  # noqa: F401


def test_newest_lines_first_then_the_whole_file(tmp_path, monkeypatch, small_threshold):  # noqa: F811
    monkeypatch.setattr(follow, "ROLLOUT_PREVIEW_BYTES", 40 * 1024)
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(1500))
    headless = Follower([str(path.parent)])
    headless.read_all()
    whole = next(iter(headless.store.runs.values())).rollouts.frame()

    follower = Follower([str(path.parent)], previews=True)
    follower.scan()
    followed = follower.followed[str(path)]
    seen = []
    while True:
        _changed, more = follower.read_source(followed)
        run = next(iter(follower.store.runs.values()))
        seen.append(run.rollouts.frame().height)
        if not more:
            break
    # first the newest lines only (their steps are the last ones), then every line
    assert 0 < seen[0] < 1500 and seen[-1] == 1500
    run = next(iter(follower.store.runs.values()))
    got = run.rollouts.frame()
    assert_frame_equal(got.select(NUMBERS), whole.select(NUMBERS))
    info = follower.store.sources[str(path)]
    assert info.rows == 1500 and info.resets == 0 and info.skipped == 0
    assert info.lines_read == 1500


def test_the_preview_holds_the_newest_steps(tmp_path, monkeypatch, small_threshold):  # noqa: F811
    monkeypatch.setattr(follow, "ROLLOUT_PREVIEW_BYTES", 40 * 1024)
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(1500))
    follower = Follower([str(path.parent)], previews=True)
    follower.scan()
    followed = follower.followed[str(path)]
    assert follower.read_source(followed) == (True, True)
    frame = next(iter(follower.store.runs.values())).rollouts.frame()
    last_step = 1 + 1499 // 32
    assert frame.get_column("step").max() == last_step
    # rows of the preview know where their lines are: read back, they give the same text
    row = frame.row(0, named=True)
    with open(path, "rb") as fh:
        fh.seek(row["_offset"])
        raw = fh.read(row["_len"])
    assert RolloutJsonlParser(str(path)).reread(raw)["completion"] == row["completion"]


def test_headless_reads_have_no_preview(tmp_path, monkeypatch, small_threshold):  # noqa: F811
    monkeypatch.setattr(follow, "ROLLOUT_PREVIEW_BYTES", 40 * 1024)
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(600))
    follower = Follower([str(path.parent)])
    follower.scan()
    follower.read_source(follower.followed[str(path)])
    assert next(iter(follower.store.runs.values())).rollouts.frame().height == 600


@pytest.mark.usefixtures("small_threshold")
def test_the_whole_read_waits_for_a_screen_to_show_the_preview(tmp_path, monkeypatch):
    """With a screen, the one-pass read of the whole file starts once the newest lines are shown
    (or after PREVIEW_HOLD at most): the two would otherwise share the cores."""
    import threading

    monkeypatch.setattr(follow, "ROLLOUT_PREVIEW_BYTES", 40 * 1024)
    monkeypatch.setattr(follow, "PREVIEW_HOLD", 30.0)
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(1500))
    follower = Follower([str(path.parent)], previews=True)
    follower.scan()
    followed = follower.followed[str(path)]
    assert follower.read_source(followed) == (True, True)  # the preview
    done = threading.Event()
    worker = threading.Thread(target=lambda: (follower.read_source(followed), done.set()))
    worker.start()
    assert not done.wait(0.5)  # held for the screen
    follower.first_frame_shown.set()
    assert done.wait(30)
    worker.join()
    assert next(iter(follower.store.runs.values())).rollouts.frame().height == 1500


@pytest.mark.usefixtures("small_threshold")
@pytest.mark.parametrize("screen", [True, False])
def test_a_screen_reads_the_whole_file_in_blocks(tmp_path, monkeypatch, screen):
    """Behind a screen the whole read goes a block at a time (its peak would come on top of the
    drawn screen); headless, polars maps the file (the fastest read). Same rows either way."""
    monkeypatch.setattr(follow, "ROLLOUT_PREVIEW_BYTES", 40 * 1024)
    monkeypatch.setattr(RolloutJsonlParser, "PASS_BLOCK", 64 * 1024)
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(1500))
    reads: list[str] = []
    for name in ("_mapped_pass", "_pass_in_blocks"):
        real = getattr(RolloutJsonlParser, name)

        def spy(self, *args, _real=real, _name=name):
            reads.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(RolloutJsonlParser, name, spy)
    follower = Follower([str(path.parent)], previews=screen)
    follower.first_frame_shown.set()
    follower.read_all()
    assert reads == (["_pass_in_blocks"] if screen else ["_mapped_pass"])
    frame = next(iter(follower.store.runs.values())).rollouts.frame()
    assert frame.height == 1500
    assert frame.get_column("completion").null_count() == 1500  # one pass: text on disk
    headless = Follower([str(path.parent)])
    headless.read_all()
    whole = next(iter(headless.store.runs.values())).rollouts.frame()
    assert_frame_equal(frame.select(NUMBERS), whole.select(NUMBERS))
