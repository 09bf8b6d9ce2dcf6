"""The large chart: selected metrics against step (or time, tokens, samples), raw values faint
behind the EMA-smoothed line, round evenly spaced ticks, the legend on a line of its own; by plotext."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.console import Group
from rich.text import Text
from textual.app import RenderResult
from textual.color import Color, ColorParseError
from textual_plotext import PlotextPlot

from rltop.config import DEFAULT_SMOOTHING
from rltop.core.derive import ema
from rltop.core.downsample import Envelope, envelope
from rltop.core.inert import inert
from rltop.core.ticks import fit_ticks, log_tick_labels, log_ticks, nice_ticks, tick_labels

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


#: rows of a plotext picture that are not data: the frame's two, the x ticks and the x label
PLOT_FRAME_ROWS = 4

#: what the x axis can be; the dashboard offers the ones the run logs (core/axes.py)
X_LABELS = {"step": "step", "time": "hours since start", "tokens": "tokens", "samples": "samples"}


class MetricChart(PlotextPlot):
    """Re-plots only when what it draws changes, and draws a plot once: a refresh of the
    screen's layout (a card that changed width, a notification) reuses the drawn picture.

    Each series goes to plotext as its min/max envelope at the plot's width
    (``core.downsample``), so a plot costs what the screen can show, not the series' length;
    a new step that leaves every column's envelope as it was draws nothing new.

    Ticks are round and evenly spaced (whole steps on a step axis); with smoothing the raw values
    are faint dots (their envelope per cell: a min/max band) behind the smoothed line; the legend
    is a line of its own above the plot, so it never covers a line. ``log_y`` plots log10 of the
    values (those at or below zero left out, and counted)."""

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
        self.log_y = False
        self.x_axis = "step"
        self.hidden_nonpositive = 0  # values a log axis could not show
        self._legend = Text()
        self._plot_rows: int | None = None  # data rows used (fewer when that evens the labels)

    def show(
        self,
        series: list[Series],
        smoothing: float,
        title: str = "",
        *,
        log_y: bool | None = None,
        x_axis: str | None = None,
    ) -> None:
        log_y = self.log_y if log_y is None else log_y
        x_axis = self.x_axis if x_axis is None else x_axis
        if (series, smoothing, title, log_y, x_axis) == (
            self.series,
            self.smoothing,
            self.title_text,
            self.log_y,
            self.x_axis,
        ):
            return  # same picture: plotext's redraw is the costliest part of an update
        self.series = series
        self.smoothing = smoothing
        self.title_text = title
        self.log_y = log_y
        self.x_axis = x_axis
        self.replot()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.replot())

    def on_resize(self) -> None:
        self.replot()

    def render(self) -> RenderResult:
        key = (self._version, self.size.width, self.size.height, self.app.theme)
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, self._render_plot())
        return self._drawn[1]

    def _render_plot(self) -> RenderResult:
        """The legend line, then plotext's picture one row shorter (the legend is never on it)."""
        width, height = self.size.width, max(1, self.size.height - 1)
        if self._plot_rows is not None:  # fewer rows when that spaces the y labels evenly
            height = min(height, self._plot_rows + PLOT_FRAME_ROWS)
        self._plot.plotsize(width, height)
        self._plot._set_size(width, height)  # as PlotextPlot.render does (textual-plotext #5)
        self._plot.theme(self._get_plotext_theme_name(self.app.theme))
        picture = Text.from_ansi(self._plot.build())
        legend = self._legend.copy()
        legend.truncate(width, overflow="ellipsis")
        return Group(legend, picture)

    def replot(self) -> None:
        width = max(self.size.width, 20)
        height = max(self.size.height - 1, 5)
        # braille: two dots per cell; a column of dots per envelope column
        columns = max(20, width * 2)
        hidden = 0
        plan_series: list[tuple[str, Envelope, Envelope | None, Envelope | None, tuple]] = []
        for s in self.series:
            steps, values = s.steps, s.values
            if self.log_y:
                finite = [v for v in values if v is not None and math.isfinite(v)]
                hidden += sum(1 for v in finite if v <= 0)
                kept = [
                    (x, math.log10(v))
                    for x, v in zip(steps, values, strict=False)
                    if v is not None and math.isfinite(v) and v > 0
                ]
                steps, values = [k[0] for k in kept], [k[1] for k in kept]
            raw = envelope(steps, values, columns)
            if not len(raw):
                continue
            smooth = band = None
            if self.smoothing > 0 and len(values) > 2:
                smooth = envelope(steps, ema(values, self.smoothing), columns)
                # the raw values as one faint dot per cell: each cell's lowest and highest
                band = envelope(steps, values, width)
            plan_series.append((s.label, raw, smooth, band, tuple(s.marks)))
        plan = (
            tuple(plan_series),
            self.smoothing,
            self.title_text,
            bool(self.series),
            self.log_y,
            self.x_axis,
            self.size.width,
            self.size.height,
            self.app.theme if self.is_attached else None,
        )
        if plan == self._plan:
            return  # the same picture: plotext's redraw is the costliest part of an update
        self._plan = plan
        self._version += 1
        self.hidden_nonpositive = hidden
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel(X_LABELS.get(self.x_axis, self.x_axis))
        self._legend = Text()
        self._plot_rows = None
        if not self.series:
            self._legend = Text("select a metric: move with the arrows, Enter to chart it")
            self.refresh()
            return
        colors, raw_color, marks = chart_colors(self.app.get_css_variables())
        xs_all: list[float] = []
        ys_all: list[float] = []
        for i, (label, raw, smooth, band, marked) in enumerate(plan_series):
            if self.distinct:
                color, marker = series_style(i, colors)
            else:
                color, marker = colors[i % len(colors)], "braille"
            xs_all += raw.xs
            ys_all += raw.ys
            if smooth is not None and band is not None:
                plt.scatter(list(band.xs), list(band.ys), color=raw_color, marker="dot")
                plt.plot(list(smooth.xs), list(smooth.ys), color=color, marker=marker)
            else:
                plt.plot(list(raw.xs), list(raw.ys), color=color, marker=marker)
            for mark in marked:
                plt.vline(mark, color=marks)
            glyph = MARKER_GLYPHS.get(marker, marker) if self.distinct else "━"
            self._legend.append(glyph + " ", style=_rich_color(color))
            # names come from logs: one escaping path (never markup, never terminal escapes)
            self._legend.append(inert(label, keep_newlines=False) + "  ")
        self._set_ticks(xs_all, ys_all, width, height)
        suffix = f"ema {self.smoothing:.2f}" if self.smoothing > 0 else "raw"
        if self.log_y:
            suffix += " · log y"
            if self.hidden_nonpositive:
                suffix += f" ({self.hidden_nonpositive} values ≤ 0 left out)"
        if self.title_text:
            title = inert(self.title_text, keep_newlines=False)
            self._legend = Text(title + "  ").append_text(self._legend)
        self._legend.append(suffix, style="dim")
        self.refresh()

    def _set_ticks(self, xs: list[float], ys: list[float], width: int, height: int) -> None:
        """Round ticks: whole steps on a step axis, y labels at round values, evenly spaced."""
        plt = self.plt
        if not xs or not ys:
            return
        x_lo, x_hi = min(xs), max(xs)
        integer = self.x_axis != "time"
        ticks = nice_ticks(x_lo, x_hi, max(2, width // 9), integer=integer)
        inside = [t for t in ticks if x_lo - 1e-9 <= t <= x_hi + 1e-9] or [x_lo]
        if x_hi > x_lo:
            plt.xlim(x_lo, x_hi)
        else:
            pad = 1 if integer else abs(x_lo) * 0.1 or 1
            plt.xlim(x_lo - pad, x_hi + pad)
        plt.xticks(inside, tick_labels(inside))
        y_lo, y_hi = min(ys), max(ys)
        rows = max(2, height - PLOT_FRAME_ROWS)  # the rows plotext draws data on
        if self.log_y:
            yticks = log_ticks(y_lo, y_hi, max(2, rows // 3))
            labels = log_tick_labels(yticks)
            gaps = max(1, len(yticks) - 1)
            # whole powers of ten, evenly spaced: give up a row or two if that makes them even
            used = next(
                (r for r in range(rows, max(1, rows - gaps), -1) if (r - 1) % gaps == 0), rows
            )
        else:
            used, yticks = fit_ticks(y_lo, y_hi, rows)
            labels = tick_labels(yticks)
        self._plot_rows = used
        if len(yticks) >= 2:
            plt.ylim(yticks[0], yticks[-1])
            plt.yticks(yticks, labels)


def _rich_color(color: RGB | str | object) -> str:
    if isinstance(color, tuple):
        return "rgb({},{},{})".format(*color)
    name = str(color).rstrip("+")
    return name if name in _RICH_NAMES else ""


_RICH_NAMES = {"cyan", "magenta", "green", "yellow", "red", "gray", "white"}
