"""The demo endpoint answers from the demo run's own rollouts, through the real chat client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rltop.core.chat import ChatClient, ContentDelta, DoneEvent, ErrorEvent, pick_current_model
from rltop.core.demo_endpoint import DemoEndpoint, best_answer, start_demo_endpoint
from rltop.demo import DemoRun

LIMIT = 10.0


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[DemoRun, DemoEndpoint]]:
    run = DemoRun(tmp_path, prompts_per_step=4, group_size=2)
    run.prefill(12)
    endpoint = start_demo_endpoint(run.rollout_dir, word_delay=0.002)
    try:
        yield run, endpoint
    finally:
        endpoint.stop()


def test_answers_on_loopback_as_soon_as_it_is_started(tmp_path: Path) -> None:
    """Nothing to wait for at start: no rollouts read (the folder need not exist yet), the socket
    listens before ``start_demo_endpoint`` returns, so the first request, sent at once and
    never retried, is answered."""
    endpoint = start_demo_endpoint(tmp_path / "rollouts")
    try:
        assert endpoint.url.startswith("http://127.0.0.1:") and endpoint.url.endswith("/v1")
        transport = httpx.HTTPTransport(retries=0)
        with httpx.Client(transport=transport, trust_env=False, timeout=LIMIT) as client:
            response = client.get(endpoint.url + "/models")
        assert response.status_code == 200
        assert [m["id"] for m in response.json()["data"]] == ["demo-grpo-base"]
    finally:
        endpoint.stop()


async def test_models_base_and_current(demo) -> None:
    run, endpoint = demo
    async with ChatClient(endpoint.url, api_key=None) as client:
        models = await asyncio.wait_for(client.list_models(), LIMIT)
        ids = [m.id for m in models]
        assert ids[0] == "demo-grpo-base" and "demo-grpo-step-12" in ids
        assert all(m.is_demo for m in models)
        assert pick_current_model(models).id == "demo-grpo-step-12"
        run.prefill(1)  # the run moves on: a new current checkpoint appears
        models = await asyncio.wait_for(client.list_models(), LIMIT)
        assert pick_current_model(models).id == "demo-grpo-step-13"


async def test_answers_with_the_logged_completion_at_the_newest_step(demo) -> None:
    run, endpoint = demo
    logged = [
        line for line in (run.rollout_dir / "12.jsonl").read_text().splitlines() if line.strip()
    ]
    import json

    row = json.loads(logged[0])
    question = row["input"].split("\nuser\n", 1)[1].removesuffix("\nassistant\n")
    async with (
        ChatClient(endpoint.url, api_key=None) as client,
        client.stream_chat([{"role": "user", "content": question}], "demo-grpo-step-12") as stream,
    ):
        events = await asyncio.wait_for(_all(stream), LIMIT)
    done = events[-1]
    assert isinstance(done, DoneEvent), done
    answers_at_12 = {json.loads(line)["output"] for line in logged}
    rebuilt = f"<think>{done.stats.reasoning}</think>{done.stats.content}"
    assert rebuilt in answers_at_12
    assert sum(isinstance(e, ContentDelta) for e in events) > 3  # streamed word by word
    assert done.stats.saw_done and done.stats.tokens_from_usage and done.stats.ttft is not None
    assert done.stats.model == "demo-grpo-step-12"


async def test_fallback_and_unknown_model(demo) -> None:
    _run, endpoint = demo
    async with ChatClient(endpoint.url, api_key=None) as client:
        off_topic = await asyncio.wait_for(
            client.chat([{"role": "user", "content": "capital of France?"}], "demo-grpo-base"),
            LIMIT,
        )
        unknown = await asyncio.wait_for(
            client.chat([{"role": "user", "content": "hi"}], "demo-grpo-step-999"), LIMIT
        )
        short = await asyncio.wait_for(
            client.chat(
                [{"role": "user", "content": "capital of France?"}],
                "demo-grpo-base",
                max_tokens=3,
            ),
            LIMIT,
        )
    assert isinstance(off_topic, DoneEvent)
    assert off_topic.stats.content.startswith("(demo model)")
    assert isinstance(unknown, ErrorEvent) and unknown.kind == "unknown_model"
    assert isinstance(short, DoneEvent) and short.stats.finish_reason == "length"
    assert short.stats.completion_tokens == 3


async def test_no_rollouts_yet(tmp_path: Path) -> None:
    endpoint = start_demo_endpoint(tmp_path / "rollouts")
    try:
        async with ChatClient(endpoint.url, api_key=None) as client:
            models = await asyncio.wait_for(client.list_models(), LIMIT)
            assert [m.id for m in models] == ["demo-grpo-base"]
            event = await asyncio.wait_for(
                client.chat([{"role": "user", "content": "hi"}], "demo-grpo-base"), LIMIT
            )
        assert isinstance(event, DoneEvent) and "not logged any rollouts" in event.stats.content
    finally:
        endpoint.stop()


async def test_stop_ends_an_answer_in_flight_at_once(demo) -> None:
    """``stop()`` ends the server and the answer being streamed, even one that would take hours
    (a word an hour): it neither waits for the answer nor leaves the client hanging."""
    _run, endpoint = demo
    endpoint.word_delay = 3600.0
    body = {
        "model": "demo-grpo-base",
        "messages": [{"role": "user", "content": "how many"}],
        "stream": True,
    }
    async with (
        httpx.AsyncClient(trust_env=False, timeout=LIMIT) as client,
        client.stream("POST", endpoint.url + "/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200  # the answer has begun: its first word is an hour off
        stopper = threading.Thread(target=endpoint.stop, daemon=True)
        stopper.start()
        await asyncio.to_thread(stopper.join, LIMIT)  # bounds a hang; the answer takes hours
        assert not stopper.is_alive()
        assert not endpoint._thread.is_alive()
        rest = await asyncio.wait_for(response.aread(), LIMIT)  # the answer ends, cut short
        assert b'"finish_reason"' in rest


def test_best_answer_prefers_overlap_then_reward() -> None:
    from rltop.core.demo_endpoint import Rollout

    rollouts = [
        Rollout("system\ns\nuser\nAva has 3 apples\nassistant\n", "a", 0.0, 1),
        Rollout("system\ns\nuser\nAva has 3 apples\nassistant\n", "b", 1.0, 1),
        Rollout("system\ns\nuser\nBen has marbles\nassistant\n", "c", 1.0, 1),
    ]
    best, overlap = best_answer(rollouts, "Ava has 3 apples")
    assert best is not None and best.completion == "b" and overlap == 1.0


async def _all(stream) -> list:
    return [event async for event in stream]
