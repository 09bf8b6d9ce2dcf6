"""Object-store sources (``s3://``, ``gs://``, ``az://``): a prefix mirrored into a local folder.

Why a mirror and not a reader per format: every format reads its file by path with random access
(the one-pass catch-up hands polars the open file to map, rollout text stays on disk and is
re-read from ``(path, offset)``, TensorBoard re-checks record offsets, the whole-file formats stat
the file).
Appending the new bytes of an object to a local copy gives all of them, unchanged, exactly what a
growing local log gives them, keeps the local path as fast as it is, and keeps rollout text on disk
instead of in memory. The cost is disk space equal to the objects read (a temporary folder,
removed at exit).

What changed is decided from the listing alone (size and ETag): an object that grew is fetched as
its new tail with one ranged GET, after checking that its first bytes and the bytes just before the
old end are still the same (in the same request); anything else that changed is fetched whole and
replaces the copy (a new inode: the tailer reads it again from the start). Reads run in a bounded
thread pool (obstore releases the GIL). A failed read of one object (403, 404, timeout) is a problem
of that source; a failed listing (wrong credentials, missing bucket) is an ``ObjectStoreError``.

Credentials come from the store's standard environment chain (``AWS_*``, ``GOOGLE_*``,
``AZURE_*``), and for S3 from the boto3 profile chain when boto3 is installed and no key is in the
environment. They are never printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rltop.core import discover

#: URL schemes read through obstore
SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "azure", "abfs", "abfss", "adl")
#: concurrent reads per prefix
READ_WORKERS = 8
#: bytes compared at the start of a grown object (and before its old end)
HEAD_CHECK = 256
#: seconds one request may take
REQUEST_TIMEOUT = 30


class ObjectStoreError(Exception):
    """The prefix itself cannot be listed: a message a user can act on, never a credential."""


def is_url(path: str) -> bool:
    """Whether ``path`` names an object-store prefix rather than a local path."""
    scheme, sep, _rest = path.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def path_exists(path: str) -> bool:
    """Whether a command-line path can be read: an existing local path, or any object URL (its
    listing says whether it exists)."""
    return is_url(path) or os.path.exists(path)


def short_error(exc: BaseException) -> str:
    """One line from obstore's multi-line errors: the HTTP status and the service's error code."""
    if isinstance(exc, ImportError):
        return "object-store sources need obstore: pip install 'rltop[s3]'"
    text = str(exc)
    status = re.search(r"status code: (\d{3})", text) or re.search(r"status: (\d{3})", text)
    code = re.search(r"<Code>([A-Za-z]+)</Code>", text)
    if isinstance(exc, FileNotFoundError) and not status:
        return "not found (404)"
    if isinstance(exc, PermissionError) and not status:
        return "permission denied (403)"
    if status or code:
        parts = [code.group(1) if code else "", f"HTTP {status.group(1)}" if status else ""]
        return " ".join(p for p in parts if p)
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:160]


def _listing_message(url: str, exc: BaseException) -> str:
    short = short_error(exc)
    hint = ""
    if "NoSuchBucket" in short or ("404" in short and "NoSuchKey" not in short):
        hint = " (the bucket does not exist)"
    elif any(c in short for c in ("403", "401", "InvalidAccessKeyId", "SignatureDoesNotMatch")):
        hint = " (check the credentials in the environment or profile)"
    elif "credential" in str(exc).lower():
        hint = " (no credentials found in the environment or profile)"
    return f"cannot list {url}: {short}{hint}"


def open_store(url: str) -> Any:
    """An obstore store for ``url`` with its prefix, credentials from the standard chain."""
    from obstore.store import from_url

    kwargs: dict[str, Any] = {
        "client_options": {"timeout": f"{REQUEST_TIMEOUT}s", "connect_timeout": "10s"},
        "retry_config": {
            "max_retries": 2,
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=2),
                "base": 2,
            },
            "retry_timeout": timedelta(seconds=REQUEST_TIMEOUT * 2),
        },
    }
    scheme = url.partition("://")[0].lower()
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if scheme in ("s3", "s3a"):
        if endpoint and endpoint.startswith("http://"):
            kwargs["client_options"]["allow_http"] = True
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            provider = _boto3_provider()
            if provider is not None:
                kwargs["credential_provider"] = provider
    return from_url(url, **kwargs)


def _boto3_provider() -> Any:
    """The AWS profile chain (``~/.aws``, ``AWS_PROFILE``, SSO) through boto3, when installed."""
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        return None
    try:
        session = boto3.Session()
        if session.get_credentials() is None:
            return None
        return Boto3CredentialProvider(session)
    except Exception:  # a broken profile: let the store report what it cannot do
        return None


@dataclass
class _Copy:
    """What the local copy of one object holds."""

    size: int
    etag: str | None


@dataclass
class SyncResult:
    """What one listing changed: local paths written, and objects that could not be read."""

    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # local path -> short reason
    fetched_bytes: int = 0
    ranged: int = 0  # objects fetched as their new tail
    full: int = 0  # objects fetched whole


class ObjectSource:
    """One object-store prefix, mirrored into ``self.root`` by ``sync()``."""

    def __init__(self, url: str, *, store: Any = None, workers: int = READ_WORKERS) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.open_error: str | None = None
        if store is None:
            try:
                store = open_store(self.url)
            except Exception as exc:  # a malformed URL, an unknown option: said at the listing
                self.open_error = f"cannot open {self.url}: {short_error(exc)}"
        self.store = store
        self._tmp = os.path.realpath(tempfile.mkdtemp(prefix="rltop-objects-"))
        weakref.finalize(self, shutil.rmtree, self._tmp, True)
        # the local folder is named like the prefix, so a run's name is the same as for a folder
        tail = self.url.partition("://")[2].rstrip("/").split("/")
        self.root = os.path.join(self._tmp, *[_safe(p) for p in tail if p])
        os.makedirs(self.root, exist_ok=True)
        self.workers = workers
        self.copies: dict[str, _Copy] = {}  # object key (relative to the prefix) -> copy
        self.problems: dict[str, str] = {}
        self.last_listing: float | None = None  # wall-clock time of the last listing
        self.listing_seconds = 0.0
        self.listings = 0
        self._lock = threading.Lock()

    # -- names -------------------------------------------------------------------------------
    def local_path(self, key: str) -> str:
        return os.path.join(self.root, *[_safe(p) for p in key.split("/") if p])

    def url_of(self, local: str) -> str | None:
        """The object URL a local copy stands for (None: not under this mirror)."""
        root = self.root.rstrip(os.sep)
        if local == root:
            return self.url
        if not local.startswith(root + os.sep):
            return None
        return self.url + os.path.relpath(local, root).replace(os.sep, "/")

    # -- listing and fetching ----------------------------------------------------------------
    def list_objects(self) -> dict[str, dict[str, Any]]:
        """Object metadata under the prefix, by key; raises ``ObjectStoreError`` if unlistable."""
        import obstore

        if self.open_error:
            raise ObjectStoreError(self.open_error)
        found: dict[str, dict[str, Any]] = {}
        try:
            for batch in obstore.list(self.store, chunk_size=1000):
                for meta in batch:
                    key = meta["path"]
                    if _wanted(key):
                        found[key] = meta
        except Exception as exc:
            raise ObjectStoreError(_listing_message(self.url, exc)) from None
        return found

    def sync(self, on_fetched: Callable[[str], None] | None = None) -> SyncResult:
        """List the prefix and bring the local copies up to date with what changed.

        ``on_fetched(local_path)`` is called (in this thread) as each object arrives, while the
        others are still being fetched: the follower reads a new run as soon as it is here."""
        with self._lock:
            started = time.monotonic()
            listed = self.list_objects()
            self.listing_seconds = time.monotonic() - started
            self.last_listing = time.time()
            self.listings += 1
            out = SyncResult()
            todo = []
            for key, meta in listed.items():
                have = self.copies.get(key)
                if have is not None and have.size == meta["size"] and have.etag == meta["e_tag"]:
                    continue
                todo.append((key, meta, have))
            for key in [k for k in self.copies if k not in listed]:
                del self.copies[key]
                path = self.local_path(key)
                with contextlib.suppress(OSError):
                    os.remove(path)
                out.removed.append(path)
            if todo:
                with ThreadPoolExecutor(max_workers=self.workers) as pool:
                    jobs = [pool.submit(self._fetch_one, item) for item in todo]
                    for job in as_completed(jobs):
                        key, path, got = job.result()
                        if isinstance(got, str):
                            out.problems[path] = got
                            continue
                        kind, nbytes, copy = got
                        self.copies[key] = copy
                        out.changed.append(path)
                        out.fetched_bytes += nbytes
                        if kind == "tail":
                            out.ranged += 1
                        else:
                            out.full += 1
                        if on_fetched is not None:
                            on_fetched(path)
            self.problems = {
                p: r for p, r in {**self.problems, **out.problems}.items() if p not in out.changed
            }
            return out

    def _fetch_one(self, item: tuple[str, dict[str, Any], _Copy | None]):
        key, meta, have = item
        path = self.local_path(key)
        try:
            got = None
            if have is not None and meta["size"] > have.size:
                appended = self._append_tail(key, path, have.size, meta["size"])
                if appended is not None:
                    got = ("tail", appended, _Copy(meta["size"], meta["e_tag"]))
            if got is None:
                nbytes = self._fetch_whole(key, path)
                got = ("full", nbytes, _Copy(nbytes, meta["e_tag"]))
            # the copy carries the object's time: a run's age is its objects' age
            stamp = meta["last_modified"].timestamp()
            os.utime(path, (stamp, stamp))
            return key, path, got
        except Exception as exc:  # per-object problem: 403, 404 (deleted since), timeout
            return key, path, short_error(exc)

    def _append_tail(self, key: str, path: str, old: int, new: int) -> int | None:
        """Append bytes ``old..new`` if the object still starts and continues like the copy."""
        import obstore

        if old == 0:
            return None  # nothing to compare with: fetch it whole
        try:
            with open(path, "rb") as fh:
                head = fh.read(HEAD_CHECK)
                back = min(HEAD_CHECK, old)
                fh.seek(old - back)
                before_end = fh.read(back)
            if os.path.getsize(path) != old:
                return None
        except OSError:
            return None
        got = obstore.get_ranges(
            self.store, key, starts=[0, old - back], ends=[len(head), new], coalesce=0
        )
        first, rest = bytes(got[0]), bytes(got[1])
        if first != head or rest[:back] != before_end:
            return None  # replaced by something else that happens to be longer
        data = rest[back:]
        with open(path, "ab") as fh:
            fh.write(data)
        return len(data)

    def _fetch_whole(self, key: str, path: str) -> int:
        """The whole object into a new file that replaces the copy (the tailer sees a new inode)."""
        import obstore

        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".rltop-part-")
        nbytes = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in obstore.get(self.store, key).stream(min_chunk_size=8 * 1024 * 1024):
                    fh.write(chunk)
                    nbytes += len(chunk)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        return nbytes

    def status(self) -> str:
        """For the status line: when the last listing was, and how long it took."""
        if self.last_listing is None:
            return f"{self.url} not listed yet"
        when = time.strftime("%H:%M:%S", time.localtime(self.last_listing))
        return f"listed {when} in {self.listing_seconds:.2f} s"


def _safe(part: str) -> str:
    """A key segment as a file name (``..`` and empty segments cannot climb out of the mirror)."""
    if part in ("", ".", ".."):
        return "_" + part.replace(".", "_")
    return part.replace(os.sep, "_")


def _wanted(key: str) -> bool:
    """The same filter as walking a folder: candidate file names, no ignored or hidden folders."""
    parts = [p for p in key.split("/") if p]
    if not parts or not discover.is_candidate(parts[-1]):
        return False
    if len(parts) >= 2 and parts[-2] == ".hydra" and parts[-1] == "config.yaml":
        return True  # a Hydra run's configuration (core/runconfig.py reads it)
    for folder in parts[:-1]:
        if folder in discover.IGNORED_DIRS:
            return False
        if folder.startswith(".") and folder not in discover.HIDDEN_DIRS_FOLLOWED:
            return False
    return True
