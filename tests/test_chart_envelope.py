"""The large chart draws each series' envelope at its width and re-plots only when that changes."""

from __future__ import annotations

import random

from textual.app import App, ComposeResult

from rltop.ui.widgets.chart import MetricChart, Series


class ChartApp(App):
    def compose(self) -> ComposeResult:
        yield MetricChart(id="chart")


def _series(n: int, seed: int = 3) -> Series:
    rng = random.Random(seed)
    steps = list(range(1, n + 1))
    return Series("loss", steps, [rng.random() for _ in steps])


async def test_chart_plots_the_envelope_and_keeps_spikes():
    app = ChartApp()
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.query_one(MetricChart)
        calls: list[tuple[list, list]] = []
        real_plot = chart.plt.plot

        def spy(xs, ys, **kw):
            calls.append((list(xs), list(ys)))
            return real_plot(xs, ys, **kw)

        chart.plt.plot = spy
        series = _series(10_000)
        series.values[7777] = 99.0
        chart.show([series], 0.0)
        await pilot.pause()
        assert len(calls) == 1
        xs, ys = calls[0]
        assert len(xs) <= 4 * chart.size.width  # two dots per cell, two points per column
        assert max(ys) == 99.0  # a one-step spike survives the reduction


async def test_chart_replots_only_when_the_drawn_envelope_changes():
    app = ChartApp()
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.query_one(MetricChart)
        base = _series(6_000)
        chart.show([base], 0.0)
        await pilot.pause()
        version = chart._version
        # one more step whose value lies inside its column's range: the same picture
        width = chart._plan[0][0][1].width
        assert (6001 // width) == (6000 // width)
        last = [
            v for s, v in zip(base.steps, base.values, strict=True) if s // width == 6000 // width
        ]
        inside = (min(last) + max(last)) / 2
        grown = Series("loss", [*base.steps, 6001], [*base.values, inside])
        chart.show([grown], 0.0)
        await pilot.pause()
        assert chart._version == version
        # a new extreme in the last column: re-plotted
        spiked = Series("loss", [*base.steps, 6001], [*base.values, 50.0])
        chart.show([spiked], 0.0)
        await pilot.pause()
        assert chart._version == version + 1
