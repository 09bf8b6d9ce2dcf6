"""The large chart: selected metrics against step, raw (faint) and EMA-smoothed, by plotext."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from textual.app import RenderResult
from textual.color import Color, ColorParseError
from textual_plotext import PlotextPlot

from rltop.config import DEFAULT_SMOOTHING
from rltop.core.derive import ema
from rltop.core.inert import inert

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


class MetricChart(PlotextPlot):
    """Re-plots only when given new data or resized, and draws a plot once: a refresh of the
    screen's layout (a card that changed width, a notification) reuses the drawn picture."""

    DEFAULT_CSS = """
    MetricChart { background: $surface; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[Series] = []
        self.smoothing = DEFAULT_SMOOTHING
        self.title_text = ""
        #: bumped by ``replot``; the drawn picture is kept for (version, size, theme)
        self._version = 0
        self._drawn: tuple[tuple[int, int, int, str], RenderResult] | None = None

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
        self._version += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = max(self.size.width, 20)
        points = max(20, width * 2)
        plt.xlabel("step")
        if not self.series:
            plt.title("select a metric: move with the arrows, Enter to chart it")
            self.refresh()
            return
        colors, raw, marks = chart_colors(self.app.get_css_variables())
        for i, s in enumerate(self.series):
            color = colors[i % len(colors)]
            xs, ys = downsample(s.steps, s.values, points)
            if not xs:
                continue
            if self.smoothing > 0 and len(ys) > 2:
                smooth_src_x, smooth_src_y = downsample(
                    s.steps, ema(s.values, self.smoothing), points
                )
                plt.plot(xs, ys, color=raw, marker="braille")
                plt.plot(
                    smooth_src_x,
                    smooth_src_y,
                    color=color,
                    marker="braille",
                    label=inert(s.label, keep_newlines=False),
                )
            else:
                plt.plot(
                    xs, ys, color=color, marker="braille", label=inert(s.label, keep_newlines=False)
                )
            for mark in s.marks:
                plt.vline(mark, color=marks)
        suffix = f"  ema {self.smoothing:.2f}" if self.smoothing > 0 else "  raw"
        title = self.title_text or ", ".join(s.label for s in self.series)
        # plotext's output is parsed back as ANSI: a name's escapes would become real ones
        plt.title(inert(title, keep_newlines=False) + suffix)
        self.refresh()
