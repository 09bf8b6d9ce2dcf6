"""Data on screen while the files there at start are read: the first steps show at once, the
status line says how far the reading is, and the rules wait for the whole of the files."""

from __future__ import annotations

import json
import threading

from rltop.core import follow
from rltop.core.follow import Follower
from rltop.ui.app import make_app
from rltop.ui.widgets.status import StatusLine
from rltop.ui.widgets.warnings import CATCH_UP_NOTE, WarningsPane

from uihelp import wait_for


def _metrics(path, steps: int) -> None:
    with open(path, "w") as fh:
        for step in range(1, steps + 1):
            data = {f"actor/m{i}": step * 0.001 + i for i in range(30)}
            data["critic/score/mean"] = 0.5
            fh.write(json.dumps({"step": step, "data": data}) + "\n")


async def test_first_steps_on_screen_while_the_rest_is_read(tmp_path, monkeypatch):
    _metrics(tmp_path / "metrics.jsonl", 3000)
    size = (tmp_path / "metrics.jsonl").stat().st_size
    # small reads, and the follower held after its first one until the test lets it go on
    monkeypatch.setattr(follow, "FIRST_READ", 64 * 1024)
    monkeypatch.setattr(follow, "METRICS_CHUNK", 256 * 1024)
    go_on = threading.Event()
    reads = []
    real = Follower.read_source

    def held(self, followed):
        if reads:
            go_on.wait(20)
        reads.append(followed.info.path)
        return real(self, followed)

    monkeypatch.setattr(Follower, "read_source", held)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.runs)
        await wait_for(pilot, lambda: app.snapshot.runs[0].metrics.height > 0)
        run = app.snapshot.runs[0]
        assert 0 < run.metrics.height < 3000  # the first read only
        status = str(app.screen.query_one(StatusLine).render())
        assert "reading" in status and f"/ {size / 1e6:,.1f} MB" in status
        pane = app.screen.query_one(WarningsPane)
        assert pane.has_class("shown") and "warnings after the catch-up" in str(pane.render())
        assert app.warnings_tracker.state.evaluated == 0  # the rules wait
        go_on.set()
        await wait_for(pilot, lambda: app.follower.caught_up_version is not None)
        await wait_for(pilot, lambda: app.warnings_tracker.state.evaluated > 0)
        await wait_for(pilot, lambda: app.snapshot.runs[0].metrics.height == 3000)
        assert len(reads) > 3
        status = str(app.screen.query_one(StatusLine).render())
        assert "reading" not in status
        assert CATCH_UP_NOTE not in str(pane.render())
