"""Every setting has a flag, an environment variable and a section in docs/config.md.

Generated from ``dataclasses.fields(Settings)``: a new field without a flag, an env var or docs
makes these tests fail (and one without a sample below fails too, so it gets tested)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rltop.cli import _main_parser
from rltop.config import TABLES, Settings, env_name, flag_name, setting_fields

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "config.md").read_text()

#: setting -> (flag or env value, the value it gives); None: a switch (bool flag, env "1")
SAMPLES: dict[str, tuple[str | None, object]] = {
    "theme": ("rltop-light", "rltop-light"),
    "endpoint": ("http://gpu-box:8000/v1", "http://gpu-box:8000/v1"),
    "smoothing": ("0.3", 0.3),
    "poll": (None, True),
    "refresh": ("0.5", 0.5),
    "max_memory": ("3M", 3 * 1024**2),
    "thresholds": ("rl.kl_spike.factor=3", {"rl.kl_spike": {"factor": 3}}),
    "roles": ("reward=my/reward,my/*/return", {"reward": ["my/reward", "my/*/return"]}),
    "keys": ("dashboard.filter=f", {"dashboard.filter": "f"}),
}
FIELDS = [f.name for f in setting_fields()]


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


def _sample(name: str) -> tuple[str | None, object]:
    assert name in SAMPLES, f"add a sample value for the new setting {name!r} to SAMPLES"
    return SAMPLES[name]


@pytest.mark.parametrize("name", FIELDS)
def test_every_setting_has_a_flag_that_sets_it(name):
    raw, expected = _sample(name)
    argv = [flag_name(name)] + ([] if raw is None else [raw])
    for parser in (_main_parser(), _demo_parser()):
        assert flag_name(name) in parser._option_string_actions, f"no {flag_name(name)} flag"
        settings = Settings.from_args(parser.parse_args(argv), env={})
        assert getattr(settings, name) == expected and settings.problems == []
        assert settings.origin(name) == "flag"


@pytest.mark.parametrize("name", FIELDS)
def test_every_setting_has_an_environment_variable(name):
    raw, expected = _sample(name)
    settings = Settings.load(env={env_name(name): "1" if raw is None else raw})
    assert getattr(settings, name) == expected and settings.problems == []
    assert settings.origin(name) == "environment"


@pytest.mark.parametrize("name", FIELDS)
def test_every_setting_is_documented(name):
    sections = dict(re.findall(r"^### `(\w+)`\n(.*?)(?=^#)", DOCS, re.M | re.S))
    assert name in sections, f"docs/config.md has no '### `{name}`' section"
    text = sections[name]
    for part in ("- type:", "- default:", "- TOML:", f"- flag: `{flag_name(name)}"):
        assert part in text, f"docs/config.md, {name}: no {part!r}"
    assert f"- environment: `{env_name(name)}" in text
    toml_key = f"[{name}]" if name in TABLES else f"{name} = "
    assert toml_key in text or f"[{name}." in text


def test_the_documented_key_action_ids_are_the_apps():
    from rltop.ui.keymap import binding_table

    table = dict(re.findall(r"^\| `([\w.]+)` \| `([^`]+)` \|", DOCS, re.M))
    assert table == {a.id: a.key for a in binding_table().values()}


def test_the_documented_examples_load(tmp_path):
    from rltop.ui.themes import load_theme_file

    complete = DOCS[DOCS.index("A complete example:") :]
    complete = complete[complete.index("```toml\n") + 8 :]
    config = tmp_path / "config.toml"
    config.write_text(complete[: complete.index("```")])
    settings = Settings.load(config, env={})
    assert settings.problems == [] and settings.max_memory == 4 * 1024**3
    assert settings.keys == {"dashboard.filter": "f", "app.quit": "ctrl+q"}
    theme = DOCS[DOCS.index("# ~/.config/rltop/themes/solarized.toml") :]
    theme_file = tmp_path / "solarized.toml"
    theme_file.write_text(theme[: theme.index("```")])
    assert load_theme_file(theme_file).name == "solarized"


def _demo_parser():
    import argparse

    from rltop.commands import demo

    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser
