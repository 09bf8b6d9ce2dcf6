"""The large chart: selected metrics against step, raw (faint) and EMA-smoothed, by plotext."""

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
from rltop.core.inert import inert
from rltop.core.ticks import fit_ticks, log_tick_labels, log_ticks, nice_ticks, tick_labels

#: series colours, from the theme: the first metric in $primary, the next in $secondary...
PALETTE = ("primary", "secondary", "accent", "success", "warning", "error")
#: without an app (or a colour the theme lacks): plotext's own names
FALLBACK_COLORS = ("cyan+", "orange+", "magenta+", "green+", "yellow+", "red+")

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


def downsample(steps: list[int], values: list[float], points: int) -> tuple[list[int], list[float]]:
    """Keep the shape of a long series in ``points`` points (bucket means; NaN dropped)."""
    pairs = [
        (s, v) for s, v in zip(steps, values, strict=False) if v is not None and math.isfinite(v)
    ]
    if len(pairs) <= points or points <= 0:
        return [p[0] for p in pairs], [p[1] for p in pairs]
    size = len(pairs) / points
    out_s, out_v = [], []
    for i in range(points):
        part = pairs[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        out_s.append(part[-1][0])
        out_v.append(sum(v for _s, v in part) / len(part))
    return out_s, out_v


def band(
    steps: list[float], values: list[float], points: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    """The raw series as a min/max band: per bucket of x, its lowest and highest value.

    Drawn faint behind the smoothed line, it shows the spread without spikes sharing cells with
    the line. Returns (xs of the lows, lows, xs of the highs, highs).
    """
    pairs = [
        (x, v) for x, v in zip(steps, values, strict=False) if v is not None and math.isfinite(v)
    ]
    if not pairs or points <= 0:
        return [], [], [], []
    if len(pairs) <= points:
        xs = [p[0] for p in pairs]
        ys = [p[1] for p in pairs]
        return xs, ys, [], []
    size = len(pairs) / points
    lo_x, lo_y, hi_x, hi_y = [], [], [], []
    for i in range(points):
        part = pairs[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        x = part[len(part) // 2][0]
        values_in = [v for _x, v in part]
        lo_x.append(x)
        lo_y.append(min(values_in))
        hi_x.append(x)
        hi_y.append(max(values_in))
    return lo_x, lo_y, hi_x, hi_y


#: rows of a plotext picture that are not data: the frame's two, the x ticks and the x label
PLOT_FRAME_ROWS = 4

#: what the x axis can be; the dashboard offers the ones the run logs (core/axes.py)
X_LABELS = {"step": "step", "time": "hours since start", "tokens": "tokens", "samples": "samples"}


class MetricChart(PlotextPlot):
    """Re-plots only when given new data or resized, and draws a plot once: a refresh of the
    screen's layout (a card that changed width, a notification) reuses the drawn picture.

    Ticks are round and evenly spaced (whole steps on a step axis), the raw series is a faint
    band behind the smoothed line, and the legend is a line of its own above the plot, so it
    never covers a line. ``log_y`` plots log10 of the values (those at or below zero left out).
    """

    DEFAULT_CSS = """
    MetricChart { background: $surface; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[Series] = []
        self.smoothing = DEFAULT_SMOOTHING
        self.title_text = ""
        self.log_y = False
        self.x_axis = "step"
        self.hidden_nonpositive = 0  # values a log axis could not show
        #: bumped by ``replot``; the drawn picture is kept for (version, size, theme)
        self._version = 0
        self._drawn: tuple[tuple[int, int, int, str], RenderResult] | None = None
        self._legend = Text()
        self._plot_rows: int | None = None

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
        self._version += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = max(self.size.width, 20)
        height = max(self.size.height - 1, 5)
        points = max(20, width * 2)
        plt.xlabel(X_LABELS.get(self.x_axis, self.x_axis))
        self._legend = Text()
        self._plot_rows = None
        self.hidden_nonpositive = 0
        if not self.series:
            self._legend = Text("select a metric: move with the arrows, Enter to chart it")
            self.refresh()
            return
        colors, raw, marks = chart_colors(self.app.get_css_variables())
        xs_all: list[float] = []
        ys_all: list[float] = []
        for i, s in enumerate(self.series):
            color = colors[i % len(colors)]
            steps, values = s.steps, s.values
            if self.log_y:
                kept = [
                    (x, math.log10(v))
                    for x, v in zip(steps, values, strict=False)
                    if v is not None and math.isfinite(v) and v > 0
                ]
                self.hidden_nonpositive += sum(
                    1 for v in values if v is not None and math.isfinite(v) and v <= 0
                )
                steps, values = [k[0] for k in kept], [k[1] for k in kept]
            xs, ys = downsample(steps, values, points)
            if not xs:
                continue
            xs_all += xs
            ys_all += ys
            if self.smoothing > 0 and len(ys) > 2:
                # the raw series as a faint min/max band (cell-sized dots), the smoothed line on top
                lo_x, lo_y, hi_x, hi_y = band(steps, values, width)
                plt.scatter(lo_x, lo_y, color=raw, marker="dot")
                if hi_x:
                    plt.scatter(hi_x, hi_y, color=raw, marker="dot")
                smooth_x, smooth_y = downsample(steps, ema(values, self.smoothing), points)
                plt.plot(smooth_x, smooth_y, color=color, marker="braille")
            else:
                plt.plot(xs, ys, color=color, marker="braille")
            for mark in s.marks:
                plt.vline(mark, color=marks)
            self._legend.append("━ ", style=_rich_color(color))
            # names come from logs: one escaping path (never markup, never terminal escapes)
            self._legend.append(inert(s.label, keep_newlines=False) + "  ")
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


def _rich_color(color: RGB | str) -> str:
    if isinstance(color, tuple):
        return "rgb({},{},{})".format(*color)
    return color.rstrip("+") if color.rstrip("+") in _RICH_NAMES else ""


_RICH_NAMES = {"cyan", "magenta", "green", "yellow", "red", "gray"}
