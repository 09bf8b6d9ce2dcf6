"""Themes: four shipped, monochrome under NO_COLOR, user files added or explained, flag applied,
``.tcss`` overlays applied with their theme only."""

from __future__ import annotations

import pytest
from textual.color import Color

import rltop.ui.themes as themes_mod
from rltop.ui.app import make_app
from rltop.ui.themes import DEFAULT_THEME, NO_COLOR_THEME, OVERLAY_SOURCE, load_themes, pick_theme

from uihelp import demo_folder, loaded, wait_for


def test_four_themes_ship_and_user_files_extend_them(tmp_path):
    (tmp_path / "mine.toml").write_text('name = "mine"\nprimary = "#FF00FF"\ndark = true\n')
    (tmp_path / "broken.toml").write_text('name = "broken"\nprimary = \n')
    (tmp_path / "odd.toml").write_text('name = "odd"\nprimary = "#000000"\ncolour = "red"\n')
    catalog = load_themes([tmp_path])
    names = {t.name for t in catalog.themes}
    assert {"rltop-dark", "rltop-light", "rltop-high-contrast", "rltop-mono", "mine"} <= names
    assert not next(t for t in catalog.themes if t.name == "rltop-light").dark
    problems = catalog.problems
    assert len(problems) == 2 and any("broken.toml" in p for p in problems)
    assert any("unknown fields colour" in p for p in problems)


def test_pick_theme():
    available = {"rltop-dark", "rltop-light", "rltop-mono"}
    assert pick_theme(None, available, env={}) == DEFAULT_THEME
    assert pick_theme(None, available, env={"NO_COLOR": "1"}) == NO_COLOR_THEME
    assert pick_theme("rltop-light", available, env={"NO_COLOR": "1"}) == "rltop-light"
    assert pick_theme("no-such-theme", available, env={}) == DEFAULT_THEME


async def test_app_starts_in_the_requested_theme_and_switches(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    app = make_app([str(demo_folder(tmp_path, steps=5))], theme="rltop-light")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        assert app.theme == "rltop-light"
        app.theme = "rltop-high-contrast"
        await pilot.pause(0.1)
        assert app.current_theme.name == "rltop-high-contrast"


async def test_no_color_starts_monochrome(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(80, 24)):
        assert app.theme == NO_COLOR_THEME


MINE = 'name = "mine"\nprimary = "#FF00FF"\naccent = "#00FF00"\ndark = true\n'


def test_overlays_are_found_beside_their_theme_or_by_theme_name(tmp_path):
    (tmp_path / "mine.toml").write_text(MINE)
    (tmp_path / "mine.tcss").write_text("#title { text-style: underline; }\n")
    (tmp_path / "rltop-light.tcss").write_text("#title { text-style: bold; }\n")
    (tmp_path / "nobody.tcss").write_text("#title { text-style: bold; }\n")
    catalog = load_themes([tmp_path])
    assert catalog.overlays["mine"].path == tmp_path / "mine.tcss"
    assert "underline" in catalog.overlays["mine"].css
    assert catalog.overlays["rltop-light"].path == tmp_path / "rltop-light.tcss"
    assert catalog.problems == ["nobody.tcss: no theme named 'nobody' to overlay"]


def test_a_user_theme_replacing_a_shipped_one_drops_the_shipped_overlay(tmp_path):
    shipped = load_themes([])
    assert "rltop-high-contrast" in shipped.overlays  # ships with one
    (tmp_path / "hc.toml").write_text('name = "rltop-high-contrast"\nprimary = "#FFFFFF"\n')
    assert "rltop-high-contrast" not in load_themes([tmp_path]).overlays


@pytest.fixture
def user_themes(tmp_path, monkeypatch):
    folder = tmp_path / "config-themes"
    folder.mkdir()
    monkeypatch.setattr(themes_mod, "user_dir", lambda: folder)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return folder


async def test_overlay_applies_with_its_theme_and_goes_with_it(tmp_path, user_themes):
    (user_themes / "mine.toml").write_text(MINE)
    (user_themes / "mine.tcss").write_text(
        "/* heavier: the chart gets a border */\n#chart { border: heavy $accent; }\n"
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    app = make_app([str(demo_folder(logs, steps=5))], theme="mine")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        chart = app.dashboard.query_one("#chart")
        assert chart.styles.border_top == ("heavy", Color.parse("#00FF00"))
        app.theme = "rltop-dark"
        await pilot.pause(0.1)
        assert chart.styles.border_top[0] in ("", "none")
        assert not any(key[1] == OVERLAY_SOURCE for key in app.stylesheet.source)
        app.theme = "mine"
        await pilot.pause(0.1)
        assert chart.styles.border_top == ("heavy", Color.parse("#00FF00"))
        assert app.theme_problems == []


async def test_a_broken_overlay_is_skipped_with_a_notice_not_a_crash(tmp_path, user_themes):
    (user_themes / "mine.toml").write_text(MINE)
    (user_themes / "mine.tcss").write_text("#chart { border: heavy $no-such-colour; }\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    app = make_app([str(demo_folder(logs, steps=5))], theme="mine")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        assert app.current_theme.name == "mine"
        assert app.dashboard.query_one("#chart").styles.border_top[0] in ("", "none")

        def notices() -> int:
            return sum("mine.tcss: not valid CSS" in n.message for n in app._notifications)

        assert notices() == 1  # at start-up, once on screen
        app.theme = "rltop-dark"
        app.theme = "mine"
        await pilot.pause(0.1)
        assert app.current_theme.name == "mine" and notices() == 2  # and again when picked


# -- readable colour pairs ----------------------------------------------------------------------
SHIPPED = ("rltop-dark", "rltop-light", "rltop-high-contrast", "rltop-mono")


def _contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21)."""

    def luminance(colour: str) -> float:
        channels = [c / 255 for c in Color.parse(colour).rgb]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("name", SHIPPED)
def test_theme_colours_stay_readable_where_they_meet(name):
    theme = next(t for t in load_themes([]).themes if t.name == name)
    colours = theme.to_color_system().generate()
    # a selected warning row keeps its severity colour on the block cursor
    cursor = colours["block-cursor-background"]
    for fg in ("warning", "error", "primary"):
        assert _contrast(colours[fg], cursor) >= 3.5, (fg, colours[fg], cursor)
    # the "● live" marker on the title bar
    assert _contrast(colours["text-success"], colours["primary-background"]) >= 4.5
    # the theme's colours as text on its backgrounds
    for fg in ("warning", "error", "success", "accent", "secondary"):
        for bg in ("background", "surface"):
            assert _contrast(colours[fg], colours[bg]) >= 4.5, (fg, bg)


def test_chart_colours_follow_the_theme():
    from rltop.ui.widgets.chart import chart_colors

    themes = {t.name: t.to_color_system().generate() for t in load_themes([]).themes}
    series, raw, marks = chart_colors(themes["rltop-mono"])
    assert all(r == g == b for r, g, b in [*series, raw, marks])  # greys only
    series, raw, marks = chart_colors(themes["rltop-light"])
    light = themes["rltop-light"]
    assert series[0] == Color.parse(light["primary"]).rgb
    assert marks == Color.parse(light["error"]).rgb
    series, raw, marks = chart_colors({})  # no app: plotext's own colour names
    assert series[0] == "cyan+" and raw == "gray" and marks == "red"


async def test_live_marker_takes_the_themes_success_colour_and_follows_a_switch(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("NO_COLOR", raising=False)
    app = make_app([str(demo_folder(tmp_path, steps=5))], theme="rltop-light")

    def marker_colour() -> tuple[int, int, int]:
        title = app.dashboard.query_one("#title").render()
        span = next(s for s in title.spans if "live" in title.plain[s.start : s.end])
        return span.style.foreground.rgb  # the title is Content: Textual styles

    def success() -> tuple[int, int, int]:
        return Color.parse(app.get_css_variables()["text-success"]).rgb

    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        await wait_for(pilot, lambda: "live" in str(app.dashboard.query_one("#title").render()))
        light = success()
        assert marker_colour() == light
        app.theme = "rltop-dark"
        await pilot.pause(0.1)
        assert success() != light and marker_colour() == success()


def _widget_classes() -> dict[str, type]:
    """Every widget class of rltop's UI and of Textual, by class name."""
    import importlib
    import pkgutil

    import textual.widgets
    from textual.widget import Widget

    import rltop.ui

    for info in pkgutil.walk_packages(rltop.ui.__path__, "rltop.ui."):
        importlib.import_module(info.name)
    for name in textual.widgets.__all__:
        getattr(textual.widgets, name)  # Textual's widgets are imported lazily
    found: dict[str, type] = {}
    todo = [Widget]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


def test_shipped_overlays_style_widgets_and_parts_that_exist():
    """Each rule of a shipped ``.tcss`` overlay (rltop-high-contrast's cursor and focus shapes)
    names a widget class that exists and, for ``Widget > .part``, a component class it draws with:
    a renamed widget or part would leave the rule applying to nothing. (The snapshots picture the
    high-contrast theme on the dashboard only; this keeps the other screens' cursors covered.)"""
    import re

    widgets = _widget_classes()
    overlays = load_themes([]).overlays
    assert "rltop-high-contrast" in overlays
    checked = 0
    for name, overlay in overlays.items():
        css = re.sub(r"/\*.*?\*/", "", overlay.css, flags=re.S)
        for selector in re.findall(r"([^{}]+)\{", css):
            for part in selector.split(","):
                match = re.fullmatch(r"\s*([A-Z]\w*)(?::\w+)?\s*(?:>\s*\.([\w-]+))?\s*", part)
                assert match, (name, part)
                widget, component = match.groups()
                assert widget in widgets, (name, widget)
                if component:
                    assert component in widgets[widget]._get_component_classes(), (name, part)
                checked += 1
    assert checked >= 5
