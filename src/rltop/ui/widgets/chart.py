"""The large chart: selected metrics against step, raw (faint) and EMA-smoothed, by plotext."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import RenderResult
from textual.color import Color, ColorParseError
from textual_plotext import PlotextPlot

from rltop.config import DEFAULT_SMOOTHING
from rltop.core.derive import ema
from rltop.core.downsample import Envelope, envelope
from rltop.core.inert import inert

#: series colours, from the theme: the first metric in $primary, the next in $secondary...
PALETTE = ("primary", "secondary", "accent", "success", "warning", "error")
#: without an app (or a colour the theme lacks): plotext's own names
FALLBACK_COLORS = ("cyan+", "orange+", "magenta+", "green+", "yellow+", "red+")
#: markers that tell series of the same colour apart: once the theme's distinct colours are used
#: up, the next series take them again with the next marker (6 colours: 12 series with 2
#: markers; a monochrome theme's one grey: a marker per series)
MARKERS = ("braille", "x", "+", "o", "*", "•", "#", "@", "%", "=", "~", "&")
#: what a marker looks like in a legend or table
MARKER_GLYPHS = {"braille": "⣿"}


def series_style(index: int, colors: list) -> tuple[object, str]:
    """The colour and marker of series ``index``: no two of the first
    ``distinct colours x len(MARKERS)`` series share both (a theme may repeat a colour)."""
    distinct = list(dict.fromkeys(colors)) or ["white"]
    n = len(distinct)
    return distinct[index % n], MARKERS[(index // n) % len(MARKERS)]


RGB = tuple[int, int, int]


def chart_colors(variables: dict[str, str]) -> tuple[list[RGB | str], RGB | str, RGB | str]:
    """Series colours, the colour of the raw (unsmoothed) points and of onset marks.

    Taken from the theme's variables so the chart follows the theme (greys in monochrome, dark
    colours on the light theme); raw points are the foreground faded halfway into the surface.
    """

    def rgb(name: str) -> RGB | None:
        try:
            return Color.parse(variables[name]).rgb
        except (KeyError, ColorParseError):
            return None

    series: list[RGB | str] = [
        rgb(name) or fallback for name, fallback in zip(PALETTE, FALLBACK_COLORS, strict=True)
    ]
    try:
        faded = Color.parse(variables["foreground"]).blend(Color.parse(variables["surface"]), 0.5)
        raw: RGB | str = faded.rgb
    except (KeyError, ColorParseError):
        raw = "gray"
    return series, raw, rgb("error") or "red"


@dataclass
class Series:
    label: str
    steps: list[int]
    values: list[float]
    marks: list[int] = field(default_factory=list)  # steps to mark (warning onsets)


def downsample(
    steps: list[int], values: list[float], points: int
) -> tuple[list[float], list[float]]:
    """A long series in at most ``points`` columns: each column's lowest and highest value (so a
    one-step spike stays visible), non-finite values left out (``core.downsample.envelope``)."""
    env = envelope(steps, values, points)
    return list(env.xs), list(env.ys)


class MetricChart(PlotextPlot):
    """Re-plots only when what it draws changes, and draws a plot once: a refresh of the
    screen's layout (a card that changed width, a notification) reuses the drawn picture.

    Each series goes to plotext as its min/max envelope at the plot's width
    (``core.downsample``), so a plot costs what the screen can show, not the series' length;
    a new step that leaves every column's envelope as it was draws nothing new."""

    DEFAULT_CSS = """
    MetricChart { background: $surface; }
    """

    def __init__(self, *, id: str | None = None, distinct: bool = False) -> None:
        super().__init__(id=id)
        #: every series told apart by colour and marker (compare's many runs; ``series_style``)
        self.distinct = distinct
        self.series: list[Series] = []
        self.smoothing = DEFAULT_SMOOTHING
        self.title_text = ""
        #: bumped by ``replot``; the drawn picture is kept for (version, size, theme)
        self._version = 0
        self._drawn: tuple[tuple[int, int, int, str], RenderResult] | None = None
        #: what the last replot gave plotext: an equal plan is the same picture
        self._plan: tuple | None = None

    def show(self, series: list[Series], smoothing: float, title: str = "") -> None:
        if (series, smoothing, title) == (self.series, self.smoothing, self.title_text):
            return  # same picture: plotext's redraw is the costliest part of an update
        self.series = series
        self.smoothing = smoothing
        self.title_text = title
        self.replot()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.replot())

    def on_resize(self) -> None:
        self.replot()

    def render(self) -> RenderResult:
        key = (self._version, self.size.width, self.size.height, self.app.theme)
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, super().render())
        return self._drawn[1]

    def replot(self) -> None:
        width = max(self.size.width, 20)
        # braille: two dots per cell; a column of dots per envelope column
        columns = max(20, width * 2)
        plan_series: list[tuple[str, Envelope, Envelope | None, tuple[int, ...]]] = []
        for s in self.series:
            raw = envelope(s.steps, s.values, columns)
            if not len(raw):
                continue
            smooth = None
            if self.smoothing > 0 and len(s.values) > 2:
                smooth = envelope(s.steps, ema(s.values, self.smoothing), columns)
            plan_series.append((s.label, raw, smooth, tuple(s.marks)))
        plan = (
            tuple(plan_series),
            self.smoothing,
            self.title_text,
            bool(self.series),
            self.size.width,
            self.size.height,
            self.app.theme if self.is_attached else None,
        )
        if plan == self._plan:
            return  # the same picture: plotext's redraw is the costliest part of an update
        self._plan = plan
        self._version += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("step")
        if not self.series:
            plt.title("select a metric: move with the arrows, Enter to chart it")
            self.refresh()
            return
        colors, raw_color, marks = chart_colors(self.app.get_css_variables())
        for i, (label, raw, smooth, marked) in enumerate(plan_series):
            if self.distinct:
                color, marker = series_style(i, colors)
            else:
                color, marker = colors[i % len(colors)], "braille"
            if smooth is not None:
                plt.plot(list(raw.xs), list(raw.ys), color=raw_color, marker="braille")
                plt.plot(
                    list(smooth.xs),
                    list(smooth.ys),
                    color=color,
                    marker=marker,
                    label=inert(label, keep_newlines=False),
                )
            else:
                plt.plot(
                    list(raw.xs),
                    list(raw.ys),
                    color=color,
                    marker=marker,
                    label=inert(label, keep_newlines=False),
                )
            for mark in marked:
                plt.vline(mark, color=marks)
        suffix = f"  ema {self.smoothing:.2f}" if self.smoothing > 0 else "  raw"
        title = self.title_text or ", ".join(s.label for s in self.series)
        # plotext's output is parsed back as ANSI: a name's escapes would become real ones
        plt.title(inert(title, keep_newlines=False) + suffix)
        self.refresh()
