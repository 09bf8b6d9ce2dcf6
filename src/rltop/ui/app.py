"""The rltop Textual app: owns the follower thread and hands store snapshots to the screens."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches

from rltop.config import DEFAULT_SMOOTHING, Settings
from rltop.core import coldtext
from rltop.core.follow import Follower
from rltop.core.inert import inert
from rltop.core.store import Store, StoreSnapshot
from rltop.ui.messages import StoreChanged
from rltop.ui.screens.dashboard import DashboardScreen
from rltop.ui.screens.help import HelpScreen
from rltop.ui.warnings_tracker import WarningsTracker

#: seconds between two redraws for store changes (changes in between fold into the second)
REDRAW_INTERVAL = 0.2
#: ... and while the store changes continuously (a writer streaming rollouts): a redraw every
#: 2 s, like top's 3 s, keeps a live run live at a fraction of the CPU (benchmarks/RESULTS.md)
STREAM_REDRAW_INTERVAL = 2.0
#: ... of which the costly parts, the large chart and the warning rules, at most every so often
#: once the files there at start are read, whatever the pace of the writer (a metric line a
#: second, like a stream of rollouts: plotext's picture of a 160-column chart alone costs
#: ~0.1-0.2 s of CPU); the numbers on the cards and the title move at every redraw, and the last
#: state is always drawn once the writer pauses
STREAM_SLOW_INTERVAL = 4.0
#: seconds between evaluations of the rules while no data arrives (run.stalled watches the clock)
CLOCK_RULES_EVERY = 30.0


class RltopApp(App[int]):
    """A live monitor of the runs found under ``paths``."""

    TITLE = "rltop"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("c", "chat", "Chat", id="app.chat"),
        Binding("ctrl+s", "save_screen", "Save SVG", show=False, id="app.screenshot"),
    ]

    def __init__(
        self,
        paths: list[str],
        settings: Settings | None = None,
        follower: Follower | None = None,
        *,
        title: str | None = None,
        chat_endpoint: str | None = None,
    ) -> None:
        """The monitor of ``paths`` with every setting layer in ``settings`` (defaults if None).

        ``follower``: one already reading the files (the CLI starts it while Textual imports);
        ``chat_endpoint``: the endpoint asked for explicitly (``--endpoint``, the demo's model),
        which wins over ``$RLTOP_ENDPOINT`` and the config file.
        """
        super().__init__()
        settings = settings if settings is not None else Settings()
        #: every layer of settings (keys, roles, thresholds, theme, smoothing...)
        self.settings = settings
        from rltop.ui.themes import load_themes, pick_theme

        # shipped themes plus the user's own; monochrome under NO_COLOR unless one is asked for
        catalog = load_themes()
        self.theme_problems = catalog.problems
        self.theme_overlays = catalog.overlays
        for item in catalog.themes:
            self.register_theme(item)
        theme = settings.theme
        self.theme = pick_theme(theme, set(self.available_themes))  # watch_theme: its overlay
        #: a theme asked for that does not exist (shown once the screen is up)
        self.theme_missing = theme if theme and theme != self.theme else None
        # the rollout text budget (--max-memory) is process-wide: set it before anything is read
        coldtext.set_max_memory(settings.max_memory)
        self.paths = list(paths) or ["."]
        self.store = follower.store if follower else Store()
        self.follower = follower or Follower(
            self.paths, self.store, force_polling=settings.poll or None, previews=True
        )
        smoothing = settings.smoothing
        self.smoothing = DEFAULT_SMOOTHING if smoothing is None else max(0.0, min(0.99, smoothing))
        self.snapshot: StoreSnapshot | None = None
        self.dashboard = DashboardScreen(
            smoothing=self.smoothing, roles=dict(settings.roles) or None
        )
        # the rules, evaluated in a thread after each redraw's snapshot
        self.warnings_tracker = WarningsTracker(self, settings)
        self.run_title = title
        #: the chat's endpoint: asked for explicitly, else the config file's (the environment's
        #: $RLTOP_ENDPOINT is read by the chat itself, between the two)
        self.chat_endpoint = chat_endpoint
        from_file = settings.origins.get("endpoint") == "config file"
        self.chat_config = (
            {"endpoint": settings.endpoint} if from_file and settings.endpoint else None
        )
        self._stop = threading.Event()
        self._last_shown = 0.0
        # --refresh N: never more than N redraws of live data per second (SSH over slow links)
        refresh = settings.refresh
        self.min_redraw_interval = 1.0 / refresh if refresh and refresh > 0 else 0.0
        self._redraw_pending = False
        self._deferred_in_a_row = 0  # redraws that had to wait for the interval, consecutively
        self._last_slow = 0.0  # when the chart and the rules last saw a snapshot
        self._slow_pending = False  # a timer will bring them up to date
        #: what the screen says about the catch-up (None: nothing said yet)
        self._catching_up_shown: bool | None = None
        self._first_frame_target = int(os.environ.get("RLTOP_BENCH_FIRST_FRAME_METRICS", "0") or 0)
        # optional: the frame must also show this step (a file read in several chunks shows all
        # its metric names long before its last step)
        self._first_frame_step = int(os.environ.get("RLTOP_BENCH_FIRST_FRAME_STEP", "0") or 0)
        # optional: ... for this many runs (a hundred runs in one folder or bucket)
        self._first_frame_runs = int(os.environ.get("RLTOP_BENCH_FIRST_FRAME_RUNS", "0") or 0)

    def watch_theme(self, name: str) -> None:
        # Textual's own watcher has already scheduled the CSS refresh that picks this up
        self._apply_theme_overlay(name)

    def _apply_theme_overlay(self, name: str) -> None:
        """Swap in the ``.tcss`` overlay of theme ``name`` (or none) for the previous one."""
        from rltop.ui.themes import set_overlay

        problem = set_overlay(
            self.stylesheet, self.theme_overlays.get(name), self.get_css_variables()
        )
        if problem is None:
            return
        if self.is_running:
            self.notify(problem, title="theme file skipped", severity="warning", timeout=10)
        else:
            self.theme_problems.append(problem)  # shown once the app is on screen

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: str = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification is plain text: run, metric and file names in it are never markup
        and their control characters are made visible (``markup`` is accepted and ignored)."""
        super().notify(
            inert(str(message)),
            title=inert(str(title), keep_newlines=False),
            severity=severity,  # type: ignore[arg-type]
            timeout=timeout,
            markup=False,
        )

    @property
    def watch_mode(self) -> str:
        return self.follower.watch_mode

    def on_mount(self) -> None:
        if self.run_title:
            self.title = inert(self.run_title, keep_newlines=False)
        settings = self.settings
        if settings.keys:
            # [keys] / --key / RLTOP_KEYS: binding id -> keys, e.g. "dashboard.filter" = "f"
            self.set_keymap(dict(settings.keys))
        for problem in self.theme_problems:
            self.notify(problem, title="theme file skipped", severity="warning", timeout=10)
        if self.theme_missing:
            self.notify(
                f"theme {self.theme_missing!r} not found, using {self.theme}",
                severity="warning",
                timeout=10,
            )
        for problem in settings.problems:
            self.notify(problem, title="config", severity="warning", timeout=15)
        self.push_screen(self.dashboard)
        self.warnings_tracker.listeners.append(self.dashboard.show_warnings)
        # run.stalled judges the clock, not the data: look again while nothing is written
        self.set_interval(CLOCK_RULES_EVERY, self._clock_rules)
        self._follow()

    @work(thread=True, exclusive=True, name="follower", exit_on_error=False)
    def _follow(self) -> None:
        """Discover and follow files in a thread; the UI only ever sees snapshots."""
        try:
            self.follower.run(self._stop, self._store_changed)
        except Exception as exc:  # the follower must never take the UI down with it
            self.call_from_thread(
                self.notify, f"file follower stopped: {exc}", severity="error", timeout=30
            )

    def _store_changed(self) -> None:
        self.post_message(StoreChanged())  # thread-safe; bursts fold (StoreChanged.can_replace)

    def on_store_changed(self, _message: StoreChanged) -> None:
        if not self.dashboard.children:
            # the follower can be quicker than the dashboard's first compose: try again shortly
            self.set_timer(0.05, self._store_changed)
            return
        # a busy writer changes the store many times a second: redraw at most every
        # REDRAW_INTERVAL; the first change after a quiet spell is shown at once
        wait = self._last_shown + self.redraw_interval() - time.monotonic()
        if wait > 0:
            if not self._redraw_pending:
                self._redraw_pending = True
                self.set_timer(wait, self._redraw_later)
            return
        self._deferred_in_a_row = 0
        self._show_store()

    def redraw_interval(self) -> float:
        """Seconds from one redraw to the next: STREAM_REDRAW_INTERVAL for a writer streaming
        changes, but never for the files there at start, up to the frame that shows them all (a
        hundred runs' catch-up is a change every few milliseconds: each run shows as soon as the
        next redraw can)."""
        caught_up_shown = self._catching_up_shown is False
        streaming = self._deferred_in_a_row >= 2 and caught_up_shown
        return max(
            STREAM_REDRAW_INTERVAL if streaming else REDRAW_INTERVAL, self.min_redraw_interval
        )

    def _redraw_later(self) -> None:
        self._redraw_pending = False
        self._deferred_in_a_row += 1
        self._show_store()

    def _show_store(self) -> None:
        self._last_shown = time.monotonic()
        if self._stop.is_set() or not self.dashboard.is_attached or not self.dashboard.children:
            return  # quitting: a deferred redraw may fire while the screens are torn down
        snap = self.store.snapshot()
        # the files there at start are shown in full as they are read: pacing is for live data
        done = self.follower.caught_up_version
        catching_up = done is None
        if (
            self.snapshot is not None
            and snap.version == self.snapshot.version
            and catching_up == self._catching_up_shown
        ):
            return
        self.snapshot = snap
        now = time.monotonic()
        # whatever the writer's pace once caught up: the chart and the rules at most every
        # STREAM_SLOW_INTERVAL (metric lines are paced like rollout appends)
        slow = catching_up or snap.version <= done or now - self._last_slow >= STREAM_SLOW_INTERVAL
        # new lines of a followed run: their values reach the screen first, the chart (plotext
        # takes ~0.1-0.2 s of CPU at 160 columns) and the rules right after
        live = not catching_up and snap.version > done
        try:
            self._show_catch_up(catching_up)
            self.dashboard.show_snapshot(snap, chart=slow and not live)
            if slow and catching_up:
                # the rules and the best checkpoint wait for the whole of the files: verdicts on
                # a part of a run would come and go as the rest is read
                self._last_slow = now
            elif slow and live:
                self._last_slow = now
                self.call_after_refresh(self._slow_after_values)
            elif slow:
                self._last_slow = now
                self.warnings_tracker.submit(snap)
            elif not self._slow_pending:
                self._slow_pending = True
                self.set_timer(self._last_slow + STREAM_SLOW_INTERVAL - now, self._slow_later)
            if self.screen is not self.dashboard and hasattr(self.screen, "show_snapshot"):
                self.screen.show_snapshot(snap)
        except NoMatches as exc:
            # only seen when a deferred redraw fires while the screens are being torn down;
            # a redraw is never worth taking the monitor down for
            self.log.warning(f"redraw skipped: {exc}")
        if not self.follower.first_frame_shown.is_set() and any(
            r.metric_names or r.rollouts.height for r in snap.runs
        ):
            # data is on screen: the one-pass reads of large files may take both cores now
            self.call_after_refresh(self.follower.first_frame_shown.set)
        if self._first_frame_target:
            self._check_first_frame(snap)

    def _clock_rules(self) -> None:
        """Re-evaluate the rules on the shown snapshot so a run that stops writing turns stalled."""
        caught_up = self.follower.caught_up_version is not None  # the rules wait for the catch-up
        if self.snapshot is not None and caught_up and not self._stop.is_set():
            self.warnings_tracker.submit(self.snapshot)

    def _show_catch_up(self, catching_up: bool) -> None:
        """While the files there at start are read: progress on the status line, and the
        warnings strip says the rules wait for the catch-up."""
        if catching_up:
            read, total = self.follower.progress()
            note = f"reading {_megabytes(read)} / {_megabytes(total)}" if total else "reading"
            if self.follower.reading_older():
                note += ", older steps still being read"  # a large file's end came first
            self.dashboard.catch_up_note = note
        else:
            self.dashboard.catch_up_note = ""
        if catching_up != self._catching_up_shown:
            self._catching_up_shown = catching_up
            self.dashboard.show_catch_up(catching_up)

    def _slow_after_values(self) -> None:
        """The chart and the rules, once the new values are on screen."""
        snap = self.snapshot
        if self._stop.is_set() or snap is None or not self.dashboard.is_attached:
            return
        try:
            self.dashboard.refresh_chart()
        except NoMatches as exc:
            self.log.warning(f"chart refresh skipped: {exc}")
        self.warnings_tracker.submit(snap)

    def _slow_later(self) -> None:
        """The chart and the rules catch up with the newest snapshot a stream left them behind."""
        self._slow_pending = False
        snap = self.snapshot
        if self._stop.is_set() or snap is None or not self.dashboard.is_attached:
            return
        self._last_slow = time.monotonic()
        try:
            self.dashboard.refresh_chart()
        except NoMatches as exc:
            self.log.warning(f"chart refresh skipped: {exc}")
        self.warnings_tracker.submit(snap)

    def _check_first_frame(self, snap: StoreSnapshot) -> None:
        """Benchmark hook: exit once a frame shows every expected metric, noting the time."""
        complete = sorted(
            (
                len(r.metric_names)
                for r in snap.runs
                if not self._first_frame_step or (r.last_step or 0) >= self._first_frame_step
            ),
            reverse=True,
        )
        needed = max(1, self._first_frame_runs)
        shown = complete[needed - 1] if len(complete) >= needed else 0
        if shown >= self._first_frame_target:
            self._first_frame_target = 0

            def done() -> None:
                path = os.environ.get("RLTOP_BENCH_FIRST_FRAME_FILE")
                if path:
                    with open(path, "w") as fh:
                        fh.write(f"{time.time()}\n")
                self.exit(0)

            self.call_after_refresh(done)

    def get_system_commands(self, screen):
        """The command palette offers every described action of the screen, its widgets and the app."""
        from functools import partial

        from textual.app import SystemCommand

        from rltop.ui.screens.help import _key_label

        yield from super().get_system_commands(screen)
        keymap = getattr(self, "_keymap", {}) or {}
        seen: set[str] = set()
        for node in [*reversed(screen.focus_chain), screen, self]:
            for binding in getattr(node, "BINDINGS", []):
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                if binding.description in seen or binding.action in ("command_palette",):
                    continue
                seen.add(binding.description)
                key = keymap.get(binding.id, binding.key) if binding.id else binding.key
                yield SystemCommand(
                    binding.description,
                    f"key {_key_label(key)}",
                    partial(self.run_action, binding.action, node),
                )
        for theme in sorted(self.available_themes):
            if theme.startswith("rltop-"):
                yield SystemCommand(
                    f"Theme: {theme}",
                    "switch the colour theme",
                    partial(setattr, self, "theme", theme),
                )

    def action_save_screen(self) -> None:
        """Save what is on screen as an SVG in the current folder (never in the logs folders)."""
        folder = os.getcwd()
        roots = [
            os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p) or ".")
            for p in self.paths
        ]
        if any(folder == r or folder.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            folder = os.path.expanduser("~")
        name = time.strftime("rltop-%Y%m%d-%H%M%S.svg")
        path = self.save_screenshot(filename=name, path=folder)
        self.notify(f"Screen saved to {path}", title="screenshot", timeout=8)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_chat(self) -> None:
        """Chat with the checkpoint being trained; one screen, kept with its history."""
        from rltop.ui.screens.chat import ChatScreen, open_chat

        if isinstance(self.screen, ChatScreen):
            return
        if not self.is_screen_installed("chat"):
            self.install_screen(open_chat(self), name="chat")
        self.push_screen("chat")

    def open_rollouts(
        self, run_id: str | None = None, *, step: int | None = None, sort: str | None = None
    ) -> None:
        """Show a run's rollouts; with ``step``, that step's only, sorted by ``sort`` (lowest first).

        The entry point for the dashboard (``o``, ``J``) and anything that points at a step.
        """
        from rltop.ui.screens.rollouts import RolloutsScreen

        if run_id is None:
            run_id = self.dashboard.run_id
        query = f"step={step}" if step is not None else ""
        descending = None if sort is None or sort == "step" else False
        screen = RolloutsScreen(run_id, query=query, sort=sort, descending=descending)
        if isinstance(self.screen, RolloutsScreen):
            self.pop_screen()
        self.push_screen(screen)

    def show_run(self, run_id: str) -> None:
        """Show a run on the dashboard (the runs screen's Enter)."""
        self.dashboard.show_run(run_id)

    def action_rollouts(self) -> None:
        self.open_rollouts()

    def open_distribution(self, run_id: str | None, step: int) -> None:
        """The reward distribution of ``run_id``'s rollouts at ``step`` (``d``)."""
        from rltop.ui.screens.distribution import DistributionScreen

        if self.snapshot is None:
            return
        if isinstance(self.screen, DistributionScreen):
            self.pop_screen()
        self.push_screen(DistributionScreen(self.snapshot, run_id, step))

    def open_warnings(self) -> None:
        """Every active warning, the cleared ones and the best checkpoints (``w``)."""
        from rltop.ui.screens.warnings import WarningsScreen

        if not isinstance(self.screen, WarningsScreen):
            self.push_screen(WarningsScreen())

    async def action_quit(self) -> None:
        self._stop.set()
        self.follower.first_frame_shown.set()
        self.exit(0)

    def on_unmount(self) -> None:
        self._stop.set()
        self.follower.first_frame_shown.set()  # a read held for the screen goes on (and stops)


def make_app(
    paths: list[str],
    settings: Settings | None = None,
    follower: Follower | None = None,
    *,
    title: str | None = None,
    chat_endpoint: str | None = None,
    **overrides: Any,
) -> RltopApp:
    """The one factory used by the command line and the tests.

    ``overrides``: settings fields (``theme=``, ``smoothing=``, ``max_memory=``...) set over
    ``settings`` (or the defaults), as flags would be.
    """
    settings = settings if settings is not None else Settings()
    if overrides:
        settings = dataclasses.replace(settings, **overrides)
    return RltopApp(paths, settings, follower, title=title, chat_endpoint=chat_endpoint)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 10e6 else f"{n / 1e6:,.1f} MB"
