"""Issue #12 rows 19 and 20 with real permissions, not simulated ones.

``rltop`` runs in a subprocess as a user the OS refuses: as root (where ``chmod`` does not bite),
the subprocess drops to uid/gid 65534 (``nobody``, ``tests/dropuser.py``: it imports what the
command needs first, as the interpreter may live where ``nobody`` cannot go) with ``$HOME`` a
root-owned 0700 folder; as any other user, it runs as that user with ``$HOME`` at mode 000. The
logs hold a mode-000 folder and file. The simulated tests in ``test_hostile_files.py`` stay.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tmuxhelp import TMUX, DemoInTmux, wait

DROP = Path(__file__).with_name("dropuser.py")
NOBODY = 65534
AS_ROOT = os.geteuid() == 0


def _rows(n: int) -> str:
    return "".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}) + "\n" for s in range(n))


@dataclass
class Refused:
    """A world-reachable folder with an unreadable home, logs with a mode-000 folder and file."""

    root: Path
    home: Path
    logs: Path
    locked: Path
    locked_file: Path
    user: int | None  # the uid the subprocess runs as (None: this process's)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RLTOP_")}
        env.pop("XDG_CONFIG_HOME", None)
        env["HOME"] = str(self.home)
        env["TMPDIR"] = str(self.root / "tmp")
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        return env

    def command(self, args: tuple[str, ...], warm: tuple[str, ...] | None = None) -> list[str]:
        if self.user is None:
            return [sys.executable, "-m", "rltop", *args]
        how = ["--tui"] if warm is None else ["--warm", *warm]
        return [sys.executable, str(DROP), str(self.user), *how, "--", *args]

    def run(self, *args: str, warm: tuple[str, ...] | None = None) -> subprocess.CompletedProcess:
        """``rltop ARGS`` as the refused user (as root: warmed up with ``warm``, default
        the same arguments, run as root with the output thrown away)."""
        return subprocess.run(
            self.command(args, args if warm is None else warm),
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env(),
            cwd=self.root / "tmp",
        )


def _usable(refused: Refused) -> str | None:
    """Why the lowered user cannot run rltop here (None: it can)."""
    probe = refused.run("config", "--json")
    if probe.returncode == 99 or "Traceback" in probe.stderr:
        return f"uid {refused.user} cannot run rltop here: {probe.stderr.strip()[-300:]}"
    return None


@pytest.fixture
def refused() -> Iterator[Refused]:
    if not AS_ROOT and os.geteuid() == NOBODY:
        pytest.skip("running as nobody already: no lower user to drop to")
    root = Path(tempfile.mkdtemp(prefix="rltop-perms-"))
    root.chmod(0o755)  # the lowered user must reach the logs (tmp_path is private to root)
    home = root / "home"
    (home / ".config" / "rltop").mkdir(parents=True)
    (home / ".config" / "rltop" / "config.toml").write_text('theme = "nord"\n')
    logs = root / "logs"
    (logs / "ok").mkdir(parents=True)
    (logs / "ok" / "metrics.jsonl").write_text(_rows(5))
    locked = logs / "locked"
    locked.mkdir()
    (locked / "metrics.jsonl").write_text(_rows(5))
    (logs / "half").mkdir()
    locked_file = logs / "half" / "metrics.jsonl"
    locked_file.write_text(_rows(5))
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    for path in (root, logs, logs / "ok", logs / "half"):
        path.chmod(0o755)
    for path in (logs / "ok" / "metrics.jsonl",):
        path.chmod(0o644)
    if AS_ROOT:
        home.chmod(0o700)  # root's: nobody may not enter it
    else:
        home.chmod(0)
    locked.chmod(0)
    locked_file.chmod(0)
    state = Refused(root, home, logs, locked, locked_file, NOBODY if AS_ROOT else None)
    try:
        if AS_ROOT:
            why = _usable(state)
            if why:
                pytest.skip(why)
        yield state
    finally:
        for path in (home, locked, locked_file):
            path.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


# -- row 19: run as a user who cannot read $HOME -------------------------------------------------
def test_unreadable_home_real_user_gets_defaults_and_one_notice(refused: Refused) -> None:
    got = refused.run("check", str(refused.logs / "ok"))
    assert got.returncode == 0, got.stderr
    assert "Traceback" not in got.stderr
    assert got.stderr.count("\n") == 1 and "using defaults" in got.stderr
    assert "Permission denied" in got.stderr
    config = refused.run("config", "--json")
    assert config.returncode == 0, config.stderr
    doc = json.loads(config.stdout)
    assert len(doc["problems"]) == 1 and "using defaults" in doc["problems"][0]
    # the config file that cannot be read is not applied (defaults)
    assert "nord" not in config.stdout


def test_unreadable_home_real_user_export_says_why_it_cannot_write(refused: Refused) -> None:
    """``export`` with no ``--out`` from a folder the user may not write, and into a home it
    may not enter: a message and exit 3, never a traceback."""
    out = refused.home / "rltop-export"
    scratch = refused.root / "root-only"
    got = refused.run(
        "export",
        "--out",
        str(out),
        str(refused.logs / "ok"),
        warm=("export", "--out", str(scratch), str(refused.logs / "ok")),
    )
    assert got.returncode == 3, got.stderr
    assert "Traceback" not in got.stderr
    assert "cannot write" in got.stderr and "ermission denied" in got.stderr
    assert got.stderr.strip().count("\n") <= 1  # the config notice, then the one error line


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_unreadable_home_real_user_tui_starts_with_a_notice(refused: Refused) -> None:
    command = " ".join(shlex.quote(a) for a in refused.command((str(refused.logs / "ok"),)))
    term = DemoInTmux(
        refused.root / "tmp",
        command=command,
        HOME=str(refused.home),
        TMPDIR=str(refused.root / "tmp"),
        PYTHONPATH=refused.env()["PYTHONPATH"],
    )
    term.start()
    try:
        wait(lambda: "loss" in term.screen() and "using defaults" in term.screen(), 60, "the TUI")
        assert not term.exited()
        term.keys("q")
        wait(term.exited, 20, "rltop to quit")
    finally:
        term.stop()


# -- row 20: a folder (and a file) with mode 000 -------------------------------------------------
def test_mode_000_folder_real_user_is_listed_with_permission_denied(refused: Refused) -> None:
    got = refused.run("sources", str(refused.logs))
    assert got.returncode == 0, got.stderr
    assert "Traceback" not in got.stderr
    lines = got.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "locked/")
    assert "permission denied" in lines[at + 1]
    at = next(i for i, line in enumerate(lines) if line.strip() == "half/metrics.jsonl")
    assert "Permission denied" in lines[at + 1]
    assert "run ok" in got.stdout
    doc = json.loads(refused.run("sources", "--json", str(refused.logs)).stdout)
    assert any(
        o["path"] == str(refused.locked) and "permission denied" in o["reason"]
        for o in doc["not_read"]
    )
    assert any(
        o["path"] == str(refused.locked_file) and "Permission denied" in o["reason"]
        for o in doc["unrecognized"]
    )
    assert [r["name"] for r in doc["runs"]] == ["ok"]
    # ``check`` reads every other run and exits as usual
    check = refused.run("check", str(refused.logs))
    assert check.returncode == 0 and "run ok" in check.stdout, check.stderr
