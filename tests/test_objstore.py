"""Object-store sources against a real S3 API on loopback (moto's threaded server).

``rltop check s3://...`` gives what it gives for the same files in a folder; a grown object is
fetched as its tail, a replaced one whole; a re-upload shows up within two listings; a missing
bucket or a wrong credential is a clear message and exit 3; an unreadable object is a problem of
its source only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rltop.core.follow import Follower
from rltop.core.objstore import ObjectSource, is_url, short_error
from s3help import S3Server, s3_server

RLTOP = str(Path(sys.executable).with_name("rltop"))


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        yield server


def rltop_check(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RLTOP_THRESHOLDS"}
    env["RLTOP_CONFIG"] = os.devnull + ".none"
    return subprocess.run(
        [RLTOP, "check", *args], capture_output=True, text=True, timeout=180, env=env
    )


def metrics_lines(start: int, stop: int) -> bytes:
    return b"".join(b'{"step": %d, "loss": %f}\n' % (i, 1.0 / (i + 1)) for i in range(start, stop))


def test_is_url():
    assert is_url("s3://b/p/") and is_url("gs://b") and is_url("az://acct/c/p")
    assert not is_url("/tmp/s3:/x") and not is_url("runs") and not is_url("http://host/x")


def test_check_s3_reports_like_the_same_folder(s3: S3Server, fixtures):
    s3.bucket("fixtures")
    s3.upload_tree(fixtures, "fixtures", "team/exp")
    local = rltop_check(str(fixtures), "--json")
    remote = rltop_check("s3://fixtures/team/exp/", "--json")
    assert remote.returncode == local.returncode, remote.stderr
    lo, re_ = json.loads(local.stdout), json.loads(remote.stdout)

    def summary(doc):
        return sorted(
            (r["name"], r["format"], r["steps"], r["rollouts"], [w["id"] for w in r["warnings"]])
            for r in doc["runs"]
        )

    assert summary(re_) == summary(lo)
    configs = {r["name"]: r["config_sources"] for r in lo["runs"]}
    assert configs["tinker"] == [str(fixtures / "tinker" / "config.json")]
    remote_configs = {r["name"]: r["config_sources"] for r in re_["runs"]}
    assert remote_configs["tinker"] == ["s3://fixtures/team/exp/tinker/config.json"]
    assert remote_configs["wandb/run-20241014_021059-7boci60w"] == [
        "s3://fixtures/team/exp/wandb/run-20241014_021059-7boci60w/files/config.yaml"
    ]
    paths = [s["path"] for r in re_["runs"] for s in r["sources"]]
    assert paths and all(p.startswith("s3://fixtures/team/exp/") for p in paths)
    # the text report names the objects too, never the local copies
    text = rltop_check("s3://fixtures/team/exp/")
    assert text.returncode == local.returncode and "rltop-objects-" not in text.stdout


def test_sources_lists_objects_by_their_urls(s3: S3Server, fixtures):
    s3.bucket("listing")
    s3.upload_tree(fixtures / "tinker", "listing", "exp/tinker")
    env = {k: v for k, v in os.environ.items()}
    out = subprocess.run(
        [RLTOP, "sources", "s3://listing/exp/", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    paths = [s["path"] for s in doc["sources"]] + [u["path"] for u in doc["unrecognized"]]
    assert "s3://listing/exp/tinker/metrics.jsonl" in paths
    assert all(p.startswith("s3://listing/exp/") for p in paths)
    assert doc["paths"] == ["s3://listing/exp/"]


def test_missing_bucket_is_a_clear_message_and_exit_3(s3: S3Server):
    out = rltop_check("s3://no-such-bucket/runs/")
    assert out.returncode == 3
    assert "cannot list s3://no-such-bucket/runs/" in out.stderr
    assert "bucket does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_wrong_credentials_are_a_clear_message_and_exit_3(s3: S3Server):
    s3.bucket("private")
    s3.put("private", "run/metrics.jsonl", metrics_lines(0, 5))
    s3.require_auth(True)
    try:
        out = rltop_check("s3://private/run/")
    finally:
        s3.require_auth(False)
    assert out.returncode == 3
    assert "cannot list s3://private/run/" in out.stderr
    assert "credentials" in out.stderr
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in out.stderr + out.stdout


def test_grown_object_is_fetched_as_its_tail_and_a_replaced_one_whole(s3: S3Server):
    s3.bucket("grow")
    s3.put("grow", "run/metrics.jsonl", metrics_lines(0, 10))
    source = ObjectSource("s3://grow/run/")
    first = source.sync()
    assert (first.full, first.ranged) == (1, 0)
    local = first.changed[0]
    assert Path(local).read_bytes() == metrics_lines(0, 10)
    assert source.sync().changed == []  # nothing changed: the listing alone says so
    inode = os.stat(local).st_ino
    s3.put("grow", "run/metrics.jsonl", metrics_lines(0, 15))
    grown = source.sync()
    assert (grown.full, grown.ranged) == (0, 1)
    assert grown.fetched_bytes == len(metrics_lines(10, 15))
    assert Path(local).read_bytes() == metrics_lines(0, 15) and os.stat(local).st_ino == inode
    # longer, but not the same beginning: a new file, read whole
    s3.put("grow", "run/metrics.jsonl", metrics_lines(100, 120))
    replaced = source.sync()
    assert (replaced.full, replaced.ranged) == (1, 0)
    assert Path(local).read_bytes() == metrics_lines(100, 120)
    # an empty object that gets its first lines: nothing to compare, fetched whole
    s3.put("grow", "run/empty.jsonl", b"")
    assert source.sync().full == 1
    s3.put("grow", "run/empty.jsonl", metrics_lines(0, 3))
    filled = source.sync()
    assert (filled.full, filled.ranged, filled.problems) == (1, 0, {})
    s3.client.delete_object(Bucket="grow", Key="run/empty.jsonl")
    source.sync()
    s3.client.delete_object(Bucket="grow", Key="run/metrics.jsonl")
    gone = source.sync()
    assert gone.removed == [local] and not os.path.exists(local)


def test_reupload_with_more_lines_appears_within_two_listings(s3: S3Server):
    s3.bucket("live")
    written = metrics_lines(0, 20)
    s3.put("live", "exp/run-a/metrics.jsonl", written)
    follower = Follower(["s3://live/exp/"], list_interval=0.2, poll_interval=0.05)
    stop = threading.Event()
    changed = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop, changed.set), daemon=True)
    thread.start()
    try:
        assert _until(lambda: _last_step(follower) == 19)
        source = follower.objects[0]
        for upto in (30, 45):  # a live writer re-uploading its growing log
            written += metrics_lines(len(written.splitlines()), upto)
            before = source.listings
            s3.put("live", "exp/run-a/metrics.jsonl", written)
            assert _until(lambda upto=upto: _last_step(follower) == upto - 1)
            assert source.listings - before <= 2
        snap = follower.store.snapshot()
        (run,) = snap.runs
        assert run.name == "run-a" and run.metrics.height == 45
        assert follower.watch_mode.startswith("listed ")
    finally:
        stop.set()
        thread.join(10)


def test_an_unreadable_object_is_a_problem_of_its_source(s3: S3Server, monkeypatch):
    import obstore

    s3.bucket("mixed")
    s3.put("mixed", "good/metrics.jsonl", metrics_lines(0, 5))
    s3.put("mixed", "denied/metrics.jsonl", metrics_lines(0, 5))
    real_get = obstore.get

    def get(store, path, **kwargs):
        if path.startswith("denied/"):
            raise PermissionError(
                "Error performing GET: Server returned non-2xx status code: 403 Forbidden: "
                "<Error><Code>AccessDenied</Code></Error>"
            )
        return real_get(store, path, **kwargs)

    monkeypatch.setattr(obstore, "get", get)
    follower = Follower(["s3://mixed/"])
    follower.read_all()
    snap = follower.store.snapshot()
    assert [r.name for r in snap.runs if r.metric_names] == ["good"]
    reasons = {follower.where(p): r for p, r in snap.unrecognized}
    assert reasons["s3://mixed/denied/metrics.jsonl"] == "cannot read: AccessDenied HTTP 403"


def test_short_error_keeps_one_line():
    exc = FileNotFoundError("Object at location x not found: ...\n\nDebug source:\nNotFound {")
    assert short_error(exc) == "not found (404)"
    assert short_error(TimeoutError("operation timed out")) == "timed out"


async def test_dashboard_shows_and_follows_an_s3_prefix(s3: S3Server):
    from rltop.ui.app import make_app
    from rltop.ui.widgets.status import status_text

    from uihelp import loaded, wait_for

    s3.bucket("dash")
    written = metrics_lines(0, 12)
    s3.put("dash", "exp/run-a/metrics.jsonl", written)
    follower = Follower(["s3://dash/exp/"], list_interval=0.2, poll_interval=0.05)
    app = make_app(["s3://dash/exp/"], follower=follower)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, loaded(app), timeout=30)
        assert app.snapshot.runs[0].name == "run-a"
        s3.put("dash", "exp/run-a/metrics.jsonl", written + metrics_lines(12, 20))
        await wait_for(pilot, lambda: app.snapshot.runs[0].last_step == 19, timeout=30)
        line = str(status_text(app.snapshot, watch_mode=app.watch_mode))
        assert " · listed " in line and " s" in line


def _last_step(follower: Follower) -> int | None:
    runs = follower.store.snapshot().runs
    return runs[0].last_step if runs else None


def _until(predicate, limit: float = 30.0) -> bool:
    import time

    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
