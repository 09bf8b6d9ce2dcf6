"""The store: per-run metric and rollout frames in polars, updated incrementally.

Writers (the follower thread) call ``apply``; readers (UI, headless commands) call ``snapshot`` and
get immutable frames they can use without locks. Every change bumps ``version`` so readers can tell
at once whether anything moved.

Metrics: every source's rows are kept in a ``raw`` frame (with source and arrival order), and a
``canonical`` frame holds one row per step, each column taking the last non-null value logged for
that step. An append whose steps are all new only appends to ``canonical``; an append that revisits
steps recomputes ``canonical`` from its lowest step on. So reading a file in N chunks or at once
gives the same frame.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from rltop.core import coldtext
from rltop.core.cols import named
from rltop.core.derive import rollout_step_stats, stats_columns
from rltop.core.model import MetricRow, ParseResult, Skip
from rltop.core.roles import WALL_TIME_KEYS

META = ("_src", "_seq")
MAX_CHUNKS = 64
#: arrival numbers (``_seq``) of rows read in file order start here; rows read later from an
#: earlier part of a file (``older``: its newest records were read first) count up from 0, so
#: they come before every row read the usual way, as a read from the start would have them
NEWER_SEQ = 1 << 62


@dataclass(eq=False)
class SourceInfo:
    """One followed file and what reading it has produced so far."""

    path: str
    format: str
    kind: str  # "metrics" | "rollouts"
    run_id: str
    lines_read: int = 0
    rows: int = 0
    skipped: int = 0
    ignored: int = 0
    bytes_read: int = 0
    status: str = "following"  # following | ended | error
    error: str | None = None
    skip_reasons: Counter = field(default_factory=Counter)
    #: why the ``ignored`` lines or records were not used (reason -> count)
    ignore_reasons: Counter = field(default_factory=Counter)
    recent_skips: deque = field(default_factory=lambda: deque(maxlen=20))
    last_update: float | None = None
    resets: int = 0
    #: the file was written again from an earlier step (a restarted run), how often and from which
    #: step the last time; a whole file saved anew with more steps (trainer_state.json) is no restart
    restarts: int = 0
    restart_step: int | None = None
    max_step: int | None = None  # the highest step read from this file since its last restart
    _step_before_reset: int | None = None
    _awaiting_rows: bool = False

    def copy(self) -> SourceInfo:
        new = SourceInfo(
            **{
                k: v
                for k, v in self.__dict__.items()
                if k not in ("skip_reasons", "ignore_reasons", "recent_skips")
            }
        )
        new.skip_reasons = Counter(self.skip_reasons)
        new.ignore_reasons = Counter(self.ignore_reasons)
        new.recent_skips = deque(self.recent_skips, maxlen=20)
        return new


def rows_to_frame(
    rows: list[MetricRow], src: int, seq0: int
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Metric rows -> a frame (step, _src, _seq, Float64 per numeric key) and the latest strings."""
    n = len(rows)
    steps = [0] * n
    columns: dict[str, list[float | None]] = {}
    texts: dict[str, str] = {}
    for i, row in enumerate(rows):
        steps[i] = row["step"]
        for key, value in row.items():
            if key == "step":
                continue
            if type(value) is float:
                col = columns.get(key)
                if col is None:
                    col = columns[key] = [None] * n
                col[i] = value
            elif isinstance(value, str):
                texts[key] = value
    data: dict[str, pl.Series] = {
        "step": pl.Series("step", steps, dtype=pl.Int64),
        "_src": pl.Series("_src", [src] * n, dtype=pl.UInt32),
        "_seq": pl.Series("_seq", range(seq0, seq0 + n), dtype=pl.UInt64),
    }
    for key, values in columns.items():
        data[key] = pl.Series(key, values, dtype=pl.Float64)
    return pl.DataFrame(data), texts


def merge_steps(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per step: for each column the last non-null value in (source, arrival) order."""
    if raw.is_empty():
        return raw.drop(META)
    step = raw.get_column("step")
    if step.is_sorted() and step.n_unique() == raw.height:
        return raw.drop(META)  # one row per step, in order already (a catch-up's block): no sort
    ordered = raw.sort(["step", "_src", "_seq"])
    if ordered.get_column("step").n_unique() == ordered.height:
        return ordered.drop(META)
    # by position: a metric named like ``^.*$`` would be a pattern to ``pl.col``
    metrics = [i for i, c in enumerate(ordered.columns) if c not in META and c != "step"]
    return ordered.group_by("step", maintain_order=True).agg(
        [pl.nth(i).drop_nulls().last() for i in metrics]
    )


class MetricTable:
    """All metric rows of one run, and their per-step merge."""

    def __init__(self) -> None:
        self.raw: pl.DataFrame | None = None
        self.canonical: pl.DataFrame | None = None
        self.texts: dict[str, str] = {}
        self._seq = NEWER_SEQ
        self._older_seq = 0
        #: the columns of ``older`` rows, in the order they first came: they lead the canonical
        #: frame's columns, as in a read from the start
        self._older_columns: dict[str, None] = {}
        #: bumped whenever ``canonical`` changes (readers cache what they derive from it)
        self.changes = 0

    def _take_seq(self, n: int, older: bool) -> int:
        """The first of ``n`` arrival numbers (``older``: rows of an earlier part of a file that
        was read after later parts, see ``NEWER_SEQ``)."""
        if older:
            first, self._older_seq = self._older_seq, self._older_seq + n
        else:
            first, self._seq = self._seq, self._seq + n
        return first

    def append(self, src: int, rows: list[MetricRow], *, older: bool = False) -> None:
        if not rows:
            return
        batch, texts = rows_to_frame(rows, src, self._take_seq(len(rows), older))
        if older:
            texts.update(self.texts)  # the latest strings stay the newer rows'
        self.texts.update(texts)
        self._append_batch(batch, older)

    def append_frame(self, src: int, frame: pl.DataFrame, *, older: bool = False) -> None:
        """Metric rows already in a frame (``step`` + Float64 columns), as bulk parsers give."""
        if frame.is_empty():
            return
        n = frame.height
        seq = self._take_seq(n, older)
        batch = frame.select(
            pl.col("step").cast(pl.Int64),
            pl.lit(src, dtype=pl.UInt32).alias("_src"),
            pl.int_range(seq, seq + n, dtype=pl.UInt64).alias("_seq"),
            pl.exclude("step"),
        )
        self._append_batch(batch, older)

    def _append_batch(self, batch: pl.DataFrame, older: bool = False) -> None:
        self.changes += 1
        if older:
            self._older_columns.update(dict.fromkeys(batch.columns))
        if self.raw is None or self.canonical is None:
            self.raw = batch
            self.canonical = merge_steps(batch)
            return
        self._merge(batch)
        if older:
            have = self.canonical.columns
            known = set(have)
            lead = [c for c in self._older_columns if c in known and c not in META]
            if have[: len(lead)] != lead:
                rest = [c for c in have if c not in self._older_columns]
                self.canonical = self.canonical.select(lead + rest)

    def _merge(self, batch: pl.DataFrame) -> None:
        assert self.raw is not None and self.canonical is not None
        self.raw = _concat(self.raw, batch)
        first = batch.get_column("step").min()
        last_known = self.canonical.get_column("step").max() if self.canonical.height else None
        if last_known is None or first > last_known:
            self.canonical = _concat(self.canonical, merge_steps(batch))
        elif batch.get_column("step").max() < self.canonical.get_column("step").min():
            # steps before all known ones (an earlier part of a file, read after its end)
            self.canonical = _concat(merge_steps(batch), self.canonical)
        else:
            keep = self.canonical.filter(pl.col("step") < first)
            redo = merge_steps(self.raw.filter(pl.col("step") >= first))
            self.canonical = _concat(keep, redo)

    def drop_source(self, src: int) -> None:
        if self.raw is None:
            return
        self.changes += 1
        self.raw = self.raw.filter(pl.col("_src") != src)
        self.canonical = merge_steps(self.raw)
        # columns only that source had are now all null: drop them
        self.canonical = self.canonical.select(
            [
                c
                for c in self.canonical.columns
                if c == "step" or self.canonical.get_column(c).null_count() < self.canonical.height
            ]
        )

    def frame(self) -> pl.DataFrame:
        if self.canonical is None:
            return pl.DataFrame({"step": pl.Series([], dtype=pl.Int64)})
        return self.canonical


def _concat(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    if a.width == 0 or (a.is_empty() and a.width <= 1):
        return b
    out = pl.concat([a, b], how="diagonal_relaxed", rechunk=False)
    if out.n_chunks() > MAX_CHUNKS:
        out = out.rechunk()
    return out


class RolloutTable:
    """All rollouts of one run (chunks of frames), and their per-step statistics.

    Under the memory budget (``coldtext.BUDGET``, ``--max-memory``) the text of the oldest chunks
    (prompt, completion, messages, extra, group and long string extras) is dropped; their rows keep
    the numbers and where their line is (``_path``, ``_offset``, ``_len``), so ``coldtext`` can
    read the text back. ``_gid`` (a hash of the group) keeps groups apart once the text is gone.
    """

    #: small hot chunks of one source (a live file's appends) are merged up to this size, so a
    #: long-running stream does not make thousands of chunks
    COALESCE_BYTES = 16 * 1024 * 1024
    #: ... once this many small chunks have been appended (see ``_coalesce``)
    COALESCE_COUNT = 32

    def __init__(self) -> None:
        self.chunks: dict[int, list[pl.DataFrame]] = {}  # by source
        self.info: dict[int, list[_ChunkInfo]] = {}  # parallel to chunks
        self._stats: pl.DataFrame | None = None
        #: steps whose statistics are out of date: computed when ``stats`` is read, so a stream of
        #: small appends between two snapshots pays for one computation
        self._dirty: list[pl.Series] = []
        self._frame: pl.DataFrame | None = None
        self.count = 0
        #: bumped when text moves to disk: snapshots of the run must not keep the old frame
        self.evictions = 0
        coldtext.BUDGET.register(self)

    def append(self, src: int, frame: pl.DataFrame) -> None:
        if frame is None or frame.is_empty():
            return
        if "group" in frame.columns and "_gid" not in frame.columns:
            frame = frame.with_columns(pl.col("group").hash().alias("_gid"))
        added = frame.height
        # the steps of the new rows only (not of the chunk they may be merged into below)
        self._dirty.append(frame.get_column("step").unique())
        self.chunks.setdefault(src, []).append(frame)
        self.info.setdefault(src, []).append(_ChunkInfo.of(frame))
        self._coalesce(src)
        self.count += added
        self._frame = None
        coldtext.BUDGET.enforce()

    def _coalesce(self, src: int) -> None:
        """Merge the source's trailing small chunks once there are ``COALESCE_COUNT`` of them.

        A live run appends a few rows at a time: merging each append into the last chunk copied
        that chunk (up to ``COALESCE_BYTES``) every time; merging every ``COALESCE_COUNT`` appends
        copies it that many times less, and keeps the number of chunks small.
        """
        chunks, infos = self.chunks[src], self.info[src]
        limit = min(self.COALESCE_BYTES, coldtext.BUDGET.limit // 8)
        last = infos[-1]
        start, total = len(chunks) - 1, last.size
        while start > 0:
            before = infos[start - 1]
            if not before.hot or before.evictable != last.evictable:
                break
            if total + before.size >= limit:
                break
            start -= 1
            total += before.size
        if len(chunks) - start < self.COALESCE_COUNT:
            return
        merged = pl.concat(chunks[start:], how="diagonal_relaxed")
        chunks[start:] = [merged]
        infos[start:] = [_ChunkInfo.of(merged)]

    @property
    def stats(self) -> pl.DataFrame | None:
        """Per-step statistics of the rollouts (``derive.rollout_step_stats``), by step."""
        if self._dirty:
            steps = pl.concat(self._dirty).unique()
            self._dirty = []
            self._update_stats(steps)
        return self._stats

    @stats.setter
    def stats(self, value: pl.DataFrame | None) -> None:
        self._dirty = []
        self._stats = value

    def drop_source(self, src: int) -> None:
        dropped = self.chunks.pop(src, [])
        self.info.pop(src, None)
        if not dropped:
            return
        self.count -= sum(f.height for f in dropped)
        self._frame = None
        self.stats = None
        if self.count:
            self.stats = rollout_step_stats(self.frame())

    def frame(self) -> pl.DataFrame:
        if self._frame is None:
            parts = [f for chunks in self.chunks.values() for f in chunks]
            if not parts:
                self._frame = pl.DataFrame()
            else:
                self._frame = pl.concat(parts, how="diagonal_relaxed", rechunk=False)
        return self._frame

    def _update_stats(self, steps: pl.Series) -> None:
        frame = self.frame()
        # only the columns the statistics read are copied (not the texts of the newest steps)
        touched = (
            frame.lazy()
            .select(stats_columns(frame.columns))
            .filter(pl.col("step").is_in(steps.implode()))
            .collect()
        )
        fresh = rollout_step_stats(touched)
        if self._stats is None or self._stats.is_empty():
            self._stats = fresh
            return
        kept = self._stats.filter(~pl.col("step").is_in(steps.implode()))
        self._stats = pl.concat([kept, fresh], how="diagonal_relaxed").sort("step")

    def forget_before(self, step: int) -> int:
        """Drop the rows of steps before ``step``; their per-step statistics stay. For a headless
        watcher that runs for days: memory stays bounded. Returns how many rows were dropped."""
        _ = self.stats  # bring the statistics of every step up to date first
        dropped = 0
        for src, chunks in self.chunks.items():
            kept: list[pl.DataFrame] = []
            infos: list[_ChunkInfo] = []
            for frame, info in zip(chunks, self.info[src], strict=True):
                if frame.get_column("step").min() >= step:
                    kept.append(frame)
                    infos.append(info)
                    continue
                part = frame.filter(pl.col("step") >= step)
                dropped += frame.height - part.height
                if part.height:
                    new = _ChunkInfo.of(part)
                    new.hot = info.hot
                    kept.append(part)
                    infos.append(new)
            self.chunks[src] = kept
            self.info[src] = infos
        if dropped:
            self.count -= dropped
            self._frame = None
            self.evictions += 1  # snapshots must not keep the old frame
        return dropped

    # -- memory budget (see coldtext.MemoryBudget) -----------------------------------------------
    def held_bytes(self) -> int:
        return sum(i.held for infos in self.info.values() for i in infos)

    def hot_text_bytes(self) -> int:
        return sum(i.text for infos in self.info.values() for i in infos if i.hot and i.evictable)

    def can_evict(self) -> bool:
        return any(i.hot and i.evictable for infos in self.info.values() for i in infos)

    def evict_oldest(self) -> int:
        """Drop the text of the hot chunk with the oldest steps; returns the bytes freed."""
        best: tuple[int, int, int] | None = None
        for src, infos in self.info.items():
            for index, info in enumerate(infos):
                if info.hot and info.evictable and (best is None or info.max_step < best[0]):
                    best = (info.max_step, src, index)
        if best is None:
            return 0
        _step, src, index = best
        chunk = self.chunks[src][index]
        info = self.info[src][index]
        columns = coldtext.text_columns(chunk)
        self.chunks[src][index] = chunk.with_columns(
            [pl.lit(None, dtype=chunk.schema[c]).alias(c) for c in columns]
        )
        info.hot = False
        self._frame = None
        self.evictions += 1
        return info.text


@dataclass(eq=False, repr=False)
class _ChunkInfo:
    """What the budget needs to know about one chunk of rollouts."""

    rows: int
    size: int  # estimated bytes, text included
    text: int  # bytes of the columns that can move to disk
    max_step: int
    evictable: bool  # every row knows where its line is
    hot: bool = True

    @property
    def held(self) -> int:
        return self.size if self.hot else self.size - self.text

    @classmethod
    def of(cls, frame: pl.DataFrame) -> _ChunkInfo:
        evictable = "_offset" in frame.columns and frame.get_column("_offset").null_count() == 0
        columns = coldtext.text_columns(frame) if evictable else []
        text = 0
        if columns:  # estimated sizes: no pass over the text
            text = sum(int(frame.get_column(c).estimated_size()) for c in columns)
        size = int(frame.estimated_size())
        return cls(
            rows=frame.height,
            size=max(size, text),
            text=text,
            max_step=int(frame.get_column("step").max() or 0),
            evictable=evictable,
            # read with its text left on disk (a one-pass catch-up): nothing to evict
            hot=not (evictable and coldtext.text_is_on_disk(frame)),
        )


@dataclass(eq=False)
class Run:
    run_id: str
    name: str
    root: str
    metrics: MetricTable = field(default_factory=MetricTable)
    rollouts: RolloutTable = field(default_factory=RolloutTable)
    config: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    last_update: float | None = None
    #: configuration read from the run folder's config files (core/runconfig.py), and those files
    file_config: dict[str, Any] = field(default_factory=dict)
    config_sources: tuple[str, ...] = ()
    #: the name from the run's folder (``name`` may become the name a source gives the run)
    folder_name: str = ""

    def __post_init__(self) -> None:
        self.folder_name = self.folder_name or self.name


@dataclass(frozen=True, eq=False)
class RunSnapshot:
    """An immutable view of one run for readers."""

    run_id: str
    name: str
    root: str
    version: int
    metrics: pl.DataFrame  # step + one Float64 column per metric (logged and derived), by step
    text_metrics: dict[str, str]
    rollouts: pl.DataFrame
    sources: tuple[SourceInfo, ...]
    config: dict[str, Any]
    last_update: float | None
    #: changes of the logged metric columns: equal numbers mean equal logged columns (-1: unknown)
    logged_version: int = -1
    #: metric columns derived from rollouts (they change without ``logged_version`` changing)
    derived: frozenset[str] = frozenset()
    #: files the run's configuration (``config``) was read from
    config_sources: tuple[str, ...] = ()

    @property
    def metric_names(self) -> list[str]:
        """The logged and derived metrics (not ``step``, not W&B's wall-clock columns)."""
        return [c for c in self.metrics.columns if c != "step" and c not in WALL_TIME_KEYS]

    @property
    def last_step(self) -> int | None:
        if self.metrics.is_empty():
            return None
        return int(self.metrics.get_column("step").max())

    def series(self, name: str) -> tuple[list[int], list[float]]:
        """Steps and values of one metric, nulls left out (NaN kept: it is a finding)."""
        if name not in self.metrics.columns:
            return [], []
        part = self.metrics.select(pl.col("step"), named(name)).filter(named(name).is_not_null())
        return part.get_column("step").to_list(), part.get_column(name).to_list()

    def latest(self, name: str) -> float | None:
        _steps, values = self.series(name)
        return values[-1] if values else None


def _note_steps(info: SourceInfo, result: ParseResult, *, whole: bool) -> None:
    """Track the file's highest step, and count a restart when a reset file starts over."""
    steps: list[float] = [r["step"] for r in result.metrics if _finite_step(r)]
    lo = min(steps) if steps else None
    hi = max(steps) if steps else None
    mframe = result.metrics_frame
    if mframe is not None and mframe.height and "step" in mframe.columns:
        col = mframe.get_column("step")
        flo, fhi = col.min(), col.max()
        if flo is not None:
            lo = flo if lo is None else min(lo, flo)  # type: ignore[type-var]
            hi = fhi if hi is None else max(hi, fhi)  # type: ignore[type-var]
    frame = result.rollout_frame
    if lo is None and frame is not None and frame.height and "step" in frame.columns:
        lo, hi = frame.get_column("step").min(), frame.get_column("step").max()
    if lo is None or hi is None:
        return
    if info._awaiting_rows:
        info._awaiting_rows = False
        before = info._step_before_reset
        if before is not None and (not whole or hi < before):
            info.restarts += 1
            info.restart_step = int(lo)  # type: ignore[arg-type]
        info.max_step = int(hi)  # type: ignore[arg-type]
        return
    info.max_step = int(hi) if info.max_step is None else max(info.max_step, int(hi))  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class StoreSnapshot:
    version: int
    runs: tuple[RunSnapshot, ...]
    sources: tuple[SourceInfo, ...]
    unrecognized: tuple[tuple[str, str], ...]
    last_update: float | None

    @property
    def files_followed(self) -> int:
        return sum(1 for s in self.sources if s.status == "following")

    @property
    def lines_read(self) -> int:
        return sum(s.lines_read for s in self.sources)

    @property
    def lines_skipped(self) -> int:
        return sum(s.skipped for s in self.sources)

    def run(self, run_id: str) -> RunSnapshot | None:
        return next((r for r in self.runs if r.run_id == run_id), None)


class Store:
    """Thread-safe container of runs and sources."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.runs: dict[str, Run] = {}
        self.sources: dict[str, SourceInfo] = {}
        self._source_ids: dict[str, int] = {}
        self.unrecognized: dict[str, str] = {}
        self.version = 0
        self.last_update: float | None = None
        self._snap_cache: dict[str, tuple[tuple[int, int], RunSnapshot]] = {}

    # -- writing -----------------------------------------------------------------------------
    def add_run(self, run_id: str, name: str, root: str) -> None:
        with self._lock:
            if run_id not in self.runs:
                self.runs[run_id] = Run(run_id, name, root)
                self.version += 1

    def _rename(self, run: Run, display: str) -> bool:
        """Show ``run`` by the name its source gives it (a W&B display name) instead of its
        folder's: the folder's last part is replaced, the rest of the path kept; a name another
        run already has gets the folder's name after it."""
        head = run.folder_name.rpartition("/")[0]
        name = f"{head}/{display}" if head else display
        if any(r.name == name for r in self.runs.values() if r is not run):
            name = f"{name} ({run.folder_name.rpartition('/')[2]})"
        if name == run.name:
            return False
        run.name = name
        return True

    def add_source(self, info: SourceInfo) -> None:
        with self._lock:
            self.sources[info.path] = info
            self._source_ids.setdefault(info.path, len(self._source_ids))
            self.unrecognized.pop(info.path, None)
            self.version += 1

    def note_unrecognized(self, path: str, reason: str) -> None:
        with self._lock:
            if self.unrecognized.get(path) != reason:
                self.unrecognized[path] = reason
                self.version += 1

    def run_ids(self) -> list[str]:
        with self._lock:
            return list(self.runs)

    def touch(self) -> None:
        """Something readers show changed outside the runs (an object-store listing)."""
        with self._lock:
            self.version += 1

    def set_run_config(self, run_id: str, values: dict[str, Any], sources: tuple[str, ...]) -> None:
        """The configuration read from a run's config files (replaces what was read before)."""
        with self._lock:
            run = self.runs.get(run_id)
            if run is None or (run.file_config, run.config_sources) == (values, sources):
                return
            run.file_config, run.config_sources = dict(values), tuple(sources)
            run.version += 1
            self.version += 1

    def set_status(self, path: str, status: str, error: str | None = None) -> None:
        with self._lock:
            info = self.sources.get(path)
            if info and (info.status, info.error) != (status, error):
                info.status, info.error = status, error
                self.version += 1

    def apply(
        self,
        path: str,
        result: ParseResult,
        *,
        reset: bool = False,
        lines: int = 0,
        nbytes: int = 0,
        extra_skips: list[Skip] | None = None,
        whole: bool = False,
        older: bool = False,
    ) -> bool:
        """Add what a parser produced from ``path``. ``reset`` drops the file's earlier data.

        ``whole``: the file is read whole at each change (its reset is a new save, a restart only
        when its steps went back). ``older``: the rows come from an earlier part of the file
        than the rows read so far (its newest records were read first): for a step logged in
        both, the newer rows' values win, as in a read from the start."""
        with self._lock:
            info = self.sources[path]
            run = self.runs[info.run_id]
            src = self._source_ids[path]
            changed = False
            if reset:
                run.metrics.drop_source(src)
                run.rollouts.drop_source(src)
                info.rows = 0
                info.resets += 1
                if not info._awaiting_rows:
                    info._step_before_reset = info.max_step
                info._awaiting_rows = True
                changed = True
            _note_steps(info, result, whole=whole)
            skips = list(result.skips) + list(extra_skips or [])
            if result.metrics:
                clean = [r for r in result.metrics if _finite_step(r)]
                run.metrics.append(src, clean, older=older)
                info.rows += len(clean)
                changed = True
            mframe = result.metrics_frame
            if mframe is not None and mframe.height:
                run.metrics.append_frame(src, mframe, older=older)
                info.rows += mframe.height
                changed = True
            frame = result.rollout_frame
            if frame is not None and frame.height:
                run.rollouts.append(src, frame)
                info.rows += frame.height
                changed = True
            if result.config:
                run.config.update(result.config)
                changed = True
            if result.run_name and self._rename(run, result.run_name):
                changed = True
            for skip in skips:
                info.skip_reasons[skip.reason] += 1
                info.recent_skips.append(skip)
            info.skipped += len(skips)
            info.ignored += result.ignored
            info.ignore_reasons.update(result.ignored_reasons)
            unexplained = result.ignored - sum(result.ignored_reasons.values())
            if unexplained > 0:  # a reader that counted without a reason: say so, never hide it
                info.ignore_reasons["not classified by the reader"] += unexplained
            info.lines_read += lines
            info.bytes_read += nbytes
            if changed or skips or lines:
                now = time.time()
                info.last_update = now
                self.last_update = now
                if changed:
                    run.version += 1
                    run.last_update = now
                self.version += 1
            return changed

    def forget(self, path: str) -> None:
        """Drop the rows read from ``path`` so far (a preview of its newest lines, about to be
        replaced by the whole file); unlike a reset, the file did not change."""
        with self._lock:
            info = self.sources[path]
            run = self.runs[info.run_id]
            src = self._source_ids[path]
            run.metrics.drop_source(src)
            run.rollouts.drop_source(src)
            info.rows = 0
            run.version += 1
            self.version += 1

    # -- reading -----------------------------------------------------------------------------
    def snapshot(self) -> StoreSnapshot:
        with self._lock:
            runs = tuple(self._run_snapshot(run) for run in self.runs.values())
            return StoreSnapshot(
                version=self.version,
                runs=runs,
                sources=tuple(s.copy() for s in self.sources.values()),
                unrecognized=tuple(sorted(self.unrecognized.items())),
                last_update=self.last_update,
            )

    def _run_snapshot(self, run: Run) -> RunSnapshot:
        sources = tuple(s.copy() for s in self.sources.values() if s.run_id == run.run_id)
        cached = self._snap_cache.get(run.run_id)
        if cached and cached[0] == (run.version, run.rollouts.evictions):
            snap = cached[1]
            return RunSnapshot(**{**snap.__dict__, "sources": sources})
        metrics = run.metrics.frame()
        stats = run.rollouts.stats
        derived: frozenset[str] = frozenset()
        if stats is not None and not stats.is_empty():
            logged = [c for c in stats.columns if c != "step" and c not in metrics.columns]
            derived = frozenset(logged)
            if metrics.width <= 1 and metrics.is_empty():
                metrics = stats
                derived = frozenset(c for c in stats.columns if c != "step")
            else:
                metrics = _with_stats(metrics, stats.select("step", *logged))
        snap = RunSnapshot(
            run_id=run.run_id,
            name=run.name,
            root=run.root,
            version=run.version,
            metrics=metrics,
            text_metrics=dict(run.metrics.texts),
            rollouts=run.rollouts.frame(),
            sources=sources,
            config={**run.file_config, **run.config},
            last_update=run.last_update,
            logged_version=run.metrics.changes,
            derived=derived,
            config_sources=run.config_sources
            + tuple(
                s.path for s in sources if s.kind == "config" and s.path not in run.config_sources
            ),
        )
        self._snap_cache[run.run_id] = ((run.version, run.rollouts.evictions), snap)
        return snap


def _with_stats(metrics: pl.DataFrame, stats: pl.DataFrame) -> pl.DataFrame:
    """``metrics`` with the derived rollout columns, by step (a full join, sorted by step).

    This runs for every snapshot of a run that is being written to: when every step of the stats
    is already a (sorted) metrics step, only the few stat columns are aligned and added, instead
    of gathering all metric columns again.
    """
    steps = metrics.get_column("step")
    if steps.is_sorted() and stats.get_column("step").is_in(steps.implode()).all():
        aligned = metrics.select("step").join(stats, on="step", how="left", maintain_order="left")
        return metrics.hstack(aligned.drop("step").get_columns())
    return metrics.join(stats, on="step", how="full", coalesce=True).sort("step")


def _finite_step(row: MetricRow) -> bool:
    step = row.get("step")
    return isinstance(step, int) and not (isinstance(step, float) and math.isnan(step))
