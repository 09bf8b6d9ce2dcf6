"""The collector around start-up (core/startup.py): off from the entry point until the work starts,
on for the work of every command, untouched when rltop is used from Python."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import gc, json, sys
from rltop.core import startup
from rltop import cli
startup.starting()
assert not gc.isenabled()
try:
    cli.main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}), file=sys.stderr)
"""


def _probe(*argv: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    with open(tmp_path / "metrics.jsonl", "w") as fh:
        for step in range(1, 30):
            fh.write(json.dumps({"step": step, "reward": step / 30, "loss": 1 / step}) + "\n")
    return tmp_path


@pytest.mark.parametrize("command", ["check", "sources", "export"])
def test_a_command_that_reads_turns_the_collector_on_when_it_starts_reading(
    logs: Path, tmp_path_factory: pytest.TempPathFactory, command: str
) -> None:
    argv = [command, str(logs)]
    if command == "export":
        argv += ["--out", str(tmp_path_factory.mktemp("out"))]
    got = _probe(*argv)
    assert got["enabled"], got
    assert got["frozen"] > 10_000, got  # start-up's objects are frozen, not scanned again


def test_a_command_that_never_reads_turns_it_on_before_it_runs() -> None:
    got = _probe("config", "--json")
    assert got["enabled"], got


def test_settled_without_starting_changes_nothing() -> None:
    import gc

    from rltop.core import startup

    before = gc.get_freeze_count()
    startup.settled()
    assert gc.isenabled() and gc.get_freeze_count() == before


def test_the_entry_point_keeps_exit_codes_and_output(logs: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rltop", "check", "--json", str(logs)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1, 2), done.stderr
    assert json.loads(done.stdout)["runs"][0]["steps"] == 29
    missing = subprocess.run(
        [sys.executable, "-m", "rltop", "check", str(logs / "nope")], capture_output=True
    )
    assert missing.returncode == 3
