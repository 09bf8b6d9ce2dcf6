"""``rltop watch``: headless following, one line per warning start/change/clear, clean signals."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl

from rltop.core.model import ParseResult

RLTOP = str(Path(sys.executable).with_name("rltop"))


class Watch:
    """``rltop watch`` in a subprocess, its stdout lines in a queue."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "RLTOP_THRESHOLDS"}
        env["RLTOP_CONFIG"] = os.devnull + ".none"
        self.proc = subprocess.Popen(
            [RLTOP, "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(
            target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True
        ).start()
        threading.Thread(
            target=self._pump, args=(self.proc.stderr, self.err.append), daemon=True
        ).start()

    @staticmethod
    def _pump(stream, put) -> None:
        for line in stream:
            put(line.rstrip("\n"))

    # timeouts bound a hang (a subprocess on a loaded machine is slow), they never measure speed
    def ready(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any("rltop watch:" in line for line in self.err):
                return
            time.sleep(0.05)
        raise AssertionError(f"not ready: {self.err}")

    def next(self, timeout: float = 60) -> str:
        return self.lines.get(timeout=timeout)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def append(path: Path, rows: list[dict]) -> None:
    with open(path, "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
        fh.flush()


def test_json_lines_for_start_and_clear_then_sigint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    append(
        path, [{"step": i, "reward": 0.3, "completions/clipped_ratio": 0.1} for i in range(1, 11)]
    )
    w = Watch(str(tmp_path), "--json", "--poll")
    try:
        w.ready()
        append(
            path,
            [{"step": i, "reward": 0.3, "completions/clipped_ratio": 0.95} for i in range(11, 21)],
        )
        event = json.loads(w.next())
        assert event["event"] == "start" and event["id"] == "rl.truncation"
        assert event["severity"] == "warning" and event["step"] == 13
        assert {"time", "run", "metrics", "evidence", "action"} <= set(event)
        append(
            path,
            [{"step": i, "reward": 0.3, "completions/clipped_ratio": 0.1} for i in range(21, 31)],
        )
        event = json.loads(w.next())
        assert event["event"] == "clear" and event["id"] == "rl.truncation"
        assert w.stop(signal.SIGINT) == 0
    finally:
        w.kill()


def test_warnings_present_at_start_are_reported_and_sigterm_is_clean(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(f'{{"step": {i}, "loss": 1.0, "reward": 0.2}}\n' for i in range(1, 6)))
    with open(path, "a") as fh:
        fh.write('{"step": 6, "loss": NaN, "reward": 0.2}\n')
    w = Watch(str(tmp_path))
    try:
        line = w.next()
        assert "START" in line and "critical" in line and "run.nan" in line
        assert "loss = NaN at step 6" in line and "→ stop and inspect the step" in line
        assert w.stop(signal.SIGTERM) == 0
    finally:
        w.kill()


def test_stalled_starts_and_clears_with_new_data(tmp_path):
    """An old run is an ended one, not a stalled one; once it writes again it is live, and stalls
    when it stops. (The file is dated an hour back: whether a file written just before the
    watcher started is still recent when first read would depend on the machine's load.)"""
    path = tmp_path / "metrics.jsonl"
    append(path, [{"step": 1, "reward": 0.1}])
    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    # a run stalls after 0.03 min (1.8 s) without new data; the clock is read every 0.2 s
    w = Watch(str(tmp_path), "--json", "--poll", "--stalled-after", "0.03", "--interval", "0.2")
    try:
        w.ready()
        append(path, [{"step": 2, "reward": 0.2}])  # writing again: live
        event = json.loads(w.next())  # the first event: nothing was said of the old run
        assert event["event"] == "start" and event["id"] == "run.stalled"
        assert event["severity"] == "critical" and "no new data" in event["evidence"]
        assert "last step 2" in event["evidence"]
        append(path, [{"step": 3, "reward": 0.3}])
        event = json.loads(w.next())
        assert event["event"] == "clear" and event["id"] == "run.stalled"
        assert w.stop() == 0
    finally:
        w.kill()


def test_missing_path_is_3():
    out = subprocess.run([RLTOP, "watch", "/nonexistent/rltop"], capture_output=True, timeout=60)
    assert out.returncode == 3


def test_lean_store_keeps_numbers_not_text():
    from rltop.commands.watch import lean_store
    from rltop.core.formats.rollouts import CORE_SCHEMA
    from rltop.core.store import SourceInfo

    store = lean_store()
    store.add_run("r", "r", "/r")
    store.add_source(SourceInfo("/r/x.jsonl", "rollouts", "rollouts", "r"))
    frame = pl.DataFrame(
        {
            "step": [1, 1, 1, 1],
            "prompt": ["long prompt A"] * 2 + ["long prompt B"] * 2,
            "completion": ["x" * 1000] * 4,
            "reward": [1.0, 1.0, 0.0, 1.0],
            "group": ["long prompt A"] * 2 + ["long prompt B"] * 2,
        }
    ).with_columns(
        pl.lit(None, dtype=d).alias(c)
        for c, d in CORE_SCHEMA.items()
        if c not in ("step", "prompt", "completion", "reward", "group")
    )
    store.apply("/r/x.jsonl", ParseResult(rollout_frame=frame))
    run = store.snapshot().runs[0]
    assert "completion" not in run.rollouts.columns and "prompt" not in run.rollouts.columns
    assert run.latest("rollouts/zero_variance_frac") == 0.5  # groups survive as hashes


def test_lean_store_holds_a_bounded_window_of_rollout_rows():
    """Days of rollouts: the oldest steps' rows go, every step's statistics stay, rules run."""
    from rltop.commands.watch import lean_store
    from rltop.core.diagnose import Diagnoser
    from rltop.core.formats.rollouts import CORE_SCHEMA
    from rltop.core.store import SourceInfo

    store = lean_store(keep_rollouts=1000)
    store.add_run("r", "r", "/r")
    store.add_source(SourceInfo("/r/x.jsonl", "rollouts", "rollouts", "r"))
    per_step = 64
    for step in range(1, 201):
        frame = pl.DataFrame(
            {
                "step": [step] * per_step,
                "reward": [float(i % 2) for i in range(per_step)],
                "group": [f"{step}-{i // 8}" for i in range(per_step)],
                "length": [step * 10] * per_step,
                "stop_reason": ["length" if step > 150 else "stop"] * per_step,
            }
        ).with_columns(
            pl.lit(None, dtype=d).alias(c)
            for c, d in CORE_SCHEMA.items()
            if c not in ("step", "reward", "group", "length")
        )
        store.apply("/r/x.jsonl", ParseResult(rollout_frame=frame))
        assert store.runs["r"].rollouts.count <= 1000
    run = store.snapshot().runs[0]
    assert run.rollouts.height <= 1000
    assert run.rollouts.get_column("step").max() == 200
    # per-step statistics of the forgotten steps are still there
    steps = run.metrics.filter(pl.col("rollouts/length_mean").is_not_null()).get_column("step")
    assert steps.to_list() == list(range(1, 201))
    assert run.metrics.filter(pl.col("step") == 3).get_column("rollouts/length_mean")[0] == 30
    # a rule that reads rollout rows still sees the recent steps
    warnings = Diagnoser({}, {}).update(store.snapshot())
    ids = {w.id for w in warnings.started}
    assert any("trunc" in i or "length" in i for i in ids), ids
