"""Issue #12 rows 8, 17-20: special files, rotated logs, bad thresholds, an unreadable $HOME and
folders rltop may not list.

Tests run as root on some machines, where permissions are not enforced, and the interpreter may
live where a lowered uid cannot run it: the permission tests then simulate the refusal by making
the OS call raise ``PermissionError`` (``os.scandir`` / ``Path.is_file``); as a normal user they use
real ``chmod 000``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rltop.cli import main
from rltop.config import Settings
from rltop.core.follow import Follower
from rltop.core.tail import open_regular

AS_ROOT = os.geteuid() == 0


def _rows(lo: int, hi: int) -> str:
    return "".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}) + "\n" for s in range(lo, hi))


def _steps(follower: Follower, name: str = "r") -> list[int]:
    run = next(r for r in follower.store.snapshot().runs if r.name == name)
    return run.metrics.get_column("step").to_list()


def _within(seconds: float, func) -> None:
    """Run ``func`` in a thread; fail (instead of hanging the suite) if it blocks."""
    failed: list[BaseException] = []

    def work() -> None:
        try:
            func()
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for {seconds} s"
    if failed:
        raise failed[0]


# -- row 8: FIFOs and other special files are never opened -------------------------------------
def test_open_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "metrics.jsonl"
    os.mkfifo(fifo)

    def attempt() -> None:
        with pytest.raises(OSError, match="FIFO"):
            open_regular(str(fifo))

    _within(5, attempt)


def test_a_file_replaced_by_a_fifo_while_followed_does_not_block(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    path = run / "metrics.jsonl"
    path.write_text(_rows(0, 5))
    follower = Follower([str(tmp_path)])
    follower.read_all()
    path.unlink()
    os.mkfifo(path)
    os.mkfifo(run / "other.jsonl")  # a new FIFO with a candidate name, too
    _within(10, follower.read_all)
    assert _steps(follower) == [0, 1, 2, 3, 4]  # what was read stays
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop, lambda: None), daemon=True)
    thread.start()
    stop.set()
    thread.join(10)
    assert not thread.is_alive()  # q quits: the live loop is not stuck in open()


def test_sources_lists_a_fifo_without_opening_it(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "metrics.jsonl").write_text(_rows(0, 3))
    os.mkfifo(tmp_path / "r" / "notes.txt")
    out = subprocess.run(
        [sys.executable, "-m", "rltop", "sources", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "notes.txt" in out.stdout and "FIFO" in out.stdout


# -- row 17: rotated logs are the same source's history ---------------------------------------
def test_rotated_siblings_are_read_as_history(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.jsonl.2").write_text(_rows(0, 3))
    (run / "metrics.jsonl.1").write_text(_rows(3, 6))
    (run / "metrics.jsonl").write_text(_rows(6, 8))
    follower = Follower([str(tmp_path)])
    follower.read_all()
    assert _steps(follower) == list(range(8))


def test_rotation_while_followed_loses_nothing(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    path = run / "metrics.jsonl"
    path.write_text(_rows(0, 5))
    follower = Follower([str(tmp_path)])
    follower.read_all()
    os.rename(path, str(path) + ".1")  # logrotate: move, then a new file
    path.write_text(_rows(5, 8))
    follower.read_all()
    assert _steps(follower) == list(range(8))
    assert len(follower.store.snapshot().runs) == 1


# -- row 18: a threshold of the wrong type is a usage error ------------------------------------
@pytest.mark.parametrize("command", ["check", "watch", "config"])
def test_bad_threshold_value_is_a_usage_error(tmp_path: Path, command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--threshold", "rl.kl_spike.factor=abc", str(tmp_path)])
    assert exited.value.code in (2, 3)
    err = capsys.readouterr().err
    assert "rl.kl_spike.factor" in err and "expected a number" in err


def test_bad_threshold_in_the_config_file_keeps_the_default(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[thresholds."rl.kl_spike"]\nfactor = "abc"\n')
    settings = Settings.load(config, env={})
    assert "factor" not in settings.thresholds.get("rl.kl_spike", {})
    assert any("expected a number" in p for p in settings.problems)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "kl": 0.01 * s, "reward": 0.1}) + "\n" for s in range(30))
    )
    assert main(["check", "--config", str(config), str(tmp_path)]) in (0, 1, 2)


# -- row 19: an unreadable $HOME / config folder ------------------------------------------------
def test_unreadable_home_gives_defaults_and_one_notice(tmp_path: Path, monkeypatch, capsys) -> None:
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("RLTOP_CONFIG", raising=False)
    if AS_ROOT:  # simulated: root reads everything
        real = Path.is_file

        def refused(self: Path) -> bool:
            if str(self).startswith(str(home)):
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "is_file", refused)
    else:
        home.chmod(0)
    try:
        settings = Settings.load(env={"HOME": str(home)})
        assert settings.thresholds == {} and settings.theme is None
        assert len(settings.problems) == 1 and "using defaults" in settings.problems[0]
        (tmp_path / "r").mkdir()
        (tmp_path / "r" / "metrics.jsonl").write_text(_rows(0, 5))
        assert main(["check", str(tmp_path / "r")]) == 0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "using defaults" in err
    finally:
        home.chmod(0o755)


# -- row 20: a folder that cannot be listed is named -------------------------------------------
def test_a_folder_that_cannot_be_listed_is_in_sources(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "metrics.jsonl").write_text(_rows(0, 3))
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "metrics.jsonl").write_text(_rows(0, 3))
    if AS_ROOT:  # simulated: root lists everything
        real = os.scandir

        def refused(path="."):
            if os.fspath(path) == str(locked):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real(path)

        monkeypatch.setattr(os, "scandir", refused)
    else:
        locked.chmod(0)
    try:
        assert main(["sources", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert "locked" + os.sep in out and "permission denied" in out
        assert main(["sources", "--json", str(tmp_path)]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert any(
            "permission denied" in o["reason"] and o["path"] == str(locked) for o in doc["not_read"]
        )
    finally:
        locked.chmod(0o755)
