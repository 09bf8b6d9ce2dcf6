"""Settings: defaults < config file < RLTOP_* environment < flags."""

from __future__ import annotations

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
