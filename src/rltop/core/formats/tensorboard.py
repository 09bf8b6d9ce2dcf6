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

import os
import struct
from typing import Any, ClassVar

from rltop.core.formats.base import Parser, Sniffed
from rltop.core.model import ParseResult, Skip

INSTALL_HINT = "install rltop[tensorboard]"
HEADER = 12  # u64 length + u32 crc
FOOTER = 4
#: a length beyond this is taken as garbage, not as a frame to wait for
MAX_RECORD = 1 << 31
#: data crcs of larger frames (graphs, images: never metrics) are not checked (pure-Python crc)
CHECK_DATA_CRC_BELOW = 64 * 1024
#: frames this large that do not fit in the bytes offered are stepped over once complete on disk
SKIP_UNREAD_ABOVE = 1 << 20
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
def _make_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The crc TFRecord stores: rotated and offset so crcs of crcs stay distinct."""
    crc = crc32c(data)
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

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        if self._event_cls is None:
            self._load()
        pos = 0
        end = len(block)
        rows: dict[int, dict[str, Any]] = {}
        while end - pos >= HEADER:
            (length,) = struct.unpack_from("<Q", block, pos)
            (len_crc,) = struct.unpack_from("<I", block, pos + 8)
            if masked_crc32c(block[pos : pos + 8]) != len_crc or length > MAX_RECORD:
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
                (data_crc,) = struct.unpack_from("<I", block, frame_end - FOOTER)
                if masked_crc32c(data) != data_crc:
                    result.skips.append(Skip("TFRecord data checksum mismatch (damaged event)"))
                    continue
            self._event(data, rows, result)
        self.consumed += pos
        result.metrics.extend(rows[step] for step in sorted(rows))
        return result

    def _on_disk(self, end_offset: int) -> bool:
        try:
            return os.path.getsize(self.path) >= end_offset
        except OSError:
            return False

    def _event(self, data: bytes, rows: dict[int, dict[str, Any]], result: ParseResult) -> None:
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
        for value in event.summary.value:
            number = self._scalar(value)
            if number is None:
                result.ignore(_not_scalar(value))
                continue
            tag = value.tag if value.tag.startswith(self.prefix) else self.prefix + value.tag
            rows.setdefault(step, {"step": step})[tag] = number

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
