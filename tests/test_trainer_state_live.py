"""trainer_state.json is rewritten whole at every save; checkpoints' copies merge without duplicates."""

from __future__ import annotations

import json

from rltop.core.follow import Follower

from conftest import read_snapshot


def _state(steps: list[int]) -> str:
    history = []
    for step in steps:
        history.append(
            {"step": step, "loss": 1.0 / step, "reward": step / 100, "epoch": step / 100}
        )
        if step % 20 == 0:
            history.append({"step": step, "eval_loss": 2.0 / step, "epoch": step / 100})
    return json.dumps({"global_step": steps[-1], "log_history": history}, indent=2)


def test_checkpoint_copies_merge_without_duplicate_steps(tmp_path):
    out = tmp_path / "out"
    for ckpt in (20, 40):
        (out / f"checkpoint-{ckpt}").mkdir(parents=True)
        (out / f"checkpoint-{ckpt}" / "trainer_state.json").write_text(
            _state(list(range(5, ckpt + 1, 5)))
        )
    (out / "trainer_state.json").write_text(_state(list(range(5, 61, 5))))
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert run.name == "out"
    m = run.metrics
    assert m["step"].to_list() == list(range(5, 61, 5))
    assert m.filter(m["step"] == 40)["eval_loss"][0] == 2.0 / 40
    assert m.filter(m["step"] == 45)["reward"][0] == 0.45


def test_rewrite_and_half_written_save(tmp_path):
    path = tmp_path / "trainer_state.json"
    path.write_text(_state([5, 10]))
    follower = Follower([str(tmp_path)])
    follower.read_all()
    assert follower.store.snapshot().runs[0].metrics["step"].to_list() == [5, 10]
    # a save caught half-way: keep what was there, say what happened
    full = _state([5, 10, 15])
    path.write_text(full[: len(full) // 2])
    follower.poll_once()
    run = follower.store.snapshot().runs[0]
    assert run.metrics["step"].to_list() == [5, 10]
    assert run.sources[0].skipped == 1
    path.write_text(full)
    follower.poll_once()
    assert follower.store.snapshot().runs[0].metrics["step"].to_list() == [5, 10, 15]
