"""Pilot tests of the rough edges of issue #15, at 80×24 and 160×48 (the numbered items)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rltop.core import roles
from rltop.ui.app import make_app
from rltop.ui.widgets.metric_grid import MetricGrid

from uihelp import loaded, wait_for

SIZES = [(80, 24), (160, 48)]

#: what a practitioner looks at first, per trainer (FORMATS.md key names)
KEY_ROWS = {
    "verl": (
        [
            "critic/score/mean", "val-core/openai/gsm8k/acc/mean@1", "actor/pg_loss",
            "actor/entropy", "actor/kl_loss", "actor/ppo_kl", "response_length/mean",
            "response_length/clip_ratio", "actor/pg_clipfrac", "actor/grad_norm", "actor/lr",
            "timing_s/gen",
        ],
        {"critic/score/mean", "actor/pg_loss", "actor/entropy", "actor/kl_loss", "actor/ppo_kl",
         "response_length/mean", "response_length/clip_ratio", "actor/pg_clipfrac",
         "actor/grad_norm", "val-core/openai/gsm8k/acc/mean@1"},
    ),
    "verl (older entropy name)": (
        ["critic/score/mean", "actor/entropy_loss", "actor/pg_loss"],
        {"critic/score/mean", "actor/entropy_loss", "actor/pg_loss"},
    ),
    "trl grpo": (
        ["reward", "reward_std", "kl", "entropy", "loss", "grad_norm", "learning_rate",
         "completions/mean_length", "completions/clipped_ratio", "frac_reward_zero_std",
         "clip_ratio/region_mean", "eval_reward"],
        {"reward", "kl", "entropy", "loss", "grad_norm", "completions/mean_length",
         "completions/clipped_ratio", "frac_reward_zero_std", "clip_ratio/region_mean",
         "eval_reward"},
    ),
    "tinker": (
        ["env/all/reward/total", "test/env/all/reward/total", "env/all/pass_rate",
         "optim/entropy", "optim/kl_sample_train_v1", "env/all/ac_tokens_per_turn", "optim/lr"],
        {"env/all/reward/total", "test/env/all/reward/total", "env/all/pass_rate",
         "optim/entropy", "optim/kl_sample_train_v1", "env/all/ac_tokens_per_turn"},
    ),
    "art": (
        ["train/reward", "val/reward", "loss/train", "loss/entropy", "loss/kl_div",
         "loss/grad_norm"],
        {"train/reward", "val/reward", "loss/train", "loss/entropy", "loss/kl_div",
         "loss/grad_norm"},
    ),
    "openai": (
        ["train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"],
        {"train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"},
    ),
    "openai legacy": (
        ["training_loss", "training_token_accuracy", "validation_loss",
         "validation_token_accuracy", "elapsed_tokens"],
        {"training_loss", "training_token_accuracy", "validation_loss",
         "validation_token_accuracy"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("trainer", sorted(KEY_ROWS))
def test_item3_key_row_of_every_trainer(trainer: str) -> None:
    names, expected = KEY_ROWS[trainer]
    resolved = roles.resolve(names)
    key = {n for r, n in resolved.items() if r in roles.KEY_ROLES}
    assert expected <= key, expected - key


@pytest.mark.parametrize("size", SIZES)
async def test_item3_verl_key_metrics_on_the_dashboard(tmp_path: Path, fixtures, size) -> None:
    shutil.copy(fixtures / "verl" / "filelogger_verl_examples_gsm8k.jsonl", tmp_path / "run.jsonl")
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        grid = app.screen.query_one(MetricGrid)
        await wait_for(pilot, lambda: len(grid.cards) > 10)
        key = [c.name for c in grid.cards if c.group == "key metrics"]
        for name in ("actor/pg_loss", "actor/kl_loss", "actor/ppo_kl", "actor/grad_norm"):
            assert name in key
        assert key[0] == "critic/score/mean"


# -- 2: new warnings never hide what the user reads ----------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_item2_new_warnings_are_one_line_in_the_strip_not_toasts(tmp_path, size) -> None:
    from rltop.core.diagnose import Warning
    from rltop.ui.widgets.warnings import WarningsPane

    from uihelp import demo_folder, settled

    app = make_app([str(demo_folder(tmp_path, 120))])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, settled(app), timeout=60)
        tracker = app.warnings_tracker
        await wait_for(pilot, lambda: tracker.state.evaluated > 0 and tracker.state.active)
        pane = app.screen.query_one(WarningsPane)
        await wait_for(pilot, lambda: bool(tracker.state.news))
        assert not app._notifications  # nothing over the chart, the list or the chat
        # several at once: coalesced in one line
        w = tracker.state.active[0]
        many = [
            Warning(f"rule.{i}", "warning", w.run_id, w.run, None, "evidence", "title")
            for i in range(3)
        ]
        tracker.announce(many)
        for listener in tracker.listeners:
            listener(tracker.state)
        await pilot.pause(0.1)
        first = str(pane.render()).splitlines()[0]
        assert first.count("new warnings") == 1 and "3 new warnings" in first
        assert "since step None" not in str(pane.render())
        assert not app._notifications
        assert pane.region.bottom <= app.screen.size.height - 2  # above the status line and footer


# -- 7: shortened names keep the first and last segments -----------------------------------------
def test_item7_shorten_in_the_middle() -> None:
    from rltop.core.numfmt import shorten_name

    assert shorten_name("test/env/all/reward/total", 20) == "test/…/reward/total"
    assert shorten_name("env/all/reward/total", 20) == "env/all/reward/total"
    assert shorten_name("val-core/openai/gsm8k/acc/mean@1", 24) == "val-core/…/acc/mean@1"
    cut = shorten_name("response_length/clip_ratio", 20)
    assert cut.endswith("/clip_ratio") and cut.startswith("resp") and len(cut) == 20
    long = shorten_name("x" * 50, 11)
    assert len(long) == 11 and "…" in long


@pytest.mark.parametrize("size", SIZES)
async def test_item7_cards_show_test_and_total(tmp_path: Path, fixtures, size) -> None:
    shutil.copy(fixtures / "tinker" / "metrics.jsonl", tmp_path / "metrics.jsonl")
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        grid = app.screen.query_one(MetricGrid)
        await wait_for(pilot, lambda: len(grid.cards) > 5)
        index = [c.name for c in grid.cards].index("test/env/all/reward/total")
        from rich.style import Style

        shown = "".join(seg.text for seg in grid._card_line(index, 0, Style()))
        assert "test/" in shown and "total" in shown


# -- 8: no internal text on screen ---------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_item8_help_speaks_keys_and_places(tmp_path: Path, size) -> None:
    from rltop.ui.screens.help import HelpScreen

    from uihelp import demo_folder

    app = make_app([str(demo_folder(tmp_path, 10))])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = app.screen.rows
        keys = {k for k, _d, _w in rows}
        places = {w for _k, _d, w in rows}
        assert ">" in keys and "<" in keys
        assert not any("_sign" in k or "ctrl+" in k for k in keys)
        assert {"dashboard", "cards", "everywhere"} <= places
        assert not any(p.endswith("Screen") or p[0].isupper() for p in places)


@pytest.mark.parametrize("size", SIZES)
async def test_item8_record_sources_count_records_not_zero_lines(tmp_path, fixtures, size) -> None:
    from rltop.ui.widgets.status import StatusLine

    shutil.copy(
        fixtures / "trl" / "trainer_state_grpo_chaos_economy.json", tmp_path / "trainer_state.json"
    )
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        await pilot.pause(0.2)
        status = str(app.screen.query_one(StatusLine).render())
        assert "0 lines" not in status and "records" in status


@pytest.mark.parametrize("size", SIZES)
async def test_item8_nan_card_has_no_trend_and_flat_chart_has_short_labels(tmp_path, size) -> None:
    from rich.style import Style

    from rltop.ui.widgets.chart import MetricChart

    run = tmp_path / "r"
    run.mkdir()
    rows = [
        {"step": s, "loss": 1.0000000000000002, "acc": 0.5 + s / 100 if s < 9 else float("nan")}
        for s in range(1, 10)
    ]
    import json

    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        grid = app.screen.query_one(MetricGrid)
        await wait_for(pilot, lambda: len(grid.cards) >= 2)
        names = [c.name for c in grid.cards]
        value_line = "".join(seg.text for seg in grid._card_line(names.index("acc"), 1, Style()))
        assert "NaN" in value_line and "▲" not in value_line and "▼" not in value_line
        grid.cursor = names.index("loss")
        await pilot.press("enter")
        chart = app.screen.query_one(MetricChart)
        await wait_for(pilot, lambda: [s.label for s in chart.series] == ["loss"])
        from test_ui_charts import chart_lines, y_labels

        labels = [v for _row, v in y_labels(chart_lines(chart))]
        assert labels and all(len(v) <= 5 for v in labels), labels


def test_item8_skip_reasons_are_words_without_positions() -> None:
    import orjson

    from rltop.core.formats.base import json_skip

    reasons = set()
    for raw in (b'{"a": ', b'{"b": 1, "c": ', b"nope"):
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            reasons.add(json_skip(1, raw, exc).reason)
    assert all("line" not in r and "char" not in r and r.endswith(")") for r in reasons)
    assert len(reasons) <= 2  # the same fault in other columns is one reason


# -- 4: each run's freshness -------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_item4_freshness_in_the_title(tmp_path: Path, size) -> None:
    import json
    import os
    import time

    old = tmp_path / "old"
    quiet = tmp_path / "quiet"
    for folder in (old, quiet):
        folder.mkdir()
        (folder / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": s, "loss": 1 / s}) + "\n" for s in range(1, 6))
        )
    now = time.time()
    os.utime(old / "metrics.jsonl", (now - 3 * 86400, now - 3 * 86400))
    os.utime(quiet / "metrics.jsonl", (now - 7 * 60, now - 7 * 60))
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app, 2))
        screen = app.screen
        titles = {}
        for _ in range(2):
            titles[screen.run.name] = str(screen.query_one("#title").render())
            await pilot.press("r")
            await pilot.pause(0.1)
        assert "○ ended · last write 3 d ago" in titles["old"] and "live" not in titles["old"]
        assert "◐ quiet 7 min" in titles["quiet"]
        (quiet / "metrics.jsonl").open("a").write(json.dumps({"step": 6, "loss": 0.1}) + "\n")
        await wait_for(pilot, lambda: screen.run.last_step == 6 or screen.run.name != "quiet")
        if screen.run.name != "quiet":
            await pilot.press("r")
        await wait_for(pilot, lambda: "● live" in str(screen.query_one("#title").render()))


@pytest.mark.parametrize("size", SIZES)
async def test_item4_a_run_that_stops_writing_turns_stalled_on_the_dashboard(
    tmp_path: Path, size, monkeypatch
) -> None:
    import json
    import time

    import rltop.ui.warnings_tracker as tracker_mod
    from rltop.ui.widgets.warnings import WarningsPane

    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1 / s}) + "\n" for s in range(1, 6))
    )
    clock = {"t": time.time()}
    monkeypatch.setattr(tracker_mod, "clock", lambda: clock["t"])
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        await wait_for(pilot, lambda: app.warnings_tracker.state.evaluated > 0)
        clock["t"] += 3600  # an hour without a write, and no new data to trigger the rules
        app._clock_rules()  # what the app's interval timer calls
        pane = app.screen.query_one(WarningsPane)
        await wait_for(pilot, lambda: "run.stalled" in str(pane.render()))


# -- 5: 80×24 keeps what matters ---------------------------------------------------------------
def _sweep(root: Path, runs: int = 9) -> None:
    import json

    for i in range(runs):
        folder = root / f"sweep-run-with-a-long-name-{i}"
        folder.mkdir()
        rows = [
            {"step": s, "train/loss": 1 / (s + i), "reward": s / (10 + i)} for s in range(1, 20)
        ]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("size", SIZES)
async def test_item5_footer_keeps_help_and_quit(tmp_path: Path, size) -> None:
    from textual.widgets._footer import FooterKey

    from uihelp import demo_folder

    app = make_app([str(demo_folder(tmp_path, 10))])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        await pilot.pause(0.3)
        keys = [k for k in app.screen.query(FooterKey) if "-command-palette" not in k.classes]
        actions = {k.action for k in keys}
        assert {"app.quit", "app.help"} <= actions or {"quit", "help"} <= {
            a.split(".")[-1] for a in actions
        }
        right = max(k.region.right for k in keys)
        assert right <= size[0]  # nothing cut at the edge
        if size[0] >= 160:
            assert "dashboard.warnings" in actions or "warnings" in {
                a.split(".")[-1] for a in actions
            }


@pytest.mark.parametrize("size", SIZES)
async def test_item5_runs_bar_scrolls_to_the_current_run(tmp_path: Path, size) -> None:
    _sweep(tmp_path)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app, 9))
        screen = app.screen
        for _ in range(8):
            await pilot.press("r")
        await pilot.pause(0.1)
        bar = str(screen.query_one("#runs").render())
        assert screen.run.name in bar
        assert len(bar) <= size[0]


def test_item5_runs_window_keeps_the_current_run() -> None:
    from rltop.ui.screens.dashboard import runs_window

    widths = [20] * 9
    for current in range(9):
        first, last = runs_window(widths, current, 60)
        assert first <= current < last and sum(widths[first:last]) <= 60


@pytest.mark.parametrize("size", SIZES)
async def test_item5_compare_table_shows_metrics_and_checkpoints_whole(tmp_path, size) -> None:
    from textual.widgets import DataTable

    from rltop.ui.screens.compare import CompareScreen

    _sweep(tmp_path, 3)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app, 3))
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause(0.3)
        table = app.screen.query_one(DataTable)
        # the run column leaves room for at least the last step and the reward
        visible = 0
        x = 0
        for column in table.ordered_columns:
            x += column.get_render_width(table)
            if x <= table.size.width:
                visible += 1
        assert visible >= 3


def test_item5_best_checkpoint_line_never_cuts_a_name() -> None:
    from types import SimpleNamespace

    from rltop.ui.widgets.warnings import checkpoint_line

    best = SimpleNamespace(
        candidates=[
            SimpleNamespace(label="peak valid reward", step=60, saved="checkpoint-60"),
            SimpleNamespace(label="final", step=90, saved="checkpoint-90"),
            SimpleNamespace(label="middle of training", step=30, saved=None),
        ]
    )
    line = checkpoint_line(best, 70).plain
    assert "…" not in line and "+" in line and len(line) <= 70
    assert "peak valid reward step 60 (checkpoint-60)" in line


# -- 6: compare by role --------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_item6_compare_matches_metrics_by_role(tmp_path: Path, size) -> None:
    import json

    from rltop.ui.screens.compare import CompareScreen
    from rltop.ui.widgets.chart import MetricChart

    trl = tmp_path / "trl"
    wandb_like = tmp_path / "wandb-like"
    for folder, name in ((trl, "loss"), (wandb_like, "train/loss")):
        folder.mkdir()
        rows = [{"step": s, name: 1 / s} for s in range(1, 12)]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app, 2))
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        screen = app.screen
        await pilot.pause(0.2)
        assert screen.metric in ("loss", "train/loss")
        labels = [s.label for s in screen.query_one(MetricChart).series]
        assert len(labels) == 2  # both runs, though they name the train loss differently
        other = "train/loss" if screen.metric == "loss" else "loss"
        assert any(f"({other})" in label for label in labels)


# -- 9: the rollout list while rows arrive; the group header after `a` --------------------------
def _more_rollouts(root: Path, step: int) -> None:
    import json

    folder = root / "demo-grpo" / "rollouts"
    last = sorted(folder.glob("*.jsonl"), key=lambda p: int(p.stem))[-1]
    rows = [json.loads(line) for line in last.read_text().splitlines() if line.strip()]
    for row in rows:
        row["step"] = step
    (folder / f"{step}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("size", SIZES)
async def test_item9_cursor_holds_as_rollouts_arrive(tmp_path: Path, size) -> None:
    from rltop.ui.screens.rollouts import RolloutsScreen
    from rltop.ui.widgets.rollout_list import RolloutList

    from uihelp import demo_folder, settled

    demo_folder(tmp_path, 10)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, settled(app))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
        screen = app.screen
        rlist = screen.query_one(RolloutList)
        await wait_for(pilot, lambda: screen.complete and rlist.count > 0)
        before = rlist.count
        _more_rollouts(tmp_path, 11)  # newer rows sort first: the cursor at the top stays there
        await wait_for(pilot, lambda: screen.complete and rlist.count > before, timeout=15)
        assert rlist.cursor == 0
        assert screen.frame.get_column("step")[rlist.current_row] == 11
        # moved down: the same rollout stays under the cursor as more arrive
        await pilot.press("down", "down", "down")
        row = rlist.current_row
        count = rlist.count
        _more_rollouts(tmp_path, 12)
        await wait_for(pilot, lambda: screen.complete and rlist.count > count, timeout=15)
        assert rlist.current_row == row and rlist.cursor > 3


@pytest.mark.parametrize("size", SIZES)
async def test_item9_group_header_follows_a(tmp_path: Path, size) -> None:
    from rltop.ui.screens.rollout_detail import GroupScreen
    from rltop.ui.screens.rollouts import RolloutsScreen
    from rltop.ui.widgets.rollout_list import RolloutList

    from uihelp import demo_folder, settled

    demo_folder(tmp_path, 10)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, settled(app))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
        rlist = app.screen.query_one(RolloutList)
        await wait_for(pilot, lambda: app.screen.complete and rlist.count > 0)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupScreen))
        head = app.screen.query_one("#gtitle")
        assert str(head.render()).startswith("group at step")
        await pilot.press("a")
        assert "across" in str(head.render()).splitlines()[0]
        assert "group at step" not in str(head.render())
        await pilot.press("a")
        assert str(head.render()).startswith("group at step")
