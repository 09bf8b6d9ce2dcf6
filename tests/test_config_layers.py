"""Flags and RLTOP_* variables reach the running app; ``rltop config`` shows each layer."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest

from rltop.cli import _main_parser, main
from rltop.commands.view import build_app
from rltop.ui.keymap import binding_table
from rltop.ui.widgets.metric_grid import MetricGrid

from uihelp import demo_folder, loaded, wait_for


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """No user config file and no RLTOP_* or NO_COLOR from the machine running the tests."""
    import os

    for name in list(os.environ):
        if name.startswith("RLTOP_") or name == "NO_COLOR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def _app(argv: list[str]):
    args = _main_parser().parse_args(argv)
    return build_app(args.paths, args)


def _custom_run(folder):
    """A run whose reward is logged under a name no trainer uses."""
    folder.mkdir(parents=True)
    lines = [
        json.dumps({"step": i, "custom/score": i / 10, "aaa/other": 1.0, "train/loss": 2 - i / 10})
        for i in range(1, 9)
    ]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@asynccontextmanager
async def _running(app):
    """The app in a pilot, once the run's metrics are in."""
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        yield pilot


async def _cards(app):
    async with _running(app) as pilot:
        await pilot.pause(0.2)
        return [(c.name, c.group) for c in app.screen.query_one(MetricGrid).cards]


async def test_a_role_flag_makes_a_custom_metric_the_reward_card(tmp_path):
    run = str(_custom_run(tmp_path / "run"))
    before = await _cards(_app([run]))
    assert ("custom/score", "key metrics") not in before  # the control: unknown by default
    app = _app([run, "--role", "reward=custom/score"])
    after = await _cards(app)
    assert after[0] == ("custom/score", "key metrics")
    assert app.warnings_tracker.diagnoser.role_extra == {"reward": ["custom/score"]}


async def test_roles_from_the_environment_reach_the_cards(tmp_path, monkeypatch):
    run = str(_custom_run(tmp_path / "run"))
    monkeypatch.setenv("RLTOP_ROLES", "valid_loss=nope;reward=c*/score")
    assert (await _cards(_app([run])))[0] == ("custom/score", "key metrics")


async def test_key_flag_and_env_remap_the_bindings(tmp_path, monkeypatch):
    logs = str(demo_folder(tmp_path / "logs", steps=10))
    monkeypatch.setenv("RLTOP_KEYS", "dashboard.next_run=n;dashboard.smooth_more=u,plus")
    app = _app([logs, "--key", "dashboard.filter=f"])
    async with _running(app) as pilot:
        box = app.screen.query_one("#filter")
        await pilot.press("slash")  # the old key does nothing now
        assert not box.has_class("shown")
        await pilot.press("f")
        assert box.has_class("shown")
        await pilot.press("escape")
        assert app.screen.smoothing == 0.6
        await pilot.press("u")
        assert app.screen.smoothing == 0.8
        assert app._keymap["dashboard.next_run"] == "n"


async def test_thresholds_reach_the_warning_rules_and_a_missing_theme_is_said(
    tmp_path, monkeypatch
):
    logs = str(demo_folder(tmp_path / "logs", steps=5))
    monkeypatch.setenv("RLTOP_THRESHOLDS", "run.stalled.minutes=45;rl.kl_spike.factor=7")
    app = _app([logs, "--threshold", "rl.kl_spike.factor=20", "--theme", "no-such-theme"])
    async with _running(app):
        assert app.warnings_tracker.diagnoser.thresholds == {
            "run.stalled": {"minutes": 45},
            "rl.kl_spike": {"factor": 20},
        }
        messages = [n.message for n in app._notifications]
        assert "theme 'no-such-theme' not found, using rltop-dark" in messages


async def test_settings_from_the_file_reach_the_app_and_problems_are_shown(tmp_path, monkeypatch):
    logs = str(demo_folder(tmp_path / "logs", steps=5))
    config = tmp_path / "config.toml"
    config.write_text('smoothing = 0.8\nmax_memory = "64M"\ntheme = "rltop-light"\n')
    monkeypatch.setenv("RLTOP_POLL", "0")  # "0" is no
    app = _app([logs, "--config", str(config), "--key", "dashboard.nope=z", "--refresh", "2"])
    assert app.smoothing == 0.8 and app.theme == "rltop-light" and app.min_redraw_interval == 0.5
    assert app.follower.force_polling is False
    from rltop.core import coldtext

    assert coldtext.BUDGET.max_memory == 64 * 1024**2
    async with _running(app):
        messages = [n.message for n in app._notifications]
        assert any("unknown key action 'dashboard.nope'" in m and "app.quit" in m for m in messages)
    coldtext.set_max_memory(None)


def test_the_chat_endpoint_of_the_config_file_and_the_flag_reach_the_chat(tmp_path):
    from rltop.core.chat import resolve_endpoint

    logs = str(demo_folder(tmp_path / "logs", steps=3))
    config = tmp_path / "config.toml"
    config.write_text('endpoint = "gpu-box:8000"\n')
    app = _app([logs, "--config", str(config)])
    endpoint = resolve_endpoint(app.chat_endpoint, config=app.chat_config, env={})
    assert (endpoint.url, endpoint.source) == ("http://gpu-box:8000/v1", "config")
    app = _app([logs, "--config", str(config), "--endpoint", "other:9000"])
    endpoint = resolve_endpoint(app.chat_endpoint, config=app.chat_config, env={})
    assert (endpoint.url, endpoint.source) == ("http://other:9000/v1", "argument")


# -- rltop config ------------------------------------------------------------------------------
def _config_json(capsys, *argv: str) -> dict:
    assert main(["config", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_config_defaults_are_the_effective_values(capsys, monkeypatch):
    doc = _config_json(capsys)
    assert not doc["exists"] and doc["problems"] == []
    assert doc["precedence"] == ["default", "config file", "environment", "flag"]
    s = doc["settings"]
    assert s["theme"] == "rltop-dark" and s["smoothing"] == 0.6 and s["poll"] is False
    assert s["endpoint"] == "http://127.0.0.1:8000/v1" and s["max_memory"] == 2 * 1024**3
    assert s["refresh"] is None and "adaptive" in doc["notes"]["refresh"]
    assert set(doc["origin"].values()) == {"default"}
    keys = doc["entries"]["keys"]
    assert len(keys) == len(binding_table()) and not any(e["remapped"] for e in keys.values())
    assert s["keys"]["dashboard.filter"] == "slash"
    monkeypatch.setenv("NO_COLOR", "1")
    doc = _config_json(capsys)
    assert doc["settings"]["theme"] == "rltop-mono" and "NO_COLOR" in doc["notes"]["theme"]


def test_config_shows_the_layer_of_each_setting(tmp_path, capsys, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(
        'theme = "rltop-light"\nsmoothing = 0.3\nendpoint = "gpu-box:8000"\n'
        '[roles]\nreward = ["file/reward"]\n[keys]\n"dashboard.filter" = "f"\n'
        '[thresholds."rl.kl_spike"]\nfactor = 9\n'
    )
    monkeypatch.setenv("RLTOP_CONFIG", str(config))
    monkeypatch.setenv("RLTOP_SMOOTHING", "0.9")
    monkeypatch.setenv("RLTOP_KEYS", "app.quit=ctrl+q")
    monkeypatch.setenv("RLTOP_MAX_MEMORY", "1G")
    argv = ["--theme", "nord", "--role", "reward=flag/reward", "--key", "dashboard.next_run=n"]
    doc = _config_json(capsys, *argv, "--threshold", "run.stalled.minutes=30")
    s, origin = doc["settings"], doc["origin"]
    assert doc["exists"] and doc["config_file"] == str(config) and doc["problems"] == []
    assert (s["theme"], origin["theme"]) == ("nord", "flag")
    assert (s["smoothing"], origin["smoothing"]) == (0.9, "environment")
    assert (s["endpoint"], origin["endpoint"]) == ("http://gpu-box:8000/v1", "config file")
    assert (s["max_memory"], origin["max_memory"]) == (1024**3, "environment")
    assert origin["poll"] == "default" and origin["keys"] == "flag"
    assert s["roles"] == {"reward": ["flag/reward", "file/reward"]}
    keys = doc["entries"]["keys"]
    assert keys["dashboard.filter"] == {
        "value": "f",
        "default": "slash",
        "remapped": True,
        "origin": "config file",
        "description": "Filter",
    }
    assert (keys["app.quit"]["origin"], keys["dashboard.next_run"]["origin"]) == (
        "environment",
        "flag",
    )
    thresholds = doc["entries"]["thresholds"]
    assert thresholds["rl.kl_spike.factor"] == {"value": 9, "origin": "config file"}
    assert thresholds["run.stalled.minutes"] == {"value": 30, "origin": "flag"}

    assert main(["config", *argv]) == 0
    text = capsys.readouterr().out
    assert f"config file: {config}\n" in text
    assert "  theme       nord  (flag)" in text and "  smoothing   0.9  (environment)" in text
    assert "  thresholds  rl.kl_spike.factor = 9  (config file)" in text
    assert "3 of 52 remapped" in text.replace(str(len(binding_table())), "52")
    line = next(x for x in text.splitlines() if "dashboard.filter" in x)
    assert line.startswith("  * dashboard.filter") and line.endswith("(config file; default slash)")


def test_config_reports_bad_values_without_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RLTOP_SMOOTHING", "2")
    monkeypatch.setenv("RLTOP_ROLES", "rewrd=x")
    doc = _config_json(capsys, "--key", "dash.filter=f", "--theme", "no-such-theme")
    problems = "\n".join(doc["problems"])
    assert "RLTOP_SMOOTHING: bad value for smoothing: '2' (a weight between 0 and 0.99)" in problems
    assert "unknown role 'rewrd' (roles: reward, " in problems
    assert "unknown key action 'dash.filter' (valid: app.chat, " in problems
    assert "theme 'no-such-theme' not found, using rltop-dark" in problems
    assert doc["settings"]["smoothing"] == 0.6 and doc["settings"]["theme"] == "rltop-dark"


def test_config_reports_remapped_keys_that_clash(capsys):
    doc = _config_json(capsys, "--key", "dashboard.filter=r", "--key", "app.quit=w")
    clashes = [p for p in doc["problems"] if p.startswith("keys: ")]
    assert clashes == [
        "keys: dashboard.filter and dashboard.next_run share key r: "
        "only one of them will answer to it",
        "keys: app.quit and dashboard.warnings share key w: only one of them will answer to it",
        "keys: app.quit and warnings.back share key w: only one of them will answer to it",
    ]
    swapped = ["--key", "dashboard.filter=r", "--key", "dashboard.next_run=slash"]
    assert _config_json(capsys, *swapped)["problems"] == []
