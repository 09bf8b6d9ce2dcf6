"""Scale benchmark (issue #16): a hundred runs, in a folder and in an S3 bucket on loopback.

Run ``python benchmarks/bench_scale.py [--quick]``. It writes into ``benchmarks/_data/scale/``
(gitignored) 100 runs of 2,000 steps x 50 metrics (JSON lines, one ``config.json`` each), starts
moto's S3 server on 127.0.0.1 (the test dependency ``moto[server]``), uploads the runs, and
measures in this run, each figure in a fresh process:

- first frame: ``rltop <folder>`` / ``rltop s3://...`` in a real pty until a frame shows all 100
  runs with all 50 metrics up to step 2,000 (the app's ``RLTOP_BENCH_FIRST_FRAME_*`` hook);
- full read: ``Follower([...]).read_all()`` of the folder and of the bucket, with the process'
  peak RSS (VmHWM) against the files' size;
- the same objects read by polars' own cloud reader (``pl.read_ndjson("s3://...",
  storage_options=...)`` per object, 8 at a time as rltop's reads are, and one ``scan_ndjson`` of
  the glob), and the ratio of rltop's S3 read to the faster of them;
- listing cost per interval: one ``ObjectSource.sync()`` with nothing changed (the follower's
  work at every listing interval), and with one object grown (a ranged GET of its tail).

Medians of repeated, interleaved runs; the machine is shared. Results go to
``benchmarks/RESULTS-scale.md``. ``--child ...`` modes are internal.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_foundation import PtyApp, machine_notes, metric_names, vm_hwm  # noqa: E402

DATA = HERE / "_data" / "scale"
RESULTS = HERE / "RESULTS-scale.md"
RUNS, STEPS, METRICS = 100, 2_000, 50
BUCKET, PREFIX = "bench", "team/sweep"


# -- data -------------------------------------------------------------------------------------
def prepare() -> tuple[Path, int]:
    """The runs folder (written once) and its size in bytes."""
    import orjson

    root = DATA / "runs"
    done = DATA / f"done-{RUNS}x{STEPS}x{METRICS}"
    if not done.exists():
        names = metric_names(METRICS)
        for r in range(RUNS):
            rng = random.Random(r)
            run = root / f"{'grpo' if r % 2 else 'ppo'}-lr{r % 5}-seed{r:03d}"
            run.mkdir(parents=True, exist_ok=True)
            base = [rng.random() for _ in names]
            with open(run / "metrics.jsonl", "wb") as fh:
                for step in range(1, STEPS + 1):
                    row = {"step": step}
                    row.update(
                        {
                            n: round(b + rng.random() * 0.1, 6)
                            for n, b in zip(names, base, strict=True)
                        }
                    )
                    fh.write(orjson.dumps(row) + b"\n")
            config = {"learning_rate": 1e-6 * (1 + r % 5), "seed": r, "model": "qwen2.5-7b"}
            (run / "config.json").write_text(json.dumps(config))
        done.write_text("ok")
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return root, size


def compile_rltop() -> None:
    """Byte-compile rltop's modules as installing it does (pip writes the ``.pyc`` files): in a
    source checkout with ``PYTHONDONTWRITEBYTECODE`` set, every start would compile its ~90
    modules again (0.4-1 s), a cost no installed rltop pays."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("rltop")
    for folder in spec.submodule_search_locations if spec else []:
        compileall.compile_dir(folder, quiet=1)


# -- children (fresh processes) ---------------------------------------------------------------
def child_full_read(path: str) -> dict:
    from rltop.core.follow import Follower

    t = time.perf_counter()
    follower = Follower([path])
    follower.read_all()
    seconds = time.perf_counter() - t
    snap = follower.store.snapshot()
    full = sum(1 for r in snap.runs if r.last_step == STEPS and len(r.metric_names) >= METRICS)
    return {"seconds": seconds, "runs": full, "vmhwm": vm_hwm()}


def child_polars_objects(url: str, options: str) -> dict:
    """polars' own cloud reader, one object at a time, 8 objects at once."""
    from concurrent.futures import ThreadPoolExecutor

    import obstore
    import polars as pl
    from obstore.store import from_url

    storage = json.loads(options)
    store = from_url(url, client_options={"allow_http": True})
    keys = [m["path"] for b in obstore.list(store) for m in b if m["path"].endswith(".jsonl")]
    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        frames = list(
            pool.map(lambda k: pl.read_ndjson(url + k, storage_options=storage), sorted(keys))
        )
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "objects": len(frames), "rows": sum(f.height for f in frames)}


def child_polars_glob(url: str, options: str) -> dict:
    """polars' own cloud reader over the glob of every run's metrics (one scan, its own I/O)."""
    import polars as pl

    storage = json.loads(options)
    t = time.perf_counter()
    frame = pl.scan_ndjson(url + "*/metrics.jsonl", storage_options=storage).collect()
    return {"seconds": time.perf_counter() - t, "rows": frame.height}


def child_listing(url: str, repeats: str) -> dict:
    """One listing with nothing changed, and with one object grown, after a first full sync."""
    import boto3

    from rltop.core.objstore import ObjectSource

    source = ObjectSource(url)
    t = time.perf_counter()
    first = source.sync()
    initial = time.perf_counter() - t
    idle = []
    for _ in range(int(repeats)):
        t = time.perf_counter()
        out = source.sync()
        idle.append(time.perf_counter() - t)
        assert not out.changed
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    key = sorted(k for k in source.copies if k.endswith(".jsonl"))[0]
    body = Path(source.local_path(key)).read_bytes()
    grown = []
    for i in range(int(repeats)):
        body += b'{"step": %d, "critic/score/mean": 0.5}\n' % (STEPS + 1 + i)
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}", Body=body)
        t = time.perf_counter()
        out = source.sync()
        grown.append(time.perf_counter() - t)
        assert out.ranged == 1 and out.full == 0
    return {
        "objects": len(first.changed),
        "initial": initial,
        "idle": statistics.median(idle),
        "grown": statistics.median(grown),
    }


def child(mode: str, *args: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_frame(target: str, runs: int = RUNS) -> float:
    """Seconds from spawning ``rltop target`` in a pty to a frame with ``runs`` runs complete."""
    with tempfile.TemporaryDirectory() as tmp:
        mark = Path(tmp) / "frame"
        env = {
            "RLTOP_BENCH_FIRST_FRAME_METRICS": str(METRICS),
            "RLTOP_BENCH_FIRST_FRAME_STEP": str(STEPS),
            "RLTOP_BENCH_FIRST_FRAME_RUNS": str(runs),
            "RLTOP_BENCH_FIRST_FRAME_FILE": str(mark),
        }
        app = PtyApp([target], env)
        try:
            app.proc.wait(timeout=300)
        finally:
            app.close()
        if not mark.exists():
            raise RuntimeError(f"rltop {target} exited without the first-frame mark")
        return float(mark.read_text()) - app.started


# -- main -------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each measurement")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS-scale.md")
    args = parser.parse_args()
    if args.child:
        handlers = {
            "full-read": child_full_read,
            "polars-objects": child_polars_objects,
            "polars-glob": child_polars_glob,
            "listing": child_listing,
        }
        print(json.dumps(handlers[args.child[0]](*args.child[1:])))
        return 0

    from s3help import s3_server

    repeats = 1 if args.quick else 3
    compile_rltop()
    notes = machine_notes()
    root, size = prepare()
    print(f"data: {RUNS} runs x {STEPS} steps x {METRICS} metrics, {size / 1e6:.0f} MB", flush=True)
    with s3_server() as s3:
        s3.bucket(BUCKET)
        t = time.perf_counter()
        s3.upload_tree(root, BUCKET, PREFIX)
        print(f"uploaded to moto in {time.perf_counter() - t:.1f} s", flush=True)
        url = f"s3://{BUCKET}/{PREFIX}/"
        options = json.dumps(s3.storage_options())
        results: dict[str, list] = {}

        def add(name: str, value) -> None:
            results.setdefault(name, []).append(value)
            print(f"  {name}: {value}", flush=True)

        single = DATA / "single"  # one of the runs alone: the machine's own first-frame time
        if not single.exists():
            single.mkdir(parents=True)
            first = sorted(p for p in root.iterdir() if p.is_dir())[0]
            (single / first.name).mkdir()
            for f in first.iterdir():
                (single / first.name / f.name).write_bytes(f.read_bytes())
        for _ in range(repeats):  # interleaved, so load changes hit every figure alike
            add("ff_single", first_frame(str(single), 1))
            add("ff_one", first_frame(str(root), 1))
            add("ff_local", first_frame(str(root)))
            add("ff_s3", first_frame(url))
            add("read_local", child("full-read", str(root)))
            add("read_s3", child("full-read", url))
            add("polars_objects", child("polars-objects", url, options))
            add("polars_glob", child("polars-glob", url, options))
        listing = child("listing", url, "5" if args.quick else "10")
        print(f"  listing: {listing}", flush=True)
    text = render(results, listing, size, notes, args.quick)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return 0


def med(values: list[float]) -> float:
    return statistics.median(values)


def render(results: dict[str, list], listing: dict, size: int, notes: str, quick: bool) -> str:
    ff_single, ff_one, ff_local, ff_s3 = (
        med(results[k]) for k in ("ff_single", "ff_one", "ff_local", "ff_s3")
    )
    rl = med([r["seconds"] for r in results["read_local"]])
    rs = med([r["seconds"] for r in results["read_s3"]])
    po = med([r["seconds"] for r in results["polars_objects"]])
    pg = med([r["seconds"] for r in results["polars_glob"]])
    peer = min(po, pg)
    ratio = rs / peer
    mem_local = max(r["vmhwm"] for r in results["read_local"])
    mem_s3 = max(r["vmhwm"] for r in results["read_s3"])
    complete = min(r["runs"] for r in results["read_local"] + results["read_s3"])
    mb = size / 1e6

    def runs_of(key: str) -> str:
        return ", ".join(f"{v:.2f}" for v in results[key])

    def verdict(ok: bool) -> str:
        return "pass" if ok else "FAIL"

    rows = [
        ("control: first frame of one of these runs alone in a folder",
         f"{ff_single:.2f} s (runs {runs_of('ff_single')})", "(reference)", "—"),
        ("first frame (a run complete on the dashboard), 100 runs, folder",
         f"{ff_one:.2f} s (runs {runs_of('ff_one')})", "≤ 2 s", verdict(ff_one <= 2.0)),
        ("all 100 runs complete on screen (run bar; `u` lists them), folder",
         f"{ff_local:.2f} s (runs {runs_of('ff_local')})", "≤ 2 s", verdict(ff_local <= 2.0)),
        ("all 100 runs on screen, S3 (moto, loopback)",
         f"{ff_s3:.2f} s (runs {runs_of('ff_s3')})", "≤ 2 s (moto's own time in it)",
         verdict(ff_s3 <= 2.0)),
        ("full read, folder (Follower.read_all)", f"{rl:.2f} s ({mb / rl:.0f} MB/s)",
         "(reference)", "—"),
        ("full read, S3: rltop vs polars' cloud reader", f"{ratio:.2f} (rltop {rs:.2f} s; "
         f"polars per object ×8 {po:.2f} s, glob scan {pg:.2f} s)", "≤ 1.5", verdict(ratio <= 1.5)),
        ("peak RSS, folder (VmHWM / files)", f"{mem_local / size:.2f} × ({mem_local / 1e6:.0f} MB "
         f"for {mb:.0f} MB)", "≤ 1.5 ×", verdict(mem_local <= 1.5 * size)),
        ("peak RSS, S3 (VmHWM / objects)", f"{mem_s3 / size:.2f} × ({mem_s3 / 1e6:.0f} MB)",
         "≤ 1.5 ×", verdict(mem_s3 <= 1.5 * size)),
        ("listing per interval, nothing changed", f"{listing['idle'] * 1000:.0f} ms "
         f"({listing['objects']} objects)", "(reference)", "—"),
        ("listing per interval, one object grown (ranged GET)",
         f"{listing['grown'] * 1000:.0f} ms", "(reference)", "—"),
        ("first sync of the bucket (list + 200 GETs)", f"{listing['initial']:.2f} s",
         "(reference)", "—"),
    ]  # fmt: skip
    lines = [
        "# rltop scale benchmark (issue #16)",
        "",
        f"`python benchmarks/bench_scale.py{' --quick' if quick else ''}` — "
        + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "",
        f"Data: {RUNS} runs × {STEPS:,} steps × {METRICS} metrics (JSON lines) + a config.json "
        f"each, {mb:.0f} MB; the same files in a folder and in moto's S3 server on 127.0.0.1. "
        f"Every run read in full: {complete} of {RUNS}.",
        "",
        f"Machine: {notes}. Shared with other developers: figures are medians of interleaved runs.",
        "",
        "| measurement | measured | target | result |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "Notes:",
        "- *first frame*: from spawning `rltop` in a pty to the first frame in which one run (first "
        "row), or all 100 runs (next rows), have all 50 metrics up to step 2,000; the dashboard "
        "shows the first run, `u` lists all. The headless full read is the floor of the second. "
        "The control row is the same measurement for one run alone: what this machine's load "
        "makes of any start-up (bench_foundation measured 1.2 s for a 71 MB run at load 0.4). "
        "rltop's modules are byte-compiled first, as an install has them.",
        "- *S3*: objects are mirrored into a temporary folder (8 GETs at once) and read there "
        "exactly as a folder is, each metrics object parsed as soon as it lands while the next "
        "ones are fetched; polars' cloud reader gets the same endpoint and credentials "
        "through `storage_options`. moto is a Python server: absolute times are moto's, the "
        "ratio is the figure that carries over.",
        "- *peak RSS*: the whole process (interpreter, polars, obstore) against the files' size.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
