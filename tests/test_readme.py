"""The README stays true: its config example loads cleanly, its test command is what CI runs."""

from __future__ import annotations

from pathlib import Path

from rltop.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_readme_config_example_loads_without_problems(tmp_path):
    text = (ROOT / "README.md").read_text()
    block = text[text.index("    # ~/.config/rltop/config.toml") :]
    block = block[: block.index("\n\n")]
    config = tmp_path / "config.toml"
    config.write_text("\n".join(line[4:] for line in block.splitlines()[1:]) + "\n")
    settings = Settings.load(config, env={})
    assert settings.problems == []
    assert settings.keys == {"dashboard.filter": "f"} and settings.theme == "rltop-light"


def test_readme_setup_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e . && rltop demo" in readme
    test_command = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]'"
    assert test_command + " && python -m pytest -q -n 2\n" in readme
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[test]'" in ci
    assert "python -m pytest -q -n 2 " in ci  # the same run (on two workers: pytest-xdist)


def test_readme_keys_tables_list_every_shown_key():
    """Each key the footer shows on the dashboard, the rollouts, the chat and the reward
    distribution is in the README's keys tables, as users type it."""
    from rltop.ui.screens.chat import ChatScreen
    from rltop.ui.screens.dashboard import DashboardScreen
    from rltop.ui.screens.help import _key_label

    readme = (ROOT / "README.md").read_text()
    keys = readme[readme.index("### Keys") : readme.index("## Warnings")]
    for screen in (DashboardScreen, ChatScreen):
        for binding in screen.BINDINGS:
            label = _key_label(binding.key.split(",")[0])
            assert f"`{label}`" in keys, (screen.__name__, binding.key, label)


def test_readme_pictures_come_from_snapshots_that_exist():
    """``docs/make_screenshots.py`` copies snapshot SVGs into the README: each one it names is a
    snapshot a test still writes (a renamed or dropped snapshot test would leave it stale)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_screenshots", ROOT / "docs" / "make_screenshots.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (ROOT / "README.md").read_text()
    for image, snapshot in module.PICTURES.items():
        assert (module.SNAPSHOTS / snapshot).is_file(), snapshot
        assert (ROOT / "docs" / "images" / image).is_file(), image
    shown = {
        line.split("docs/images/")[1].split(")")[0]
        for line in readme.splitlines()
        if "](docs/images/" in line
    }
    assert shown - {"serve.png"} <= set(module.PICTURES), shown - set(module.PICTURES)
