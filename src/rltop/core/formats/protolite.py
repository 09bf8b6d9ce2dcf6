"""Protobuf "views" built at run time, for reading many records in one C-level parse.

A view is a message type that declares only the fields a reader needs, with the field numbers of
the real schema. Two protobuf rules make views useful for bulk decoding:

- fields a view does not declare are skipped by the parser (at C speed);
- a *singular* embedded message field that appears several times is merged, and merging
  concatenates repeated fields: reading ``repeated HistoryItem item = 1`` as a singular
  ``Merged item = 1`` whose fields are all ``repeated`` gives every item's key in one list and
  every value in another, without a Python object per item.

Needs the ``protobuf`` package (installed with ``wandb`` and ``tensorboard``), imported lazily.
"""

from __future__ import annotations

from typing import Any

#: protobuf field types by name (``FieldDescriptorProto.Type``)
TYPES = {
    "double": 1,
    "float": 2,
    "int64": 3,
    "uint64": 4,
    "int32": 5,
    "fixed64": 6,
    "fixed32": 7,
    "bool": 8,
    "string": 9,
    "message": 11,
    "bytes": 12,
    "uint32": 13,
    "enum": 14,
    "sfixed32": 15,
    "sfixed64": 16,
    "sint32": 17,
    "sint64": 18,
}


_BUILT: dict[str, dict[str, Any]] = {}


def views(file_name: str, package: str, messages: dict[str, list[tuple]]) -> dict[str, Any]:
    """``build``'s message classes, built once per ``file_name`` and kept for the process (each
    reader's views are one spec, asked for at every read)."""
    built = _BUILT.get(file_name)
    if built is None:  # two threads may both build it: the same classes, the last one kept
        built = _BUILT[file_name] = build(file_name, package, messages)
    return built


def build(file_name: str, package: str, messages: dict[str, list[tuple]]) -> dict[str, Any]:
    """Message classes from ``{name: [(field, number, type, repeated[, message name][, oneof])]}``.

    ``type`` is a key of ``TYPES``; for ``"message"`` the 5th item names another message of the
    same spec. A 6th item names a oneof the field belongs to. Returns ``{name: class}``.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name=file_name, package=package, syntax="proto3")
    for name, fields in messages.items():
        msg = proto.message_type.add(name=name)
        oneofs: dict[str, int] = {}
        for spec in fields:
            field_name, number, kind, repeated = spec[:4]
            ref = spec[4] if len(spec) > 4 else None
            oneof = spec[5] if len(spec) > 5 else None
            field = msg.field.add(
                name=field_name,
                number=number,
                type=TYPES[kind],
                label=3 if repeated else 1,  # LABEL_REPEATED / LABEL_OPTIONAL
            )
            if ref:
                field.type_name = f".{package}.{ref}"
            if repeated and kind not in ("string", "bytes", "message"):
                field.options.packed = False  # writers may use either; parsers accept both
            if oneof:
                if oneof not in oneofs:
                    oneofs[oneof] = len(msg.oneof_decl)
                    msg.oneof_decl.add(name=oneof)
                field.oneof_index = oneofs[oneof]
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
        for name in messages
    }


def varint(value: int) -> bytes:
    """A protobuf base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def wrap(records: list[bytes], field: int = 1) -> bytes:
    """Serialized records as one message with a ``repeated`` (length-delimited) field ``field``."""
    tag = varint(field << 3 | 2)
    heads = _HEADER_CACHE.setdefault(field, {})
    parts: list[bytes] = []
    append = parts.append
    for data in records:
        size = len(data)
        head = heads.get(size)
        if head is None:
            head = tag + varint(size)
            if len(heads) < _MAX_HEADERS:
                heads[size] = head
        append(head)
        append(data)
    return b"".join(parts)


#: field tag + length by field and length, made as records of each length come (most records
#: of a log are of a few thousand lengths)
_HEADER_CACHE: dict[int, dict[int, bytes]] = {}
_MAX_HEADERS = 1 << 16


def scatter_frame(
    steps: Any, rows: Any, codes: Any, values: Any, valid: Any, names: list[str]
) -> Any:
    """A polars frame ``step`` + one Float64 column per name from long-form items.

    ``rows``/``codes`` place each item (numpy int arrays), ``values`` its float, ``valid``
    whether it holds a number (False: null). ``steps`` gives each row's step. Of items that land
    on the same cell, the last wins. Columns without any number are left out.
    """
    import numpy as np
    import polars as pl

    nrows, ncols = len(steps), len(names)
    cells = rows * ncols + codes
    if len(cells) and np.bincount(cells, minlength=1).max() > 1:  # keep the last of duplicates
        _, last = np.unique(cells[::-1], return_index=True)
        keep = np.sort(len(cells) - 1 - last)
        rows, codes, values, valid = rows[keep], codes[keep], values[keep], valid[keep]
    matrix = np.full((nrows, ncols), np.nan)
    matrix[rows, codes] = values
    have = np.zeros((nrows, ncols), dtype=bool)
    have[rows, codes] = valid
    columns = [pl.Series("step", np.asarray(steps, dtype=np.int64))]
    for j, name in enumerate(names):
        present = have[:, j]
        if not present.any():
            continue
        series = pl.Series(name, matrix[:, j])
        if not present.all():
            series = series.scatter(np.flatnonzero(~present), None)
        columns.append(series)
    return pl.DataFrame(columns)
