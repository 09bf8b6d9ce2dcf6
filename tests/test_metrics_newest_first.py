"""A large metrics JSONL on a screen: its end is read first from a line boundary (the newest steps
at once), then the part before it as older rows, then its tail; the store ends up as a read from
the start has it (frame, text values, skips with their line numbers, counts)."""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from rltop.core import follow
from rltop.core.follow import Follower
from rltop.core.formats import jsonl
from rltop.core.formats.jsonl import JsonlMetricsParser

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"


@pytest.fixture(params=["blocks", "one pass"])
def small_end(request, monkeypatch) -> list[bool] | None:
    """Any file is large enough to have its end read first (``PREVIEW_BYTES`` set per test);
    the part before it read block by block, or (param "one pass") in one pass by polars when it
    can (``catch_up_before``, 8 MB and more in real use). Gives whether each one-pass read
    was used (None: "blocks")."""
    monkeypatch.setattr(follow, "NEWEST_FIRST_MIN", 0)
    used: list[bool] = []
    if request.param == "blocks":
        return None
    if request.param == "one pass":
        monkeypatch.setattr(JsonlMetricsParser, "CATCH_UP_MIN_BYTES", 0)
        monkeypatch.setattr(JsonlMetricsParser, "BULK_MIN_BYTES", 64 * 1024)
        monkeypatch.setattr(jsonl, "SAMPLE_BYTES", 8 * 1024)
        monkeypatch.setattr(jsonl, "SCAN_BYTES", 4099)
        real = JsonlMetricsParser.catch_up_before

        def spy(self, end, after=None):
            caught = real(self, end, after)
            used.append(caught is not None)
            return caught

        monkeypatch.setattr(JsonlMetricsParser, "catch_up_before", spy)
    return used


def _line(step: int, rng: random.Random, keys: list[str], **extra) -> bytes:
    obj = {"step": step, **{k: round(rng.uniform(-2, 2), 4) for k in keys}, **extra}
    return json.dumps(obj).encode()


def _lines(
    n: int, seed: int = 0, *, bad: tuple[int, ...] = (), width: int = 6, notes: bool = True
) -> list[bytes]:
    """``n`` steps; some keys only in the first lines, some only in the last ones, a key that is
    null at first, a text value (``notes``), bad lines at the indexes in ``bad``."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for i in range(n):
        keys = [f"train/m{k}" for k in range(width)]
        extra: dict = {}
        if i < n // 5:
            keys.append("early/only")
        if i > n - n // 6:
            keys.append("late/only")
        extra["sparse"] = None if i < n // 2 else 0.5
        if notes and i % 97 == 0:
            extra["note"] = f"text {i}"
        out.append(_line(i + 1, rng, keys, **extra))
    for at in bad:
        kind = at % 4
        out[at] = [
            b'{"step": 3, "x": ',  # not JSON
            b'{"loss": 1.0}',  # no step
            b"",  # blank
            b"[1, 2]",  # not an object
        ][kind]
    return out


def _write(path: Path, lines: list[bytes], *, tail: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n" + tail)
    return path


def _straight(folder: Path) -> Follower:
    follower = Follower([str(folder)])
    follower.read_all()
    return follower


def _newest_first(folder: Path) -> Follower:
    """A screen's follower that read the end of its file first, then the rest."""
    follower = Follower([str(folder)], previews=True)
    follower.first_frame_shown.set()
    follower.scan()
    for followed in follower.followed.values():
        assert follower.read_source(followed) == (True, True)
        assert followed.newer is not None  # the end was read first
    follower.read_all()
    assert all(f.newer is None for f in follower.followed.values())
    return follower


def _state(follower: Follower) -> list[tuple]:
    snap = follower.store.snapshot()
    out = []
    for run, source in zip(snap.runs, snap.sources, strict=True):
        out.append(
            (
                run.text_metrics,
                source.lines_read,
                source.rows,
                source.skipped,
                list(source.skip_reasons.items()),
                list(source.recent_skips),
                source.ignored,
                dict(source.ignore_reasons),
                source.bytes_read,
                source.max_step,
                source.restarts,
                source.status,
            )
        )
    return out


def assert_same(got: Follower, want: Follower) -> None:
    a, b = got.store.snapshot(), want.store.snapshot()
    assert len(a.runs) == len(b.runs)
    for x, y in zip(a.runs, b.runs, strict=True):
        assert_frame_equal(x.metrics, y.metrics)  # columns, their order, dtypes and values
    assert _state(got) == _state(want)


def _read_end_first(folder: Path) -> tuple[Follower, object]:
    """A screen's follower after its first read of the only file: its end, read first."""
    follower = Follower([str(folder)], previews=True)
    follower.first_frame_shown.set()
    follower.scan()
    (followed,) = follower.followed.values()
    assert follower.read_source(followed) == (True, True)
    assert followed.newer is not None
    return follower, followed


@pytest.mark.parametrize("preview", [200, 1000, 4097, 30_000, 400_000])
@pytest.mark.parametrize("bad", [(), (5, 6, 7, 8), (2990, 2995, 2997, 2998), (10, 1500, 2996)])
def test_same_as_a_straight_read(tmp_path, monkeypatch, small_end, preview, bad):
    """Keys only in the first or the last lines, nulls, text values, bad lines in either part;
    parts from a few lines to most of the file (small blocks line by line, large ones through
    polars)."""
    monkeypatch.setattr(follow, "PREVIEW_BYTES", preview)
    # text values are read line by line: a clean file without them is read in one pass
    path = _write(tmp_path / "run" / "metrics.jsonl", _lines(3000, bad=bad, notes=bool(bad)))
    want = _straight(path.parent)
    got = _newest_first(path.parent)
    (followed,) = got.followed.values()
    assert followed.newest_tried and followed.newer is None
    assert_same(got, want)
    skips = want.store.snapshot().sources[0].recent_skips
    assert len(skips) == sum(1 for at in bad if at % 4 != 2)  # blank lines are no skips
    if small_end is not None and not bad:  # a clean file's part before its end: one pass
        assert small_end == [True]


@pytest.mark.parametrize("where", ["end", "before"])
def test_one_pass_with_blank_lines_or_lines_appended(tmp_path, monkeypatch, small_end, where):
    """The part before the end in one pass, its rows told apart from the rest of the file's by
    where its lines end: a blank line in the end, or lines appended since the end was read."""
    if small_end is None:
        pytest.skip("one pass only")
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 6000)
    items = _lines(2000, seed=4, notes=False)
    if where == "end":
        items.insert(1995, b"")
    path = _write(tmp_path / "run" / "metrics.jsonl", items)
    follower, followed = _read_end_first(path.parent)
    if where == "before":
        with open(path, "ab") as fh:
            fh.write(b"\n".join(_lines(2100, seed=5, notes=False)[2000:]) + b"\n")
    while follower.read_source(followed)[1]:
        pass
    assert small_end == [True]
    assert_same(follower, _straight(path.parent))


def test_the_first_read_holds_the_newest_steps_only(tmp_path, monkeypatch, small_end):
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 20_000)
    path = _write(tmp_path / "run" / "metrics.jsonl", _lines(3000, bad=(2999,)))
    follower, followed = _read_end_first(path.parent)
    (run,) = follower.store.snapshot().runs
    steps = run.metrics.get_column("step")
    assert steps.max() == 2999 and steps.min() > 2000  # the last line is a bad one
    assert "late/only" in run.metrics.columns and "early/only" not in run.metrics.columns
    info = follower.store.snapshot().sources[0]
    # the end's skips and lines wait for the part before (their line numbers depend on it)
    assert info.skipped == 0 and info.lines_read == 0
    read, total = follower.progress()
    assert 0 < read < total == path.stat().st_size
    assert follower.reading_older()
    while follower.read_source(followed)[1]:
        pass
    assert not follower.reading_older()
    assert follower.progress() == (total, total)
    assert_same(follower, _straight(path.parent))
    assert follower.store.snapshot().sources[0].recent_skips[-1].line == 3000


def test_a_line_being_written_at_the_end(tmp_path, monkeypatch, small_end):
    """The last line has no newline yet: it is the tail's, once it has one."""
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 5000)
    items = _lines(800)
    path = _write(tmp_path / "run" / "metrics.jsonl", items, tail=b'{"step": 801, "train/m0": 0.')
    follower = _newest_first(path.parent)
    assert follower.store.snapshot().runs[0].last_step == 800
    assert_same(follower, _straight(path.parent))
    with open(path, "ab") as fh:
        fh.write(b'5, "late/only": 2.0}\n' + _line(802, random.Random(1), ["train/m1"]) + b"\n")
    while follower.poll_once():
        pass
    assert follower.store.snapshot().runs[0].last_step == 802
    assert_same(follower, _straight(path.parent))


def test_the_end_starts_on_a_line_boundary(tmp_path, monkeypatch, small_end):
    """The end read first starting right at a line's first byte keeps that line (the byte
    before it is looked at), one byte later drops it to the part before."""
    items = _lines(400)
    path = _write(tmp_path / "run" / "metrics.jsonl", items)
    size = path.stat().st_size
    last = len(items[-1]) + 1
    for preview, first in ((last, 400), (last - 1, None)):
        monkeypatch.setattr(follow, "PREVIEW_BYTES", preview)
        follower = Follower([str(path.parent)], previews=True)
        follower.scan()
        (followed,) = follower.followed.values()
        follower.read_source(followed)
        if first is None:  # no complete line in the end: read from the start
            assert followed.newer is None
            continue
        assert followed.newer is not None
        assert (followed.newer.begin, followed.newer.stop) == (size - last, size)
        assert follower.store.snapshot().runs[0].metrics.get_column("step").to_list() == [first]


def test_a_short_file_is_read_from_the_start(tmp_path, monkeypatch):
    monkeypatch.setattr(follow, "NEWEST_FIRST_MIN", 1 << 20)
    path = _write(tmp_path / "run" / "metrics.jsonl", _lines(300))
    follower = Follower([str(path.parent)], previews=True)
    follower.scan()
    (followed,) = follower.followed.values()
    follower.read_source(followed)
    assert followed.newer is None
    assert follower.store.snapshot().runs[0].metrics.get_column("step").min() == 1


def test_headless_reads_are_unchanged(tmp_path, monkeypatch, small_end):
    """``check`` wants the whole file in one pass: no end first."""
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 2000)
    path = _write(tmp_path / "run" / "metrics.jsonl", _lines(500))
    follower = Follower([str(path.parent)])
    follower.scan()
    (followed,) = follower.followed.values()
    follower.read_source(followed)
    assert followed.newer is None and not followed.newest_tried
    assert follower.store.snapshot().runs[0].metrics.get_column("step").min() == 1


def test_a_long_line_in_the_end_is_read_the_usual_way(tmp_path, monkeypatch, small_end):
    """A line the tail passes over as too long (with a note): the end is not read first."""
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 3000)
    items = _lines(300)
    items[-3] = json.dumps({"step": 9999, "blob": "x" * 2000}).encode()
    path = _write(tmp_path / "run" / "metrics.jsonl", items)
    want = Follower([str(path.parent)], max_line=1000)
    want.read_all()
    got = Follower([str(path.parent)], previews=True, max_line=1000)
    got.first_frame_shown.set()
    got.scan()
    (followed,) = got.followed.values()
    got.read_source(followed)
    assert followed.newest_tried and followed.newer is None
    while got.read_source(followed)[1]:
        pass
    assert_same(got, want)
    assert "over the 1,000-byte limit" in want.store.snapshot().sources[0].recent_skips[0].reason


def test_a_step_logged_in_both_parts_keeps_the_later_values(tmp_path, monkeypatch, small_end):
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 3000)
    items = _lines(600)
    items.append(json.dumps({"step": 5, "train/m0": 123.0, "late/only": 7.0}).encode())
    path = _write(tmp_path / "run" / "metrics.jsonl", items)
    got = _newest_first(path.parent)
    assert_same(got, _straight(path.parent))
    frame = got.store.snapshot().runs[0].metrics
    assert frame.filter(frame["step"] == 5)["train/m0"].item() == 123.0


@pytest.mark.parametrize("how", ["replaced", "truncated", "shorter than its end", "longer"])
def test_a_file_replaced_while_the_part_before_is_read(tmp_path, monkeypatch, small_end, how):
    """Rotated (a new file under the name), truncated and written again: the end read first is
    dropped with the rest, and the new file is read from its start."""
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 4000)
    monkeypatch.setattr(follow, "METRICS_CHUNK", 8000)  # the part before: several reads
    path = _write(tmp_path / "run" / "metrics.jsonl", _lines(1000, seed=1))
    follower, followed = _read_end_first(path.parent)
    follower.read_source(followed)  # one read of the part before
    count = {"shorter than its end": 30, "longer": 1100}.get(how, 900)
    fresh = _lines(count, seed=2)
    if how == "replaced":
        other = tmp_path / "new.jsonl"
        _write(other, fresh)
        os.replace(other, path)
    else:
        path.write_bytes(b"")
        _write(path, fresh)
    while follower.read_source(followed)[1]:
        pass
    assert followed.newer is None
    (run,) = follower.store.snapshot().runs
    want = _straight(path.parent).store.snapshot().runs[0]
    assert_frame_equal(run.metrics, want.metrics)


def test_lines_appended_while_the_part_before_is_read(tmp_path, monkeypatch, small_end):
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 4000)
    monkeypatch.setattr(follow, "METRICS_CHUNK", 8000)
    items = _lines(1200, bad=(3, 1190))
    path = _write(tmp_path / "run" / "metrics.jsonl", items[:1000])
    follower, followed = _read_end_first(path.parent)
    follower.read_source(followed)
    with open(path, "ab") as fh:
        fh.write(b"\n".join(items[1000:]) + b"\n")
    while follower.read_source(followed)[1]:
        pass
    assert_same(follower, _straight(path.parent))


@pytest.mark.parametrize(
    "fixture", ["verl/filelogger_verl_examples_gsm8k.jsonl", "tinker/metrics.jsonl"]
)
def test_fixtures(tmp_path, monkeypatch, small_end, fixture):
    """The metrics JSONL fixtures, their end read first from each of their line boundaries."""
    src = FIXTURES / fixture
    if not src.exists():
        pytest.skip("shared fixtures not here")
    run = tmp_path / "run"
    run.mkdir()
    path = run / os.path.basename(fixture)
    shutil.copyfile(src, path)
    want = _straight(run)
    data = path.read_bytes()
    ends = [i + 1 for i, byte in enumerate(data) if byte == 10][:-1]
    assert len(ends) >= 3
    for begin in ends:
        monkeypatch.setattr(follow, "PREVIEW_BYTES", len(data) - begin)
        got = _newest_first(run)
        (followed,) = got.followed.values()
        assert isinstance(followed.parser, JsonlMetricsParser)
        assert_same(got, want)


def test_the_part_before_waits_for_the_first_frame(tmp_path, monkeypatch, small_end):
    """The end's rows are in the store before the part before them is read, which waits (at
    most ``PREVIEW_HOLD``) for a screen to show them."""
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 3000)
    monkeypatch.setattr(follow, "PREVIEW_HOLD", 30)
    path = _write(tmp_path / "run" / "metrics.jsonl", _lines(900))
    follower = Follower([str(path.parent)], previews=True)
    done = threading.Event()

    def read() -> None:
        follower.read_all()
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for _ in range(2000):
            snap = follower.store.snapshot()
            if snap.runs and snap.runs[0].last_step == 900:
                break
            done.wait(0.01)
        assert not done.is_set()
        assert follower.store.snapshot().runs[0].metrics.get_column("step").min() > 800
    finally:
        follower.first_frame_shown.set()
    reader.join(20)
    assert done.is_set()
    assert_same(follower, _straight(path.parent))


# -- on screen ------------------------------------------------------------------------------------
async def test_the_newest_step_is_on_screen_before_the_older_part_is_read(
    tmp_path, monkeypatch, small_end
):
    from textual.widgets import Static

    from rltop.core.tail import FileTail
    from rltop.ui.app import make_app
    from rltop.ui.widgets.status import StatusLine
    from rltop.ui.widgets.warnings import CATCH_UP_NOTE, WarningsPane

    from uihelp import wait_for

    monkeypatch.setattr(follow, "PREVIEW_BYTES", 20_000)
    monkeypatch.setattr(follow, "METRICS_CHUNK", 256 * 1024)
    path = _write(tmp_path / "metrics.jsonl", _lines(3000, width=30))
    size = path.stat().st_size
    go_on = threading.Event()
    real = FileTail.read_lines

    def held(self):
        if self.limit is not None:  # the part before the end read first waits for the test
            go_on.wait(20)
        return real(self)

    monkeypatch.setattr(FileTail, "read_lines", held)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.runs)
        await wait_for(pilot, lambda: app.snapshot.runs[0].last_step == 3000)
        title = app.screen.query_one("#title", Static)
        await wait_for(pilot, lambda: "step 3000" in str(title.render()))
        run = app.snapshot.runs[0]
        assert 0 < run.metrics.height < 300  # the end only
        assert run.metrics.get_column("step").min() > 2700
        await wait_for(pilot, lambda: "older" in str(app.screen.query_one(StatusLine).render()))
        status = str(app.screen.query_one(StatusLine).render())
        assert "older steps still being read" in status
        assert f"/ {size / 1e6:,.1f} MB" in status
        pane = app.screen.query_one(WarningsPane)
        assert CATCH_UP_NOTE in str(pane.render())
        assert app.warnings_tracker.state.evaluated == 0  # the rules wait for the whole file
        assert app.follower.caught_up_version is None
        go_on.set()
        await wait_for(pilot, lambda: app.follower.caught_up_version is not None)
        await wait_for(pilot, lambda: app.snapshot.runs[0].metrics.height == 3000)
        await wait_for(pilot, lambda: app.warnings_tracker.state.evaluated > 0)
        assert "step 3000" in str(title.render())
        assert "older" not in str(app.screen.query_one(StatusLine).render())
        assert_frame_equal(
            app.snapshot.runs[0].metrics, _straight(tmp_path).store.snapshot().runs[0].metrics
        )


def test_written_anew_while_the_part_before_is_read_in_one_pass(tmp_path, monkeypatch, small_end):
    """Cut and written again, as long or longer, while polars reads the part before the end:
    the end's bytes are not there any more, so the file is read again from its start."""
    if small_end is None:
        pytest.skip("one pass only")
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 4000)
    path = _write(tmp_path / "run" / "metrics.jsonl", _lines(1000, seed=1, notes=False))
    real = JsonlMetricsParser.catch_up_before

    def rewritten(self, end, after=None):
        path.write_bytes(b"")
        _write(path, _lines(1100, seed=2, notes=False))
        return real(self, end, after)

    monkeypatch.setattr(JsonlMetricsParser, "catch_up_before", rewritten)
    follower, followed = _read_end_first(path.parent)
    while follower.read_source(followed)[1]:
        pass
    (run,) = follower.store.snapshot().runs
    want = _straight(path.parent).store.snapshot().runs[0]
    assert_frame_equal(run.metrics, want.metrics)
    assert follower.store.snapshot().sources[0].resets == 1


def test_several_files_read_side_by_side(tmp_path, monkeypatch, small_end):
    """Several runs' files (read in worker threads, ``ReadAhead``): each one's end first, the
    store as a straight read leaves it."""
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 5000)
    monkeypatch.setattr(follow, "READ_THREADS", 2)
    for i in range(3):
        _write(tmp_path / f"run{i}" / "metrics.jsonl", _lines(700 + 50 * i, seed=i, bad=(i * 300,)))
    ends: list[int] = []
    real = Follower._newest_lines

    def spy(self, followed):
        taken = real(self, followed)
        ends.append(taken is not None)
        return taken

    monkeypatch.setattr(Follower, "_newest_lines", spy)
    got = Follower([str(tmp_path)], previews=True)
    got.first_frame_shown.set()
    got.read_all()
    assert ends == [True, True, True]
    assert all(f.newer is None for f in got.followed.values())
    assert_same(got, _straight(tmp_path))
