"""From a rollout's detail view, one key asks the current checkpoint the same prompt (demo model)."""

from __future__ import annotations

from rltop.core.demo_endpoint import start_demo_endpoint
from rltop.ui.app import make_app
from rltop.ui.screens.chat import AnswerView, ChatScreen, LoggedAnswer
from rltop.ui.screens.rollout_detail import RolloutDetailScreen
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.widgets.rollout_list import RolloutList

from uihelp import demo_folder, loaded, wait_for


async def test_r_in_detail_replays_the_rollout_against_the_demo_model(tmp_path):
    root = demo_folder(tmp_path, steps=8)
    endpoint = start_demo_endpoint(root / "demo-grpo" / "rollouts", word_delay=0.001)
    try:
        app = make_app([str(root)])
        app.chat_endpoint = endpoint.url
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(pilot, loaded(app))
            await wait_for(pilot, lambda: app.snapshot.runs[0].rollouts.height >= 8 * 32)
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
            screen = app.screen
            await wait_for(
                pilot, lambda: screen.complete and screen.query_one(RolloutList).count > 0
            )
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen))
            detail = app.screen
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
            chat = app.screen
            await wait_for(
                pilot,
                lambda: len(chat.query(AnswerView)) == 1 and len(chat.query(LoggedAnswer)) == 1,
            )
            logged = chat.query_one(LoggedAnswer)
            assert logged.step == detail.data["step"] and logged.reward == detail.data["reward"]
            view = chat.query_one(AnswerView)
            await wait_for(pilot, lambda: "####" in view.body.plain, timeout=15)
            assert view.turn.model and view.turn.model.startswith("demo-grpo-step-")
    finally:
        endpoint.stop()
