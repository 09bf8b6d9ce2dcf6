"""protolite: views built once per spec and shared by the readers; records wrapped as one message."""

from __future__ import annotations

import pytest

pytest.importorskip("google.protobuf", reason="needs protobuf (rltop[wandb] or tensorboard)")

from rltop.core.formats import protolite, tensorboard, wandb_bulk

SPEC = {"Item": [("name", 1, "string", False)], "Batch": [("item", 1, "message", True, "Item")]}


def test_views_are_built_once_per_file():
    first = protolite.views("rltop_test_lite.proto", "rltop_test_lite", SPEC)
    assert protolite.views("rltop_test_lite.proto", "rltop_test_lite", SPEC) is first
    # the readers ask protolite, each for its own views
    assert wandb_bulk.record_class() is wandb_bulk.record_class()
    assert tensorboard._views() is tensorboard._views()
    assert tensorboard._views() is not wandb_bulk._views()


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 16383, 16384, 70000, 2**21 + 5])
def test_wrapped_records_parse_back(size: int):
    views = protolite.views("rltop_test_lite.proto", "rltop_test_lite", SPEC)
    item = views["Item"](name="x" * size)
    records = [item.SerializeToString(), views["Item"](name="short").SerializeToString()] * 2
    batch = views["Batch"]()
    batch.ParseFromString(protolite.wrap(records))
    assert [i.name for i in batch.item] == ["x" * size, "short"] * 2
