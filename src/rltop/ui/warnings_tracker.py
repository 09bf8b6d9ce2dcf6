"""The controller behind the warnings: the diagnoser run off the UI thread, its state for the UI.

``WarningsTracker`` owns one ``Diagnoser`` (thresholds and role aliases from the settings), the
best-checkpoint candidates per run and a bounded history of cleared warnings. ``submit(snapshot)``
evaluates in a thread worker (the rules cost ~10 ms at 10k steps: never on the event loop) and hands
the result back to the UI thread, which keeps it in ``WarningsState`` and tells its listeners (the
dashboard's strip, the warnings screen). It is no widget: it lives beside the app, not in widgets/.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rltop.core.checkpoint import BestCheckpoint, best_checkpoint
from rltop.core.diagnose import Diagnoser, Warning, WarningsUpdate
from rltop.core.store import StoreSnapshot

if TYPE_CHECKING:
    from textual.timer import Timer

    from rltop.config import Settings
    from rltop.ui.app import RltopApp

#: cleared warnings kept for the warnings screen
HISTORY_LENGTH = 50
#: seconds the "N new warnings" line stays at the top of the strip
NEWS_SECONDS = 10.0


def clock() -> float:
    """Wall-clock seconds for ``run.stalled`` (a seam for deterministic tests)."""
    return time.time()


@dataclass
class Cleared:
    """A warning that is no longer active, with the step of its run when it cleared."""

    warning: Warning
    at_step: int | None
    at: float


@dataclass
class WarningsState:
    """What the UI shows: active warnings (most severe first), history, best checkpoints."""

    active: list[Warning] = field(default_factory=list)
    history: deque[Cleared] = field(default_factory=lambda: deque(maxlen=HISTORY_LENGTH))
    best: dict[str, BestCheckpoint | None] = field(default_factory=dict)
    evaluated: int = 0  # updates applied (tests wait on this)
    version: int | None = None  # the store snapshot version they describe
    #: warnings just started, shown as one line at the top of the dashboard's strip for a while
    #: (never as toasts over what the user reads)
    news: list[Warning] = field(default_factory=list)


class WarningsTracker:
    """Runs the ``Diagnoser`` in a thread after each store change; results land on the UI thread."""

    def __init__(
        self,
        app: RltopApp,
        settings: Settings,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.app = app
        self.role_extra = dict(settings.roles)
        self.diagnoser = Diagnoser(
            settings.thresholds, settings.roles, clock=clock or (lambda: _module_clock())
        )
        self.state = WarningsState()
        self.listeners: list[Callable[[WarningsState], None]] = []
        self._lock = threading.Lock()
        self._pending: StoreSnapshot | None = None
        self._busy = False
        self._best_versions: dict[str, int] = {}
        self._announced_start = False
        self._news_timer: Timer | None = None

    def submit(self, snap: StoreSnapshot) -> None:
        """Queue ``snap`` for evaluation; only the newest waiting snapshot is evaluated."""
        with self._lock:
            self._pending = snap
            if self._busy:
                return
            self._busy = True
        self.app.run_worker(self._evaluate, thread=True, group="diagnose", exit_on_error=False)

    def _evaluate(self) -> None:
        while True:
            with self._lock:
                snap, self._pending = self._pending, None
                if snap is None:
                    self._busy = False
                    return
            try:
                update = self.diagnoser.update(snap)
                best = {}
                for run in snap.runs:
                    if self._best_versions.get(run.run_id) != run.version:
                        self._best_versions[run.run_id] = run.version
                        best[run.run_id] = best_checkpoint(run, self.role_extra)
                steps = {r.run_id: r.last_step for r in snap.runs}
            except Exception as exc:  # a rule must never take the dashboard down
                self.app.call_from_thread(
                    self.app.notify, f"diagnosis failed: {exc}", severity="error", timeout=10
                )
                continue
            # while the files present at start are read, rules flip as data streams in: those
            # flips are not news (no toasts, no history); the strip still shows the state
            done = self.app.follower.caught_up_version
            catching_up = done is None or snap.version < done
            self.app.call_from_thread(self.apply, update, best, steps, snap.version, catching_up)

    def apply(
        self,
        update: WarningsUpdate,
        best: dict[str, BestCheckpoint | None] | None = None,
        steps: dict[str, int | None] | None = None,
        version: int | None = None,
        catching_up: bool = False,
    ) -> None:
        """On the UI thread: keep the result, announce what started, move cleared to history."""
        state = self.state
        state.active = list(update.active)
        if best:
            state.best.update(best)
        now = time.time()
        if catching_up:
            pass
        elif not self._announced_start:
            # the first look at everything read at start: what is active is the news
            self._announced_start = True
            self.announce(list(update.active))
        else:
            for w in update.cleared:
                state.history.appendleft(Cleared(w, (steps or {}).get(w.run_id), now))
            self.announce(update.started + update.changed)
        state.evaluated += 1
        state.version = version
        for listener in list(self.listeners):
            listener(state)

    def announce(self, warnings: list[Warning]) -> None:
        """New warnings: one coalesced line in the dashboard's strip ("3 new warnings: …") for
        ``NEWS_SECONDS``; a later announcement replaces it. Focus and screens stay as they are."""
        if not warnings:
            return
        self.state.news = list(warnings)
        if self._news_timer is not None:
            self._news_timer.stop()
        self._news_timer = self.app.set_timer(NEWS_SECONDS, self._news_done)

    def _news_done(self) -> None:
        self._news_timer = None
        self.state.news = []
        for listener in list(self.listeners):
            listener(self.state)


def _module_clock() -> float:
    return clock()  # looked up at call time so tests can patch ``warnings_tracker.clock``
