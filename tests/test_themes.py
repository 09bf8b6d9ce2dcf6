"""Themes: four shipped, monochrome under NO_COLOR, user files added or explained, flag applied."""

from __future__ import annotations

from rltop.ui.app import make_app
from rltop.ui.themes import DEFAULT_THEME, NO_COLOR_THEME, load_themes, pick_theme

from uihelp import demo_folder, loaded, wait_for


def test_four_themes_ship_and_user_files_extend_them(tmp_path):
    (tmp_path / "mine.toml").write_text('name = "mine"\nprimary = "#FF00FF"\ndark = true\n')
    (tmp_path / "broken.toml").write_text('name = "broken"\nprimary = \n')
    (tmp_path / "odd.toml").write_text('name = "odd"\nprimary = "#000000"\ncolour = "red"\n')
    themes, problems = load_themes([tmp_path])
    names = {t.name for t in themes}
    assert {"rltop-dark", "rltop-light", "rltop-high-contrast", "rltop-mono", "mine"} <= names
    assert not next(t for t in themes if t.name == "rltop-light").dark
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
