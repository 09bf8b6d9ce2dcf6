"""Warnings on the dashboard: the diagnoser run off the UI thread, and the compact warnings strip.

``WarningsTracker`` owns one ``Diagnoser`` (thresholds and role aliases from the settings), the
best-checkpoint candidates per run and a bounded history of cleared warnings. ``submit(snapshot)``
evaluates in a thread worker (the rules cost ~10 ms at 10k steps: never on the event loop) and hands
the result back to the UI thread, which announces new warnings and redraws the pane.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import Static

from rltop.core.checkpoint import BestCheckpoint, best_checkpoint
from rltop.core.diagnose import Diagnoser, Warning, WarningsUpdate
from rltop.core.store import StoreSnapshot
from rltop.ui.safe import clean
from rltop.ui.themes import theme_style

#: cleared warnings kept for the warnings screen
HISTORY_LENGTH = 50
#: lines of warnings the dashboard strip shows before "+N more"
PANE_LINES = 3
#: more warnings than this starting at once are announced in one notification
ANNOUNCE_SEPARATELY = 3


def clock() -> float:
    """Wall-clock seconds for ``run.stalled`` (a seam for deterministic tests)."""
    return time.time()


SEVERITY_STYLE = {"critical": "bold $error", "warning": "bold $warning", "info": "$primary"}
SEVERITY_MARK = {"critical": "✖", "warning": "▲", "info": "●"}
NOTIFY_SEVERITY = {"critical": "error", "warning": "warning", "info": "information"}


def severity_style(severity: str, widget: Static | None = None) -> str:
    """A Rich style for a severity from the theme's $error/$warning/$primary colours."""
    return theme_style(SEVERITY_STYLE.get(severity, ""), widget)


def short(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = clean(text, keep_newlines=False)
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def warning_line(w: Warning, width: int = 120, widget: Static | None = None) -> Text:
    """One line for a warning: mark, id, run, since step, short evidence."""
    style = severity_style(w.severity, widget)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{SEVERITY_MARK.get(w.severity, '●')} {w.id}", style=style)
    line.append(f"  {short(w.run, 24)}", style="bold")
    if w.step is not None:
        line.append(f"  since step {w.step}", style="dim")
    rest = width - line.cell_len - 2
    if rest > 8:
        line.append("  " + short(w.evidence, rest))
    return line


def checkpoint_line(best: BestCheckpoint | None, width: int = 120) -> Text:
    """One line for the best-checkpoint candidates of a run."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if best is None:
        return line
    line.append("best checkpoint ", style="bold")
    parts = []
    for c in best.candidates:
        saved = f" ({clean(c.saved, keep_newlines=False)})" if c.saved else ""
        parts.append(f"{c.label} step {c.step}{saved}")
    line.append(short(" · ".join(parts), max(10, width - line.cell_len)))
    return line


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


class WarningsTracker:
    """Runs the ``Diagnoser`` in a thread after each store change; results land on the UI thread."""

    def __init__(self, app, settings=None, *, clock: Callable[[], float] | None = None) -> None:
        if settings is None:
            from rltop.config import Settings

            settings = Settings.load()
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
            done = getattr(getattr(self.app, "follower", None), "caught_up_version", -1)
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
        """A notification per new warning (one summary when many start at once); focus stays."""
        if not warnings:
            return
        if len(warnings) > ANNOUNCE_SEPARATELY:
            worst = max(warnings, key=lambda w: w.rank)
            self.app.notify(
                f"{len(warnings)} warnings, e.g. {worst.id} in {short(worst.run, 30)} "
                "— press w to see them",
                title="rltop warnings",
                severity=NOTIFY_SEVERITY.get(worst.severity, "warning"),
                timeout=8,
            )
            return
        for w in warnings:
            self.app.notify(
                f"{w.id} in {short(w.run, 30)} since step {w.step}: {short(w.evidence, 120)}",
                title=short(w.title or w.id, 60),
                severity=NOTIFY_SEVERITY.get(w.severity, "warning"),
                timeout=8,
            )


def _module_clock() -> float:
    return clock()  # looked up at call time so tests can patch ``warnings.clock``


CATCH_UP_NOTE = (
    "warnings after the catch-up… (the rules and the best checkpoint wait until the files are read)"
)


class WarningsPane(Static):
    """The dashboard strip: one line per active warning of the shown runs and the best checkpoint."""

    DEFAULT_CSS = """
    WarningsPane { height: auto; max-height: 5; padding: 0 1; background: $panel; display: none; }
    WarningsPane.shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.run_id: str | None = None
        self.state: WarningsState | None = None
        self._text: Text | None = None
        self._lines = -1  # lines of the drawn text
        self.catching_up = False  # the files there at start are still being read

    def on_resize(self) -> None:
        if self.state is not None or self.catching_up:
            self.show_state(self.state, self.run_id)

    def show_catch_up(self, catching_up: bool) -> None:
        """While the catch-up reads the files there at start, the rules and the best checkpoint
        wait for it, and the strip says so instead of showing verdicts on part of a run."""
        self.catching_up = catching_up
        self.show_state(self.state, self.run_id)

    def show_state(self, state: WarningsState | None, run_id: str | None) -> None:
        """Redraw for ``run_id``'s warnings (others counted) and its best checkpoint."""
        self.state, self.run_id = state, run_id
        if self.catching_up or state is None:
            text = Text(CATCH_UP_NOTE if self.catching_up else "", style="dim", no_wrap=True)
            lines = 1 if self.catching_up else 0
            self.set_class(lines > 0, "shown")
            if text != self._text:
                self._text, self._lines = text, lines
                self.update(text)
            return
        # the strip spans the screen (padding 1 each side): from the app's width, so the first
        # draw (while still hidden, zero-sized) and later ones cut the lines alike
        width = max(40, self.app.size.width - 2)
        mine = [w for w in state.active if w.run_id == run_id]
        others = len(state.active) - len(mine)
        text = Text(no_wrap=True, overflow="ellipsis")
        lines = 0
        for w in mine[:PANE_LINES]:
            if lines:
                text.append("\n")
            text.append_text(warning_line(w, width, self))
            lines += 1
        more = len(mine) - PANE_LINES
        if more > 0 or others > 0:
            extra = []
            if more > 0:
                extra.append(f"+{more} more")
            if others > 0:
                extra.append(f"{others} in other runs")
            text.append(("\n" if lines else "") + ", ".join(extra) + " — w: all warnings", "dim")
            lines += 1
        best = state.best.get(run_id or "")
        if best is not None:
            if lines:
                text.append("\n")
            text.append_text(checkpoint_line(best, width))
            lines += 1
        self.set_class(lines > 0, "shown")
        if text != self._text:
            # same number of lines (new numbers in the evidence): no layout pass, which would
            # redraw every widget of the screen, the chart included
            same_height = lines == self._lines
            self._text, self._lines = text, lines
            self.update(text, layout=not same_height)
