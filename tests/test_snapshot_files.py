"""Every snapshot SVG belongs to a snapshot test that still exists.

syrupy finds unused snapshots only in a single process: under pytest-xdist (the README's
``-n 2``) it neither reports nor removes them, so a renamed or dropped snapshot test would leave
its SVG behind unnoticed. This checks it from the collected test ids instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SNAPSHOTS = TESTS / "__snapshots__"


def test_every_snapshot_svg_has_its_test_and_every_test_its_svg():
    modules = sorted(p.name for p in TESTS.glob("test_snapshots_*.py"))
    assert modules
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *modules,
        ],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    assert ids, out.stdout + out.stderr
    expected = {f"{Path(i.split('::')[0]).stem}/{i.split('::')[1]}.svg" for i in ids}
    present = {str(p.relative_to(SNAPSHOTS)) for p in SNAPSHOTS.rglob("*.svg")}
    assert present - expected == set(), "snapshots no test writes (stale)"
    assert expected - present == set(), "snapshot tests without their picture"
