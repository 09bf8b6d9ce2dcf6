"""The status line: files followed, lines read and skipped (with the last reason), last update."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from rltop.core.store import StoreSnapshot
from rltop.ui.safe import clean


def clock(timestamp: float) -> str:
    """Wall-clock time of an update (a seam for deterministic snapshot tests)."""
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def status_text(snap: StoreSnapshot, *, extra: str = "", watch_mode: str = "") -> Text:
    """Absolute times only: the line must not need a redraw every second while nothing changes."""
    ended = sum(1 for s in snap.sources if s.status == "ended")
    errors = [s for s in snap.sources if s.status == "error"]
    text = Text()
    files = snap.files_followed
    text.append(f" {files} file{'' if files == 1 else 's'} followed", style="bold")
    if ended:
        text.append(f" · {ended} ended")
    if errors:
        text.append(
            f" · {len(errors)} unreadable ({clean(errors[0].error or '', keep_newlines=False)})",
            style="bold red",
        )
    # whole-file and record sources (trainer_state.json, tfevents, W&B) read no lines: count rows
    lines = sum(s.lines_read for s in snap.sources)
    records = sum(s.rows for s in snap.sources if not s.lines_read)
    if lines or not records:
        text.append(f" · {lines:,} line{'' if lines == 1 else 's'}")
    if records:
        text.append(f" · {records:,} record{'' if records == 1 else 's'}")
    skipped = snap.lines_skipped
    if skipped:
        reasons = {}
        for s in snap.sources:
            for reason, n in s.skip_reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
        top = max(reasons, key=reasons.get) if reasons else ""
        text.append(f" · {skipped:,} skipped", style="bold yellow")
        if top:
            top = clean(top, keep_newlines=False)
            top = (
                top if len(top) <= 60 else top[:59] + "…"
            )  # cut with a mark, never mid-word silently
            text.append(f" ({top})", style="yellow")
    if snap.last_update:
        text.append(" · updated " + clock(snap.last_update))
    if watch_mode == "polling":
        text.append(" · polling")
    elif watch_mode.startswith("cannot"):  # an object-store prefix that cannot be listed
        text.append(" · " + clean(watch_mode, keep_newlines=False), style="bold red")
    elif watch_mode.startswith("listed"):  # object stores: when the last listing was
        text.append(" · " + clean(watch_mode, keep_newlines=False))
    if extra:
        text.append(" · " + extra)
    return text


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text-muted; }
    """
