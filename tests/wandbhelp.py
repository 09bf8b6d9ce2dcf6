"""``.wandb`` test data: history records made with wandb's own protobuf classes, and the chunks of
a framed log (tests that use it skip without the ``wandb`` package)."""

from __future__ import annotations

import json
import struct

from rltop.core.formats.wandb import BLOCK_LEN, HEADER_LEN


def history(step: int, values: dict[str, object]) -> bytes:
    """A history record of ``values`` at ``step`` (``nested_key`` items, then ``_step``)."""
    from wandb.proto import wandb_internal_pb2 as pb

    record = pb.Record()
    for key, value in values.items():
        item = record.history.item.add()
        item.nested_key.append(key)
        item.value_json = json.dumps(value)
    item = record.history.item.add()
    item.key = "_step"
    item.value_json = str(step)
    record.history.step.num = step
    return record.SerializeToString()


def chunks(data: bytes) -> list[tuple[int, int]]:
    """(file offset, type) of every chunk of a framed log."""
    pos, out = HEADER_LEN, []
    while len(data) - pos >= HEADER_LEN:
        left = BLOCK_LEN - pos % BLOCK_LEN
        if left < HEADER_LEN:
            pos += left
            continue
        _crc, length, kind = struct.unpack_from("<IHB", data, pos)
        out.append((pos, kind))
        pos += HEADER_LEN + length
    return out
