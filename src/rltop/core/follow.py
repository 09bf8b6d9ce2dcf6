"""The follower: discovers sources, reads their new bytes, parses them and feeds the store.

Used the same way by the TUI (in a thread worker) and the headless commands (``read_all`` once, or
``run`` forever). It only ever opens files for reading.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rltop.core import coldtext, discover, runconfig, startup
from rltop.core.formats.base import Parser
from rltop.core.formats.console import TEXT_LOG_EXTS
from rltop.core.formats.registry import SNIFF_BYTES, Sniffed, sniff
from rltop.core.model import ParseResult, Skip
from rltop.core.store import SourceInfo, Store
from rltop.core.tail import CHUNK, FileTail, may_hold_long_line, open_regular

if TYPE_CHECKING:
    from rltop.core.objstore import ObjectSource


def object_urls(paths: list[str]) -> list[str]:
    """The object-store prefixes among ``paths`` (the object-store code is imported only when a
    path looks like a URL: a local ``check`` does without it)."""
    if not any("://" in p for p in paths):
        return []
    from rltop.core.objstore import is_url

    return [p for p in paths if is_url(p)]


log = logging.getLogger(__name__)

#: bytes read per call from a metrics file (a 10,000-step x 150-metric file is ~70 MB)
METRICS_CHUNK = 128 * 1024 * 1024
#: ... from a binary record stream (.wandb, tfevents): decoded in bulk holding the GIL, so in
#: pieces short enough for the UI to draw between them
RECORDS_CHUNK = 8 * 1024 * 1024
#: the first read of a metrics file: its first steps are on screen while the rest is read
FIRST_READ = 8 * 1024 * 1024
#: the end of a large metrics file read first (its newest steps), while the whole is read; a
#: record stream that can start mid-file (``Parser.resync``) reads this much of its end first.
#: Its decoding shares the interpreter with the UI's start-up, so it is kept to what the first
#: frame needs: 2 MB is the last ~130 steps of a 150-metric W&B run (~400 of tfevents), more than
#: the sparklines show
PREVIEW_BYTES = 2 * 1024 * 1024
#: the end of a large rollout file shown while the whole is read in one pass: the preview is
#: still held (on screen) during that read, so it is kept to a few screens of rows
ROLLOUT_PREVIEW_BYTES = 2 * 1024 * 1024
#: seconds the whole read of such a file waits for a screen to show those lines first
PREVIEW_HOLD = 1.5
#: a metrics file larger than this, read for a screen (``previews``), has its last
#: ``PREVIEW_BYTES`` read first (its newest steps), then the part before them, then its tail
NEWEST_FIRST_MIN = FIRST_READ
#: seconds between two reads of followed files while changes keep coming (watch mode)
STREAM_READ_GAP = 0.2
#: metrics files read at once while catching up (polars parses a block without the GIL: a
#: hundred runs' files are parsed side by side, one per core)
READ_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(eq=False, repr=False)
class OlderPart:
    """The part of a record stream before the point its reading began (its newest records were
    read first, ``Follower._newest_first``): read by a parser of its own up to ``end``, its rows
    placed before the newer ones in the store."""

    parser: Parser  # begun at 0; ``consumed`` is how far it got
    end: int  # where the newer part starts (a record boundary)
    waited: bool = False  # held for the screen to show the newest records first
    want: int = 0  # bytes for the next read (grows when a record is larger than a read)


#: a line starting with one of these (blank, or white space first) may make no row in polars
_BLANK_START = (b"\n", b"\r", b" ", b"\t")
#: bytes at the end of the part read first that must still be there once the part before it is
#: read (a file cut and written again as long or longer is another file)
_LAST_BYTES = 256


@dataclass(eq=False, repr=False)
class NewerLines:
    """The end of a metrics file, read first (``Follower._newest_lines``): the rows of its lines
    ``begin``..``stop`` (line boundaries) are in the store; the lines before ``begin`` are read
    next, the usual way, their rows placed before these (``Store.apply(older=True)``). What the
    end's lines gave besides rows (skips, ignored lines, the lines' count) waits for them in
    ``late``: its line numbers count from ``begin``, and come after the older part's."""

    begin: int
    stop: int
    lines: int  # newlines between begin and stop
    rows: int | None  # rows polars makes of those lines (None: some are blank, it skips them)
    late: ParseResult
    ino: int  # the file read: another one by then is a new file, read from its start
    last: bytes  # the end's last bytes: other bytes there by then, the file was written anew
    waited: bool = False  # held for the screen to show the newest steps first


@dataclass(eq=False)
class Followed:
    info: SourceInfo
    parser: Parser
    tail: FileTail
    chunk: int = CHUNK  # bytes per read once the first read is done
    start_size: int = 0  # the file's size when it was found (for the catch-up's progress)
    #: the newest lines of a large file, shown while it is read in one pass: None (not tried),
    #: True (in the store, to be replaced by the whole file), False (done or not possible)
    preview: bool | None = None
    #: a record stream whose end was read first: the part before, still to be read
    older: OlderPart | None = None
    #: a metrics file whose end was read first, while the part before it is read
    newer: NewerLines | None = None
    newest_tried: bool = False

    def read_bytes(self) -> int:
        """Bytes of the file read so far."""
        if self.parser.mode == "records":
            older = self.older
            if older is not None:
                return self.parser.consumed - (older.end - older.parser.consumed)
            return self.parser.consumed
        if self.parser.mode == "whole":
            return self.tail.size if self.tail.ino is not None else 0
        newer = self.newer
        return self.tail.offset + (newer.stop - newer.begin if newer is not None else 0)

    def reading_older(self) -> bool:
        """Whether the newest part was read first and the part before it is being read."""
        return self.older is not None or self.newer is not None


@dataclass(eq=False, repr=False)
class Taken:
    """One read of a source, parsed and not yet in the store (``Follower._take``)."""

    status: str  # "following", "error" or "ended"
    error: str | None = None
    result: ParseResult | None = None  # None: nothing new to add
    reset: bool = False
    lines: int = 0
    nbytes: int = 0
    skips: list[Skip] = field(default_factory=list)
    whole: bool = False
    more: bool = False
    caught: bool = False  # a parser's one-pass catch-up
    older: bool = False  # rows of the part before a file's end that was read first
    #: the end's skips and lines (``NewerLines.late``), applied after these rows
    late: ParseResult | None = None
    late_lines: int = 0


_DONE = object()


class ReadAhead:
    """Sources read and parsed in worker threads, their blocks put into the store by the
    caller's thread in the order the sources were given (each source's blocks in file order):
    the store goes through the same changes, in the same order, as reading one source after
    another; only the waiting for the parser overlaps. Used for metrics files in line mode (their
    parse is polars without the GIL); anything else is read the usual way."""

    def __init__(self, follower: Follower, stop: threading.Event | None = None) -> None:
        self.follower = follower
        self.stop = stop
        self._halt = threading.Event()  # after an error: no more blocks
        self._pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="rltop-read")
        self._pending: deque[tuple[Followed, queue.SimpleQueue, Callable[[], None] | None]] = (
            deque()
        )

    @staticmethod
    def suits(followed: Followed) -> bool:
        return followed.info.kind == "metrics" and followed.parser.mode == "lines"

    def submit(
        self, followed: Followed, *, once: bool = False, done: Callable[[], None] | None = None
    ) -> None:
        """Read ``followed`` (one block with ``once``, else until nothing more is waiting);
        ``done`` is called in the caller's thread once all of it is in the store."""
        out: queue.SimpleQueue = queue.SimpleQueue()
        self._pending.append((followed, out, done))
        self._pool.submit(self._work, followed, out, once)

    def _work(self, followed: Followed, out: queue.SimpleQueue, once: bool) -> None:
        try:
            while not self._stopped():
                taken = self.follower._take(followed)
                out.put(taken)
                if once or not taken.more:
                    break
        except BaseException as exc:  # handed to the caller's thread, raised there in order
            out.put(exc)
        finally:
            out.put(_DONE)

    def put_ready(
        self, on_progress: Callable[[], None] | None = None, *, wait: bool = True
    ) -> None:
        """Put what was read into the store, in order; with ``wait``, until every source given
        so far is done (or ``stop`` is set), else only what is already there."""
        pending = self._pending
        while pending and not self._stopped():
            followed, out, done = pending[0]
            if not wait and out.empty():
                return
            item = out.get()
            if item is _DONE:
                pending.popleft()
                if done is not None:
                    done()
                continue
            if isinstance(item, BaseException):
                pending.popleft()
                raise item
            did, _more = self.follower._put(followed, item)
            if did and on_progress:
                on_progress()

    def close(self) -> None:
        """Stop: sources not started are not read; reads under way finish, unapplied (the
        follower is stopping), or, after an error, are put into the store."""
        failed = not self._stopped() and bool(self._pending)
        self._halt.set()  # no new blocks; after an error, the ones read are kept below
        self._pool.shutdown(wait=True, cancel_futures=True)
        while failed and self._pending:
            followed, out, _done = self._pending.popleft()
            while not out.empty():
                item = out.get()
                if isinstance(item, Taken):
                    try:
                        self.follower._put(followed, item)
                    except Exception:
                        log.exception("reading %s failed", followed.info.path)

    def _stopped(self) -> bool:
        return self._halt.is_set() or (self.stop is not None and self.stop.is_set())

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _lines_at_end(fd: int, size: int, nbytes: int) -> tuple[int, bytes] | None:
    """The complete lines in the last ``nbytes`` of the open file ``fd`` (``size`` bytes long):
    where they start, and their bytes. A line cut by the window's start is left out, and so is
    a line still being written (the tail's, later); None when no whole line is there."""
    start = max(0, size - nbytes - 1)  # the byte before the window: does a line start at once?
    data = os.pread(fd, size - start, start)
    cut = 0
    if start:
        cut = data.find(b"\n") + 1
        if not cut:
            return None
    end = data.rfind(b"\n") + 1
    if end <= cut:
        return None
    return start + cut, data[cut:end]


class Follower:
    """Finds and follows every source under ``paths``."""

    def __init__(
        self,
        paths: list[str],
        store: Store | None = None,
        *,
        rescan_interval: float = 5.0,
        poll_interval: float = 0.25,
        force_polling: bool | None = None,
        max_line: int | None = None,
        list_interval: float = 5.0,
        previews: bool = False,
    ) -> None:
        startup.settled()  # the reading starts: start-up is over (core/startup.py)
        #: show the newest lines of a large rollout file while it is read whole, and read a
        #: metrics file's first ``FIRST_READ`` bytes before the rest (a screen shows them; a
        #: headless ``check`` only wants the whole, read in as few blocks as it can)
        self.previews = previews
        #: set by a screen once it shows data: the one-pass reads of large files wait for it
        self.first_frame_shown = threading.Event()
        #: object-store prefixes (``s3://...``), each mirrored into a local folder that is then
        #: followed like any other (core/objstore.py says why)
        urls = object_urls(paths)
        self.objects: list[ObjectSource] = []
        if urls:
            from rltop.core.objstore import ObjectSource

            self.objects = [ObjectSource(p) for p in urls]
        # links resolved (``wandb/latest-run``): a run reached twice is one run
        local = [discover.resolve_path(p) for p in paths if p not in urls]
        if not paths:
            local = [discover.resolve_path(".")]
        self.paths = list(dict.fromkeys(local + [o.root for o in self.objects]))
        #: seconds between two listings of each object-store prefix
        self.list_interval = list_interval
        self._last_listing = 0.0
        #: why the last listing failed (wrong credentials, missing bucket), None when it worked
        self.listing_error: str | None = None
        self.store = store or Store()
        self.rescan_interval = rescan_interval
        self.poll_interval = poll_interval
        self.force_polling = (
            force_polling
            if force_polling is not None
            else os.environ.get("RLTOP_POLL", "").strip().lower() in ("1", "true", "yes", "on")
        )
        self.max_line = max_line
        self.followed: dict[str, Followed] = {}
        self._unrecognized_size: dict[str, int] = {}
        self._last_scan = 0.0
        self._last_read = 0.0
        self.missing_paths = [p for p in self.paths if not os.path.exists(p)]
        self.watch_mode = "not started" if not self.objects else "not listed yet"
        self._fresh: set[str] = set()  # sources added since the last read pass
        #: store version once the files present at start were read (None: still catching up)
        self.caught_up_version: int | None = None
        self._preload: threading.Thread | None = None
        self._preload_stop = threading.Event()
        self._listener: Callable[[], None] | None = None
        self._config_seen: dict[str, tuple] = {}  # run folder -> its config files' (size, mtime)
        #: folder -> its files that each hold a whole run (``Parser.whole_run``)
        self._whole_runs: dict[str, set[str]] = {}

    # -- discovery ---------------------------------------------------------------------------
    def scan(self) -> int:
        """Look for new files; returns how many new sources were added."""
        self._last_scan = time.monotonic()
        if self.objects and time.monotonic() - self._last_listing >= self.list_interval:
            self.sync_objects()
        added = 0
        for path in discover.walk([p for p in self.paths if os.path.exists(p)]):
            if path in self.followed:
                continue
            if self._consider(path):
                added += 1
        self.refresh_configs()
        return added

    def refresh_configs(self) -> None:
        """Read the config files of runs whose config files are new or changed (a stat each)."""
        for run_id in self.store.run_ids():
            seen = runconfig.fingerprint(run_id)
            if self._config_seen.get(run_id) == seen:
                continue
            self._config_seen[run_id] = seen
            found = runconfig.read_run_config(run_id)
            self.store.set_run_config(run_id, found.values, found.sources)

    def _consider(self, path: str, only_kind: str | None = None) -> bool:
        """Sniff ``path`` and follow it when recognised. With ``only_kind``, a file of another kind
        is left for the usual pass (nothing noted): an object that has just arrived may be read
        at once only when what it is does not depend on siblings still being fetched (a W&B
        run's metadata file means "no log" only once the whole folder is there)."""
        try:
            size = os.path.getsize(path)
        except OSError:
            return False
        if self._unrecognized_size.get(path) == size:
            return False  # unchanged since we last said no
        try:
            with open_regular(path) as fh:
                head = fh.read(SNIFF_BYTES)
                if size > SNIFF_BYTES and path.lower().endswith(TEXT_LOG_EXTS):
                    # console logs may start with pages of other output: look at the end too
                    fh.seek(max(SNIFF_BYTES, size - SNIFF_BYTES))
                    head += b"\n" + fh.read(SNIFF_BYTES)
        except OSError as exc:
            self.store.note_unrecognized(path, f"cannot read: {exc.strerror or exc}")
            self._unrecognized_size[path] = size
            return False
        found: Sniffed = sniff(path, head)
        if only_kind is not None and (found.parser is None or found.parser.kind != only_kind):
            return False
        if found.parser is None:
            self.store.note_unrecognized(path, found.reason)
            self._unrecognized_size[path] = size
            return False
        self._unrecognized_size.pop(path, None)
        self._add(path, found.parser(path), size)
        return True

    def _add(self, path: str, parser: Parser, size: int = 0) -> None:
        key = discover.run_of(path, self.paths)
        if parser.whole_run and len(self._whole_run_files(path)) > 1:
            key = discover.file_run(path, key)
        self.store.add_run(key.run_id, key.name, key.root)
        info = SourceInfo(path=path, format=parser.format, kind=parser.kind, run_id=key.run_id)
        self.store.add_source(info)
        # metric files are read in larger steps: their rows are small and each step of a catch-up
        # is a dashboard redraw; rollout files keep 32 MB steps so metrics show up between them
        chunk = METRICS_CHUNK if parser.kind == "metrics" else CHUNK
        if parser.mode == "records":
            chunk = RECORDS_CHUNK
        # a small first read: the file's first steps are on screen at once, the rest follows
        first = min(chunk, FIRST_READ) if parser.kind == "metrics" and self.previews else chunk
        # a very long rollout line is not held: the parser reads it from disk in windows
        cold = parser.COLD_LINE if getattr(parser, "cold_lines", False) else None
        if self.max_line is None:
            tail = FileTail(path, chunk=first, cold_line=cold)
        else:
            tail = FileTail(path, max_line=self.max_line, chunk=first, cold_line=cold)
        self.followed[path] = Followed(info, parser, tail, chunk, size)
        self._fresh.add(path)

    # -- object stores -----------------------------------------------------------------------
    def sync_objects(self) -> set[str]:
        """List every object-store prefix and update the local copies; returns the paths written.

        Never raises: a prefix that cannot be listed sets ``listing_error`` (``read_all`` raises
        it for the headless commands), an object that cannot be read is a problem of its source.
        """
        self._last_listing = time.monotonic()
        changed: set[str] = set()
        errors: list[str] = []
        notes: list[str] = []
        # metrics objects are read as they arrive, beside the fetches still under way
        ahead = ReadAhead(self) if READ_THREADS > 1 else None
        try:
            for source in self.objects:
                from rltop.core.objstore import ObjectStoreError  # there are object stores

                try:
                    result = source.sync(on_fetched=lambda p: self._read_new_object(p, ahead))
                except ObjectStoreError as exc:
                    errors.append(str(exc))
                    continue
                changed.update(result.changed)
                notes.append(source.status())
                for path, reason in result.problems.items():
                    if path in self.followed:
                        self.store.set_status(path, "error", reason)
                    else:
                        self.store.note_unrecognized(path, f"cannot read: {reason}")
            if ahead is not None:
                ahead.put_ready()
        finally:
            if ahead is not None:
                ahead.close()
        self.listing_error = "; ".join(errors) or None
        self.watch_mode = "; ".join(errors + notes)
        self.store.touch()  # the status line says when the last listing was
        return changed

    def _read_new_object(self, path: str, ahead: ReadAhead | None = None) -> None:
        """A metrics object seen for the first time is read at once, while the next objects are
        still being fetched (the rest is read by the usual pass over changed files); with
        ``ahead``, in its worker threads, this thread going on with the fetches."""
        if (
            path in self.followed
            or not self._walkable(path)
            or not self._consider(path, only_kind="metrics")
        ):
            return
        followed = self.followed[path]

        def done() -> None:
            self._fresh.discard(path)
            self._preload_progress()

        if ahead is not None and ReadAhead.suits(followed):
            ahead.submit(followed, done=done)
            ahead.put_ready(wait=False)
            return
        while True:
            _did, more = self.read_source(followed)
            if not more:
                break
        done()

    def _walkable(self, path: str) -> bool:
        """Whether walking the folder would find ``path`` (no hidden or ignored folder on the way)."""
        root = next((r for r in self.paths if path.startswith(r.rstrip(os.sep) + os.sep)), None)
        if root is None:
            return False
        parts = os.path.relpath(path, root).split(os.sep)
        return discover.is_candidate(parts[-1]) and not any(
            p in discover.IGNORED_DIRS
            or (p.startswith(".") and p not in discover.HIDDEN_DIRS_FOLLOWED)
            for p in parts[:-1]
        )

    def where(self, path: str) -> str:
        """What users call a path: the object URL for a local copy of an object, else the path."""
        for source in self.objects:
            url = source.url_of(path)
            if url is not None:
                return url
        return path

    def _whole_run_files(self, path: str) -> set[str]:
        """The files beside ``path`` (itself included) that each hold a whole run."""
        folder = os.path.dirname(path)
        known = self._whole_runs.get(folder)
        if known is not None and path in known:
            return known
        found = {path}
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        for name in names:
            other = os.path.join(folder, name)
            if other == path or not discover.is_candidate(name) or not os.path.isfile(other):
                continue
            try:
                with open(other, "rb") as fh:
                    head = fh.read(SNIFF_BYTES)
            except OSError:
                continue
            parser = sniff(other, head).parser
            if parser is not None and parser.whole_run:
                found.add(other)
        self._whole_runs[folder] = found
        return found

    def reading_older(self) -> bool:
        """Whether a file's newest part was read first and the part before it is being read."""
        return any(f.reading_older() for f in list(self.followed.values()))

    def progress(self) -> tuple[int, int]:
        """(bytes read, bytes to read) of the files found so far: the catch-up's progress."""
        done = total = 0
        for followed in list(self.followed.values()):
            size = max(followed.start_size, followed.tail.size)
            total += size
            done += min(size, followed.read_bytes())
        return done, total

    # -- reading -----------------------------------------------------------------------------
    def read_source(self, followed: Followed) -> tuple[bool, bool]:
        """Read what is new in one source. Returns (store changed, more bytes waiting)."""
        parser, tail, path = followed.parser, followed.tail, followed.info.path
        if parser.mode == "records" and followed.preview is None:
            followed.preview = False
            if self.previews and self._newest_first(followed):
                return True, True
        if followed.older is not None:
            return self._read_older(followed)
        if parser.mode == "lines" and tail.ino is None:
            if followed.preview is None:
                followed.preview = self.previews and self._preview(followed)
                if followed.preview:
                    return True, True
            if followed.preview:
                # the screen shows the newest lines before the whole file takes both cores (at
                # most PREVIEW_HOLD: a headless reader or a slow screen does not hold it up)
                self.first_frame_shown.wait(PREVIEW_HOLD)
                # the whole file replaces its newest lines (read block by block or in one pass)
                followed.preview = False
                self.store.forget(path)
        return self._put(followed, self._take(followed))

    def _take(self, followed: Followed) -> Taken:
        """Read and parse the next block of one source, leaving the store alone (``_put`` adds
        it): the part of a read that may run beside other sources' (``ReadAhead``)."""
        parser, tail = followed.parser, followed.tail
        if parser.mode == "lines" and tail.ino is None:
            if not followed.newest_tried and self.previews and parser.kind == "metrics":
                followed.newest_tried = True
                newest = self._newest_lines(followed)
                if newest is not None:
                    return newest
            caught = self._catch_up(followed)
            if caught is not None:
                return caught
        newer = followed.newer
        if newer is not None and not newer.waited:
            # the screen shows the newest steps before the rest takes the cores (at most
            # PREVIEW_HOLD: a slow screen does not hold it up)
            self.first_frame_shown.wait(PREVIEW_HOLD)
            newer.waited = True
            caught = self._catch_up_before(followed, newer)
            if caught is not None:
                return caught
        got_from = parser.consumed
        if parser.mode == "whole":
            got = tail.read_whole()
        elif parser.mode == "records":
            got = tail.read_records(got_from)
        else:
            got = tail.read_lines()
        tail.chunk = followed.chunk  # after a small first read, the usual reads
        if got.error:
            return Taken("error", error=got.error)
        if got.ended:
            return Taken("ended")
        if got.reset and parser.mode != "whole":
            parser.reset()
        if got.reset and newer is not None:
            # another file, or a shorter one: its end read first is dropped with the rest
            followed.newer = newer = None
        if not got.block and not got.reset and not got.skips and got.cold is None:
            return Taken("following", more=got.more)
        try:
            if parser.mode == "whole":
                result = parser.parse_whole(got.block)
            elif got.cold is not None:
                result = parser.feed_cold(*got.cold)  # type: ignore[attr-defined]
                if got.block:
                    parser.offset = got.offset  # type: ignore[attr-defined]
                    result.extend(parser.feed(got.block, got.first_line))
            else:
                result = parser.feed(got.block, got.first_line)
        except Exception as exc:  # a parser bug must not stop the follower: report and go on
            log.exception("parser %s failed on %s", parser.format, followed.info.path)
            result = ParseResult(
                skips=[Skip(f"parser error: {type(exc).__name__}: {exc}"[:120], got.first_line)]
            )
        if parser.mode == "records" and got.more and not got.reset and parser.consumed <= got_from:
            tail.chunk = 2 * max(len(got.block), 1)  # a record longer than one read: read more
        lines = got.lines + (got.cold is not None) if parser.mode == "lines" else 0
        reset = got.reset
        if parser.mode == "whole" and not (result.metrics or result.rollout_frame is not None):
            # a whole-file source caught mid-save: keep what it gave before, try again next change
            reset = False
        taken = Taken(
            "following",
            result=result,
            reset=reset,
            lines=lines,
            nbytes=len(got.block),
            skips=got.skips,
            whole=parser.mode == "whole",
            more=got.more,
            older=newer is not None,
        )
        if newer is not None and (tail.read_to() >= newer.begin or not got.more):
            # read up to the end read first (or the file is now shorter than that)
            self._after_older_lines(followed, taken)
        return taken

    def _newest_lines(self, followed: Followed) -> Taken | None:
        """The end of a large metrics file read first (``previews``): the rows of its last
        ``PREVIEW_BYTES`` of complete lines are on screen at once, newest steps first; the part
        before them is read next, then the file is followed from where this read stopped
        (``_after_older_lines``). None (read from the start) when the file is small or its end
        holds no complete line, or a line the tail would pass over as too long."""
        parser, tail, path = followed.parser, followed.tail, followed.info.path
        try:
            with open_regular(path) as fh:
                st = os.fstat(fh.fileno())
                if st.st_size <= max(NEWEST_FIRST_MIN, PREVIEW_BYTES, 1):
                    return None
                at_end = _lines_at_end(fh.fileno(), st.st_size, PREVIEW_BYTES)
        except OSError:
            return None
        if at_end is None:
            return None
        begin, block = at_end
        limit = tail.max_line
        if limit and len(block) > limit and may_hold_long_line(block, limit):
            return None  # the tail skips such a line with a note: read the usual way
        try:
            result = parser.feed(block, 1)
        except Exception:  # the usual read from the start says what is wrong
            log.debug("reading the end of %s first failed", path, exc_info=True)
            return None
        late = ParseResult(
            skips=result.skips,
            ignored=result.ignored,
            ignored_reasons=result.ignored_reasons,
            config=result.config,
            run_name=result.run_name,
        )
        rows = ParseResult(metrics=result.metrics, metrics_frame=result.metrics_frame)
        stop = begin + len(block)
        lines = block.count(b"\n")
        blank = block.startswith(_BLANK_START) or any(b"\n" + c in block for c in _BLANK_START)
        followed.newer = NewerLines(
            begin, stop, lines, None if blank else lines, late, st.st_ino, block[-_LAST_BYTES:]
        )
        tail.ino, tail.limit, tail.chunk = st.st_ino, begin, followed.chunk
        return Taken("following", result=rows, nbytes=stop - begin, more=True)

    def _one_pass_limits(self, followed: Followed) -> None:
        """What a one-pass read (``Parser.catch_up``, ``catch_up_before``) must keep to: the
        tail's longest line, the file size whose mapping fits the memory budget, and, for a
        screen, a read in blocks rather than the file mapped whole (``Parser.map_whole``)."""
        followed.parser.max_line = followed.tail.max_line
        followed.parser.map_limit = coldtext.map_limit()
        followed.parser.map_whole = not self.previews

    def _catch_up_before(self, followed: Followed, newer: NewerLines) -> Taken | None:
        """The part before a metrics file's end (read first) in one pass, when its parser can
        (``Parser.catch_up_before``); None: block by block."""
        parser, tail, path = followed.parser, followed.tail, followed.info.path
        self._one_pass_limits(followed)
        after = (newer.stop, newer.rows) if newer.rows is not None else None
        try:
            caught = parser.catch_up_before(newer.begin, after)
        except Exception:  # the block-by-block read says what is wrong
            log.debug("one-pass read of the part before the end of %s failed", path, exc_info=True)
            caught = None
        if caught is None or caught.consumed != newer.begin:
            parser.reset()
            return None
        tail.offset, tail.line = caught.consumed, 1 + caught.lines
        taken = Taken(
            "following",
            result=caught.result,
            lines=caught.lines,
            nbytes=caught.consumed,
            caught=True,
            older=True,
        )
        self._after_older_lines(followed, taken)
        return taken

    def _after_older_lines(self, followed: Followed, taken: Taken) -> None:
        """The part before a metrics file's end (read first) is read: the end's skips and lines
        come after its own, and the tail goes on after the end; a file that is no longer the
        one whose end was read is read again from its start."""
        newer, tail = followed.newer, followed.tail
        assert newer is not None
        followed.newer = None
        older_lines = tail.line - 1
        try:
            with open_regular(followed.info.path) as fh:
                st = os.fstat(fh.fileno())
                at = newer.stop - len(newer.last)
                same = (
                    tail.offset == newer.begin  # else no line ends there now
                    and st.st_ino == newer.ino
                    and st.st_size >= newer.stop
                    and os.pread(fh.fileno(), len(newer.last), at) == newer.last
                )
        except OSError:
            same = False
        if not same:
            tail._restart()
            tail.ino = None
            taken.result, taken.reset, taken.older, taken.more = ParseResult(), True, False, True
            taken.lines = taken.nbytes = 0
            taken.skips = []
            return
        late = newer.late
        late.skips = [
            s if s.line is None else s._replace(line=s.line + older_lines) for s in late.skips
        ]
        tail.skip_to(newer.stop, older_lines + newer.lines)
        taken.late, taken.late_lines = late, newer.lines
        taken.more = tail.size > newer.stop

    def _put(self, followed: Followed, taken: Taken) -> tuple[bool, bool]:
        """What ``_take`` read, into the store. Returns (store changed, more bytes waiting)."""
        path = followed.info.path
        if taken.status != "following":
            self.store.set_status(path, taken.status, taken.error)
            return False, False
        self.store.set_status(path, "following")
        result = taken.result
        if result is None:
            return False, taken.more
        changed = self.store.apply(
            path,
            result,
            reset=taken.reset,
            lines=taken.lines,
            nbytes=taken.nbytes,
            extra_skips=taken.skips,
            whole=taken.whole,
            older=taken.older,
        )
        if taken.late is not None:
            changed |= self.store.apply(path, taken.late, lines=taken.late_lines)
            changed |= bool(taken.late.skips)
        if taken.caught:
            return changed, taken.more
        return changed or bool(result.skips or taken.skips), taken.more

    def _preview(self, followed: Followed) -> bool:
        """The newest lines of a large rollout file that its parser reads in one pass
        (``Parser.catch_up``): on screen at once, newest steps first, while the whole file is
        read (as toolong shows a file's end). Returns whether rows were put in the store."""
        parser, path = followed.parser, followed.info.path
        least = getattr(parser, "CATCH_UP_MIN_BYTES", None)
        if (
            parser.kind != "rollouts"
            or least is None
            or type(parser).catch_up is Parser.catch_up
            or not hasattr(parser, "offset")
        ):
            return False
        try:
            with open_regular(path) as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < least:
                    return False
                at_end = _lines_at_end(fh.fileno(), size, ROLLOUT_PREVIEW_BYTES)
        except OSError:
            return False
        if at_end is None:
            return False
        try:
            parser.offset, block = at_end  # rows know where their lines are
            result = parser.feed(block, 1)
        except Exception:  # the careful read from the start says what is wrong
            log.debug("preview of %s failed", path, exc_info=True)
            return False
        finally:
            parser.reset()
        if result.rollout_frame is None or result.rollout_frame.is_empty():
            return False
        # the lines are counted (and their problems noted) once, by the read of the whole file
        preview = ParseResult(rollout_frame=result.rollout_frame)
        self.store.set_status(path, "following")
        return self.store.apply(path, preview)

    def _newest_first(self, followed: Followed) -> bool:
        """The end of a large record stream whose parser can start mid-file (``Parser.resync``),
        read first: its newest steps are on screen at once; the part before is read next
        (``_read_older``), then the stream is followed from where this read stopped. Returns
        whether it was read this way."""
        parser, tail, path = followed.parser, followed.tail, followed.info.path
        align = parser.RESYNC_ALIGN
        if not align:
            return False
        try:
            size = os.path.getsize(path)
        except OSError:
            return False
        if size <= max(tail.chunk, PREVIEW_BYTES):  # the first read takes it all anyway
            return False
        start = (size - PREVIEW_BYTES) // align * align
        got = tail.read_at(start, size - start)
        if not got.block:
            return False
        try:
            begin = parser.resync(got.block, start)
            if begin is None or begin <= 0:
                return False
            parser.begin_at(begin)
            result = parser.feed(got.block[begin - start :], 1)
        except Exception:  # the usual read from the start says what is wrong
            log.debug("reading the end of %s first failed", path, exc_info=True)
            parser.reset()
            return False
        followed.older = OlderPart(type(parser)(path), begin, want=followed.chunk)
        self.store.set_status(path, "following")
        self.store.apply(path, result, nbytes=parser.consumed - begin)
        return True

    def _read_older(self, followed: Followed) -> tuple[bool, bool]:
        """One read of the part of a record stream before its newest records (read first)."""
        older, path = followed.older, followed.info.path
        assert older is not None
        if not older.waited:
            # the screen shows the newest records before the rest takes the cores (at most
            # PREVIEW_HOLD: a headless reader or a slow screen does not hold it up)
            self.first_frame_shown.wait(PREVIEW_HOLD)
            older.waited = True
        pos = older.parser.consumed
        got = followed.tail.read_at(pos, min(older.want, older.end - pos))
        if got.reset or got.ended or got.error or not got.block:
            # rewritten, truncated or gone: the usual read says so (and starts again)
            followed.older = None
            late = followed.parser.older_read(older.parser)  # what it held back, if it goes on
            return (not got.reset and self.store.apply(path, late)), True
        try:
            result = older.parser.feed(got.block, 1)
        except Exception as exc:  # as in read_source: report, and read on from the newer part
            log.exception("parser %s failed on %s", older.parser.format, path)
            result = ParseResult(skips=[Skip(f"parser error: {type(exc).__name__}: {exc}"[:120])])
            older.parser.consumed = older.end
        used = older.parser.consumed - pos
        # a record longer than one read: read more at once
        older.want = followed.chunk if used > 0 else 2 * max(len(got.block), 1)
        changed = self.store.apply(path, result, nbytes=max(0, used), older=True)
        if older.parser.consumed >= older.end:
            followed.older = None
            late = followed.parser.older_read(older.parser)
            changed |= self.store.apply(path, late)
        return changed or bool(result.skips), True

    def _catch_up(self, followed: Followed) -> Taken | None:
        """The first read of a file, in one pass when its parser can (``Parser.catch_up``)."""
        parser, tail, path = followed.parser, followed.tail, followed.info.path
        if self.previews and parser.kind == "metrics":
            # a screen shows a large file's newest steps at once (``_newest_lines``), a small
            # one's first FIRST_READ bytes; the rest follows block by block
            return None
        self._one_pass_limits(followed)
        try:
            caught = parser.catch_up()
            if caught is None:
                return None
            tail.skip_to(caught.consumed, caught.lines)
        except Exception:  # e.g. the file vanished: the block-by-block read says what happened
            log.debug("one-pass read of %s failed", path, exc_info=True)
            parser.reset()
            return None
        return Taken(
            "following",
            result=caught.result,
            lines=caught.lines,
            nbytes=caught.consumed,
            more=tail.size > caught.consumed,
            caught=True,
        )

    def poll_once(self, paths: list[str] | None = None) -> bool:
        """One pass over (some) sources, metrics first. Returns whether the store changed."""
        changed = False
        targets = [self.followed[p] for p in (paths or list(self.followed)) if p in self.followed]
        targets.sort(key=lambda f: (f.info.kind != "metrics", f.info.path))
        for followed in targets:
            did, _more = self.read_source(followed)
            changed |= did
        return changed

    def pending(self) -> list[str]:
        """Sources with bytes not read yet (cheap stat)."""
        return [p for p, f in self.followed.items() if f.tail.changed_on_disk()]

    def read_all(self, on_progress: Callable[[], None] | None = None) -> None:
        """Discover and read everything there is now (the headless ``check`` path).

        Raises ``ObjectStoreError`` when an object-store prefix cannot be listed.
        """
        self.scan()
        if self.listing_error:
            from rltop.core.objstore import ObjectStoreError  # only object stores fail to list

            raise ObjectStoreError(self.listing_error)
        self._drain(on_progress)

    def _drain(
        self,
        on_progress: Callable[[], None] | None = None,
        stop: threading.Event | None = None,
        *,
        starting: bool = False,
    ) -> None:
        ordered = sorted(
            self.followed.values(), key=lambda f: (f.info.kind != "metrics", f.info.path)
        )
        if starting:
            # while the UI starts: the first (small) read of every metrics file, so the first
            # frame has data from each; binary record streams (decoded holding the GIL, which
            # would hold up the UI's start) wait for ``run``, the rest is read now
            firsts = [f for f in ordered if f.info.kind == "metrics"]
            if not self._read_each(firsts, on_progress, stop, once=True):
                return
            ordered = [f for f in ordered if f.parser.mode != "records"]
        # metrics first, each source until it has nothing more; progress after each chunk
        self._read_each(ordered, on_progress, stop)

    def _read_each(
        self,
        sources: list[Followed],
        on_progress: Callable[[], None] | None,
        stop: threading.Event | None,
        *,
        once: bool = False,
    ) -> bool:
        """Each source until it has nothing more (``once``: one block each), in this order;
        several metrics files are read side by side (``ReadAhead``). False when stopped."""
        ahead = None
        if READ_THREADS > 1 and sum(1 for f in sources if ReadAhead.suits(f)) > 1:
            ahead = ReadAhead(self, stop)
        try:
            for followed in sources:
                if stop is not None and stop.is_set():
                    return False
                if ahead is not None:
                    if ReadAhead.suits(followed):
                        ahead.submit(followed, once=once)
                        continue
                    ahead.put_ready(on_progress)  # the sources before this one come first
                while True:
                    if stop is not None and stop.is_set():
                        return False
                    did, more = self.read_source(followed)
                    if did and on_progress:
                        on_progress()
                    if once or not more:
                        break
            if ahead is not None:
                ahead.put_ready(on_progress)
        finally:
            if ahead is not None:
                ahead.close()
        return stop is None or not stop.is_set()

    # -- following ---------------------------------------------------------------------------
    def preload(self) -> None:
        """Start reading what is there now in a thread, while the UI is still starting up.

        ``run`` waits for it (and passes its progress on), so the first frame can show the
        files already read instead of starting to read them once the screen is up.
        """
        if self._preload is not None:
            return

        def work() -> None:
            try:
                self.scan()
                self._fresh.clear()
                self._drain(self._preload_progress, self._preload_stop, starting=True)
            except Exception:  # run() reads again what is missing; never crash the UI's start
                log.exception("reading the sources failed")

        self._preload = threading.Thread(target=work, name="rltop-preload", daemon=True)
        self._preload.start()

    def _preload_progress(self) -> None:
        listener = self._listener
        if listener is not None:
            listener()

    def _join_preload(self, stop: threading.Event, on_change: Callable[[], None]) -> None:
        preload = self._preload
        if preload is None:
            return
        self._listener = on_change
        on_change()  # what the preload has read so far
        while preload.is_alive():
            if stop.is_set():
                self._preload_stop.set()
            preload.join(0.05)
        self._listener = None

    def run(self, stop: threading.Event, on_change: Callable[[], None]) -> None:
        """Follow until ``stop`` is set, calling ``on_change`` after each store change."""
        self._join_preload(stop, on_change)
        if stop.is_set():
            return
        self.scan()
        self._fresh.clear()
        on_change()
        self._drain(on_change, stop)
        # everything on disk at start-up is read: store versions up to here are the catch-up
        self.caught_up_version = self.store.version
        on_change()
        if stop.is_set():
            return
        if not self.force_polling and not self.objects:
            try:
                self._watch(stop, on_change)
                return
            except Exception as exc:  # inotify limits, unsupported filesystems: poll instead
                log.warning("file watching unavailable (%s); polling instead", exc)
        self._poll_loop(stop, on_change)

    def _watch(self, stop: threading.Event, on_change: Callable[[], None]) -> None:
        import watchfiles

        roots = [
            p if os.path.isdir(p) else os.path.dirname(p) for p in self.paths if os.path.exists(p)
        ]
        if not roots:
            self._poll_loop(stop, on_change)
            return
        self.watch_mode = "watchfiles"
        # the default 1.6 s debounce is far too slow for a live monitor
        for changes in watchfiles.watch(
            *roots,
            watch_filter=None,
            debounce=50,
            step=20,
            stop_event=stop,
            rust_timeout=1000,
            yield_on_timeout=True,
            raise_interrupt=False,
            ignore_permission_denied=True,
        ):
            if stop.is_set():
                return
            touched: set[str] = set()
            rescan = False
            for _change, path in changes:
                if path in self.followed:
                    touched.add(path)
                elif os.path.isdir(path):
                    rescan = True
                elif (
                    discover.is_candidate(os.path.basename(path))
                    and os.path.exists(path)
                    and self._consider(path)
                ):
                    touched.add(path)
                    rescan = True
            if rescan or time.monotonic() - self._last_scan > self.rescan_interval * 2:
                self.scan()
            touched |= self._fresh
            self._fresh.clear()
            if not changes:
                # timeouts double as a safety net for events the watcher missed
                touched.update(self.pending())
            if not touched:
                continue
            # a writer streaming lines: read at most every STREAM_READ_GAP, each read taking all
            # that arrived (the first line after a quiet spell is read at once)
            gap = self._last_read + STREAM_READ_GAP - time.monotonic()
            if gap > 0 and stop.wait(gap):
                return
            self._last_read = time.monotonic()
            if self._read_paths(touched, stop, on_change):
                on_change()

    def _read_paths(
        self, paths: set[str], stop: threading.Event, on_change: Callable[[], None]
    ) -> bool:
        changed = False
        for path in sorted(paths, key=lambda p: (self.followed[p].info.kind != "metrics", p)):
            while not stop.is_set():
                did, more = self.read_source(self.followed[path])
                changed |= did
                if not more:
                    break
                on_change()  # a long catch-up: show progress between chunks
        return changed

    def _poll_loop(self, stop: threading.Event, on_change: Callable[[], None]) -> None:
        if not self.objects:
            self.watch_mode = "polling"
        while not stop.wait(self.poll_interval):
            listed = False
            if self.objects and time.monotonic() - self._last_listing >= self.list_interval:
                # object stores: a listing, then the local copies it updated are read as usual
                self.sync_objects()
                listed = True
            if listed or time.monotonic() - self._last_scan > self.rescan_interval:
                self.scan()
            pending = set(self.pending()) | self._fresh
            self._fresh.clear()
            if (pending and self._read_paths(pending, stop, on_change)) or listed:
                on_change()
