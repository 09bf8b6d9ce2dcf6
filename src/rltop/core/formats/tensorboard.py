"""TensorBoard event files (``events.out.tfevents.*``): scalars, followed as the file grows.

An event file is a stream of TFRecord frames: ``length (u64) | masked crc32c of length (u32) |
data | masked crc32c of data (u32)``, each ``data`` a serialized ``Event`` protobuf. The parser
runs in ``records`` mode: it consumes only complete frames and reports how many bytes it used, so
a frame still being written is offered again with more bytes and the file is never re-read.

Scalars come as ``simple_value`` (PyTorch's SummaryWriter, used by TRL/transformers, verl,
OpenRLHF) or as a scalar tensor with the ``scalars`` plugin (TF2/Keras). Images, histograms, text
and graphs are counted as ignored. Decoding uses the ``tensorboard`` package's own protobuf classes,
an optional extra (``rltop[tensorboard]``); it is imported only when an event file is read.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Callable
from typing import Any, ClassVar

from rltop.core.formats import protolite
from rltop.core.formats.base import Parser, Sniffed
from rltop.core.model import ParseResult, Skip

INSTALL_HINT = "install rltop[tensorboard]"
HEADER = 12  # u64 length + u32 crc
FOOTER = 4
#: a length beyond this is taken as garbage, not as a frame to wait for
MAX_RECORD = 1 << 31
#: data crcs of larger frames (graphs, images: never metrics) are not checked
CHECK_DATA_CRC_BELOW = 64 * 1024
#: reads with at least this many events are decoded in bulk (protobuf views, see ``protolite``)
BULK_MIN_EVENTS = 64
#: frames this large that do not fit in the bytes offered are stepped over once complete on disk
SKIP_UNREAD_ABOVE = 1 << 20
#: a resync looks this far for a frame boundary (frames of scalars are ~100 bytes)
RESYNC_SCAN = 256 * 1024
#: event files inside these folders are one of Keras' per-split writers: tags get the folder name
SPLIT_DIRS = {"train", "validation", "eval", "val", "valid", "test"}


def is_event_file(name: str) -> bool:
    return "tfevents" in name.lower()


def tensorboard_available() -> bool:
    """Whether the optional ``tensorboard`` package (its protobuf classes) can be imported."""
    try:
        import tensorboard.compat.proto.event_pb2  # noqa: F401
    except Exception:  # ImportError, or a protobuf version clash inside it
        return False
    return True


# -- crc32c (Castagnoli), masked as TFRecord does -------------------------------------------------
@functools.cache
def _table() -> list[int]:
    """The pure-Python CRC table, made on first use (never when the C implementation is there)."""
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


@functools.cache
def _c_crc32c() -> Callable[[bytes], int] | None:
    """The C implementation (``google-crc32c``, in the tensorboard extra: ~1 GB/s), imported on
    the first event file (not at start-up), or None: the pure-Python table, ~1000x slower."""
    try:
        from google_crc32c import value
    except ImportError:  # pragma: no cover
        return None
    return value


def crc32c(data: bytes) -> int:
    c_crc = _c_crc32c()
    if c_crc is not None:
        return c_crc(bytes(data))
    return _py_crc32c(data)


def _py_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _table()
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The crc TFRecord stores: rotated and offset so crcs of crcs stay distinct."""
    return _mask(crc32c(data))


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord frame around ``data`` (used by tests and by anyone writing event files)."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


class TensorBoardParser(Parser):
    """Scalars of one event file, as metric rows (one row per step)."""

    format: ClassVar[str] = "tensorboard"
    kind: ClassVar[str] = "metrics"
    mode = "records"
    #: a frame may start at any byte: ``resync`` finds one by its checksums
    RESYNC_ALIGN: ClassVar[int | None] = 1

    def __init__(self, path: str) -> None:
        super().__init__(path)
        folder = os.path.basename(os.path.dirname(path)).lower()
        self.prefix = f"{folder}/" if folder in SPLIT_DIRS else ""
        self._event_cls: Any = None
        self._make_ndarray: Any = None

    def _load(self) -> None:
        from tensorboard.compat.proto import event_pb2
        from tensorboard.util import tensor_util

        self._event_cls = event_pb2.Event
        self._make_ndarray = tensor_util.make_ndarray

    def resync(self, data: bytes, start: int) -> int | None:
        """The first frame boundary in ``data`` (the file's bytes from ``start``): a header whose
        length checksum holds, followed by a frame whose data checksum holds (small frames) and
        by the next frame's good header, or by the end of ``data``. A chance match of both
        checksums is ~2^-64. Looks at most ``RESYNC_SCAN`` bytes (a frame that large is no
        scalar's): None past that, or without a boundary."""
        crc = _c_crc32c() or _py_crc32c
        unpack, unpack_crc, mask = _HEADER.unpack_from, _CRC.unpack_from, _mask
        end = len(data)
        for pos in range(min(end - HEADER + 1, RESYNC_SCAN)):
            length, len_crc = unpack(data, pos)
            if length > MAX_RECORD or mask(crc(data[pos : pos + 8])) != len_crc:
                continue
            frame_end = pos + HEADER + length + FOOTER
            if frame_end > end:
                return None  # a boundary, maybe, with its frame not whole: read from the start
            if length < CHECK_DATA_CRC_BELOW:
                body = data[pos + HEADER : pos + HEADER + length]
                if mask(crc(body)) != unpack_crc(data, frame_end - FOOTER)[0]:
                    continue
            if end - frame_end >= HEADER:
                _length, after_crc = unpack(data, frame_end)
                if mask(crc(data[frame_end : frame_end + 8])) != after_crc:
                    continue
            return start + pos
        return None

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        pos = 0
        end = len(block)
        events: list[bytes] = []
        unpack = _HEADER.unpack_from
        unpack_crc = _CRC.unpack_from
        mask = _mask
        crc = _c_crc32c() or _py_crc32c
        while end - pos >= HEADER:
            length, len_crc = unpack(block, pos)
            if mask(crc(block[pos : pos + 8])) != len_crc or length > MAX_RECORD:
                # not a frame boundary: the file is damaged here and nothing after can be trusted
                result.skips.append(
                    Skip(
                        f"damaged TFRecord frame header at byte {self.consumed + pos:,}; "
                        "the rest of the file is not read",
                    )
                )
                pos = end
                break
            frame_end = pos + HEADER + length + FOOTER
            if frame_end > end:
                if length >= SKIP_UNREAD_ABOVE and self._on_disk(self.consumed + frame_end):
                    # a big frame (graph, image) longer than one read: never a scalar, so step
                    # over it on disk instead of waiting for a read that could hold it whole
                    result.ignore("large TensorBoard event stepped over on disk (graph, image)")
                    pos = frame_end
                break  # a frame still being written: wait for the rest
            data = block[pos + HEADER : pos + HEADER + length]
            pos = frame_end
            if length < CHECK_DATA_CRC_BELOW:
                (data_crc,) = unpack_crc(block, frame_end - FOOTER)
                if mask(crc(data)) != data_crc:
                    result.skips.append(Skip("TFRecord data checksum mismatch (damaged event)"))
                    continue
            events.append(data)
        self.consumed += pos
        items = _Items()
        self._events(events, items, result)
        frame = items.frame(self.prefix)
        if frame is not None:
            result.metrics_frame = frame
        return result

    def _events(self, events: list[bytes], items: _Items, result: ParseResult) -> None:
        """Scalars of the events, in bulk when there are many (``_bulk``), else one by one."""
        if len(events) >= BULK_MIN_EVENTS:
            ignored, reasons = result.ignored, dict(result.ignored_reasons)
            try:
                slow = self._bulk(events, items, result)
            except Exception:  # never lose data to the fast path: read them one by one
                slow = range(len(events))
                items.clear()
                result.ignored, result.ignored_reasons = ignored, reasons
        else:
            slow = range(len(events))
        for index in slow:
            self._event(events[index], items, result)

    def _bulk(self, events: list[bytes], items: _Items, result: ParseResult) -> list[int]:
        """Events parsed together through protobuf views: the values of an event's summary come
        back as one list of tags and one of numbers. Returns the events to read one by one
        (tensors, images, histograms... and anything that does not parse)."""
        views = _views()
        wrapped = protolite.wrap(events)
        batch = views["Batch"]()
        merged = views["Merged"]()
        try:
            batch.ParseFromString(wrapped)
            merged.ParseFromString(wrapped)  # every event's values in one: anything not simple?
        except Exception:  # a damaged event: the one-by-one path says which
            return list(range(len(events)))
        every = merged.ev.summary.value
        mixed = bool(
            every.tensor
            or every.image
            or every.histo
            or every.audio
            or every.obsolete_old_style_histogram
            or len(every.tag) != len(every.simple_value)
        )
        slow: list[int] = []
        steps, counts, tags, values = items.steps, items.counts, items.tags, items.values
        for index, event in enumerate(batch.ev):
            what = event.WhichOneof("what")
            if what != "summary":  # file_version, graph_def, session_log, ...
                result.ignore(f"TensorBoard {what or 'empty'} event (not a summary)")
                continue
            value = event.summary.value
            numbers = value.simple_value
            n = len(numbers)
            if mixed and (
                n != len(value.tag)
                or value.tensor
                or value.image
                or value.histo
                or value.audio
                or value.obsolete_old_style_histogram
            ):
                slow.append(index)
                continue
            steps.append(event.step)
            counts.append(n)
            tags.append(value.tag)
            values.append(numbers)
        return slow

    def _on_disk(self, end_offset: int) -> bool:
        try:
            return os.path.getsize(self.path) >= end_offset
        except OSError:
            return False

    def _event(self, data: bytes, items: _Items, result: ParseResult) -> None:
        if self._event_cls is None:
            self._load()
        event = self._event_cls()
        try:
            event.ParseFromString(data)
        except Exception as exc:  # protobuf DecodeError: a frame that is not an Event
            result.skips.append(Skip(f"not a TensorBoard Event ({type(exc).__name__})"))
            return
        if not event.HasField("summary"):
            what = event.WhichOneof("what") or "empty"  # file_version, graph_def, session_log, ...
            result.ignore(f"TensorBoard {what} event (not a summary)")
            return
        step = int(event.step)
        tags: list[str] = []
        numbers: list[float] = []
        for value in event.summary.value:
            number = self._scalar(value)
            if number is None:
                result.ignore(_not_scalar(value))
                continue
            tags.append(value.tag)
            numbers.append(number)
        if tags:
            items.steps.append(step)
            items.counts.append(len(tags))
            items.tags.append(tags)
            items.values.append(numbers)

    def _scalar(self, value: Any) -> float | None:
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            return float(value.simple_value)
        if kind != "tensor":
            return None
        plugin = value.metadata.plugin_data.plugin_name
        if plugin not in ("scalars", ""):
            return None  # histograms, images, text, hparams: not metrics
        tensor = value.tensor
        # only rank-0 (or single-element) tensors are scalars
        if any(d.size != 1 for d in tensor.tensor_shape.dim):
            return None
        try:
            array = self._make_ndarray(tensor)
        except Exception:  # unsupported dtype (string tensors of the text plugin, ...)
            return None
        if array.size != 1 or array.dtype.kind not in "fiub":
            return None
        return float(array.reshape(-1)[0])


def _not_scalar(value: Any) -> str:
    """Why a summary value is not read: what it holds (histogram, image, text, ...)."""
    kind = value.WhichOneof("value") or "empty"
    if kind == "tensor":
        plugin = value.metadata.plugin_data.plugin_name
        return f"TensorBoard {plugin or 'tensor'} summary (not a scalar)"
    return f"TensorBoard {kind} summary (not a scalar)"


_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")


def _views() -> dict[str, Any]:
    """Protobuf views of ``Event`` (field numbers of tensorboard/compat/proto/event.proto)."""
    return protolite.views(
        "rltop_tfevents_lite.proto",
        "rltop_tfevents_lite",
        {
            # an event's values merged: one list of tags, one of simple values, ...
            "Value": [
                ("tag", 1, "string", True),
                ("simple_value", 2, "float", True),
                ("obsolete_old_style_histogram", 3, "bytes", True),
                ("image", 4, "bytes", True),
                ("histo", 5, "bytes", True),
                ("audio", 6, "bytes", True),
                ("tensor", 8, "bytes", True),
            ],
            "Summary": [("value", 1, "message", False, "Value")],
            "Event": [
                ("step", 2, "int64", False),
                ("file_version", 3, "string", False, None, "what"),
                ("graph_def", 4, "bytes", False, None, "what"),
                ("summary", 5, "message", False, "Summary", "what"),
                ("log_message", 6, "bytes", False, None, "what"),
                ("session_log", 7, "bytes", False, None, "what"),
                ("tagged_run_metadata", 8, "bytes", False, None, "what"),
                ("meta_graph_def", 9, "bytes", False, None, "what"),
            ],
            "Batch": [("ev", 1, "message", True, "Event")],
            # all events of a read merged into one (to see at once what they hold)
            "Merged": [("ev", 1, "message", False, "Event")],
        },
    )


class _Items:
    """Scalars of one read in long form: per event its step and lists of tags and numbers."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.counts: list[int] = []
        self.tags: list[Any] = []
        self.values: list[Any] = []

    def clear(self) -> None:
        self.__init__()

    def frame(self, prefix: str) -> Any:
        """One row per step (the last value of a tag at a step wins), or None when empty."""
        if not self.steps:
            return None
        from itertools import chain

        import numpy as np

        tags = list(chain.from_iterable(self.tags))
        index = {t: i for i, t in enumerate(dict.fromkeys(tags))}
        names = [t if t.startswith(prefix) else prefix + t for t in index]
        if len(set(names)) != len(names):  # "x" and "train/x" in a train/ folder: one column
            merged = {n: i for i, n in enumerate(dict.fromkeys(names))}
            remap = np.array([merged[n] for n in names], dtype=np.int64)
            names = list(merged)
        else:
            remap = None
        codes = np.fromiter(map(index.__getitem__, tags), dtype=np.int64, count=len(tags))
        if remap is not None:
            codes = remap[codes]
        event_steps = np.asarray(self.steps, dtype=np.int64)
        unique_steps, event_rows = np.unique(event_steps, return_inverse=True)
        rows = np.repeat(event_rows.reshape(-1), self.counts)
        values = np.fromiter(chain.from_iterable(self.values), dtype=np.float64, count=len(tags))
        valid = np.ones(len(tags), dtype=bool)
        return protolite.scatter_frame(unique_steps, rows, codes, values, valid, names)


_available: bool | None = None


PARSERS = (TensorBoardParser,)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """Event files by name; without the ``tensorboard`` package, say which extra to install."""
    global _available
    if not is_event_file(os.path.basename(path)):
        return None
    if _available is None:
        _available = tensorboard_available()
    if not _available:
        return Sniffed(None, f"TensorBoard event file: {INSTALL_HINT}")
    if len(head) >= HEADER:
        (len_crc,) = struct.unpack_from("<I", head, 8)
        if masked_crc32c(head[:8]) != len_crc:
            return Sniffed(None, "named like a TensorBoard event file but not TFRecord framed")
    return Sniffed(TensorBoardParser, "TensorBoard event file (scalars)")
