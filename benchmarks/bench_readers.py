"""Readers against their peers (issue #11): .wandb vs ``wandb beta leet``, tfevents vs TensorBoard's
``EventAccumulator``, metrics JSONL vs ``polars.read_ndjson``, start-up vs ``import polars``, and
``check --max-memory 512M`` on a 1.9 GB rollout file.

Run ``python benchmarks/bench_readers.py [--rounds N] [--only NAME ...]``. The data comes from
``gen_peers_data`` (cached under /work/bench-data or $RLTOP_BENCH_DATA). Each comparison runs the
peer and rltop interleaved (A, B, A, B...), a warm-up round first (not kept), and prints the ratio
rltop / peer per round and the medians; the table goes to ``benchmarks/RESULTS-readers.md``.

- ``wandb``: ``rltop <folder>`` in a pty until the first frame with data (first data) and until a
  frame with all 150 metrics at step 10,000 (last step), the app's RLTOP_BENCH_FIRST_FRAME_* hook;
  LEET in a tmux pane until its run state leaves "Running" (it has read the exit record at the
  end of the file) or its x axis reaches 10k.
- ``tfevents``: the full load in the process: ``Follower.read_all`` vs ``EventAccumulator.Reload``.
- ``jsonl``: ingest in the process (``Follower.read_all`` vs ``read_ndjson``) at 10k and 100k
  steps, and the whole process (``rltop check`` vs ``python -c 'read_ndjson'``) with peak RssAnon.
- ``startup``: ``rltop check`` on a one-file (50-line) folder vs ``python -c 'import polars'``;
  ``--help``, a missing path, an empty folder.
- ``memory``: ``rltop check --max-memory 512M`` on the 1.9 GB rollout file, peak RssAnon.

Numbers on a shared 2-core machine are noisy: compare ratios of the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "RESULTS-readers.md"

import gen_peers_data as gen  # noqa: E402

PY = sys.executable
# every child (and the app in a pty) runs this checkout's source, not an installed rltop
os.environ["PYTHONPATH"] = str(ROOT / "src")
ENV = dict(os.environ)


# -- measuring ----------------------------------------------------------------------------------
def whole(cmd: list[str], timeout: float = 600) -> tuple[float, float]:
    """Wall seconds of a process and its peak RssAnon in MB (``bench_peers.whole_process``)."""
    from bench_peers import whole_process

    heap: list[float] = []
    took = whole_process(cmd, env=ENV, timeout=timeout, ok=None, heap=heap)
    return took, heap[0]


def child(mode: str, *args: str) -> dict:
    out = subprocess.run(
        [PY, str(Path(__file__).resolve()), "--child", mode, *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_main(mode: str, args: list[str]) -> None:
    if mode == "follower":  # everything imported first: the load alone
        import polars  # noqa: F401

        from rltop.core.follow import Follower

        start = time.perf_counter()
        follower = Follower([args[0]])
        follower.read_all()
        snap = follower.store.snapshot()
        seconds = time.perf_counter() - start
        rows = max((r.metrics.height for r in snap.runs), default=0)
        print(json.dumps({"s": seconds, "rows": rows}))
    elif mode == "polars":
        import polars as pl

        start = time.perf_counter()
        frame = pl.read_ndjson(args[0])
        print(json.dumps({"s": time.perf_counter() - start, "rows": frame.height}))
    elif mode == "ea":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        start = time.perf_counter()
        acc = EventAccumulator(args[0], size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags()["scalars"]
        rows = len(acc.Scalars(tags[0])) if tags else 0
        print(json.dumps({"s": time.perf_counter() - start, "rows": rows}))


def leet_seconds(run_file: Path, last_step: int = 10_000, timeout: float = 180) -> float:
    """``wandb beta leet <file>`` in a tmux pane until the whole file is read."""
    session = f"rltop-bench-leet-{os.getpid()}"
    wandb = str(Path(PY).with_name("wandb"))
    start = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "45",
         f"{wandb} beta leet {run_file}"],
        check=True,
    )  # fmt: skip
    label = f"{last_step // 1000}k"
    try:
        while time.perf_counter() - start < timeout:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            state = next((ln for ln in screen.splitlines() if "State:" in ln), "")
            if (
                (state and "Running" not in state)
                or f" {label} " in screen
                or f"{label}│" in screen
            ):
                return time.perf_counter() - start
            time.sleep(0.05)
        raise RuntimeError("LEET did not show the last step in time")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def app_seconds(folder: Path, metrics: int, step: int) -> float:
    from bench_foundation import first_frame

    return first_frame(folder, metrics, step)


# -- comparisons --------------------------------------------------------------------------------
class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, work: str, peer: str, peer_v: list[float], ours: list[float], unit="s") -> None:
        ratios = [o / p for o, p in zip(ours, peer_v, strict=True) if p > 0]
        med_p, med_o = statistics.median(peer_v), statistics.median(ours)
        ratio = statistics.median(ratios) if ratios else float("nan")
        per_round = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"{work}: {peer} {med_p:.2f} {unit}, rltop {med_o:.2f} {unit}, ratio {ratio:.2f}"
              f" (rounds {per_round})", flush=True)  # fmt: skip
        self.rows.append(
            (work, f"{peer} {med_p:.2f} {unit}", f"{med_o:.2f} {unit}", f"{ratio:.2f}", per_round)
        )

    def note(self, work: str, value: str) -> None:
        print(f"{work}: {value}", flush=True)
        self.rows.append((work, "–", value, "–", ""))


def interleave(rounds: int, peer, ours) -> tuple[list[float], list[float]]:
    peers, mine = [], []
    for i in range(rounds + 1):
        p, o = peer(), ours()
        if i:  # round 0 is the warm-up
            peers.append(p)
            mine.append(o)
    return peers, mine


def bench_wandb(table: Table, rounds: int) -> None:
    folder = gen.wandb_offline()
    run_file = gen.wandb_file(folder)
    peers, firsts, lasts = [], [], []
    for i in range(rounds + 1):
        leet = leet_seconds(run_file)
        first = app_seconds(folder, 1, 0)
        last = app_seconds(folder, 150, 10_000)
        if i:
            peers.append(leet)
            firsts.append(first)
            lasts.append(last)
    table.add(".wandb 10k×150: last step on screen", "LEET", peers, lasts)
    table.add(".wandb 10k×150: first data on screen", "LEET (last step)", peers, firsts)


def bench_tfevents(table: Table, rounds: int) -> None:
    folder = gen.tfevents()
    path = str(next(folder.iterdir()))
    peers, ours = interleave(
        rounds, lambda: child("ea", path)["s"], lambda: child("follower", str(folder))["s"]
    )
    table.add("tfevents 10k×150: full load (in process)", "EventAccumulator", peers, ours)


def bench_jsonl(table: Table, rounds: int) -> None:
    medians = {}
    for steps in (10_000, 100_000):
        folder = gen.metrics_jsonl(steps)
        path = str(folder / "metrics.jsonl")
        peers, ours = interleave(
            rounds, lambda p=path: child("polars", p)["s"], lambda f=folder: child("follower", str(f))["s"]
        )  # fmt: skip
        table.add(f"metrics JSONL {steps // 1000}k×150: ingest in process", "read_ndjson",
                  peers, ours)  # fmt: skip
        medians[steps] = statistics.median(ours)
        if steps == 100_000:
            size = os.path.getsize(path) / 1e6
            pw, ow, heaps = [], [], []
            for i in range(rounds + 1):
                p, _ = whole([PY, "-c", f"import polars as pl; pl.read_ndjson({path!r})"])
                o, heap = whole([PY, "-m", "rltop", "check", str(folder)])
                if i:
                    pw.append(p)
                    ow.append(o)
                    heaps.append(heap)
            table.add("metrics JSONL 100k×150: `check` whole process", "polars process", pw, ow)
            table.note("metrics JSONL 100k×150: `check` heap (RssAnon)",
                       f"{statistics.median(heaps):.0f} MB = {statistics.median(heaps) / size:.2f}× "
                       f"the file ({size:.0f} MB)")  # fmt: skip
    table.note("metrics JSONL: ingest 10k → 100k", f"{medians[100_000] / medians[10_000]:.1f}×")


def bench_startup(table: Table, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        one, empty = Path(tmp) / "one", Path(tmp) / "empty"
        one.mkdir()
        empty.mkdir()
        src = gen.metrics_jsonl() / "metrics.jsonl"
        with open(src, "rb") as fh, open(one / "metrics.jsonl", "wb") as out:
            for _ in range(50):
                out.write(fh.readline())
        peers, ours = interleave(
            rounds,
            lambda: whole([PY, "-c", "import polars"])[0],
            lambda: whole([PY, "-m", "rltop", "check", str(one)])[0],
        )
        table.add("`rltop check` one-file folder", "import polars", peers, ours)
        bare = [whole([PY, "-c", "pass"])[0] for _ in range(rounds + 1)][1:]
        table.note("`python -c pass` (for scale)", f"{statistics.median(bare):.3f} s")
        for label, argv in (
            ("--help", ["--help"]),
            ("missing path", ["check", str(Path(tmp) / "missing")]),
            ("empty folder", ["check", str(empty)]),
        ):
            times = [whole([PY, "-m", "rltop", *argv])[0] for _ in range(rounds + 1)][1:]
            table.note(f"`rltop {label}`", f"{statistics.median(times):.3f} s")


def bench_memory(table: Table, rounds: int) -> None:
    folder = gen.rollouts_jsonl(800_000)
    size = os.path.getsize(folder / "rollouts.jsonl") / 1e9
    heaps = [whole([PY, "-m", "rltop", "check", "--max-memory", "512M", str(folder)])[1]
             for _ in range(max(1, rounds - 1))]  # fmt: skip
    table.note(f"`check --max-memory 512M`, {size:.1f} GB rollouts: heap",
               f"{max(heaps):.0f} MB (max of {len(heaps)})")  # fmt: skip


BENCHES = {
    "wandb": bench_wandb,
    "tfevents": bench_tfevents,
    "jsonl": bench_jsonl,
    "startup": bench_startup,
    "memory": bench_memory,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=list(BENCHES), default=list(BENCHES))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child[0], args.child[1:])
        return 0
    if "wandb" in args.only and not shutil.which("tmux"):
        print("tmux is needed for the LEET comparison", file=sys.stderr)
        return 2
    table = Table()
    for name in args.only:
        BENCHES[name](table, args.rounds)
    lines = [
        "# Readers vs their peers (benchmarks/bench_readers.py)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {args.rounds} rounds after a "
        "warm-up, medians; ratio = rltop / peer, the median of the per-round ratios.",
        "",
        "| work | peer | rltop | rltop / peer | per round |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in table.rows),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
