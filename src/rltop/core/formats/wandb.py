"""Weights & Biases run folders: history from ``run-<id>.wandb``, config from ``files/config.yaml``.

A run folder (``wandb/run-<date>-<id>/``, ``wandb/offline-run-<date>-<id>/``, ``latest-run``) holds
the transaction log ``run-<id>.wandb`` that W&B writes while the run goes, online or offline. It is
a LevelDB log: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then 32 KiB blocks of chunks
``crc32 (u32, zlib's, seeded with the chunk type) | length (u16) | type (u8: FULL, FIRST, MIDDLE,
LAST) | data``; a logical record is a FULL chunk or FIRST, MIDDLE*, LAST, and is a serialized
``wandb.proto.wandb_internal_pb2.Record``. History rows are ``Record.history`` items
``{key | nested_key, value_json}``; ``Record.config`` and ``Record.run`` carry the run config.

The parser runs in ``records`` mode and consumes only complete logical records, so a record that
is half written is read again once the rest arrives, and the file is never re-read. Chunks never
cross a block's end, so a reader can start at any block boundary and find the next record there
(``resync``): on a screen, a large log's end is read first (its newest steps), then the part
before it by a second parser (``Follower._newest_first``). The protobuf
messages are read with protobuf views of W&B's schema (``wandb_bulk``: history in bulk, the rest
record by record); the ``wandb`` extra (``rltop[wandb]``) brings ``protobuf``, and the ``wandb``
package itself is never imported.

Other files of the run folder are named for ``rltop sources`` (summary, metadata, debug logs);
``files/output.log`` is read by the verl console parser when it holds ``step:N - key:value`` lines.
"""

from __future__ import annotations

import logging
import math
import os
import struct
import zlib
from typing import Any, ClassVar

from rltop.core.formats import wandb_bulk
from rltop.core.formats.base import Parser, Sniffed, flatten, loads_json, metric_value
from rltop.core.formats.console import VerlConsoleParser, sniff_console
from rltop.core.lazyre import lazy
from rltop.core.model import ParseResult, Skip, clip_sample

log = logging.getLogger(__name__)

INSTALL_HINT = "install rltop[wandb]"
#: reads with at least this many records are decoded in bulk (``wandb_bulk``)
BULK_MIN_RECORDS = 64

HEADER_IDENT = b":W&B"
HEADER_MAGIC = 0xBEE1
HEADER_LEN = 7  # ident (4) + magic (u16) + version (u8); also the chunk header length
BLOCK_LEN = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4

_TYPE_CRC = [zlib.crc32(bytes([t])) & 0xFFFFFFFF for t in range(LAST + 1)]

RUN_DIR_RE = lazy(r"^(?:offline-)?run-\d{8}_\d{6}-[a-z0-9]+$|^latest-run$")
#: config keys W&B adds for itself
_INTERNAL_CONFIG = ("_wandb",)
#: config keys trainers name their run with: the run's name when W&B's run record has none
RUN_NAME_KEYS = ("run_name", "trainer/experiment_name", "experiment_name", "exp_name")
#: a run's state until its log has an exit record
NO_EXIT = "no exit record (running, or stopped before W&B could close the log)"


def wandb_available() -> bool:
    """Whether the optional ``wandb`` extra is installed. Records are decoded with protobuf views
    of W&B's schema (``wandb_bulk``), so only ``protobuf`` (a ``wandb`` dependency) is imported,
    never the ``wandb`` package itself (importing it takes over a second)."""
    import importlib.util

    try:
        if importlib.util.find_spec("wandb") is None:
            return False
        from google.protobuf import descriptor_pool  # noqa: F401
    except Exception:  # ImportError, or a broken protobuf install
        return False
    return True


def chunk(data: bytes, kind: int) -> bytes:
    """One LevelDB log chunk (header + data), as W&B writes it."""
    crc = zlib.crc32(data, _TYPE_CRC[kind]) & 0xFFFFFFFF
    return struct.pack("<IHB", crc, len(data), kind) + data


def file_header() -> bytes:
    return struct.pack("<4sHB", HEADER_IDENT, HEADER_MAGIC, 0)


def frame_records(records: list[bytes], start: int = 0) -> bytes:
    """Frame serialized records as W&B's writer does, the file being ``start`` bytes long so far.

    Used by tests (and by anyone who wants to write a ``.wandb`` file without the wandb service).
    """
    out = bytearray()
    index = start
    if start == 0:
        out += file_header()
        index = HEADER_LEN
    for data in records:
        left = BLOCK_LEN - index % BLOCK_LEN
        if left < HEADER_LEN:  # no room for a chunk header: pad the block with zeros
            out += b"\x00" * left
            index += left
            left = BLOCK_LEN
        if len(data) + HEADER_LEN <= left:
            out += chunk(data, FULL)
            index += HEADER_LEN + len(data)
            continue
        used, kind = 0, FIRST
        while True:  # FIRST fills this block, MIDDLEs fill whole blocks, LAST ends the record
            room = BLOCK_LEN - index % BLOCK_LEN - HEADER_LEN
            part = data[used : used + room]
            used += len(part)
            if kind != FIRST and used >= len(data):
                kind = LAST
            out += chunk(part, kind)
            index += HEADER_LEN + len(part)
            if kind == LAST:
                break
            kind = MIDDLE
    return bytes(out)


def is_run_dir(folder: str) -> bool:
    """A W&B run folder: named like one, or holding a ``run-<id>.wandb`` file."""
    if RUN_DIR_RE.match(os.path.basename(folder.rstrip(os.sep))):
        return True
    try:
        return any(n.endswith(".wandb") for n in os.listdir(folder))
    except OSError:
        return False


def _key(item: Any, _cache: dict[tuple[str, ...], str] = {}) -> str:  # noqa: B006 - a cache
    """An item's name: ``key``, or its ``nested_key`` parts joined with ``/`` (once per name)."""
    parts = item.nested_key
    if not parts:
        return item.key
    if len(parts) == 1:
        return parts[0]
    parts = tuple(parts)
    name = _cache.get(parts)
    if name is None:
        if len(_cache) > 100_000:
            _cache.clear()
        name = _cache[parts] = "/".join(parts)
    return name


def _item_value(item: Any) -> Any:
    """An item's value: ``value_json``, or the typed value newer W&B versions write."""
    which = item.WhichOneof("value")
    if which is None or which == "none":
        return _json_value(item.value_json) if item.value_json else None
    if which == "json":
        return _json_value(item.json)
    return getattr(item, which)


def _json_value(text: str) -> Any:
    try:
        return loads_json(text.encode())
    except ValueError:
        return text


class WandbParser(Parser):
    """History rows and config from a ``run-<id>.wandb`` transaction log."""

    format: ClassVar[str] = "wandb"
    kind: ClassVar[str] = "metrics"
    mode = "records"
    RESYNC_ALIGN: ClassVar[int | None] = BLOCK_LEN  # chunks never cross a block's end

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._record_cls: Any = None
        self._display_name = False  # the run record named the run (config names are a fallback)
        #: begun mid-file (``begin_at``): config and run name are held back until the part
        #: before is read (``older_read``), so that what the newer records say comes last
        self._held: ParseResult | None = None

    def reset(self) -> None:
        super().reset()
        self._held = None

    def resync(self, data: bytes, start: int) -> int | None:
        """The first FULL or FIRST chunk (with a good checksum) in ``data``: each block starts
        with a chunk, so the chunks of ``data`` are found from its start; MIDDLE and LAST chunks
        before that one end a record that began earlier."""
        if start % BLOCK_LEN:
            raise ValueError(f"resync must start at a block boundary, not at byte {start}")
        pos, end = 0, len(data)
        while end - pos >= HEADER_LEN:
            left = BLOCK_LEN - (start + pos) % BLOCK_LEN
            if left < HEADER_LEN:  # block trailer
                pos += left
                continue
            crc, length, kind = struct.unpack_from("<IHB", data, pos)
            if (kind == 0 and length == 0) or kind > LAST or length > left - HEADER_LEN:
                pos += left  # padding, or a damaged chunk: the next block starts afresh
                continue
            if pos + HEADER_LEN + length > end:
                return None
            body = data[pos + HEADER_LEN : pos + HEADER_LEN + length]
            if kind in (FULL, FIRST) and zlib.crc32(body, _TYPE_CRC[kind]) & 0xFFFFFFFF == crc:
                return start + pos
            pos += HEADER_LEN + length
        return None

    def begin_at(self, offset: int) -> None:
        super().begin_at(offset)
        self._held = ParseResult()

    def older_read(self, older: Parser) -> ParseResult:
        """The config the newer records held back; their run name unless it came from config
        keys and the older part's run record gave a display name (which a straight read keeps)."""
        held, self._held = self._held or ParseResult(), None
        older_display = isinstance(older, WandbParser) and older._display_name
        if held.run_name and older_display and not self._display_name:
            held.run_name = None
        self._display_name |= older_display
        return held

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        if self._record_cls is None:
            self._record_cls = wandb_bulk.record_class()
        base = self.consumed  # file offset of block[0]
        pos = 0
        if base == 0:
            if len(block) < HEADER_LEN:
                return result
            ident, magic, version = struct.unpack_from("<4sHB", block, 0)
            if ident != HEADER_IDENT or magic != HEADER_MAGIC:
                result.skips.append(Skip("no W&B header (:W&B): not a W&B transaction log"))
                self.consumed = len(block)
                return result
            result.config["wandb/state"] = NO_EXIT
            if version != 0:
                result.skips.append(
                    Skip(f"W&B log version {version}: read as version 0, may be misread")
                )
            pos = HEADER_LEN
        done = pos  # end of the last complete logical record
        records: list[bytes] = []  # complete logical records, decoded together at the end
        pending: list[bytes] = []  # chunks of a record spread over FIRST/MIDDLE chunks
        end = len(block)
        while True:
            offset = (base + pos) % BLOCK_LEN
            left = BLOCK_LEN - offset
            if left < HEADER_LEN:  # block trailer (zeros)
                if pos + left > end:
                    break
                pos += left
                if not pending:
                    done = pos
                continue
            if end - pos < HEADER_LEN:
                break
            crc, length, kind = struct.unpack_from("<IHB", block, pos)
            if kind == 0 and length == 0:  # zero padding up to the end of the block
                if pos + left > end:
                    break
                pos += left
                if not pending:
                    done = pos
                continue
            if pos + HEADER_LEN + length > end:
                break  # chunk still being written
            if kind > LAST or length > left - HEADER_LEN:
                result.skips.append(
                    Skip(
                        f"damaged W&B log chunk at byte {base + pos:,}; the rest of the file "
                        "is not read"
                    )
                )
                done = end
                pending = []
                break
            data = block[pos + HEADER_LEN : pos + HEADER_LEN + length]
            chunk_at = base + pos
            pos += HEADER_LEN + length
            if zlib.crc32(data, _TYPE_CRC[kind]) & 0xFFFFFFFF != crc:
                result.skips.append(Skip(f"W&B log chunk checksum mismatch at byte {chunk_at:,}"))
                pending = []
                done = pos
                continue
            if kind == FULL:
                pending = []
                records.append(data)
                done = pos
            elif kind == FIRST:
                pending = [data]
            elif kind == MIDDLE:
                if pending:
                    pending.append(data)
            else:  # LAST
                if pending:
                    pending.append(data)
                    records.append(b"".join(pending))
                pending = []
                done = pos
        self.consumed = base + done
        self._records(records, result)
        if self._held is not None and (result.config or result.run_name):
            self._held.config.update(result.config)
            self._held.run_name = result.run_name or self._held.run_name
            result.config, result.run_name = {}, None
        return result

    def _records(self, records: list[bytes], result: ParseResult) -> None:
        """Decode the logical records of one read: in bulk (``wandb_bulk``), and record by
        record what the bulk path leaves (config, run, text or media values, odd items)."""
        if len(records) < BULK_MIN_RECORDS:
            for data in records:
                self._record(data, result)
            return
        try:
            decoded = wandb_bulk.decode(records)
        except Exception:  # never lose data to the fast path: read them one by one instead
            log.debug("bulk decoding of W&B records failed", exc_info=True)
            decoded = None
        if decoded is None:
            for data in records:
                self._record(data, result)
            return
        for kind, count in decoded.ignored.items():
            result.ignore(_record_reason(kind or None), count)
        for index in decoded.slow:
            self._record(records[index], result)
        if decoded.frame is not None and decoded.frame.height:
            result.metrics_frame = decoded.frame

    def _record(self, data: bytes, result: ParseResult) -> None:
        record = self._record_cls()
        try:
            record.ParseFromString(data)
        except Exception as exc:  # protobuf DecodeError
            result.skips.append(Skip(f"not a W&B Record ({type(exc).__name__})"))
            return
        kind = record.WhichOneof("record_type")
        if kind == "history":
            row = self._history(record.history)
            if row is None:
                result.skips.append(
                    Skip("history row without a step", None, clip_sample(str(record.history)))
                )
            else:
                result.metrics.append(row)
        elif kind == "config":
            self._config(_config_items(record.config.update), result)
        elif kind == "run":
            run = record.run
            self._config(_config_items(run.config.update), result)
            for key, value in (
                ("wandb/project", run.project),
                ("wandb/run_id", run.run_id),
                ("wandb/name", run.display_name),
                ("wandb/group", run.run_group),
            ):
                if value:
                    result.config[key] = value
            if run.display_name:
                self._display_name = True
                result.run_name = run.display_name
        elif kind == "exit":
            code = record.exit.exit_code
            result.config["wandb/state"] = "finished" if code == 0 else f"failed (exit code {code})"
        else:
            result.ignore(_record_reason(kind))

    def _config(self, items: dict[str, Any], result: ParseResult) -> None:
        result.config.update(items)
        if not self._display_name:
            name = next((items[k] for k in RUN_NAME_KEYS if isinstance(items.get(k), str)), None)
            if name:
                result.run_name = name

    def _history(self, history: Any) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for item in history.item:
            key = _key(item)
            value = _item_value(item)
            if isinstance(value, dict):
                if "_type" in value:
                    continue  # media, tables, histograms: not metrics
                for sub, subvalue in flatten(value, key + "/").items():
                    values[sub] = subvalue
            else:
                values[key] = value
        step_value = values.pop("_step", None)
        step: int | None = None
        if (
            isinstance(step_value, (int, float))
            and not isinstance(step_value, bool)
            and math.isfinite(step_value)
        ):
            step = int(step_value)
        elif history.HasField("step"):
            step = int(history.step.num)
        if step is None:
            return None
        row: dict[str, Any] = {"step": step}
        for key, value in values.items():
            norm = metric_value(value)
            if norm is not None:
                row[key] = norm
        return row


#: what the record types rltop does not read hold, for ``rltop sources``
_RECORD_KINDS = {
    "stats": "system metrics: GPU, CPU, memory",
    "output": "console output",
    "output_raw": "console output",
    "summary": "summary values",
    "telemetry": "W&B's own telemetry",
    "files": "file uploads",
    "metric": "metric definitions",
    "final": "end of the log",
    "footer": "end of the log",
    "header": "log header",
    "alert": "alerts",
    "artifact": "artifacts",
    "tbrecord": "TensorBoard sync",
    "preempting": "pre-emption notices",
    "environment": "environment",
    "request": "W&B internal requests",
}


def _record_reason(kind: str | None) -> str:
    what = _RECORD_KINDS.get(kind or "", "not metrics")
    return f"W&B {kind or 'empty'} record ({what})"


def _config_items(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key = "/".join(item.nested_key) if item.nested_key else item.key
        if key in _INTERNAL_CONFIG or key.startswith("_wandb"):
            continue
        value = _json_value(item.value_json)
        if isinstance(value, dict) and (
            set(value) == {"value"} or ("value" in value and "desc" in value)
        ):
            value = value["value"]
        if isinstance(value, dict):
            out.update(flatten(value, key + "/"))
        else:
            out[key] = value
    return out


class WandbConfigParser(Parser):
    """``files/config.yaml`` of a W&B run: ``key: {value: ...}`` entries into the run config."""

    format: ClassVar[str] = "wandb-config"
    kind: ClassVar[str] = "config"  # run configuration only: no rows
    mode = "whole"

    def parse_whole(self, data: bytes) -> ParseResult:
        result = ParseResult()
        if not data.strip():
            return result
        try:
            import yaml
        except ImportError:
            result.skips.append(Skip(f"reading config.yaml needs PyYAML ({INSTALL_HINT})"))
            return result
        try:
            doc = yaml.safe_load(data)
        except Exception as exc:  # yaml.YAMLError, half-written file
            result.skips.append(Skip(f"malformed YAML ({type(exc).__name__})", None))
            return result
        if not isinstance(doc, dict):
            result.skips.append(Skip("config.yaml is not a mapping"))
            return result
        for key, entry in doc.items():
            key = str(key)
            if key.startswith("_wandb") or key == "wandb_version":
                continue
            value = entry.get("value") if isinstance(entry, dict) and "value" in entry else entry
            if isinstance(value, dict):
                result.config.update(flatten(value, key + "/"))
            else:
                result.config[key] = value
        return result


class WandbMetadataParser(Parser):
    """``files/wandb-metadata.json`` of a run folder without a ``run-<id>.wandb`` log (the run
    stopped before W&B wrote one): the run is listed, with 0 steps, when it started and why it
    has no history."""

    format: ClassVar[str] = "wandb-metadata"
    kind: ClassVar[str] = "config"
    mode = "whole"

    def parse_whole(self, data: bytes) -> ParseResult:
        result = ParseResult()
        if not data.strip():
            return result
        try:
            doc = loads_json(data)
        except ValueError as exc:
            result.skips.append(Skip(f"incomplete or malformed JSON ({exc})"[:100]))
            return result
        if not isinstance(doc, dict):
            result.skips.append(Skip("wandb-metadata.json is not an object"))
            return result
        for key, name in (("startedAt", "started_at"), ("program", "program"), ("host", "host")):
            if isinstance(doc.get(key), str):
                result.config[f"wandb/{name}"] = doc[key]
        result.config["wandb/state"] = NO_LOG
        return result


#: the state of a run folder that has no transaction log
NO_LOG = "no history: the run folder has no run-<id>.wandb log (stopped before logging?)"


def has_log(run_dir: str) -> bool:
    try:
        return any(n.endswith(".wandb") for n in os.listdir(run_dir))
    except OSError:
        return False


_available: bool | None = None

#: files of a run folder's ``files/`` that are not read, and why
_RUN_FILE_REASONS = {
    "wandb-summary.json": "W&B summary: final values only; the history is read from run-<id>.wandb",
    "wandb-metadata.json": "W&B system metadata (host, GPUs, git), not metrics",
    "requirements.txt": "W&B copy of the run's pip requirements, not metrics",
    "conda-environment.yaml": "W&B copy of the run's conda environment, not metrics",
    "diff.patch": "W&B copy of the uncommitted code changes, not metrics",
}


PARSERS = (WandbParser, WandbConfigParser, WandbMetadataParser)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """The files of W&B run folders: the transaction log, config.yaml, output.log, the rest."""
    global _available
    name = os.path.basename(path)
    lower = name.lower()
    folder = os.path.dirname(path)
    if lower.endswith(".wandb"):
        if head and not head.startswith(HEADER_IDENT[: len(head)]):
            return Sniffed(None, "a .wandb file without the :W&B header: not a W&B log")
        if _available is None:
            _available = wandb_available()
        if not _available:
            return Sniffed(None, f"W&B run transaction log: {INSTALL_HINT}")
        return Sniffed(WandbParser, "W&B run transaction log (history, config)")
    parent = os.path.basename(folder)
    if parent == "files" and is_run_dir(os.path.dirname(folder)):
        if lower == "config.yaml":
            return Sniffed(WandbConfigParser, "W&B run config (files/config.yaml)")
        if lower == "wandb-metadata.json" and not has_log(os.path.dirname(folder)):
            return Sniffed(WandbMetadataParser, "W&B run metadata of a run without a log")
        if lower in _RUN_FILE_REASONS:
            return Sniffed(None, _RUN_FILE_REASONS[lower])
        if lower == "output.log":
            found = sniff_console(head)
            if found.parser is not None:
                return Sniffed(VerlConsoleParser, "W&B console capture with verl step lines")
            return Sniffed(
                None,
                "W&B console capture without verl 'step:N - key:value' lines "
                "(the metrics are read from run-<id>.wandb)",
            )
        return None
    if lower.endswith(".log") and (
        (parent == "logs" and is_run_dir(os.path.dirname(folder)))
        or (parent == "wandb" and lower.startswith("debug"))
    ):
        return Sniffed(None, "W&B debug log, not metrics")
    if lower == "config.yaml":
        return Sniffed(None, "YAML config outside a W&B run folder (not read)")
    return None
