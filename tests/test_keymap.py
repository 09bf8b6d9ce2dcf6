"""Keys can be remapped in the config file by binding id; help shows the new keys."""

from __future__ import annotations

from rltop.config import Settings
from rltop.ui.app import make_app
from rltop.ui.screens.help import HelpScreen
from rltop.ui.widgets.metric_grid import MetricGrid

from uihelp import demo_folder, loaded, wait_for


async def test_config_file_remaps_the_filter_key(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[keys]\n"dashboard.filter" = "f"\n"dashboard.next_run" = "n"\n')
    settings = Settings.load(config, env={})
    assert settings.keys == {"dashboard.filter": "f", "dashboard.next_run": "n"}
    app = make_app([str(demo_folder(tmp_path / "logs", steps=10))])
    app.settings = settings
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        grid = app.screen.query_one(MetricGrid)
        await pilot.press("f", *"ppo_kl")
        assert [c.name for c in grid.cards] == ["actor/ppo_kl"]
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {what: key for key, what, _where in app.screen.rows}
        assert keys["Filter"] == "f" and keys["Next run"] == "n"
