"""Issue #12 rows 10-14: secrets in endpoint URLs, export file names, exports into the logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from rltop.core.exportpath import export_stem, unique_stems
from rltop.core.redact import mask_url
from rltop.ui.app import make_app
from rltop.ui.screens.rollout_detail import ExportScreen
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.widgets.rollout_list import RolloutList

from uihelp import demo_folder, loaded, wait_for

SECRET = "s3cret-Pa55"


def _rltop(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "rltop", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


# -- row 10 ---------------------------------------------------------------------------------------
def test_mask_url_hides_only_the_password() -> None:
    assert mask_url(f"http://me:{SECRET}@host:8000/v1") == "http://me:***@host:8000/v1"
    assert mask_url("http://host/v1") == "http://host/v1"


@pytest.mark.parametrize("where", ["flag", "env", "config"])
@pytest.mark.parametrize("as_json", [False, True])
def test_config_never_prints_the_endpoint_password(tmp_path: Path, where: str, as_json) -> None:
    url = f"http://me:{SECRET}@gpu-box:8000/v1"
    args, env = ["config", *(["--json"] if as_json else [])], {"RLTOP_CONFIG": ""}
    if where == "flag":
        args += ["--endpoint", url]
    elif where == "env":
        env["RLTOP_ENDPOINT"] = url
    else:
        config = tmp_path / "c.toml"
        config.write_text(f'endpoint = "{url}"\n')
        args += ["--config", str(config)]
    out = _rltop(*args, env=env)
    assert out.returncode == 0, out.stderr
    assert SECRET not in out.stdout + out.stderr
    assert "me:***@gpu-box" in out.stdout


# -- rows 11, 12 ----------------------------------------------------------------------------------
def test_export_names_are_distinct_and_stable() -> None:
    assert export_stem("a_b") == "a_b"
    assert export_stem("a/b") != "a_b" and export_stem("a/b").startswith("a_b-")
    assert export_stem("a/b") == export_stem("a/b")  # stable
    long = "/".join(["d"] * 500)
    assert len(export_stem(long).encode()) < 200
    assert len(set(unique_stems(["Run", "run", "a/b", "a_b", "a:b"]))) == 5


def _metrics(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": float(n)}) + "\n" for s in range(3))
    )


def test_export_of_clashing_and_very_deep_runs(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _metrics(logs / "a" / "b", 1)
    _metrics(logs / "a_b", 2)
    deep = logs.joinpath(*["d"] * 500)
    _metrics(deep, 3)
    out = tmp_path / "out"
    done = _rltop("export", "--out", str(out), str(logs))
    assert done.returncode == 0, done.stderr
    files = sorted(out.glob("*.metrics.csv"))
    assert len(files) == 3 and len(done.stdout.strip().splitlines()) == 3
    losses = sorted(f.read_text().splitlines()[1].split(",")[1] for f in files)
    assert losses == ["1.0", "2.0", "3.0"]  # each run in its own file
    again = _rltop("export", "--out", str(out), str(logs))
    assert again.stdout.count("replaced the previous export") == 3  # never silently


# -- row 13 ---------------------------------------------------------------------------------------
def test_export_out_inside_the_logs_is_refused_unless_insisted(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _metrics(logs / "r", 1)
    inside = logs / "exports"
    refused = _rltop("export", "--out", str(inside), str(logs))
    assert refused.returncode == 2
    assert "inside the logs folder" in refused.stderr and "--inside-logs" in refused.stderr
    assert not inside.exists()
    forced = _rltop("export", "--out", str(inside), "--inside-logs", str(logs))
    assert forced.returncode == 0 and list(inside.glob("*.csv"))


# -- row 14 ---------------------------------------------------------------------------------------
async def test_rollout_export_dialog_refuses_a_path_in_the_logs(tmp_path: Path) -> None:
    logs = demo_folder(tmp_path / "logs")
    app = make_app([str(logs)])
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, loaded(app))
        await wait_for(pilot, lambda: app.snapshot.runs[0].rollouts.height > 0)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one(RolloutList).count > 0)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        target = logs / "x.json"
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ExportScreen) and not target.exists()
        assert "inside the logs folder" in str(
            app.screen.query_one("#export-error", Static).render()
        )
        await pilot.press("enter")  # insisting writes it
        await wait_for(pilot, lambda: target.exists())
