"""W&B run folders: the real fixture (history against wandb-summary.json, config, the run folder as
the run, reasons for the other files), a run written offline by the wandb package itself, and live
following of a growing ``.wandb`` log (records split over blocks, half-written chunks)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rltop.core.follow import Follower
from rltop.core.formats import sniff
from rltop.core.formats import wandb as wb
from rltop.core.formats.wandb import (
    BLOCK_LEN,
    FIRST,
    FULL,
    LAST,
    MIDDLE,
    WandbParser,
    frame_records,
)
from wandbhelp import chunks, history

pb = pytest.importorskip(
    "wandb.proto.wandb_internal_pb2", reason="needs the wandb package (rltop[wandb])"
)

from conftest import read_snapshot  # noqa: E402

RUN = "run-20241014_021059-7boci60w"


def _rows(result) -> list[dict]:
    """The metric rows of a parse, per-record rows and bulk-decoded frame alike (no nulls)."""
    rows = list(result.metrics)
    if result.metrics_frame is not None:
        for row in result.metrics_frame.iter_rows(named=True):
            rows.append({k: v for k, v in row.items() if v is not None})
    return sorted(rows, key=lambda r: r["step"])


def _run_dir(fixtures: Path) -> Path:
    return fixtures / "wandb" / RUN


def test_fixture_history_matches_the_summary(fixtures: Path):
    snap = read_snapshot(fixtures / "wandb")
    (run,) = snap.runs
    assert run.name == RUN  # the run folder, not files/
    assert run.run_id == str(_run_dir(fixtures))
    assert run.metrics.height == 51
    assert run.metrics.get_column("step").to_list() == list(range(51))
    summary = json.loads((_run_dir(fixtures) / "files" / "wandb-summary.json").read_text())
    for key in ("train/loss", "train/gate_loss", "train/reinfroce_loss", "train/thought_loss"):
        assert run.latest(key) == pytest.approx(summary[key], rel=1e-12), key
    assert run.latest("train/step") == summary["train/step"] == 50
    assert run.latest("_runtime") == pytest.approx(summary["_runtime"])
    assert run.latest("_timestamp") == pytest.approx(summary["_timestamp"])
    assert run.series("train/loss")[1][0] == pytest.approx(1.3093174695968628)
    assert set(run.metric_names) == {
        "train/loss",
        "train/reinfroce_loss",
        "train/gate_loss",
        "train/thought_loss",
        "train/epoch",
        "train/step",
    }


def test_fixture_config_from_log_and_config_yaml(fixtures: Path):
    snap = read_snapshot(fixtures / "wandb")
    (run,) = snap.runs
    assert run.config["model_name"] == "meta-llama/Llama-2-7b-hf"
    assert run.config["context_length"] == 4096
    assert run.config["gamma"] == 0.85
    assert run.config["batching_strategy"] == "padding"
    assert run.config["wandb/project"] == "Thinking"
    assert run.config["wandb/run_id"] == "7boci60w"
    assert not any(k.startswith("_wandb") for k in run.config)
    formats = {Path(s.path).name: s.format for s in snap.sources}
    assert formats == {"run-7boci60w.wandb": "wandb", "config.yaml": "wandb-config"}


def test_fixture_config_yaml_alone(fixtures: Path):
    snap = read_snapshot(_run_dir(fixtures) / "files" / "config.yaml")
    source = snap.sources[0]
    assert source.format == "wandb-config" and source.skipped == 0
    assert snap.runs[0].config["lr"] == 0.0001


def test_fixture_other_files_have_reasons(fixtures: Path):
    snap = read_snapshot(fixtures / "wandb")
    reasons = {Path(p).name: r for p, r in snap.unrecognized}
    assert "final values only" in reasons["wandb-summary.json"]
    assert "metadata" in reasons["wandb-metadata.json"]
    # output.log of this run has no verl step lines: said so, and where the metrics come from
    assert "run-<id>.wandb" in reasons["output.log"]


def test_fixture_parser_counts(fixtures: Path):
    path = _run_dir(fixtures) / "run-7boci60w.wandb"
    parser = WandbParser(str(path))
    result = parser.feed(path.read_bytes(), 1)
    assert len(_rows(result)) == 51
    assert not result.skips
    assert parser.consumed == path.stat().st_size
    # stats 140, output_raw 123, summary 103, files 3, header, telemetry (the exit record is read:
    # it is the run's state)
    assert result.ignored == 371
    assert result.config["wandb/state"] == "finished"


def test_output_log_with_verl_step_lines_is_read(tmp_path: Path, fixtures: Path):
    run = tmp_path / "wandb" / RUN
    shutil.copytree(_run_dir(fixtures), run)
    os.chmod(run / "files", 0o755)
    (run / "files" / "output.log").chmod(0o644)
    (run / "files" / "output.log").write_text(
        "\x1b[36m(TaskRunner pid=7)\x1b[0m step:51 - critic/score/mean:0.5 - actor/entropy:1.25\n"
    )
    snap = read_snapshot(tmp_path)
    (only,) = snap.runs
    assert only.latest("critic/score/mean") == 0.5
    assert {Path(s.path).name: s.format for s in snap.sources}["output.log"] == "verl-console"


def _history(step: int, **values: float) -> bytes:
    return history(step, values)


def _chunk_types(data: bytes) -> list[int]:
    return [kind for _pos, kind in chunks(data)]


def test_live_follow_reads_only_new_records(tmp_path: Path):
    run = tmp_path / "wandb" / "offline-run-20250101_000000-abc123"
    run.mkdir(parents=True)
    path = run / "run-abc123.wandb"
    small = [_history(s, **{"train/reward": s / 10}) for s in range(3)]
    # a record larger than a block: FIRST, MIDDLE, LAST chunks
    big = _history(
        3, **{"train/reward": 0.3, "notes/long": 0.0, **{f"m{i}": i for i in range(9000)}}
    )
    assert len(big) > 2 * BLOCK_LEN
    more = [_history(s, **{"train/reward": s / 10}) for s in range(4, 7)]

    data = frame_records(small)
    path.write_bytes(data)
    follower = Follower([str(tmp_path)], force_polling=True)
    follower.read_all()
    (run_snap,) = follower.store.snapshot().runs
    assert run_snap.name == "wandb/offline-run-20250101_000000-abc123"
    followed = follower.followed[str(path)]
    assert followed.parser.consumed == len(data)
    assert run_snap.series("train/reward") == ([0, 1, 2], [0.0, 0.1, 0.2])

    tail = frame_records([big, *more], start=len(data))
    assert {FIRST, MIDDLE, LAST} <= set(_chunk_types(data + tail))
    cut = BLOCK_LEN + 100  # inside the big record's MIDDLE chunk: nothing complete yet
    with path.open("ab") as fh:
        fh.write(tail[:cut])
    follower.poll_once()
    assert followed.parser.consumed == len(data)
    assert followed.info.rows == 3

    offered = []
    original = followed.parser.feed

    def spy(block, first_line):
        offered.append(len(block))
        return original(block, first_line)

    followed.parser.feed = spy
    with path.open("ab") as fh:
        fh.write(tail[cut:])
    follower.poll_once()
    assert offered == [len(tail)]  # re-offered from the last complete record, never from 0
    run_snap = follower.store.snapshot().runs[0]
    assert run_snap.series("train/reward")[0] == [0, 1, 2, 3, 4, 5, 6]
    assert run_snap.latest("m8999") == 8999
    assert followed.info.rows == 7 and followed.info.skipped == 0
    assert followed.parser.consumed == path.stat().st_size


def test_every_split_point_gives_the_same_rows(tmp_path: Path):
    records = [_history(s, loss=1.0 / (s + 1)) for s in range(40)]
    data = frame_records(records)
    whole = _rows(WandbParser("x").feed(data, 1))
    assert len(whole) == 40
    for cut in range(0, len(data), 37):
        parser = WandbParser("x")
        first = _rows(parser.feed(data[:cut], 1))
        second = _rows(parser.feed(data[parser.consumed :], 1))
        assert first + second == whole, cut


def _sized_record(size: int) -> bytes:
    """A history record of exactly ``size`` serialized bytes (a string value padded to fit)."""
    for pad in range(size, 0, -1):
        record = pb.Record()
        item = record.history.item.add()
        item.key = "note"
        item.value_json = json.dumps("x" * pad)
        item = record.history.item.add()
        item.key = "_step"
        item.value_json = "0"
        data = record.SerializeToString()
        if len(data) == size:
            return data
    raise AssertionError(size)


def test_block_trailer_padding():
    # the first record leaves 3 bytes in the block: too few for a chunk header, so zeros follow
    first = _sized_record(BLOCK_LEN - 7 - 7 - 3)
    data = frame_records([first, _history(1, x=1.0)])
    assert data[BLOCK_LEN - 3 : BLOCK_LEN] == b"\x00\x00\x00"
    assert _chunk_types(data) == [FULL, FULL]
    for cut in (BLOCK_LEN - 3, BLOCK_LEN - 1, BLOCK_LEN, BLOCK_LEN + 5, len(data)):
        parser = WandbParser("x")
        rows = _rows(parser.feed(data[:cut], 1)) + _rows(parser.feed(data[parser.consumed :], 1))
        assert [r["step"] for r in rows] == [0, 1], cut
        assert rows[1]["x"] == 1.0


def test_not_a_wandb_log(tmp_path: Path):
    path = tmp_path / "run-x.wandb"
    path.write_bytes(b"hello world, not a log")
    found = sniff(str(path), path.read_bytes())
    assert found.parser is None and ":W&B" in found.reason


def test_without_the_package_says_which_extra(monkeypatch, fixtures: Path):
    monkeypatch.setattr(wb, "_available", False)
    path = _run_dir(fixtures) / "run-7boci60w.wandb"
    found = sniff(str(path), path.read_bytes()[:100])
    assert found.parser is None and "install rltop[wandb]" in found.reason


def test_a_run_written_offline_by_wandb(tmp_path: Path):
    """The wandb package's own writer (offline mode: no network, no account)."""
    script = textwrap.dedent(
        """
        import wandb
        run = wandb.init(mode="offline", dir=".", project="rltop-test",
                         config={"lr": 0.001, "model": {"name": "tiny"}})
        for step in range(5):
            run.log({"train/reward": step * 0.5, "train/loss": 1.0 / (step + 1)}, step=step)
        run.finish()
        """
    )
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_CONSOLE": "off",
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("wandb did not finish an offline run within 120 s here")
    if proc.returncode != 0:
        pytest.skip(f"wandb could not write an offline run here: {proc.stderr[-300:]}")
    snap = read_snapshot(tmp_path / "wandb")
    (run,) = snap.runs
    assert run.name.startswith("offline-run-")
    assert run.series("train/reward") == ([0, 1, 2, 3, 4], [0.0, 0.5, 1.0, 1.5, 2.0])
    assert run.series("train/loss")[1] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert run.config["lr"] == 0.001
    assert run.config["model/name"] == "tiny"
    assert run.config["wandb/project"] == "rltop-test"
    reasons = dict(snap.unrecognized)
    for path, reason in reasons.items():
        if path.endswith(".log"):
            assert reason == "W&B debug log, not metrics", path


def _odd_history(step: int) -> bytes:
    """History records with everything the bulk decoder must hand back or handle like the
    per-record path: NaN/Infinity/null, text, media, multi-part nested keys, typed values,
    records without ``_step`` or without any step, shuffled key order."""
    record = pb.Record()
    items = [("loss", json.dumps(1.0 / (step + 1))), ("acc", json.dumps(step % 3))]
    if step % 5 == 0:
        items.append(("val/score", "NaN"))
    if step % 7 == 0:
        items.append(("grad", "Infinity" if step % 2 else "-Infinity"))
    if step % 11 == 0:
        items.append(("maybe", "null"))
    if step % 13 == 0:
        items.append(("phase", json.dumps("warmup")))
    if step % 17 == 0:
        items.append(("sample", json.dumps({"_type": "image-file", "path": "x.png"})))
    if step % 19 == 0:
        items.append(("nested", json.dumps({"a": 1.5, "b": {"c": 2}})))
    if step % 23 == 0:
        items.append(("flag", "true"))
    if step % 3 == 1:
        items.reverse()
    for key, value in items:
        item = record.history.item.add()
        item.nested_key.append(key)
        item.value_json = value
    if step % 29 == 0:
        item = record.history.item.add()
        item.nested_key.extend(["deep", "part"])
        item.value_json = "4.5"
    if step % 31 == 0:
        item = record.history.item.add()
        item.nested_key.append("typed")
        item.number = 2.25
    if step % 37 != 5:
        item = record.history.item.add()
        if step % 43 == 0:
            item.key = "_step"  # older writers: ``key``; mixed with ``nested_key`` here
        else:
            item.nested_key.append("_step")
        item.value_json = str(step)
    if step % 41 != 5:
        record.history.step.num = step
    return record.SerializeToString()


def _frame_of(data: bytes, bulk: bool, monkeypatch, cut: int | None = None):
    from rltop.core.store import Store

    monkeypatch.setattr(wb, "BULK_MIN_RECORDS", 1 if bulk else 10**9)
    parser = WandbParser("x")
    store = Store()
    store.add_run("r", "r", "/")
    store.add_source(wb_source := _source())
    parts = [data] if cut is None else [data[:cut], None]
    skips = 0
    for part in parts:
        block = data[parser.consumed :] if part is None else part
        result = parser.feed(block, 1)
        skips += len(result.skips)
        store.apply(wb_source.path, result)
    frame = store.snapshot().runs[0].metrics
    return frame.select(sorted(frame.columns)), skips


def _source():
    from rltop.core.store import SourceInfo

    return SourceInfo(path="x", format="wandb", kind="metrics", run_id="r")


def test_bulk_decoding_gives_what_record_by_record_gives(monkeypatch):
    records = [_odd_history(s) for s in range(300)]
    config = pb.Record()
    item = config.config.update.add()
    item.key = "lr"
    item.value_json = "0.001"
    records.insert(3, config.SerializeToString())
    data = frame_records(records)
    slow, slow_skips = _frame_of(data, False, monkeypatch)
    fast, fast_skips = _frame_of(data, True, monkeypatch)
    bulk = WandbParser("x").feed(data, 1)
    assert bulk.metrics_frame.height > 150  # most records took the bulk path
    assert slow.height > 250 and "val/score" in slow.columns and "nested/b/c" in slow.columns
    assert "deep/part" in slow.columns and "typed" in slow.columns
    assert fast.equals(slow)
    assert fast_skips == slow_skips > 0  # the record with no step at all, said both ways
    for cut in (5000, len(data) // 2):
        split, _ = _frame_of(data, True, monkeypatch, cut)
        assert split.equals(slow), cut


def test_reading_never_imports_the_wandb_package(fixtures: Path):
    """The records are decoded through protobuf views: importing wandb takes over a second."""
    code = textwrap.dedent(
        f"""
        import sys
        from rltop.core.follow import Follower
        f = Follower([{str(_run_dir(fixtures))!r}])
        f.read_all()
        assert f.store.snapshot().runs[0].metrics.height == 51
        print(sorted(m for m in sys.modules if m == "wandb" or m.startswith("wandb.")))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
