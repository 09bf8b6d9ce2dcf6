"""rltop against its peers on the same data, measured from outside (issue #11).

Each row runs a peer and rltop interleaved (A, B, A, B ...): a warm-up round that is not kept,
then ``--rounds`` rounds; it prints every round's ratio rltop / peer and the medians, and writes
``benchmarks/RESULTS-peers.md``. Screens are read from a tmux pane (or a pseudo-terminal) at
160x45, the way a user sees them.

Rows (``--only`` takes a comma-separated subset of these names):

- ``wandb``: W&B offline run, 10k steps x 150 metrics (``.wandb`` written by the ``wandb``
  package): ``wandb beta leet`` vs rltop, first data and last step on screen;
- ``tfevents``: the same numbers as a TensorBoard event file: ``EventAccumulator`` with
  ``size_guidance={'scalars': 0}`` (whole process) vs ``rltop check``; the dashboard's first
  frame with data and with the last step;
- ``jsonl10k``, ``jsonl100k``: metrics JSONL, 10k and 100k steps: ``polars.read_ndjson`` (whole
  process, and in the process) vs ``rltop check``, rltop's ingest in the process, the peak heap
  (RssAnon) of ``check`` against the file's size, and the first frame showing the last step;
  with both, the growth of the ingest time from 10k to 100k steps;
- ``csv``: a PyTorch Lightning ``metrics.csv``, 100k steps x 50 metrics: ``polars.read_csv``
  (whole process) vs ``rltop check``;
- ``console``: a verl console log, 10k steps x 150 metrics: ``rltop check``;
- ``toolong``: 200k rollouts (~470 MB): toolong's ``tl FILE`` first screen vs rltop's first frame
  (toolong lives in its own virtualenv, created here when missing: it pins its own Textual);
- ``search``: a rare phrase over the same rollouts, text on disk: polars ``scan_ndjson`` + filter
  vs rltop's search (first part and complete), both in a process that has read the file;
- ``startup``: ``python -c "import polars"`` vs ``rltop check`` on a one-file folder; ``--help``,
  a missing path, an empty folder;
- ``memory``: ``rltop check --max-memory 512M`` on 1.9 GB of rollouts (800k rows): peak heap;
- ``live``: following a 10k-step metrics file at 160x45 with 1 and 20 new lines a second
  (p95 write -> value on screen, CPU of the process) and idle.

Data is generated once under ``/work/bench-data`` (``gen_peers_data.py``; ``$RLTOP_BENCH_DATA``).
Run it on a quiet machine: ``python benchmarks/bench_peers.py --rounds 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen_peers_data as gen  # noqa: E402

RESULTS = HERE / "RESULTS-peers.md"
COLS, ROWS = 160, 45
TOOLONG_VENV = Path(os.environ.get("RLTOP_BENCH_TOOLONG_VENV", "/work/bench-venv-toolong"))
TMUX_SOCKET = f"rltop-bench-peers-{os.getpid()}"  # a tmux server of our own (per run: two
# runs at once must not end each other's panes when one kills its server at the end)
RARE_PHRASE = "reward hacking detected"
PY = sys.executable


# -- running things ---------------------------------------------------------------------------
def rltop_cmd() -> list[str]:
    script = Path(PY).with_name("rltop")
    return [str(script)] if script.exists() else [PY, "-m", "rltop"]


def src_env() -> dict[str, str]:
    """The environment for rltop: this checkout's source first (as the tests run it)."""
    src = str(HERE.parent / "src")
    path = os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else "")}
    # byte code cached as an installed package has it (pip compiles on install, as it did for
    # the peers): without it every start compiles rltop's modules again (~0.1 s of `check`)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def whole_process(
    cmd: list[str],
    env: dict | None = None,
    timeout: float = 600,
    ok: tuple[int, ...] | None = (0,),
    heap: list[float] | None = None,
) -> float:
    """Wall-clock seconds of a command, start to exit (its output discarded); a failure (an exit
    code not in ``ok``; None: any code) raises rather than giving a number. With ``heap``, the
    process's peak RssAnon (MB, /proc sampled every 10 ms) is appended to it."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    peak = 0
    if heap is None:
        try:
            _out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    else:
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("RssAnon:"):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                pass
            if time.perf_counter() - start > timeout:
                proc.kill()
                raise RuntimeError(f"timeout: {cmd}")
            time.sleep(0.01)
        err = proc.stderr.read() if proc.stderr else b""
        heap.append(peak / 1024)
    took = time.perf_counter() - start
    if ok is not None and proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-500:]!r}")
    return took


def tmux(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, text=True, check=False
    )


def _hold_tmux_server() -> None:
    """A session that lives as long as the benchmark: without it the server exits with each
    measured pane, and the next one can race its shutdown."""
    if tmux("has-session", "-t", "hold").returncode != 0:
        tmux("new-session", "-d", "-s", "hold", "-x", "20", "-y", "5", "sleep 86400")


def on_screen(
    cmd: list[str],
    last: str,
    first: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> tuple[float | None, float]:
    """Start ``cmd`` in a 160x45 tmux pane; seconds until ``first`` (a regex) and until ``last``
    show in the pane's text. Polls the pane every 50 ms."""
    name = f"b{os.getpid()}{int(time.time() * 1000) % 100000}"
    env_args = [f"{k}={v}" for k, v in (env or {}).items()]
    shell = " ".join(_quote(a) for a in (["env", *env_args] if env_args else []) + cmd)
    _hold_tmux_server()
    start = time.perf_counter()
    made = tmux("new-session", "-d", "-s", name, "-x", str(COLS), "-y", str(ROWS), shell)
    if made.returncode != 0:
        raise RuntimeError(f"tmux new-session failed: {made.stderr.strip()}")
    seen_first: float | None = None
    done: float | None = None
    rx_last, rx_first = re.compile(last), re.compile(first) if first else None
    pane = tmux("display-message", "-p", "-t", name, "#{pane_pid}").stdout.strip()
    try:
        while time.perf_counter() - start < timeout:
            text = tmux("capture-pane", "-p", "-t", name).stdout
            now = time.perf_counter() - start
            if rx_first is not None and seen_first is None and rx_first.search(text):
                seen_first = now
            if rx_last.search(text):
                done = now
                if seen_first is None:
                    seen_first = now
                break
            time.sleep(0.05)
    finally:
        left = _descendants(int(pane)) if pane.isdigit() else []
        tmux("kill-session", "-t", name)
        _wait_gone(left)
    if done is None:
        raise RuntimeError(f"never showed {last!r}: {' '.join(cmd)}")
    return seen_first, done


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _wait_gone(pids: list[int], timeout: float = 15.0) -> None:
    """Wait until the processes ``pids`` have exited (a zombie counts as gone): a measured
    command's helpers that outlive its pane (``wandb beta leet``'s ``wandb-core`` takes ~1.5 s
    to shut down, using CPU) must not run beside the next measured command."""
    deadline = time.perf_counter() + timeout
    for pid in pids:
        while time.perf_counter() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    state = fh.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                break
            if state in ("Z", "X"):
                break
            time.sleep(0.02)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def child(code: str, *args: str, env: dict | None = None) -> dict:
    """Run ``code`` (which prints one JSON object last) in a fresh interpreter."""
    out = subprocess.run(
        [PY, "-c", code, *args], env=env or src_env(), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- results ----------------------------------------------------------------------------------
@dataclass
class Row:
    work: str
    peer: str
    peer_times: list[float] = field(default_factory=list)
    rltop_times: list[float] = field(default_factory=list)
    target: str = ""
    unit: str = "s"
    note: str = ""

    def ratios(self) -> list[float]:
        return [r / p for r, p in zip(self.rltop_times, self.peer_times, strict=False) if p > 0]

    def line(self) -> str:
        def med(xs: list[float]) -> str:
            if not xs:
                return "–"
            value = statistics.median(xs)
            return f"{value * 1000:.0f} ms" if self.unit == "ms" else f"{value:.2f} {self.unit}"

        ratios = self.ratios()
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "–"
        per_round = ", ".join(f"{r:.2f}" for r in ratios)
        peer = f"{self.peer} {med(self.peer_times)}" if self.peer else "–"
        return (
            f"| {self.work} | {peer} | {med(self.rltop_times)} | {ratio}"
            f"{f' ({per_round})' if len(ratios) > 1 else ''} | {self.target} |"
        )


def interleave(rounds: int, peer, ours, row: Row) -> Row:
    """A warm-up round (dropped), then ``rounds`` rounds of peer, rltop; alternating who goes
    first so neither always gets the warmer cache."""
    for i in range(rounds + 1):
        pair = [("peer", peer), ("ours", ours)]
        if i % 2:
            pair.reverse()
        got = {}
        for who, fn in pair:
            got[who] = fn()
        if i == 0:
            continue
        row.peer_times.append(got["peer"])
        row.rltop_times.append(got["ours"])
        ratio = got["ours"] / got["peer"] if got["peer"] else float("nan")
        print(
            f"  {row.work}: round {i}: peer {got['peer']:.3f} rltop {got['ours']:.3f}"
            f" ratio {ratio:.2f}",
            flush=True,
        )
    return row


# -- rows -------------------------------------------------------------------------------------
def rows_wandb(rounds: int) -> list[Row]:
    folder = gen.wandb_offline(10_000, 150)
    run_dir = str(gen.wandb_file(folder).parent)
    wandb = str(Path(PY).with_name("wandb"))
    last_step = gen_last_step(folder)
    firsts: dict[str, list[float]] = {"peer": [], "ours": []}

    def leet() -> float:
        first, last = on_screen(
            [wandb, "beta", "leet", run_dir], rf"_step\s+{last_step}\b", r"_step\s+\d+"
        )
        firsts["peer"].append(first or last)
        return last

    def ours() -> float:
        first, last = on_screen(
            [*rltop_cmd(), run_dir], rf"step {last_step}\b", r"step \d+", env=_pp_env()
        )
        firsts["ours"].append(first or last)
        return last

    last_row = interleave(
        rounds,
        leet,
        ours,
        Row(
            "W&B offline 10k×150 (.wandb): last step on screen", "wandb beta leet", target="≤ 0.33"
        ),
    )
    first_row = Row(
        "same, first data on screen",
        "wandb beta leet",
        firsts["peer"][1:],
        firsts["ours"][1:],
        target="rltop ≤ 1.0 s",
    )
    return [last_row, first_row]


def gen_last_step(folder: Path) -> int:
    """The run's last step as the generator logged it (``metric_rows`` counts from 1)."""
    manifest = json.loads((gen.DATA / f"{folder.name}.manifest.json").read_text())
    return int(manifest["steps"])


def _pp_env() -> dict[str, str]:
    return {"PYTHONPATH": src_env()["PYTHONPATH"]}


TB_CODE = """
import sys, time, json
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})
acc.Reload()
print(json.dumps({"tags": len(acc.Tags()["scalars"])}))
"""


def rows_tfevents(rounds: int) -> list[Row]:
    folder = str(gen.tfevents(10_000, 150))
    event_file = str(next(Path(folder).glob("*tfevents*")))
    row = Row("tfevents 10k×150: full load (whole process)", "TensorBoard EventAccumulator",
              target="≤ 0.2")  # fmt: skip
    out = [
        interleave(
            rounds,
            lambda: whole_process([PY, "-c", TB_CODE, event_file]),
            lambda: whole_process([*rltop_cmd(), "check", folder], env=src_env(), ok=(0, 1)),
            row,
        )
    ]
    # the dashboard: the first frame with data and the one with the last step (no peer draws it)
    first = Row("tfevents 10k: first data on screen (160×45)", "", target="≤ 1.0 s")
    last = Row("tfevents 10k: last step on screen (160×45)", "")
    final = rf"step {gen_last_step(Path(folder))}\b"
    for i in range(rounds + 1):
        seen, done = on_screen([*rltop_cmd(), folder], final, first=r"step \d+", env=_pp_env())
        if i:
            first.rltop_times.append(seen or done)
            last.rltop_times.append(done)
            print(f"  tfevents on screen: round {i}: first {seen:.2f} last {done:.2f}", flush=True)
    return [*out, first, last]


POLARS_READ = "import sys, polars; polars.read_ndjson(sys.argv[1])"

INGEST_CODE = """
import sys, time, json
which, path = sys.argv[1], sys.argv[2]
if which == "polars":
    import polars as pl
    t = time.perf_counter(); pl.read_ndjson(path); took = time.perf_counter() - t
else:
    import polars as pl
    from rltop.core.follow import Follower
    import rltop.core.formats.jsonl, rltop.core.store
    f = Follower([path])
    t = time.perf_counter(); f.read_all(); took = time.perf_counter() - t
print(json.dumps({"s": took}))
"""


def rows_jsonl(rounds: int, steps: int) -> list[Row]:
    folder = gen.metrics_jsonl(steps, 150)
    path = str(folder / "metrics.jsonl")
    label = f"{steps // 1000}k"
    size = os.path.getsize(path) / 1e6
    out = [
        interleave(
            rounds,
            lambda: whole_process([PY, "-c", POLARS_READ, path]),
            lambda: whole_process([*rltop_cmd(), "check", str(folder)], env=src_env(), ok=(0, 1)),
            Row(
                f"metrics JSONL {label}×150 ({size:.0f} MB): `check` (whole process)",
                "polars.read_ndjson",
                target="≤ 2 (100k)",
            ),
        ),
        interleave(
            rounds,
            lambda: child(INGEST_CODE, "polars", path)["s"],
            lambda: child(INGEST_CODE, "rltop", path)["s"],
            Row(
                f"metrics JSONL {label}: ingest in the process",
                "polars.read_ndjson",
                target="≤ 1.5",
            ),
        ),
    ]
    heaps: list[float] = []
    for _ in range(rounds):  # apart from the timed runs: sampling /proc would slow them
        whole_process([*rltop_cmd(), "check", str(folder)], env=src_env(), ok=(0, 1), heap=heaps)
    out.append(
        Row(
            f"metrics JSONL {label}: `check` heap (peak RssAnon) / the file's size",
            "file",
            [size] * len(heaps),
            heaps,
            target="≤ 1 (100k)",
            unit="MB",
        )
    )
    frame = Row(f"metrics JSONL {label}: first frame with the last step (160×45)",
                "polars.read_ndjson")  # fmt: skip
    # the first frame showing any step (a large file's newest steps are read first)
    first = Row(f"metrics JSONL {label}: first frame with data (160×45)", "polars.read_ndjson",
                target="≤ 1.0 s")  # fmt: skip
    for i in range(rounds + 1):
        peer = whole_process([PY, "-c", POLARS_READ, path])
        seen, ours = on_screen(
            [*rltop_cmd(), str(folder)], rf"step {steps}\b", r"step \d+", env=_pp_env()
        )
        if i:
            frame.peer_times.append(peer)
            frame.rltop_times.append(ours)
            first.peer_times.append(peer)
            first.rltop_times.append(seen or ours)
            print(
                f"  {frame.work}: round {i}: peer {peer:.3f} rltop {ours:.3f}"
                f" (first data {seen or ours:.3f})",
                flush=True,
            )
    out.extend([first, frame])
    return out


def toolong() -> str:
    """``tl`` from toolong's own virtualenv (created and installed here when missing)."""
    tl = TOOLONG_VENV / "bin" / "tl"
    if not tl.exists():
        print(f"creating {TOOLONG_VENV} for toolong ...", flush=True)
        subprocess.run([PY, "-m", "venv", str(TOOLONG_VENV)], check=True)
        subprocess.run([str(TOOLONG_VENV / "bin" / "pip"), "install", "-q", "toolong"], check=True)
    return str(tl)


def rows_toolong(rounds: int) -> list[Row]:
    folder = gen.rollouts_jsonl(200_000)
    path = str(folder / "rollouts.jsonl")
    tl = toolong()
    with open(path, "rb") as fh:
        head = fh.readline()[:40].decode("utf-8", "replace")
    # the start of the first line, as toolong shows it on its first screen
    marker = re.escape(head)
    all_rows: list[float] = []

    def ours() -> float:
        first, last = on_screen(
            [*rltop_cmd(), path], r"200,000 rollouts", r"\d[\d,]* rollouts", env=_pp_env()
        )
        all_rows.append(last)
        return first or last

    row = interleave(
        rounds,
        lambda: on_screen([tl, path], marker)[1],
        ours,
        Row("200k rollouts (470 MB): first screen with data", "toolong `tl`", target="≤ 1.0"),
    )
    every = Row(
        "same, all 200,000 rows counted on screen",
        "toolong `tl`",
        list(row.peer_times),
        all_rows[1:],
        note="toolong shows the file's last lines without reading the rest",
    )
    return [row, every]


SEARCH_CODE = """
import sys, time, json
which, path, pattern, query = sys.argv[1:5]
if which == "polars":
    import polars as pl
    first = pl.read_ndjson(path, n_rows=1)
    text = [c for c, t in first.schema.items() if t == pl.String]
    t = time.perf_counter()
    cond = pl.any_horizontal([pl.col(c).str.contains(pattern) for c in text])
    n = pl.scan_ndjson(path).filter(cond).collect().height
    print(json.dumps({"complete": time.perf_counter() - t, "hits": n}))
else:
    from rltop.core.follow import Follower
    from rltop.core.coldtext import fill_text
    from rltop.core.search import iter_matches, parse_query
    f = Follower([path]); f.read_all()
    frame = f.store.snapshot().runs[0].rollouts
    cold = frame.get_column("prompt").null_count()
    t = time.perf_counter(); first = None; n = 0
    for part in iter_matches(frame, parse_query(query, dict(frame.schema)), loader=fill_text):
        n += len(part)
        if first is None:
            first = time.perf_counter() - t
    print(json.dumps({"complete": time.perf_counter() - t, "first": first, "hits": n,
                      "cold": cold}))
"""


def rows_search(rounds: int) -> list[Row]:
    """A rare phrase searched as text and as a regular expression (polars: the same pattern)."""
    folder = gen.rollouts_jsonl(200_000)
    path = str(folder / "rollouts.jsonl")
    grep = whole_process(["grep", "-c", "-i", RARE_PHRASE, path])
    regex = r"reward\s+hacking\s+detected"
    out: list[Row] = []
    for label, pattern, query in (
        (f"search '{RARE_PHRASE}'", "(?i)" + re.escape(RARE_PHRASE), RARE_PHRASE),
        (f"search /{regex}/i", "(?i)" + regex, f"/{regex}/i"),
    ):
        firsts: list[float] = []
        hits: dict[str, int] = {}

        def peer(pattern: str = pattern, query: str = query, hits: dict = hits) -> float:
            got = child(SEARCH_CODE, "polars", path, pattern, query)
            hits["polars"] = got["hits"]
            return got["complete"]

        def ours(
            pattern: str = pattern, query: str = query, hits: dict = hits, firsts: list = firsts
        ) -> float:
            got = child(SEARCH_CODE, "rltop", path, pattern, query)
            hits["rltop"] = got["hits"]
            firsts.append(got["first"])
            return got["complete"]

        complete = interleave(
            rounds,
            peer,
            ours,
            Row(
                f"{label} over 200k rollouts, text on disk: complete",
                "polars scan_ndjson+filter",
                target="≤ 1.5",
            ),
        )
        complete.note = f"matches: polars {hits.get('polars')}, rltop {hits.get('rltop')}"
        first = Row(f"{label}: first part of the result (after Enter)", "", [], firsts[1:],
                    target="≤ 200 ms", unit="ms", note=f"`grep -c -i` {grep:.2f} s")  # fmt: skip
        out += [complete, first]
    return out


def rows_growth(rows: list[Row]) -> list[Row]:
    """Ingest time from 10k to 100k steps, round by round (both rows in this run)."""
    ingest = {r.work.split(":")[0]: r for r in rows if r.work.endswith("ingest in the process")}
    small, large = ingest.get("metrics JSONL 10k"), ingest.get("metrics JSONL 100k")
    if small is None or large is None:
        return []
    return [
        Row(
            "metrics JSONL ingest in the process: 100k / 10k steps",
            "10k",
            small.rltop_times,
            large.rltop_times,
            target="≤ 11",
        )
    ]


def rows_csv(rounds: int) -> list[Row]:
    """A Lightning ``metrics.csv``, 100k steps x 50 metrics: ``rltop check`` vs polars."""
    folder = gen.metrics_csv(100_000, 50)
    path = str(folder / "metrics.csv")
    size = os.path.getsize(path) / 1e6
    return [
        interleave(
            rounds,
            lambda: whole_process(
                [PY, "-c", "import sys, polars; polars.read_csv(sys.argv[1])", path]
            ),
            lambda: whole_process(
                [*rltop_cmd(), "check", str(folder)], env=src_env(), ok=(0, 1, 2)
            ),
            Row(
                f"metrics CSV 100k×50 ({size:.0f} MB, Lightning CSVLogger): `check` (whole process)",
                "polars.read_csv",
            ),
        )
    ]


def rows_console(rounds: int) -> list[Row]:
    """A verl console log of 10k steps x 150 metrics: ``rltop check`` (no peer reads it)."""
    folder = gen.console_log(10_000, 150)
    size = os.path.getsize(folder / "train.log") / 1e6
    row = Row(f"verl console log 10k×150 ({size:.0f} MB): `check` (whole process)", "")
    for i in range(rounds + 1):
        took = whole_process([*rltop_cmd(), "check", str(folder)], env=src_env(), ok=(0, 1, 2))
        if i:
            row.rltop_times.append(took)
            print(f"  {row.work}: round {i}: {took:.2f}", flush=True)
    return [row]


def rows_memory(rounds: int) -> list[Row]:
    """``rltop check --max-memory 512M`` on the 1.9 GB rollout file: its peak heap."""
    folder = gen.rollouts_jsonl(800_000)
    size = os.path.getsize(folder / "rollouts.jsonl") / 1e9
    heaps: list[float] = []
    took = [
        whole_process(
            [*rltop_cmd(), "check", "--max-memory", "512M", str(folder)],
            env=src_env(),
            ok=(0, 1, 2),
            heap=heaps,
        )
        for _ in range(rounds)
    ]
    print(f"  memory: heaps {[round(h) for h in heaps]} MB in {[round(t, 1) for t in took]} s")
    return [
        Row(
            f"`check --max-memory 512M` on {size:.1f} GB of rollouts: peak heap (RssAnon) / budget",
            "budget",
            [512.0] * len(heaps),
            heaps,
            target="< 1 (under 512 MB)",
            unit="MB",
            note=f"whole check {statistics.median(took):.1f} s",
        )
    ]


def rows_startup(rounds: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one"
        one.mkdir()
        with open(one / "metrics.jsonl", "w") as fh:
            for step in range(1, 51):
                fh.write(json.dumps({"step": step, "reward": step / 50, "loss": 1 / step}) + "\n")
        empty = Path(tmp) / "empty"
        empty.mkdir()
        env = src_env()
        out = [
            interleave(
                rounds,
                lambda: whole_process([PY, "-c", "import polars"]),
                lambda: whole_process([*rltop_cmd(), "check", str(one)], env=env, ok=(0, 1)),
                Row(
                    "`rltop check` on a one-file folder (50 lines)",
                    '`python -c "import polars"`',
                    target="≤ 1.3",
                ),
            )
        ]
        for label, args in (
            ("`rltop --help`", ["--help"]),
            ("`rltop check` on a missing path", ["check", str(Path(tmp) / "missing")]),
            ("`rltop check` on an empty folder", ["check", str(empty)]),
        ):
            row = Row(label, '`python -c "pass"`', target="≤ 0.1 s", unit="ms")
            out.append(
                interleave(
                    rounds,
                    lambda: whole_process([PY, "-c", "pass"]),
                    lambda args=args: whole_process(rltop_cmd() + args, env=env, ok=(0, 1, 2, 3)),
                    row,
                )
            )
    return out


def rows_live(rounds: int, seconds: float) -> list[Row]:
    """rltop following a 10k-step metrics file at 160x45: 1 and 20 lines a second, idle."""
    import bench_foundation as bf

    bf.TERM_SIZE = (COLS, ROWS)
    source = gen.metrics_jsonl(10_000, 150) / "metrics.jsonl"
    p95s, cpu1, cpu20, idle = [], [], [], []
    for i in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            live = Path(tmp) / "live"
            live.mkdir()
            path = live / "metrics.jsonl"
            shutil.copyfile(source, path)
            app = bf.PtyApp([str(live)], env=_pp_env())
            try:
                if app.wait_for(b"step 10000", timeout=300) is None:
                    raise RuntimeError("rltop never showed the last step")
                time.sleep(15.0)  # the warning rules' first pass over the whole run settles
                pid = app.proc.pid
                c0, t0 = bf.cpu_seconds(pid), time.monotonic()
                time.sleep(min(seconds, 10))
                idle.append((bf.cpu_seconds(pid) - c0) / (time.monotonic() - t0))
                step = 10_000
                for rate, cpus in ((1.0, cpu1), (20.0, cpu20)):
                    lats: list[float] = []
                    stop = threading.Event()
                    c0, t0 = bf.cpu_seconds(pid), time.monotonic()
                    next_t = time.monotonic()
                    with open(path, "ab") as fh:
                        while time.monotonic() - t0 < seconds:
                            step += 1
                            mark = app.mark()
                            fh.write(bf.metric_line(step))
                            fh.flush()
                            wrote = time.time()
                            if rate <= 1:
                                seen = app.wait_for(f"step {step}".encode(), mark, timeout=2)
                                lats.append((seen or wrote + 2) - wrote)
                            next_t += 1 / rate
                            stop.wait(max(0.0, next_t - time.monotonic()))
                    cpus.append((bf.cpu_seconds(pid) - c0) / (time.monotonic() - t0))
                    if lats:
                        p95s.append(bf.pct(lats, 0.95))
                    time.sleep(4.5)  # the paced chart and rules catch up between the two rates
            finally:
                app.close()
        print(f"  live: round {i + 1}: p95 {p95s[-1] * 1000:.0f} ms, 1/s {cpu1[-1]:.1%}, "
              f"20/s {cpu20[-1]:.1%}, idle {idle[-1]:.1%}", flush=True)  # fmt: skip
    pct = "% of a core"
    return [
        Row(
            "following 10k steps at 160×45, 1 line/s: p95 write → value on screen",
            "",
            [],
            p95s,
            target="≤ 300 ms",
            unit="ms",
        ),
        Row(
            "same, CPU at 1 line/s", "", [], [c * 100 for c in cpu1], target="≤ 10" + pct, unit=pct
        ),
        Row(
            "same, CPU at 20 lines/s",
            "",
            [],
            [c * 100 for c in cpu20],
            target="≤ 25" + pct,
            unit=pct,
        ),
        Row("same, CPU idle", "", [], [c * 100 for c in idle], target="≤ 1" + pct, unit=pct),
    ]


ALL = (
    "wandb",
    "tfevents",
    "jsonl10k",
    "jsonl100k",
    "csv",
    "console",
    "toolong",
    "search",
    "startup",
    "memory",
    "live",
)


def machine() -> str:
    import platform

    load = os.getloadavg()
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores, load average "
        f"{load[0]:.2f} at start; Python {platform.python_version()}"
    )


def render(rows: list[Row], rounds: int, notes: str) -> str:
    lines = [
        "# rltop against its peers",
        "",
        f"`python benchmarks/bench_peers.py --rounds {rounds}` — "
        + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "",
        f"Machine: {notes}. Peer and rltop run interleaved (a warm-up round dropped); times are "
        "medians, ratios are rltop / peer (median of the per-round ratios, each round's in "
        "brackets). Screens are read at 160×45.",
        "",
        "| work | peer | rltop | rltop / peer | target |",
        "|---|---|---|---|---|",
    ]
    lines += [row.line() for row in rows]
    notes_rows = [f"- {row.work}: {row.note}" for row in rows if row.note]
    if notes_rows:
        lines += ["", "Notes:", *notes_rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(ALL), help=f"rows to run, of {', '.join(ALL)}")
    parser.add_argument("--rounds", type=int, default=3, help="kept rounds per row (default 3)")
    parser.add_argument("--live-seconds", type=float, default=20.0, help="per live rate")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS-peers.md")
    args = parser.parse_args()
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(wanted) - set(ALL))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ALL)}")
    notes = machine()
    rows: list[Row] = []
    try:
        for name in ALL:
            if name not in wanted:
                continue
            print(f"{name} ...", flush=True)
            if name == "wandb":
                rows += rows_wandb(args.rounds)
            elif name == "tfevents":
                rows += rows_tfevents(args.rounds)
            elif name == "jsonl10k":
                rows += rows_jsonl(args.rounds, 10_000)
            elif name == "jsonl100k":
                rows += rows_jsonl(args.rounds, 100_000)
                rows += rows_growth(rows)
            elif name == "csv":
                rows += rows_csv(args.rounds)
            elif name == "console":
                rows += rows_console(args.rounds)
            elif name == "toolong":
                rows += rows_toolong(args.rounds)
            elif name == "search":
                rows += rows_search(args.rounds)
            elif name == "startup":
                rows += rows_startup(args.rounds)
            elif name == "memory":
                rows += rows_memory(args.rounds)
            elif name == "live":
                rows += rows_live(max(1, args.rounds), args.live_seconds)
    finally:
        tmux("kill-server")
    text = render(rows, args.rounds, notes)
    print(text)
    if not args.no_write and set(wanted) == set(ALL):
        RESULTS.write_text(text)
    elif not args.no_write:
        # a subset: keep the other rows of the file as they were
        RESULTS.write_text(_merge(RESULTS.read_text() if RESULTS.exists() else "", text))
    return 0


def _merge(old: str, new: str) -> str:
    """``new``'s table rows replace the rows of ``old`` with the same work; others are kept."""

    def table(text: str) -> dict[str, str]:
        out = {}
        for line in text.splitlines():
            if line.startswith("| ") and not line.startswith(("| work", "|---")):
                out[line.split(" | ")[0]] = line
        return out

    if not old:
        return new
    merged = {**table(old), **table(new)}
    head, _, _ = new.partition("| work |")
    body = "| work | peer | rltop | rltop / peer | target |\n|---|---|---|---|---|\n"
    body += "\n".join(merged.values()) + "\n"
    tail = new.split("\n\nNotes:", 1)
    return head + body + ("\nNotes:" + tail[1] if len(tail) > 1 else "")


if __name__ == "__main__":
    sys.exit(main())
