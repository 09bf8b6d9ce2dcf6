"""One warning in full: evidence, action, the metric chart with the onset step marked."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from rltop.core.diagnose import RULES, Warning
from rltop.core.store import RunSnapshot, StoreSnapshot
from rltop.ui.safe import clean
from rltop.ui.typed import rltop_app
from rltop.ui.widgets.chart import MetricChart, Series
from rltop.ui.widgets.footer import RltopFooter
from rltop.ui.widgets.warnings import SEVERITY_MARK, severity_style


def detail_text(w: Warning, widget: Static | None = None) -> Text:
    """The warning's header, evidence and action as plain (escaped) text."""
    text = Text()
    text.append(
        f"{SEVERITY_MARK.get(w.severity, '●')} {w.severity.upper()} ",
        style=severity_style(w.severity, widget),
    )
    text.append(w.id, style="bold")
    if w.title:
        text.append(f" — {clean(w.title, keep_newlines=False)}")
    text.append("\nrun ", style="dim")
    text.append(clean(w.run, keep_newlines=False), style="bold")
    if w.step is not None:
        text.append("  since step ", style="dim")
        text.append(str(w.step), style="bold")
    if w.at_step is not None:
        text.append(f"  (evidence at step {w.at_step})", style="dim")
    if w.metrics:
        text.append("\nmetrics ", style="dim")
        text.append(", ".join(clean(m, keep_newlines=False) for m in w.metrics))
    text.append("\n\nevidence  ", style="bold")
    text.append(clean(w.evidence))
    text.append("\naction    ", style="bold")
    text.append(clean(w.action))
    rule = RULES.get(w.id)
    if rule is not None:  # the rule's own help: the same text as its section of docs/rules.md
        text.append("\n\nabout this rule\n", style="bold")
        if rule.about:
            text.append(rule.about + "\n")
        text.append("fires when ", style="dim")
        text.append(rule.help.replace("``", ""))
    return text


def warning_series(w: Warning, run: RunSnapshot | None) -> list[Series]:
    """The warning's metrics that the run logs, each with the onset step marked."""
    if run is None:
        return []
    marks = [w.step] if w.step is not None else []
    series = []
    for name in w.metrics:
        if name in run.metrics.columns:
            steps, values = run.series(name)
            series.append(Series(name, steps, values, marks=list(marks)))
    return series


class WarningDetailScreen(Screen):
    """Everything behind one warning; ``o`` opens the onset step's rollouts, lowest reward first."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="warning_detail.back"),
        Binding("o,J", "rollouts", "Onset rollouts", id="warning_detail.rollouts"),
    ]

    DEFAULT_CSS = """
    WarningDetailScreen { layout: vertical; }
    #warning-text { height: auto; max-height: 50%; padding: 0 1; }
    #warning-text Static { height: auto; }
    WarningDetailScreen MetricChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, warning: Warning) -> None:
        super().__init__()
        self.warning = warning

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="warning-text"):
            yield Static(id="warning-body")
        yield MetricChart(id="warning-chart")
        yield RltopFooter()

    def on_mount(self) -> None:
        self.query_one("#warning-body", Static).update(detail_text(self.warning, self))
        self.show_snapshot(rltop_app(self).snapshot)

    @property
    def run(self) -> RunSnapshot | None:
        snap = rltop_app(self).snapshot
        return snap.run(self.warning.run_id) if snap is not None else None

    def show_snapshot(self, snap: StoreSnapshot | None) -> None:
        """Keep the chart current while the run grows."""
        if snap is None:
            return
        run = snap.run(self.warning.run_id)
        smoothing = rltop_app(self).dashboard.smoothing
        series = warning_series(self.warning, run)
        title = ", ".join(s.label for s in series)
        if self.warning.step is not None:
            title += f"  | onset step {self.warning.step}"
        self.query_one(MetricChart).show(series, smoothing, title=title)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_rollouts(self) -> None:
        """The rollouts of the onset step (nearest step with rollouts at or before it)."""
        run = self.run
        step = self.warning.step
        if run is not None and not run.rollouts.is_empty() and step is not None:
            have = run.rollouts.get_column("step").unique().sort()
            below = have.filter(have <= step)
            step = int(below[-1]) if len(below) else int(have[0])
        elif run is None or run.rollouts.is_empty():
            self.notify("No rollouts in this run.", timeout=2)
            return
        rltop_app(self).open_rollouts(self.warning.run_id, step=step, sort="reward")
