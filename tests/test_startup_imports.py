"""Start-up: commands import polars, numpy, the rules and Textual only when there is data to read
(``--help``, a missing path or an empty folder answer at once), and the headless commands take
``--max-memory`` like the dashboard."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("polars", "numpy", "textual", "rltop.core.diagnose", "rltop.core.store")


#: what a command needs only for data, object-store URLs or the settings of the rules: a missing
#: path, an empty folder and ``--help`` answer without them (issue 11: ≤ 0.1 s)
LIGHT = ("rltop.core.objstore", "rltop.config", "platformdirs", "tomllib")


def _imported(argv: list[str], cwd, watch: tuple[str, ...] = HEAVY) -> tuple[list[str], int]:
    code = textwrap.dedent(
        f"""
        import json, sys
        from rltop.cli import main
        try:
            code = main({argv!r})
        except SystemExit as exc:
            code = exc.code
        heavy = sorted(m for m in {watch!r} if m in sys.modules)
        sys.stderr.write("\\nIMPORTED " + json.dumps([heavy, code]) + "\\n")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    line = [x for x in out.stderr.splitlines() if x.startswith("IMPORTED ")][-1]
    heavy, code = json.loads(line.removeprefix("IMPORTED "))
    return heavy, int(code or 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["check", "--help"],
        ["check", "EMPTY"],
        ["check", "MISSING"],
        ["check", "--json", "EMPTY"],
        ["sources", "EMPTY"],
        ["watch", "MISSING"],
    ],
)
def test_nothing_heavy_without_data(tmp_path, argv):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes").mkdir()  # folders, but no file rltop could read
    argv = [
        str(empty) if a == "EMPTY" else str(tmp_path / "missing") if a == "MISSING" else a
        for a in argv
    ]
    heavy, code = _imported(argv, tmp_path)
    assert heavy == []
    if argv[0] == "check" and "--help" not in argv:
        assert code == 3  # nothing readable


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["check", "--help"],
        ["check", "EMPTY"],
        ["check", "MISSING"],
        ["sources", "EMPTY"],
        ["watch", "MISSING"],
    ],
)
def test_no_settings_or_object_store_without_data(tmp_path, argv):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = [
        str(empty) if a == "EMPTY" else str(tmp_path / "missing") if a == "MISSING" else a
        for a in argv
    ]
    heavy, _code = _imported(argv, tmp_path, LIGHT)
    assert heavy == []


def test_help_does_not_set_up_logging(tmp_path):
    heavy, code = _imported(["--help"], tmp_path, ("logging",))
    assert heavy == [] and code == 0


def test_check_with_data_still_reads_it(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 51))
    )
    heavy, code = _imported(["check", str(tmp_path)], tmp_path)
    assert "polars" in heavy and code == 0


def test_check_and_export_take_max_memory(tmp_path, monkeypatch):
    from rltop.cli import main
    from rltop.core import coldtext

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 51))
    )
    seen = []
    monkeypatch.setattr(coldtext, "set_max_memory", seen.append)
    assert main(["check", "--max-memory", "512M", str(logs)]) == 0
    monkeypatch.setenv("RLTOP_MAX_MEMORY", "300M")
    out = tmp_path / "out"
    assert main(["export", "--out", str(out), str(logs)]) == 0
    assert seen == [512 * 1024**2, 300 * 1024**2]


def _one_file_folder(tmp_path):
    tmp_path.mkdir()
    (tmp_path / "metrics.jsonl").write_text(
        "".join(
            json.dumps({"step": s, "reward": s / 50, "loss": 1.0 / s, "kl": 0.01}) + "\n"
            for s in range(1, 51)
        )
    )
    return tmp_path


@pytest.mark.parametrize("json_out", [False, True])
def test_check_of_a_metrics_file_runs_the_rules_without_numpy_or_textual(tmp_path, json_out):
    """Issue 11: `rltop check` on a one-file folder costs little more than importing polars: the
    rules and the best checkpoint compute with polars, numpy and Textual are never loaded."""
    logs = _one_file_folder(tmp_path / "run")
    argv = ["check", *(["--json"] if json_out else []), str(logs)]
    watch = (*HEAVY, "rltop.core.checkpoint", "rich", "rltop.core.objstore")
    heavy, code = _imported(argv, tmp_path, watch)
    assert code == 0
    assert "numpy" not in heavy and "textual" not in heavy and "rich" not in heavy
    assert "rltop.core.objstore" not in heavy  # object stores only for URLs
    # the rules and the checkpoint did run (on polars)
    assert {"polars", "rltop.core.diagnose", "rltop.core.checkpoint"} <= set(heavy)


def test_check_of_short_rollouts_does_not_load_numpy(tmp_path):
    """A small rollout file (short completions) goes the same numpy-free way: numpy is only for
    large blocks of lines and texts long enough to hold a loop."""
    logs = _one_file_folder(tmp_path / "run")
    with open(logs / "rollouts.jsonl", "w") as fh:
        for s in range(1, 51):
            for g in range(4):
                row = {"step": s, "prompt": f"q{g}", "completion": f"answer {s} {g}", "reward": 1.0}
                fh.write(json.dumps(row) + "\n")
    heavy, code = _imported(["check", str(logs)], tmp_path)
    assert code == 0 and "numpy" not in heavy and "rltop.core.diagnose" in heavy
