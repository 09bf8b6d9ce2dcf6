"""How fresh a run is: live, quiet for a while, or ended — from when its files were last written.

The title of the dashboard used to say "● live" for any followed file, a folder untouched for days
included. Freshness is judged from the files' modification times (what the trainer wrote, not when
rltop read it) against the stall window of the ``run.stalled`` rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rltop.core.store import RunSnapshot

#: written within this many seconds: live; after that "quiet for N min" until the stall window
QUIET_AFTER = 60.0


@dataclass(frozen=True)
class Freshness:
    state: str  # "live" | "quiet" | "ended"
    last_write: float | None  # newest modification time of the run's files (epoch seconds)
    age: float | None  # seconds since then

    @property
    def label(self) -> str:
        """``● live``, ``◐ quiet 7 min``, ``○ ended · last write 3 d ago``.

        Live means written within the last minute: its age in seconds would only flicker."""
        if self.state == "live":
            return "● live"
        if self.state == "quiet":
            return f"◐ quiet {age_text(self.age or 0)}"
        if self.age is None:
            return "○ ended"
        return f"○ ended · last write {age_text(self.age)} ago"


def age_text(seconds: float) -> str:
    """A compact age: 4 s, 7 min, 3 h, 3 d."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def last_write(run: RunSnapshot) -> float | None:
    """The newest modification time among the run's files (None when none can be read)."""
    newest = None
    for source in run.sources:
        try:
            mtime = os.stat(source.path).st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return newest


def freshness(
    run: RunSnapshot, now: float, stall_seconds: float, *, written: float | None = None
) -> Freshness:
    """Live within ``QUIET_AFTER`` of the last write, quiet until ``stall_seconds``, then ended.

    ``written``: the last write when the caller knows it (saves the stat calls); every source
    reported ended (vanished, finished) also counts as ended.
    """
    written = last_write(run) if written is None else written
    age = None if written is None else max(0.0, now - written)
    if run.sources and all(s.status == "ended" for s in run.sources):
        state = "ended"
    elif age is None:
        state = "live" if any(s.status == "following" for s in run.sources) else "ended"
    elif age < QUIET_AFTER:
        state = "live"
    elif age < stall_seconds:
        state = "quiet"
    else:
        state = "ended"
    return Freshness(state, written, age)
