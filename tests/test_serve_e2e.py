"""End to end in a browser: ``rltop serve`` on a run folder, opened in headless Chromium.

Chromium comes from the system packages (``.ci/run`` installs it where missing); the test is
skipped only where it is not installed. Set ``RLTOP_SCREENSHOT_DIR=docs/images`` to refresh the
README's picture of the page (``serve.png``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from browserhelp import CHROMIUM, Browser, start_serve, stop_group
from uihelp import demo_folder

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (apt-get install chromium; .ci/run does it where it can)",
    ),
]

#: model text that would restyle the page if it were read as markup or escapes
HOSTILE = "[bold]BOLD[/bold] \x1b[31mRED\x1b[0m \x1b]0;PWNED\x07done"


def footer(screen: str) -> str:
    """The key bar: the last row of the page's terminal."""
    rows = screen.splitlines()
    return rows[-1] if rows else ""


def run_folder(root: Path) -> Path:
    """The demo's GRPO run (metrics + rollouts) plus one step whose model text is hostile."""
    demo_folder(root, steps=30)
    rollouts = root / "demo-grpo" / "rollouts"
    # an early step: the list (newest first) shows it only once the query finds it
    with open(rollouts / "hostile.jsonl", "w") as fh:
        row = {"input": "say it", "output": HOSTILE, "gts": "1", "score": 1.0, "step": 5}
        fh.write(json.dumps({**row, "acc": True}) + "\n")
    return root


async def test_serve_in_headless_chromium(tmp_path):
    folder = run_folder(tmp_path / "logs")
    serve, url = start_serve(folder, "e2e-token")
    port = int(url.split(":")[2].split("/")[0])
    assert url == f"http://127.0.0.1:{port}/?token=e2e-token"
    browser = Browser(tmp_path / "profile")
    cleaned = False
    try:
        await browser.connect()
        await browser.send("Page.enable")
        await browser.send("Page.navigate", url=url)
        # the dashboard: metric cards of the demo run, drawn by the tab's own rltop
        await browser.wait_text(lambda t: "critic/score/mean" in t, 30, "the dashboard")
        shots = os.environ.get("RLTOP_SCREENSHOT_DIR")
        await browser.screenshot(tmp_path / "serve.png")
        assert (tmp_path / "serve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if shots:
            shutil.copyfile(tmp_path / "serve.png", Path(shots) / "serve.png")
        await browser.press("o")
        text = await browser.wait_text(
            lambda t: "rollouts of demo-grpo" in t and "s Sort" in footer(t), 15, "the rollout list"
        )
        assert "961 rollouts" in text and "BOLD" not in text  # step 5 is far down the list
        await browser.press("/")
        # Textual moves the focus a moment after the key: wait for it (the footer then shows the
        # query box's keys) before typing, as a person would see the box take the cursor
        await browser.wait_text(
            lambda t: "esc Back" in footer(t) and "Sort" not in footer(t), 10, "the query box"
        )
        await browser.type("BOLD")
        await browser.wait_text(lambda t: "▊  BOLD " in t, 10, "the query typed")
        await browser.press("enter")
        text = await browser.wait_text(
            lambda t: "[bold]BOLD[/bold]" in t and "1 of 961 match" in t, 15, "the one match"
        )
        # inert: the markup and the escape sequences are shown as text, not applied
        assert "␛[31mRED␛[0m" in text
        assert "\x1b" not in text and "\x07" not in text
        assert "PWNED" not in (await browser.evaluate("document.title"))
    finally:
        # Ctrl+C / SIGTERM with a tab still open ends the server and every tab's rltop
        cleaned = stop_group(serve, grace=15)
        await browser.close()
    assert cleaned, "rltop serve left processes behind after SIGTERM"
