"""Foundation benchmark (issue #2, "Performance"): start-up, ingest, live latency, CPU, memory.

Run ``python benchmarks/bench_foundation.py [--quick]``. It generates into ``benchmarks/_data/``
(gitignored) (a) a verl FileLogger metrics JSONL of 10,000 steps x 150 keys and (b) a rollout JSONL
of 200,000 rollouts of ~2.4 KB each (~480 MB), then measures on this machine, in this run:

- first frame: ``rltop <folder of (a)>`` started in a real pty until the first frame showing all
  150 metrics up to the last step (the app's ``RLTOP_BENCH_FIRST_FRAME_*`` hook);
- ingest: ``Follower([dir]).read_all()`` of (b) vs ``polars.read_ndjson`` of the same file, each
  in a fresh subprocess (throughput ratio), with the follower's peak RSS (VmHWM);
- the same first frame with (a)+(b) in one folder, and the event loop's latency of a headless app
  (``App.run_test``) while (b) is ingested, with that process' peak RSS;
- live latency: a line appended and flushed -> visible in the store (``Follower.run`` in a thread),
  and -> on screen (rltop in a pty: the new step's number appears in its output);
- CPU of the rltop process (``/proc/<pid>/stat``) idle, and while a writer appends 100 rollouts/s
  and one metric line/s.

Timings on a shared machine are noisy: each figure is the median of repeated runs. The table is
printed and written to ``benchmarks/RESULTS.md``. Child modes (``--child ...``) are internal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import platform
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
RESULTS = HERE / "RESULTS.md"

METRIC_STEPS = 10_000
METRIC_KEYS = 150
ROLLOUTS = 200_000
ROLLOUT_BYTES = 2_400
ROLLOUTS_PER_STEP = 200
GROUP_SIZE = 8

TERM_SIZE = (120, 40)  # columns, rows


# -- data -------------------------------------------------------------------------------------
def metric_names(n: int = METRIC_KEYS) -> list[str]:
    """``n`` metric names as verl logs them (critic/, actor/, timing_s/, val-core/ ...)."""
    names = [f"critic/{g}/{s}" for g in ("score", "rewards", "advantages", "returns", "values")
             for s in ("mean", "max", "min")]  # fmt: skip
    names += [f"critic/{k}" for k in ("vf_loss", "vf_clipfrac", "vpred_mean", "grad_norm", "lr",
                                       "vf_explained_var")]  # fmt: skip
    names += [f"actor/{k}" for k in ("entropy", "pg_loss", "pg_clipfrac", "pg_clipfrac_lower",
                                      "ppo_kl", "kl_loss", "kl_coef", "grad_norm", "lr")]  # fmt: skip
    names += [f"{p}_length/{s}" for p in ("response", "prompt")
              for s in ("mean", "max", "min", "clip_ratio")]  # fmt: skip
    phases = ("gen", "reward", "old_log_prob", "ref", "adv", "update_actor", "update_critic",
              "testing", "save_checkpoint", "step")  # fmt: skip
    names += [f"timing_s/{p}" for p in phases]
    names += [f"timing_per_token_ms/{p}" for p in phases[:7]]
    names += [f"perf/{k}" for k in ("throughput", "time_per_step", "total_num_tokens",
                                     "max_memory_allocated_gb", "max_memory_reserved_gb",
                                     "cpu_memory_used_gb", "mfu/actor")]  # fmt: skip
    datasets = ("gsm8k", "math500", "aime24", "amc23", "olympiad", "minerva", "gpqa", "mmlu_pro")
    for ds in datasets:
        names.append(f"val-core/{ds}/reward/mean@1")
        names += [f"val-aux/{ds}/{m}" for m in ("reward/std@1", "acc/mean@4", "acc/best@4/mean",
                                                 "acc/maj@4/mean", "response_length/mean",
                                                 "format/mean@1", "acc/worst@4/mean",
                                                 "reward/mean@16", "acc/best@16/std",
                                                 "acc/maj@16/mean")]  # fmt: skip
    extra = 0
    while len(names) < n:
        names.append(f"training/extra_{extra}")
        extra += 1
    return names[:n]


def write_metrics(path: Path, steps: int, keys: int, start: int = 1) -> None:
    """verl FileLogger lines ``{"step": N, "data": {...}}`` with full-precision floats."""
    import orjson

    rng = random.Random(1)
    names = metric_names(keys)
    base = [rng.random() for _ in names]
    with open(path, "wb") as fh:
        for step in range(start, start + steps):
            data = {n: b + rng.random() * 0.1 for n, b in zip(names, base, strict=True)}
            fh.write(orjson.dumps({"step": step, "data": data}) + b"\n")


def metric_line(step: int, keys: int = METRIC_KEYS) -> bytes:
    import orjson

    rng = random.Random(step)
    data = {n: rng.random() for n in metric_names(keys)}
    return orjson.dumps({"step": step, "data": data}) + b"\n"


_WORDS = [
    "the",
    "answer",
    "is",
    "let",
    "us",
    "compute",
    "first",
    "we",
    "note",
    "that",
    "so",
    "therefore",
    "then",
    "multiply",
    "add",
    "subtract",
    "divide",
    "total",
    "each",
    "number",
    "of",
    "apples",
    "boxes",
    "equals",
    "check",
    "again",
    "wait",
    "careful",
    "step",
    "result",
    "final",
    "because",
    "since",
    "hence",
    "given",
    "question",
    "asks",
    "find",
    "value",
    "sum",
    "product",
    "difference",
    "ratio",
    "half",
    "twice",
]


def _sentences(rng: random.Random, n: int) -> list[str]:
    return [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 18))).capitalize()
        + f" {rng.randint(0, 999)}."
        for _ in range(n)
    ]


def rollout_rows(count: int, first_index: int = 0, seed: int = 2):
    """Rollout objects (prompt, completion, reward, step, group) of ~``ROLLOUT_BYTES`` each."""
    rng = random.Random(seed)
    pool = _sentences(rng, 4096)
    prompt = ""
    for i in range(first_index, first_index + count):
        step = i // ROLLOUTS_PER_STEP + 1
        group = f"{step}-{(i % ROLLOUTS_PER_STEP) // GROUP_SIZE}"
        if i % GROUP_SIZE == 0 or not prompt:
            prompt = "Solve: " + " ".join(rng.choices(pool, k=7))[:560]
        completion = " ".join(rng.choices(pool, k=24))
        completion = (completion * 2)[: ROLLOUT_BYTES - len(prompt) - 90]
        yield {
            "prompt": prompt,
            "completion": completion,
            "reward": float(rng.random() < 0.4),
            "step": step,
            "group": group,
        }


def write_rollouts(path: Path, count: int) -> None:
    import orjson

    with open(path, "wb") as fh:
        for row in rollout_rows(count):
            fh.write(orjson.dumps(row) + b"\n")


@dataclass
class Dataset:
    a_dir: Path
    b_dir: Path
    ab_dir: Path
    metrics: Path
    rollouts: Path
    steps: int
    keys: int
    rollouts_count: int


def prepare(steps: int, keys: int, rollouts: int) -> Dataset:
    """Generate (a) and (b) once (kept in ``_data`` while the sizes match); (a)+(b) as hard links."""
    a_dir, b_dir, ab_dir = DATA / "a", DATA / "b", DATA / "ab"
    metrics, rollout_file = a_dir / "metrics.jsonl", b_dir / "rollouts.jsonl"
    manifest = DATA / "manifest.json"
    want = {"steps": steps, "keys": keys, "rollouts": rollouts, "rollout_bytes": ROLLOUT_BYTES}
    have = json.loads(manifest.read_text()) if manifest.exists() else None
    if have != want or not metrics.exists() or not rollout_file.exists():
        shutil.rmtree(DATA, ignore_errors=True)
        for d in (a_dir, b_dir, ab_dir):
            d.mkdir(parents=True)
        t = time.perf_counter()
        write_metrics(metrics, steps, keys)
        write_rollouts(rollout_file, rollouts)
        os.link(metrics, ab_dir / "metrics.jsonl")
        os.link(rollout_file, ab_dir / "rollouts.jsonl")
        manifest.write_text(json.dumps(want))
        print(f"generated data in {time.perf_counter() - t:.1f} s", flush=True)
    return Dataset(a_dir, b_dir, ab_dir, metrics, rollout_file, steps, keys, rollouts)


# -- process measurements ------------------------------------------------------------------------
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def vm_hwm(pid: int | str = "self") -> int:
    """Peak resident set size in bytes (VmHWM)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def child(mode: str, *args: str) -> dict:
    """Run one measurement in a fresh interpreter; it prints one JSON line."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rltop_command() -> list[str]:
    script = Path(sys.executable).with_name("rltop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rltop"]


class PtyApp:
    """``rltop`` running in a real pseudo-terminal; its output is read (and kept) by a thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        cols, rows = TERM_SIZE
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols),
                    "LINES": str(rows), **(env or {})}  # fmt: skip
        self.started = time.time()
        self.proc = subprocess.Popen(
            rltop_command() + args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.buffer = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.buffer += data

    def mark(self) -> int:
        with self.lock:
            return len(self.buffer)

    def wait_for(self, needle: bytes, start: int = 0, timeout: float = 30.0) -> float | None:
        """Wall-clock time at which ``needle`` was seen in the output after byte ``start``."""
        deadline = time.time() + timeout
        begin = max(0, start - len(needle))
        while time.time() < deadline:
            with self.lock:
                found = self.buffer.find(needle, begin) >= 0
            if found:
                return time.time()
            time.sleep(0.002)
        return None

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(b"q")
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self.master)


# -- measurements -----------------------------------------------------------------------------
def first_frame(folder: Path, metrics: int, last_step: int) -> float:
    """Seconds from spawning ``rltop folder`` in a pty to the first frame with all metrics."""
    with tempfile.TemporaryDirectory() as tmp:
        mark = Path(tmp) / "frame"
        env = {
            "RLTOP_BENCH_FIRST_FRAME_METRICS": str(metrics),
            "RLTOP_BENCH_FIRST_FRAME_STEP": str(last_step),
            "RLTOP_BENCH_FIRST_FRAME_FILE": str(mark),
        }
        app = PtyApp([str(folder)], env)
        try:
            app.proc.wait(timeout=120)
        finally:
            app.close()
        if not mark.exists():
            raise RuntimeError("rltop exited without the first-frame mark")
        return float(mark.read_text()) - app.started


def child_ingest_follower(folder: str, max_memory: str = "0") -> dict:
    from rltop.core import coldtext
    from rltop.core.follow import Follower

    if int(max_memory):
        coldtext.set_max_memory(int(max_memory))

    t = time.perf_counter()
    follower = Follower([folder])
    follower.read_all()
    seconds = time.perf_counter() - t
    rows = sum(run.rollouts.count for run in follower.store.runs.values())
    return {"seconds": seconds, "rows": rows, "vmhwm": vm_hwm()}


def child_ingest_polars(path: str) -> dict:
    import polars as pl

    t = time.perf_counter()
    frame = pl.read_ndjson(path)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "rows": frame.height, "vmhwm": vm_hwm()}


def child_ingest_chunked(path: str) -> dict:
    """The floor of any reader that takes a file in 32 MB blocks (as the tail does): only
    ``read`` + ``polars.read_ndjson`` of each block, nothing else."""
    import io

    import polars as pl

    t = time.perf_counter()
    rows, rest = 0, b""
    with open(path, "rb") as fh:
        while data := fh.read(32 << 20):
            buf = rest + data
            cut = buf.rfind(b"\n") + 1
            rows += pl.read_ndjson(io.BytesIO(buf[:cut]), infer_schema_length=200).height
            rest = buf[cut:]
    return {"seconds": time.perf_counter() - t, "rows": rows, "vmhwm": vm_hwm()}


def child_loop_lag(folder: str, rollouts: str, metrics: str, window: str = "0") -> dict:
    """Headless app over a folder: event-loop lag from start until everything is read (and at
    least ``window`` seconds: the same window for (a) alone and (a)+(b) compares them), first
    frame, keys after the ingest, peak RSS."""
    from rltop.ui.app import make_app

    expect_rollouts, expect_metrics = int(rollouts), int(metrics)
    min_window = float(window)
    result: dict = {}

    async def main() -> None:
        t0 = time.perf_counter()
        app = make_app([folder])
        async with app.run_test(size=TERM_SIZE) as pilot:
            lags: list[float] = []
            first = None
            interval = 0.02
            deadline = time.perf_counter() + 600
            while time.perf_counter() < deadline:
                before = time.perf_counter()
                await asyncio.sleep(interval)
                lags.append(time.perf_counter() - before - interval)
                snap = app.snapshot
                if snap is None or not snap.runs:
                    continue
                run = snap.runs[0]
                if first is None and len(run.metric_names) >= expect_metrics:
                    first = time.perf_counter() - t0
                if (
                    run.rollouts.height >= expect_rollouts
                    and len(run.metric_names) >= expect_metrics
                    and time.perf_counter() - t0 >= min_window
                ):
                    break
            result["ingest_s"] = time.perf_counter() - t0
            result["first_frame_s"] = first
            # keys still answered at once after the ingest
            t = time.perf_counter()
            await pilot.press("j", "k")
            result["keys_s"] = time.perf_counter() - t
            result["lag_p50"] = pct(lags, 0.5)
            result["lag_p95"] = pct(lags, 0.95)
            result["lag_max"] = max(lags) if lags else None
            result["samples"] = len(lags)
            app.exit(0)

    asyncio.run(main())
    result["vmhwm"] = vm_hwm()
    return result


def child_live_store(folder: str, samples: str, steps: str) -> dict:
    """Append lines to a followed folder; time until each is in the store (snapshot)."""
    from rltop.core.follow import Follower

    live = Path(folder)
    metrics_file = live / "metrics.jsonl"
    rollout_file = live / "rollouts.jsonl"
    follower = Follower([str(live)])
    seen: dict[tuple[str, int], float] = {}
    state = {"step": 0, "rollouts": 0}
    stop = threading.Event()

    def on_change() -> None:
        snap = follower.store.snapshot()
        now = time.perf_counter()
        for run in snap.runs:
            step = run.last_step or 0
            if step > state["step"]:
                state["step"] = step
                seen.setdefault(("m", step), now)
            if run.rollouts.height > state["rollouts"]:
                state["rollouts"] = run.rollouts.height
                seen.setdefault(("r", run.rollouts.height), now)

    thread = threading.Thread(target=follower.run, args=(stop, on_change), daemon=True)
    thread.start()
    deadline = time.time() + 120
    while state["step"] < int(steps) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    rng = random.Random(3)
    lat_m: list[float] = []
    lat_r: list[float] = []
    step = state["step"]
    count = state["rollouts"]
    rows = rollout_rows(int(samples), seed=9)  # steps 1.., inside the metrics' range
    for i in range(int(samples)):
        time.sleep(rng.uniform(0.15, 0.4))
        if i % 2 == 0:
            step += 1
            key = ("m", step)
            with open(metrics_file, "ab") as fh:
                fh.write(metric_line(step))
                fh.flush()
                t = time.perf_counter()
            target = lat_m
        else:
            count += 1
            key = ("r", count)
            import orjson

            with open(rollout_file, "ab") as fh:
                fh.write(orjson.dumps(next(rows)) + b"\n")
                fh.flush()
                t = time.perf_counter()
            target = lat_r
        end = time.perf_counter() + 5
        while key not in seen and time.perf_counter() < end:
            time.sleep(0.001)
        target.append(seen.get(key, time.perf_counter() + 5) - t)
    stop.set()
    thread.join(timeout=5)
    both = lat_m + lat_r
    return {
        "p50": pct(both, 0.5),
        "p95": pct(both, 0.95),
        "metric_p95": pct(lat_m, 0.95),
        "rollout_p95": pct(lat_r, 0.95),
        "samples": len(both),
    }


def live_folder(ds: Dataset) -> Path:
    """A fresh copy of (a) plus a small rollout file, to append to."""
    live = DATA / "live"
    shutil.rmtree(live, ignore_errors=True)
    live.mkdir(parents=True)
    shutil.copyfile(ds.metrics, live / "metrics.jsonl")
    import orjson

    with open(live / "rollouts.jsonl", "wb") as fh:
        for row in rollout_rows(400):
            fh.write(orjson.dumps(row) + b"\n")
    return live


def screen_session(ds: Dataset, samples: int, idle_s: float, busy_s: float) -> dict:
    """rltop in a pty over a live folder: on-screen latency, then CPU idle and under a writer."""
    import orjson

    live = live_folder(ds)
    app = PtyApp([str(live)])
    out: dict = {}
    try:
        if app.wait_for(f"step {ds.steps}".encode(), timeout=120) is None:
            raise RuntimeError("rltop never showed the last step")
        time.sleep(2.0)
        rng = random.Random(4)
        lats = []
        step = ds.steps
        metrics_file = live / "metrics.jsonl"
        for _ in range(samples):
            time.sleep(rng.uniform(0.2, 0.5))
            step += 1
            start = app.mark()
            with open(metrics_file, "ab") as fh:
                fh.write(metric_line(step))
                fh.flush()
                t = time.time()
            seen = app.wait_for(f"step {step}".encode(), start, timeout=5)
            lats.append((seen or t + 5) - t)
        out["screen_p50"] = pct(lats, 0.5)
        out["screen_p95"] = pct(lats, 0.95)
        out["screen_samples"] = len(lats)

        time.sleep(3.0)  # let the last redraws settle
        pid = app.proc.pid
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(idle_s)
        out["idle_cpu"] = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)

        stop = threading.Event()
        rows = rollout_rows(10**9, seed=5)  # written at the current step

        def writer() -> None:
            nonlocal step
            tick = 0
            next_t = time.monotonic()
            with open(live / "rollouts.jsonl", "ab") as rfh, open(metrics_file, "ab") as mfh:
                while not stop.is_set():
                    batch = [{**next(rows), "step": step} for _ in range(10)]
                    rfh.write(b"".join(orjson.dumps(row) + b"\n" for row in batch))
                    rfh.flush()
                    tick += 1
                    if tick % 10 == 0:
                        step += 1
                        mfh.write(metric_line(step))
                        mfh.flush()
                    next_t += 0.1
                    stop.wait(max(0.0, next_t - time.monotonic()))

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        time.sleep(1.0)
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(busy_s)
        out["busy_cpu"] = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        stop.set()
        thread.join(timeout=5)
        out["app_vmhwm"] = vm_hwm(pid)
    finally:
        app.close()
    return out


# -- the run ----------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    measured: str
    target: str
    ok: bool | None  # None: reported, no target


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def machine_notes() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if "model name" in ln), "?")
    except OSError:
        model = "?"
    load = os.getloadavg()
    import polars as pl
    import textual

    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({model}), "
        f"load average {load[0]:.2f} at start; Python {platform.python_version()}, "
        f"polars {pl.__version__}, textual {textual.__version__}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, shorter CPU windows")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    if args.child:
        handlers = {
            "ingest-follower": child_ingest_follower,
            "ingest-polars": child_ingest_polars,
            "ingest-chunked": child_ingest_chunked,
            "loop-lag": child_loop_lag,
            "live-store": child_live_store,
        }
        print(json.dumps(handlers[args.child[0]](*args.child[1:])))
        return 0

    quick = args.quick
    repeats = 2 if quick else 5
    ingest_repeats = 1 if quick else 3
    notes = machine_notes()
    ds = prepare(METRIC_STEPS, METRIC_KEYS, ROLLOUTS)
    size_a, size_b = ds.metrics.stat().st_size, ds.rollouts.stat().st_size
    print(f"(a) {size_a / 1e6:.0f} MB, (b) {size_b / 1e6:.0f} MB; {notes}", flush=True)
    rows: list[Row] = []

    def report(row: Row) -> None:
        rows.append(row)
        flag = "" if row.ok is None else ("PASS" if row.ok else "FAIL")
        print(f"  {row.name}: {row.measured} (target {row.target}) {flag}", flush=True)

    # 1. first frame with (a)
    times = [first_frame(ds.a_dir, ds.keys, ds.steps) for _ in range(repeats)]
    ff = statistics.median(times)
    report(
        Row(
            "first frame, (a) 10k steps x 150 metrics",
            f"{ff:.2f} s (runs {', '.join(f'{t:.2f}' for t in times)})",
            "≤ 1.5 s",
            ff <= 1.5,
        )
    )

    # 2. ingest of (b): follower vs polars, interleaved
    fol, pol, chk = [], [], []
    for _ in range(ingest_repeats):
        fol.append(child("ingest-follower", str(ds.b_dir)))
        pol.append(child("ingest-polars", str(ds.rollouts)))
        chk.append(child("ingest-chunked", str(ds.rollouts)))
    if any(r["rows"] != ds.rollouts_count for r in fol + pol):
        raise RuntimeError(f"row counts differ: {[r['rows'] for r in fol + pol]}")
    f_s = statistics.median(r["seconds"] for r in fol)
    p_s = statistics.median(r["seconds"] for r in pol)
    ratio = p_s / f_s
    report(
        Row(
            "ingest (b): follower vs polars.read_ndjson",
            f"{ratio:.2f} (follower {f_s:.2f} s = {size_b / f_s / 1e6:.0f} MB/s, "
            f"polars {p_s:.2f} s = {size_b / p_s / 1e6:.0f} MB/s)",
            "≥ 0.7",
            ratio >= 0.7,
        )
    )
    c_s = statistics.median(r["seconds"] for r in chk)
    report(
        Row(
            "  reference: read + polars.read_ndjson per 32 MB block only, vs whole-file polars",
            f"{p_s / c_s:.2f} ({c_s:.2f} s; peak RSS {max(r['vmhwm'] for r in chk) / 1e6:.0f} MB)",
            "(reference)",
            None,
        )
    )
    hwm = max(r["vmhwm"] for r in fol)
    report(
        Row(
            "peak RSS after (b), follower (VmHWM / file size)",
            f"{hwm / size_b:.2f} × ({hwm / 1e6:.0f} MB for {size_b / 1e6:.0f} MB; "
            f"polars alone {max(r['vmhwm'] for r in pol) / 1e6:.0f} MB)",
            "≤ 1.3 ×",
            hwm <= 1.3 * size_b,
        )
    )

    budget = 400 * 1024 * 1024
    capped = [child("ingest-follower", str(ds.b_dir), str(budget)) for _ in range(ingest_repeats)]
    hwm_capped = max(r["vmhwm"] for r in capped)
    report(
        Row(
            "  same with --max-memory 400M (older rollout text read back from disk)",
            f"{hwm_capped / size_b:.2f} × ({hwm_capped / 1e6:.0f} MB; ingest "
            f"{statistics.median(r['seconds'] for r in capped):.2f} s)",
            "≤ 1.3 ×",
            hwm_capped <= 1.3 * size_b,
        )
    )

    # 3. (a)+(b): dashboard first, and responsive while (b) is read
    times = [first_frame(ds.ab_dir, ds.keys, ds.steps) for _ in range(max(1, repeats - 2))]
    ffab = statistics.median(times)
    report(
        Row(
            "first frame, (a)+(b) in one folder",
            f"{ffab:.2f} s (runs {', '.join(f'{t:.2f}' for t in times)})",
            "≤ 1.5 s",
            ffab <= 1.5,
        )
    )
    # the same 4 s window from start for (a) alone and (a)+(b): the first frame's rendering lands
    # in both; what (b)'s one-pass ingest (both cores, ~0.5 s) adds is the difference
    lag = child("loop-lag", str(ds.ab_dir), str(ds.rollouts_count), str(ds.keys), "4")
    lag_a = child("loop-lag", str(ds.a_dir), "0", str(ds.keys), "4")
    report(
        Row(
            "event loop lag, first 4 s from start, (b) ingested within (headless app)",
            f"p50 {fmt_ms(lag['lag_p50'])}, p95 {fmt_ms(lag['lag_p95'])}, max "
            f"{fmt_ms(lag['lag_max'])}; all metrics after {lag['first_frame_s']:.2f} s",
            "p95 ≤ 100 ms (responsive)",
            lag["lag_p95"] <= 0.1,
        )
    )
    report(
        Row(
            "  same window, (a) alone (its first frames' rendering)",
            f"p50 {fmt_ms(lag_a['lag_p50'])}, p95 {fmt_ms(lag_a['lag_p95'])}, max "
            f"{fmt_ms(lag_a['lag_max'])}",
            "(reference)",
            None,
        )
    )
    apps = [
        child("loop-lag", str(ds.b_dir), str(ds.rollouts_count), "0") for _ in range(ingest_repeats)
    ]
    app_hwm = max(r["vmhwm"] for r in apps)
    app_runs = ", ".join(f"{r['vmhwm'] / 1e6:.0f}" for r in apps)
    report(
        Row(
            "peak RSS of the app (UI) after (b) (VmHWM / file size)",
            f"{app_hwm / size_b:.2f} × ({app_hwm / 1e6:.0f} MB; runs {app_runs} MB)",
            "≤ 1.3 ×",
            app_hwm <= 1.3 * size_b,
        )
    )
    report(
        Row(
            "  the app after (a)+(b) (VmHWM / (a)+(b) size)",
            f"{lag['vmhwm'] / (size_a + size_b):.2f} × ({lag['vmhwm'] / 1e6:.0f} MB)",
            "(reference)",
            None,
        )
    )

    # 4. live latency into the store
    samples = 20 if quick else 40
    store_runs = []
    for _ in range(1 if quick else 3):
        live = live_folder(ds)
        store_runs.append(child("live-store", str(live), str(samples), str(ds.steps)))
    p95 = statistics.median(r["p95"] for r in store_runs)
    report(
        Row(
            "line appended -> in the store",
            f"p95 {fmt_ms(p95)} (p50 {fmt_ms(statistics.median(r['p50'] for r in store_runs))};"
            f" metric p95 {fmt_ms(statistics.median(r['metric_p95'] for r in store_runs))}, "
            f"rollout p95 {fmt_ms(statistics.median(r['rollout_p95'] for r in store_runs))}; "
            f"{len(store_runs)} runs × {samples})",
            "p95 ≤ 150 ms",
            p95 <= 0.15,
        )
    )

    # 5. on screen and CPU (rltop in a pty over a copy of (a) and a growing rollout file)
    idle_s, busy_s = (8.0, 8.0) if quick else (20.0, 20.0)
    sessions = [
        screen_session(ds, 15 if quick else 30, idle_s, busy_s) for _ in range(1 if quick else 2)
    ]
    sp95 = statistics.median(s["screen_p95"] for s in sessions)
    report(
        Row(
            "metric line appended -> on screen (pty)",
            f"p95 {fmt_ms(sp95)} (p50 {fmt_ms(statistics.median(s['screen_p50'] for s in sessions))}"
            f"; {len(sessions)} runs × {sessions[0]['screen_samples']})",
            "p95 ≤ 300 ms",
            sp95 <= 0.3,
        )
    )
    idle = statistics.median(s["idle_cpu"] for s in sessions)
    report(
        Row(
            f"CPU idle ({idle_s:.0f} s, nothing written)",
            f"{idle * 100:.1f}% of a core",
            "≤ 2%",
            idle <= 0.02,
        )
    )
    busy = statistics.median(s["busy_cpu"] for s in sessions)
    report(
        Row(
            f"CPU with a writer ({busy_s:.0f} s: 100 rollouts/s + 1 metric line/s)",
            f"{busy * 100:.1f}% of a core",
            "≤ 15%",
            busy <= 0.15,
        )
    )

    table = render(rows, notes, size_a, size_b, quick)
    print("\n" + table)
    if not args.no_write:
        RESULTS.write_text(table)
    return 0 if all(r.ok is not False for r in rows) else 1


def render(rows: list[Row], notes: str, size_a: int, size_b: int, quick: bool) -> str:
    lines = [
        "# rltop foundation benchmark",
        "",
        f"`python benchmarks/bench_foundation.py{' --quick' if quick else ''}` — "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Data: (a) {METRIC_STEPS:,} steps × {METRIC_KEYS} metrics, verl FileLogger JSONL, "
        f"{size_a / 1e6:.0f} MB; (b) {ROLLOUTS:,} rollouts, {size_b / 1e6:.0f} MB "
        f"({size_b / ROLLOUTS / 1000:.1f} KB each). Terminal {TERM_SIZE[0]}×{TERM_SIZE[1]}.",
        "",
        f"Machine: {notes}. Shared with other developers: figures are medians of repeated runs.",
        "",
        "| measurement | measured | target | result |",
        "|---|---|---|---|",
    ]
    for r in rows:
        result = "—" if r.ok is None else ("pass" if r.ok else "**FAIL**")
        lines.append(f"| {r.name} | {r.measured} | {r.target} | {result} |")
    lines += [
        "",
        "Notes:",
        "- *ingest ratio*: a rollout file of 64 MB or more that is already there when rltop starts"
        " is caught up in one pass of polars' own NDJSON reader (headless: memory-mapped, both"
        " cores), reading the numbers, groups and lengths while the lines' offsets are found in a"
        " second thread (through a mapping of its own, its pages let go block by block); the text"
        " stays on disk and is read back for the rows on screen or searched."
        " Lines written later are read block by block as before. The `reference` row is the"
        " limit of the earlier design: `read` + `polars.read_ndjson` of 32 MB blocks, nothing else.",
        "- *peak RSS*: `polars.read_ndjson` alone peaks at ~2.3× the file. The headless one-pass"
        " read's peak is the file's pages mapped while polars reads them (~1.0×, released right"
        " after) plus the interpreter and libraries (~65 MB); afterwards the follower's resident"
        " memory is ~0.3× (numbers, offsets and the interpreter). The app reads the file behind"
        " its drawn screen in 16 MB blocks instead (a few resident at a time: ~0.4× with the UI,"
        " a little slower than the mapped read). The app row also holds (a)'s metrics and"
        " Textual.",
        "- *CPU under a writer*: while the store changes continuously the screen is redrawn every"
        " 2 s (like top), the large chart and the warning rules every 4 s, and the last state is"
        " drawn once the stream pauses (a single new line after a quiet spell shows at once: the"
        " on-screen latency row); the chart keeps its drawn picture across layout passes; a live"
        " run's small rollout appends are merged every 32 instead of each copying the last chunk;"
        " the follower reads a streaming file at most every 0.2 s, each read taking all new lines."
        " This machine measured 20-26% for the earlier 1 s pacing.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
