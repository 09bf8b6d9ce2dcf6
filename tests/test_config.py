"""Settings: defaults < config file < RLTOP_* environment < flags."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rltop.config import Settings


def test_defaults_without_a_file(tmp_path):
    s = Settings.load(env={"RLTOP_CONFIG": str(tmp_path / "none.toml")})
    assert s.thresholds == {} and s.roles == {} and s.poll is False
    assert any("not found" in p for p in s.problems)


def test_layers(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        'theme = "nord"\nsmoothing = 0.5\n'
        '[thresholds."rl.kl_spike"]\nfactor = 20\n'
        "[thresholds.run.stalled]\nminutes = 30\n"
        '[roles]\nreward = ["my/reward"]\n'
    )
    env = {
        "RLTOP_CONFIG": str(cfg),
        "RLTOP_SMOOTHING": "0.8",
        "RLTOP_POLL": "yes",
        "RLTOP_THRESHOLDS": "rl.truncation.ratio=0.7,run.stalled.minutes=45",
    }
    s = Settings.load(env=env, flags={"theme": "dracula", "smoothing": None},
                      threshold_pairs=["rl.kl_spike.factor=12"])  # fmt: skip
    assert s.config_path == cfg
    assert s.theme == "dracula"  # flag over file
    assert s.smoothing == 0.8  # env over file; a None flag is "not given"
    assert s.poll is True
    assert s.thresholds == {
        "rl.kl_spike": {"factor": 12},
        "run.stalled": {"minutes": 45},
        "rl.truncation": {"ratio": 0.7},
    }
    assert s.roles == {"reward": ["my/reward"]}
    assert s.problems == []


def test_problems_are_reported_not_fatal(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('colour = "red"\n[thresholds."rl.nope"]\nx = 1\n')
    s = Settings.load(cfg, env={"RLTOP_SMOOTHING": "lots"})
    text = " ".join(s.problems)
    assert "unknown setting 'colour'" in text and "rl.nope" in text and "smoothing" in text
    cfg.write_text("this is not toml = = =")
    assert any("cannot read" in p for p in Settings.load(cfg, env={}).problems)


def test_default_path_is_in_the_user_config_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "rltop").mkdir()
    (tmp_path / "rltop" / "config.toml").write_text('[thresholds."rl.truncation"]\nratio = 0.9\n')
    s = Settings.load(env={})
    assert s.thresholds == {"rl.truncation": {"ratio": 0.9}}


def test_keys_with_unquoted_dotted_ids_and_bad_values(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[keys]\ndashboard.filter = "f"\n"app.quit" = "ctrl+q"\n"app.help" = 3\n')
    s = Settings.load(cfg, env={"RLTOP_KEYS": "dashboard.next_run=n;;nonsense"})
    assert s.keys == {"dashboard.filter": "f", "app.quit": "ctrl+q", "dashboard.next_run": "n"}
    assert s.problems == [
        f"{cfg}: key for 'app.help' must be a key name, got 3",
        "RLTOP_KEYS: expected ACTION=KEY, got 'nonsense'",
    ]
    assert s.origins["keys:dashboard.filter"] == "config file"
    assert (
        s.origins["keys:dashboard.next_run"] == "environment" and s.origin("keys") == "environment"
    )


def test_roles_layers_and_bad_values(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[roles]\nreward = ["file/r"]\nkl = "file/kl"\nrewrd = ["x"]\nentropy = [1]\n')
    s = Settings.load(
        cfg,
        env={"RLTOP_ROLES": "reward=env/r, env/*/r ; valid_loss=v"},
        role_pairs=["reward=flag/r"],
    )
    assert s.roles == {
        "reward": ["flag/r", "env/r", "env/*/r", "file/r"],
        "kl": ["file/kl"],
        "valid_loss": ["v"],
    }
    text = "\n".join(s.problems)
    assert "unknown role 'rewrd' (roles: reward, valid_reward," in text
    assert "role 'entropy' takes metric names, got [1]" in text and len(s.problems) == 2
    assert s.origin("roles") == "flag" and s.origins["roles:kl"] == "config file"


def test_max_memory_sizes_and_ranges(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("max_memory = 1073741824\nsmoothing = 1.5\nrefresh = -1\n")
    s = Settings.load(cfg, env={})
    assert s.max_memory == 1024**3 and s.smoothing is None and s.refresh is None
    assert [p.split(": ", 1)[1] for p in s.problems] == [
        "bad value for smoothing: 1.5 (a weight between 0 and 0.99)",
        "bad value for refresh: -1 (redraws per second, above 0)",
    ]
    s = Settings.load(cfg, env={"RLTOP_MAX_MEMORY": "1.5G"}, flags={"max_memory": None})
    assert s.max_memory == int(1.5 * 1024**3) and s.origin("max_memory") == "environment"
    s = Settings.load(env={"RLTOP_MAX_MEMORY": "-2G", "RLTOP_CONFIG": str(cfg)})
    assert "bad value for max_memory: '-2G' (size must be positive: '-2G')" in s.problems[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG rule is Linux's")
@pytest.mark.parametrize("xdg", [None, "", "   ", "/tmp/xdg-conf"])
def test_default_config_path_is_platformdirs_answer(monkeypatch, xdg: str | None) -> None:
    from platformdirs import user_config_dir

    from rltop.config import default_config_path

    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert default_config_path() == Path(user_config_dir("rltop")) / "config.toml"
