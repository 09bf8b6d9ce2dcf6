"""Pilot tests of the rollout browser: search, filters, sort, detail, group, jump, export, escapes."""

from __future__ import annotations

import json
import os

from textual.widgets import Collapsible, Input, Static, Tree

from rltop.ui.app import make_app
from rltop.ui.screens.dashboard import DashboardScreen
from rltop.ui.screens.rollout_detail import ExportScreen, GroupScreen, RolloutDetailScreen
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.widgets.rollout_list import RolloutList

from uihelp import demo_folder, loaded, wait_for

SIZE = (120, 36)


async def open_rollouts(pilot, app) -> RolloutsScreen:
    await wait_for(pilot, loaded(app))
    await wait_for(pilot, lambda: app.snapshot.runs[0].rollouts.height >= 60 * 32)
    await pilot.press("o")
    await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
    screen: RolloutsScreen = app.screen
    await wait_for(pilot, lambda: screen.complete and screen.query_one(RolloutList).count > 0)
    return screen


async def settle(pilot, screen: RolloutsScreen) -> None:
    await pilot.pause(0.25)
    await wait_for(pilot, lambda: screen.complete)


def status(screen) -> str:
    return str(screen.query_one("#rstatus", Static).content)


def listed(screen) -> list[dict]:
    rlist = screen.query_one(RolloutList)
    return [rlist.frame.row(int(r), named=True) for r in rlist.positions]


async def test_list_search_filter_and_sort(tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rollouts(pilot, app)
        rlist = screen.query_one(RolloutList)
        assert rlist.count == 1920
        assert listed(screen)[0]["step"] == 60  # newest first
        assert "1,920 rollouts" in status(screen) and "in memory" in status(screen)
        # keys move the cursor
        await pilot.press("j", "j", "k")
        assert rlist.cursor == 1
        await pilot.press("G")
        assert rlist.cursor == 1919
        await pilot.press("g", "pagedown")
        assert rlist.cursor > 10
        await pilot.press("pageup")
        assert rlist.cursor == 0
        # free text, highlighted in the list
        await pilot.press("slash", *"answer is 100", "enter")
        await settle(pilot, screen)
        rows = listed(screen)
        assert rows and all("answer is 100" in r["completion"] for r in rows)
        assert rlist.has_focus
        line = rlist.render_line(1)
        assert "answer is 100" in line.text
        assert any(seg.style and seg.style.bold for seg in line if "answer" in seg.text)
        # n / N move between matches
        await pilot.press("n")
        assert rlist.cursor == 1
        await pilot.press("N")
        assert rlist.cursor == 0
        # filters, AND-ed
        screen.set_query("reward<0.2 step>=55")
        await settle(pilot, screen)
        rows = listed(screen)
        assert rows and all(r["reward"] < 0.2 and r["step"] >= 55 for r in rows)
        screen.set_query("acc=true len>150")
        await settle(pilot, screen)
        assert all(r["acc"] and r["length"] > 150 for r in listed(screen))
        screen.set_query("/answer is 1\\d\\d\\./")
        await settle(pilot, screen)
        assert listed(screen) and "of 1,920 match" in status(screen)
        # sort: s cycles (step -> reward ascending), S reverses
        screen.set_query("")
        await settle(pilot, screen)
        await pilot.press("s")
        await settle(pilot, screen)
        rewards = [r["reward"] for r in listed(screen)]
        assert screen.sort == "reward" and rewards == sorted(rewards)
        assert "sort reward ↑" in status(screen)
        await pilot.press("S")
        await settle(pilot, screen)
        rewards = [r["reward"] for r in listed(screen)]
        assert rewards == sorted(rewards, reverse=True)
        screen.set_query("sort:-length")
        await settle(pilot, screen)
        lengths = [r["length"] for r in listed(screen)]
        assert lengths == sorted(lengths, reverse=True)
        # Esc goes back to the dashboard
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_invalid_query_is_a_message_not_a_crash(tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rollouts(pilot, app)
        before = screen.query_one(RolloutList).count
        for bad, says in [
            ("rewrd<0.2", "unknown column 'rewrd'"),
            ("reward<abc", "reward is a number"),
            ("/(oops/", "bad regular expression"),
            ('"unclosed', "unbalanced quotes"),
        ]:
            screen.set_query(bad)
            await pilot.pause(0.1)
            assert says in status(screen)
            assert screen.query_one("#rstatus").has_class("error")
            assert screen.query_one(RolloutList).count == before
        # typing it in the bar behaves the same
        await pilot.press("slash", *"acc=maybe")
        await pilot.pause(0.4)
        assert "true/false" in status(screen)
        await pilot.press("escape")  # leaves the bar, stays on the screen
        assert isinstance(app.screen, RolloutsScreen)


async def test_detail_thinking_and_next_match(tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rollouts(pilot, app)
        screen.set_query("Giving away")
        await settle(pilot, screen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen))
        detail: RolloutDetailScreen = app.screen
        row = listed(screen)[0]
        assert detail.data["completion"] == row["completion"]
        boxes = list(detail.query(Collapsible))
        assert len(boxes) == 1 and boxes[0].collapsed  # <think> folded
        await pilot.press("t")
        assert not boxes[0].collapsed
        await pilot.press("t")
        assert boxes[0].collapsed
        await pilot.press("n")  # the match is inside the thinking: it unfolds
        assert not boxes[0].collapsed
        fields = str(detail.query_one(".fields", Static).content)
        assert f"step: {row['step']}" in fields and "gts: " in fields and "acc: " in fields
        await pilot.press("escape")
        assert app.screen is screen


async def test_group_view_same_step_and_across_steps(tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rollouts(pilot, app)
        row = listed(screen)[0]
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupScreen))
        group: GroupScreen = app.screen
        members = list(group.members.iter_rows(named=True))
        assert len(members) == 4
        assert {m["step"] for m in members} == {row["step"]}
        assert {m["prompt"] for m in members} == {row["prompt"]}
        rewards = [m["reward"] for m in members]
        assert rewards == sorted(rewards, reverse=True)
        heads = [str(s.content) for s in group.query(".member-head")]
        assert len(heads) == 4 and heads[0].startswith("#1  reward")
        await pilot.press("a")
        assert group.has_class("across")
        across = str(group.query_one("#across-text", Static).content)
        steps = sorted(group.history.get_column("step").unique().to_list())
        assert len(steps) > 1  # the demo reuses prompts across steps
        for step in steps:
            assert f"{step:>5}" in across
        await pilot.press("escape")
        assert app.screen is screen


async def test_jump_from_the_chart_to_the_steps_rollouts_worst_first(tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, loaded(app))
        await wait_for(pilot, lambda: app.snapshot.runs[0].rollouts.height >= 1920)
        await pilot.pause(0.2)
        # the validation metric is logged every 5 steps: its last step is 60
        dash: DashboardScreen = app.screen
        dash.highlighted = "val-core/openai/gsm8k/acc/mean@1"
        await pilot.press("J")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
        screen: RolloutsScreen = app.screen
        await settle(pilot, screen)
        assert screen.query_one("#query", Input).value == "step=60"
        rows = listed(screen)
        assert len(rows) == 32 and {r["step"] for r in rows} == {60}
        rewards = [r["reward"] for r in rows]
        assert rewards == sorted(rewards)  # lowest reward first
        # the entry point other panes use
        app.open_rollouts(dash.run_id, step=30, sort="reward")
        await wait_for(pilot, lambda: app.screen is not screen)
        await settle(pilot, app.screen)
        assert {r["step"] for r in listed(app.screen)} == {30}
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_export_writes_json_outside_the_logs(tmp_path, monkeypatch):
    logs = demo_folder(tmp_path / "logs")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    app = make_app([str(logs)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rollouts(pilot, app)
        row = listed(screen)[0]
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        path_box = app.screen.query_one(Input)
        assert path_box.value.startswith(str(work))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
        written = list(work.glob("rollout-step*.json"))
        assert len(written) == 1
        doc = json.loads(written[0].read_text())
        assert doc["completion"] == row["completion"] and doc["reward"] == row["reward"]
        assert doc["step"] == row["step"]
        # nothing was written into the logs folder
        assert not list(logs.rglob("rollout-step*.json"))
        # from the detail view, with a path the user types
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        target = tmp_path / "mine" / "x.json"
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, lambda: target.exists())


async def test_export_default_is_not_the_logs_folder_when_run_inside_it(tmp_path, monkeypatch):
    logs = demo_folder(tmp_path / "logs")
    monkeypatch.chdir(logs)
    app = make_app(["."])
    async with app.run_test(size=SIZE) as pilot:
        await open_rollouts(pilot, app)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        default = app.screen.query_one(Input).value
        assert not os.path.realpath(default).startswith(os.path.realpath(logs))
        await pilot.press("escape")


HOSTILE = {
    "markup": "[bold]BOLD[/bold] and [link=https://evil.example]click me[/link]",
    "ansi": "\x1b[31mRED\x1b[0m",
    "osc52": "\x1b]52;c;cHduZWQ=\x07clip",
    "title": "\x1b]0;PWNED-TITLE\x07after",
    "controls": "bell\x07back\x08space\x00nul\x7fdel",
}


def hostile_run(root):
    run = root / "evil-run" / "rollouts"
    run.mkdir(parents=True)
    rows = []
    for i, (kind, text) in enumerate(HOSTILE.items()):
        rows.append(
            {
                "prompt": f"{kind} prompt {text}",
                "completion": f"{kind} says {text} <think>{text}</think>",
                "reward": float(i),
                "step": 1,
                kind: text,  # also as an extra column
            }
        )
    rows.append(
        {
            "prompt": "tools",
            "reward": 9.0,
            "step": 1,
            "messages": [
                {"role": "user", "content": "[bold]call it[/bold]"},
                {
                    "role": "assistant",
                    "content": "\x1b]52;c;eA==\x07calling",
                    "tool_calls": [
                        {
                            "id": "t1",
                            "function": {
                                "name": "[red]lookup\x1b[0m",
                                "arguments": json.dumps({"q": "[link=x]y[/link]\x1b]0;T\x07"}),
                            },
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "\x1b[2Jcleared"},
            ],
        }
    )
    with open(run / "1.jsonl", "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return root


def _inert(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x00" not in text and "\x9b" not in text


async def test_untrusted_text_is_shown_inert_in_list_and_detail(tmp_path):
    app = make_app([str(hostile_run(tmp_path))])
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.runs)
        await wait_for(pilot, lambda: app.snapshot.runs[0].rollouts.height == 6)
        app.open_rollouts(app.snapshot.runs[0].run_id)
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
        screen: RolloutsScreen = app.screen
        await wait_for(pilot, lambda: screen.query_one(RolloutList).count == 6)
        screen.set_query("sort:reward")
        await settle(pilot, screen)
        rlist = screen.query_one(RolloutList)
        lines = [rlist.render_line(y).text for y in range(1, 7)]
        for line in lines:
            _inert(line)
        joined = "\n".join(lines)
        assert "[bold]BOLD[/bold]" in joined and "[link=https://evil.example]" in joined
        assert "␛[31mRED␛[0m" in joined
        assert "␛]52;c;cHduZWQ=·clip" in joined
        assert "␛]0;PWNED-TITLE·after" in joined
        assert "bell·back·space·nul·del" in joined
        svg = app.export_screenshot()
        _inert(svg)
        assert "PWNED" not in (app.title or "") and "PWNED" not in (app.sub_title or "")
        for index, kind in enumerate(HOSTILE):
            rlist.move_to(index)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen))
            detail = app.screen
            await pilot.press("t")
            await pilot.pause(0.05)
            shown = "\n".join(str(s.content) for s in detail.query(Static))
            _inert(shown)
            assert f"{kind} says" in shown
            if kind == "markup":
                assert (
                    "[bold]BOLD[/bold]" in shown
                    and "[link=https://evil.example]click me[/link]" in shown
                )
            if kind == "osc52":
                assert "␛]52;c;cHduZWQ=·clip" in shown
            _inert(app.export_screenshot())
            await pilot.press("escape")
        # the conversation with a tool call: tree labels are inert too
        rlist.move_to(5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen))
        detail = app.screen
        tree = detail.query_one(Tree)
        labels = []

        def walk(node):
            labels.append(str(node.label))
            for child in node.children:
                walk(child)

        walk(tree.root)
        text = "\n".join(labels)
        _inert(text)
        assert "[red]lookup␛[0m" in text
        assert '"q": "[link=x]y[/link]\\u001b]0;T\\u0007"' in text  # JSON escapes them
        assert "␛[2Jcleared" in text  # the tool result under its call
        roles = [str(s.content) for s in detail.query(".role")]
        assert [r.split(". ", 1)[1] for r in roles] == ["user", "assistant"]
        _inert(app.export_screenshot())


async def test_cold_steps_are_browsed_from_disk(tmp_path):
    """Under a small --max-memory, old steps' text is read back for the list, detail and search."""
    from rltop.core import coldtext

    logs = demo_folder(tmp_path)
    app = make_app([str(logs)], max_memory=900 * 1024)  # frames may hold ~450 KB
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_rollouts(pilot, app)
            frame = screen.frame
            cold = frame.filter(frame["completion"].is_null())
            assert cold.height and cold.height < frame.height
            assert "on disk" in status(screen)
            await pilot.press("G")  # the oldest step: its text is on disk
            rlist = screen.query_one(RolloutList)
            line = rlist.render_line(rlist.size.height - 1).text
            assert "(on disk)" not in line and "<think>Start with" in line
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen))
            assert app.screen.data["completion"].startswith("<think>Start with")
            await pilot.press("escape")
            # a text search reaches the cold rows too
            step1 = listed(screen)[-1]
            first = coldtext.load_text(step1)["completion"].split("\n")[-1]
            screen.set_query(f'"{first}" step=1')
            await settle(pilot, screen)
            assert listed(screen) and all(r["step"] == 1 for r in listed(screen))
    finally:
        coldtext.set_max_memory(None)


async def test_list_follows_a_growing_run_and_keeps_the_cursor(tmp_path):
    from rltop.demo import DemoRun

    demo = DemoRun(tmp_path, seed=3)
    demo.prefill(60)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_rollouts(pilot, app)
        rlist = screen.query_one(RolloutList)
        await pilot.press("j", "j", "j")
        row = rlist.current_row
        before = rlist.frame.row(row, named=True)
        demo.step += 1
        demo.write_step(demo.step)  # step 61 arrives while the list is open
        await wait_for(pilot, lambda: rlist.count == 1920 + 32 and screen.complete)
        assert listed(screen)[0]["step"] == 61  # newest first
        after = rlist.frame.row(rlist.current_row, named=True)
        assert (after["step"], after["completion"]) == (before["step"], before["completion"])
