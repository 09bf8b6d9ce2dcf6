"""Pilot tests of the chart people read most: ticks, labels, raw band, legend, log y, x axes,
and the reward distribution view reached from the chart and from the rollout list."""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import pytest

from rltop.core.distribution import distribution
from rltop.core.ticks import even_ticks, fit_ticks, nice_ticks, tick_labels
from rltop.ui.app import make_app
from rltop.ui.screens.distribution import DistributionScreen
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.widgets.chart import MetricChart

from uihelp import demo_folder, loaded, settled, wait_for

SIZES = [(80, 24), (160, 48)]
BRAILLE = re.compile("[\u2801-\u28ff]")


def chart_lines(chart: MetricChart) -> list[str]:
    from rich.console import Console

    console = Console(width=chart.size.width, record=True, color_system=None)
    console.print(chart.render())
    return console.export_text().splitlines()


def y_labels(lines: list[str]) -> list[tuple[int, str]]:
    out = []
    for row, line in enumerate(lines):
        found = re.match(r"^\s*(\S+)┤", line)
        if found:
            out.append((row, found.group(1)))
    return out


def x_labels(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if "└" in line and "┬" in line and i + 1 < len(lines):
            return lines[i + 1].split()
    return []


def metrics_run(root: Path, rows: list[dict]) -> Path:
    run = root / "run1"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_ticks_are_round_even_and_never_float_noise() -> None:
    assert tick_labels(nice_ticks(1, 10.5, 6, integer=True)) == [
        "0",
        "2",
        "4",
        "6",
        "8",
        "10",
        "12",
    ]
    assert all(float(t).is_integer() for t in nice_ticks(1, 3, 8, integer=True))
    assert tick_labels(nice_ticks(0.12, 0.87, 5)) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    constant = tick_labels(nice_ticks(1.0000000000000002, 1.0000000000000002, 4))
    assert all(len(label) <= 4 for label in constant) and "1.0" in constant
    for rows in range(3, 60):
        used, ticks = fit_ticks(0.06, 0.67, rows)
        assert used <= rows and (used - 1) % (len(ticks) - 1) == 0  # every label equally apart
        assert ticks[0] <= 0.06 and ticks[-1] >= 0.67
    assert even_ticks(-0.004, 0.002, 13, 5) == [-0.004, -0.002, 0.0, 0.002]


@pytest.mark.parametrize("size", SIZES)
async def test_chart_ticks_legend_and_raw_band(tmp_path: Path, size) -> None:
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, settled(app))
        chart = app.screen.query_one(MetricChart)
        await wait_for(pilot, lambda: bool(chart.series))
        await pilot.pause(0.2)
        lines = chart_lines(chart)
        # the legend is a line of its own, above the plot: no line is ever drawn under it
        assert "critic/score/mean" in lines[0] and not BRAILLE.search(lines[0])
        assert "┌" in lines[1]
        # x: whole, round steps
        xs = x_labels(lines)
        assert xs and all(x.isdigit() for x in xs)
        steps = [int(x) for x in xs]
        assert len({b - a for a, b in itertools.pairwise(steps)}) <= 1
        # y: round labels, evenly spaced rows, same decimals
        ys = y_labels(lines)
        assert len(ys) >= 3
        gaps = {b[0] - a[0] for a, b in itertools.pairwise(ys)}
        assert len(gaps) == 1, ys
        values = [float(v) for _row, v in ys]
        diffs = {round(a - b, 9) for a, b in itertools.pairwise(values)}
        assert len(diffs) == 1
        assert all(len(v.split(".")[-1]) <= 2 for _row, v in ys)
        # raw values as faint dots behind the smoothed braille line
        body = "\n".join(lines[1:])
        assert "•" in body and BRAILLE.search(body)


@pytest.mark.parametrize("size", SIZES)
async def test_log_y_and_x_axis_by_tokens(tmp_path: Path, size) -> None:
    rows = [
        {"step": s, "loss": 10 * 0.9**s, "num_tokens": 4096 * s, "_timestamp": 1.7e9 + 30 * s}
        for s in range(1, 81)
    ]
    app = make_app([str(metrics_run(tmp_path, rows))])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        screen = app.screen
        chart = screen.query_one(MetricChart)
        await wait_for(pilot, lambda: bool(chart.series))
        await pilot.press("L")
        await pilot.pause(0.2)
        assert chart.log_y
        labels = [v for _row, v in y_labels(chart_lines(chart))]
        assert labels and all(math.log10(float(v)).is_integer() for v in labels), labels
        assert "log y" in chart_lines(chart)[0]
        await pilot.press("X")  # step -> time
        await pilot.pause(0.2)
        assert chart.x_axis == "time" and "hours since start" in "\n".join(chart_lines(chart))
        await pilot.press("X")  # time -> tokens
        await pilot.pause(0.2)
        assert chart.x_axis == "tokens"
        assert max(chart.series[0].steps) == 4096 * 80
        await pilot.press("X")  # and back to the step
        await pilot.pause(0.2)
        assert chart.x_axis == "step"


async def test_x_axis_says_when_the_run_logs_nothing_else(tmp_path: Path) -> None:
    app = make_app([str(metrics_run(tmp_path, [{"step": s, "loss": 1 / s} for s in range(1, 9)]))])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, loaded(app))
        await pilot.press("X")
        await pilot.pause(0.1)
        assert app.screen.query_one(MetricChart).x_axis == "step"


def test_distribution_counts_and_groups() -> None:
    import polars as pl

    frame = pl.DataFrame(
        {
            "step": [3] * 8 + [4] * 2,
            "reward": [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.5, None],
            "group": ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"],
        }
    )
    dist = distribution(frame, 3)
    assert [(b.label, b.count) for b in dist.bars] == [("0", 3), ("1", 5)]
    assert [g.group for g in dist.groups] == ["a", "b", "c", "d"]
    assert dist.equal_groups == 3
    assert distribution(frame, 4).missing == 1


@pytest.mark.parametrize("size", SIZES)
async def test_distribution_from_the_chart_and_from_the_rollout_list(tmp_path: Path, size) -> None:
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, settled(app))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DistributionScreen))
        screen = app.screen
        assert screen.step == 60 and screen.dist is not None
        assert sum(b.count for b in screen.dist.bars) == len(screen.dist.rewards) > 0
        assert screen.dist.groups  # the demo's rollouts come in groups
        histogram = str(screen.query_one("#dist-histogram").render())
        assert "█" in histogram and "%" in histogram
        assert "groups" in str(screen.query_one("#dist-groups").render())
        await pilot.press("left_square_bracket")
        assert screen.step == 59
        await pilot.press("escape")
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
        rollouts = app.screen
        await wait_for(pilot, lambda: rollouts.frame.height > 0 and rollouts.complete)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DistributionScreen))
        row = rollouts.query_one("RolloutList").current_row
        assert app.screen.step == rollouts.frame.get_column("step")[row]
