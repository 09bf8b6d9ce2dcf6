"""Issue #12 row 15: a 50 MB completion under ``--max-memory 256M`` opens at once: it is shown a
page at a time, read back from disk as the user turns pages; the detail view never holds it."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from textual.widgets import Static

from rltop.core.pagedtext import LONG_TEXT, PAGE_BYTES, PagedText
from rltop.ui.app import make_app
from rltop.ui.screens.rollout_detail import PagedView, RolloutDetailScreen
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.widgets.rollout_list import RolloutList

from uihelp import wait_for

WORDS = "".join(f"word{i} " + ("\n" if i % 12 == 11 else "") for i in range(8_000_000))[
    : 50 * 1024 * 1024
]


def test_paged_text_round_trips_and_keeps_pages_small() -> None:
    text = ("héllo wörld ✓ \x1b[2J line\n" * 40_000) + "é" * 70_000
    paged = PagedText(text)
    assert "".join(paged.page(i) for i in range(paged.pages)) == text
    assert all(b - a <= PAGE_BYTES for a, b in zip(paged.offsets, paged.offsets[1:], strict=False))
    paged.close()


@pytest.mark.slow
async def test_a_50_mb_completion_is_paged_from_disk(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "run"
    logs.mkdir(parents=True)
    with open(logs / "rollouts.jsonl", "w") as fh:
        for step in range(3):
            fh.write(
                json.dumps({"step": step, "prompt": "p", "completion": "short", "reward": 0.1})
            )
            fh.write("\n")
        fh.write(json.dumps({"step": 3, "prompt": "long one", "completion": WORDS, "reward": 1.0}))
        fh.write("\n")
    app = make_app([str(tmp_path / "logs")], max_memory=256 * 1024 * 1024)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.runs, 30)
        await wait_for(pilot, lambda: app.snapshot.runs[0].rollouts.height == 4, 30)
        # the reader kept the long line cold: its text is on disk, its length is known
        long_row = app.snapshot.runs[0].rollouts.filter(pl.col("step") == 3)
        assert long_row["completion"][0] is None and long_row["length"][0] == len(WORDS)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
        rlist = app.screen.query_one(RolloutList)
        await wait_for(pilot, lambda: rlist.count == 4, 20)
        frame = rlist.frame
        row = next(i for i in range(frame.height) if frame["step"][i] == 3)
        # the list shows the head of the text (read in windows), never the whole
        rlist._rows(0, rlist.count)
        heads = [r["completion"] for r in rlist._cache.values() if r["step"] == 3]
        assert heads and WORDS.startswith(heads[0][:500]) and len(heads[0]) < 3000
        app.push_screen(RolloutDetailScreen(frame, row))
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen), 30)
        detail = app.screen
        await pilot.pause(0.2)
        # the screen holds no copy of the text: a page of it is on screen, the rest on disk
        assert detail.data["completion"] is None
        assert all(not (isinstance(v, str) and len(v) > LONG_TEXT) for v in detail.data.values())
        view = detail.query_one(PagedView)
        page = str(view.query_one(".page", Static).render())
        assert len(page.encode()) <= PAGE_BYTES + 1024 and WORDS.startswith(page[:1000])
        assert "page 1 of" in str(view.query_one(".pager", Static).render())
        await pilot.press("right_square_bracket")
        await pilot.pause(0.1)
        second = str(view.query_one(".page", Static).render())
        assert view.index == 1 and second[:200] in WORDS and second[:200] not in page
        await pilot.press("end")
        await pilot.pause(0.3)
        await pilot.press("pagedown")  # scrolling past the end turns the page too
        await pilot.pause(0.1)
        assert view.index == 2
