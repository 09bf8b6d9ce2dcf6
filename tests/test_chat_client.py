"""The chat client against a real loopback server that streams like vLLM, and misbehaves on request."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import polars as pl
import pytest

from rltop.core import chat
from rltop.core.chat import (
    ChatClient,
    ChatError,
    ContentDelta,
    Conversation,
    DoneEvent,
    ErrorEvent,
    ModelInfo,
    ReasoningDelta,
    RoleEvent,
    SSEDecoder,
    ToolCallDelta,
    UsageEvent,
    find_endpoint,
    normalize_base_url,
    pick_current_model,
    resolve_endpoint,
    shared_system_prompt,
    step_in_model_id,
    system_prompt_of,
)
from rltop.core.messages import ThinkSplitter

from chat_server import API_KEY, ChatTestServer, free_port, running_chat_server

HELLO = [{"role": "user", "content": "hi there"}]
LIMIT = 10.0  # no test waits longer than this for one answer


@pytest.fixture
def server() -> Iterator[ChatTestServer]:
    with running_chat_server() as srv:
        srv.delay = 3.0
        yield srv


def client_for(server: ChatTestServer, **kwargs) -> ChatClient:
    kwargs.setdefault("api_key", None)
    kwargs.setdefault("first_token_timeout", 1.0)
    kwargs.setdefault("stall_timeout", 0.5)
    return ChatClient(server.url, **kwargs)


async def collect(client: ChatClient, model: str, messages=HELLO, **kwargs) -> list:
    async def run() -> list:
        async with client.stream_chat(messages, model, **kwargs) as stream:
            return [event async for event in stream]

    return await asyncio.wait_for(run(), LIMIT)


def final(events: list):
    assert isinstance(events[-1], (DoneEvent, ErrorEvent))
    assert sum(isinstance(e, (DoneEvent, ErrorEvent)) for e in events) == 1
    return events[-1]


# -- the normal stream -------------------------------------------------------------------------
async def test_vllm_stream_gives_role_content_usage_done(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        events = await collect(client, "ckpt-step-120", temperature=0.3, max_tokens=64)
    assert events[0] == RoleEvent("assistant")
    text = "".join(e.text for e in events if isinstance(e, ContentDelta))
    assert text == "Hello from ckpt-step-120. You said: hi there"
    usage = [e for e in events if isinstance(e, UsageEvent)]
    assert usage == [UsageEvent(12, 7, 19)]
    done = final(events)
    assert isinstance(done, DoneEvent)
    stats = done.stats
    assert stats.content == text and stats.saw_done and stats.warnings == []
    assert stats.finish_reason == "stop"
    assert stats.model == "ckpt-step-120"
    assert stats.completion_tokens == 7 and stats.tokens_from_usage
    assert stats.prompt_tokens == 12
    assert stats.ttft is not None and 0 < stats.ttft < 1.0
    assert stats.elapsed is not None and stats.elapsed >= stats.ttft
    sent = server.requests[-1]["body"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 64
    assert sent["messages"] == HELLO


async def test_tokens_per_second_from_usage_and_from_counting(server: ChatTestServer) -> None:
    server.token_interval = 0.02
    async with client_for(server) as client:
        with_usage = final(await collect(client, "ckpt-step-40")).stats
        counted = final(await collect(client, "no-usage")).stats
    assert with_usage.tokens_from_usage and with_usage.completion_tokens == 7
    assert not counted.tokens_from_usage and counted.completion_tokens == counted.deltas == 7
    for stats in (with_usage, counted):
        # 7 tokens, 20 ms apart: about 50 tokens/s (generous bounds for a loaded machine)
        assert stats.tokens_per_s is not None and 5 < stats.tokens_per_s < 60


async def test_think_tags_split_across_chunks_become_reasoning(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        events = await collect(client, "think")
    stats = final(events).stats
    assert stats.reasoning == "Two plus two is four."
    assert stats.content == "The answer is 4."
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == stats.reasoning
    assert all("<" not in e.text for e in events if isinstance(e, ContentDelta))


async def test_reasoning_content_field_is_reasoning(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        stats = final(await collect(client, "reasoning")).stats
    assert stats.reasoning == "Adding two and two."
    assert stats.content == "The answer is 4."
    assert stats.ttft is not None  # the first reasoning token counts as the first token


# -- failures ----------------------------------------------------------------------------------
async def test_connection_refused() -> None:
    async with ChatClient(f"http://127.0.0.1:{free_port()}/v1", api_key=None) as client:
        event = final(await asyncio.wait_for(_events(client, "m"), LIMIT))
        with pytest.raises(ChatError) as listing:
            await client.list_models()
    assert isinstance(event, ErrorEvent) and event.kind == "connection_refused"
    assert "connection refused" in event.message
    assert listing.value.kind == "connection_refused"
    assert "No chat endpoint answers" in listing.value.message


async def test_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    # The resolver fails for this name without asking the network (loopback only, ever).
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    async with ChatClient("http://no-such-host.invalid:8000/v1", api_key=None) as client:
        event = final(await asyncio.wait_for(_events(client, "m"), LIMIT))
    assert event.kind == "dns"
    assert "no-such-host.invalid" in event.message and "DNS" in event.message


async def _events(client: ChatClient, model: str) -> list:
    async with client.stream_chat(HELLO, model) as stream:
        return [e async for e in stream]


async def test_timeout_before_first_token(server: ChatTestServer) -> None:
    async with client_for(server, first_token_timeout=0.4) as client:
        events = await collect(client, "slow-first")
    event = final(events)
    assert isinstance(event, ErrorEvent) and event.kind == "first_token_timeout"
    assert "0.4 s" in event.message
    assert events[0] == RoleEvent("assistant")  # what arrived is still reported
    assert event.stats.ttft is None


async def test_stall_mid_stream_keeps_text(server: ChatTestServer) -> None:
    async with client_for(server, stall_timeout=0.3) as client:
        event = final(await collect(client, "stall"))
    assert isinstance(event, ErrorEvent) and event.kind == "stall"
    assert event.stats.content == "Hello from stall."
    assert "stalled" in event.message and "kept" in event.message


async def test_http_401_without_and_with_key(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        event = final(await collect(client, "needs-key"))
    assert isinstance(event, ErrorEvent) and event.kind == "unauthorized" and event.status == 401
    assert "Invalid API key" in event.message and "RLTOP_API_KEY" in event.message
    async with client_for(server, api_key=API_KEY) as client:
        ok = final(await collect(client, "needs-key"))
        assert API_KEY not in repr(client)
    assert isinstance(ok, DoneEvent)
    assert API_KEY not in repr(ok) and API_KEY not in ok.stats.content


def test_api_key_comes_from_env_and_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RLTOP_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-openai")
    client = ChatClient("http://127.0.0.1:9/v1")
    assert client.has_api_key and "sk-from-openai" not in repr(client) + str(client)
    monkeypatch.setenv("RLTOP_API_KEY", "sk-rltop")
    assert ChatClient("http://127.0.0.1:9/v1")._headers()["Authorization"] == "Bearer sk-rltop"
    monkeypatch.delenv("RLTOP_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert not ChatClient("http://127.0.0.1:9/v1").has_api_key


async def test_http_404_unknown_model(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        event = final(await collect(client, "ckpt-step-999"))
    assert isinstance(event, ErrorEvent) and event.kind == "unknown_model" and event.status == 404
    assert "ckpt-step-999" in event.message and "does not exist" in event.message


async def test_http_404_wrong_path(server: ChatTestServer) -> None:
    url = server.url.removesuffix("/v1") + "/api"
    async with ChatClient(url, api_key=None) as client:
        event = final(await asyncio.wait_for(_events(client, "base"), LIMIT))
    assert event.kind == "not_found" and "/v1" in event.message


async def test_http_429_shows_message_and_retry_after(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        event = final(await collect(client, "busy"))
    assert event.kind == "rate_limited" and event.status == 429
    assert "64 requests are already waiting" in event.message and "Retry in 2 s" in event.message


async def test_http_500_shows_server_message(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        event = final(await collect(client, "crash"))
    assert event.kind == "server_error" and event.status == 500
    assert "CUDA out of memory" in event.message


async def test_malformed_sse_lines_are_skipped_and_counted(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        done = final(await collect(client, "malformed"))
    assert isinstance(done, DoneEvent)
    assert done.stats.content == "Hello from malformed. You said: hi there"
    assert done.stats.malformed_lines == 4
    assert any("malformed" in w for w in done.stats.warnings)


async def test_stream_without_done_warns_and_keeps_text(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        done = final(await collect(client, "no-done"))
    assert isinstance(done, DoneEvent) and not done.stats.saw_done
    assert done.stats.content == "Hello from no-done. You said: hi there"
    assert any("[DONE]" in w for w in done.stats.warnings)


async def test_connection_cut_mid_stream_keeps_text(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        event = final(await collect(client, "drop"))
    assert isinstance(event, ErrorEvent) and event.kind == "dropped"
    assert event.stats.content == "Hello from drop."


async def test_error_object_mid_stream(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        event = final(await collect(client, "mid-error"))
    assert isinstance(event, ErrorEvent) and event.kind == "stream_error"
    assert "engine dead" in event.message and event.stats.content == "Hello from mid-error."


async def test_empty_completion(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        done = final(await collect(client, "empty"))
    assert isinstance(done, DoneEvent) and done.stats.content == ""
    assert "the model returned an empty completion" in done.stats.warnings


async def test_tool_call_only_answer(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        events = await collect(client, "tools")
    done = final(events)
    assert isinstance(done, DoneEvent) and done.stats.content == ""
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == [
        "",
        '{"city": ',
        '"Paris"}',
    ]
    assert done.stats.tool_calls == [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert done.stats.finish_reason == "tool_calls"
    assert "the answer is only tool calls" in done.stats.warnings


async def test_server_that_does_not_stream(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        events = await collect(client, "no-stream")
    done = final(events)
    assert isinstance(done, DoneEvent)
    assert done.stats.content == "Hello from no-stream. You said: hi there"
    assert done.stats.completion_tokens == 7 and done.stats.finish_reason == "stop"
    assert any("one piece" in w for w in done.stats.warnings)


def test_urls_never_show_credentials_and_loopback_skips_proxies() -> None:
    assert chat.display_url("http://me:pw@127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    client = ChatClient("http://me:pw@127.0.0.1:9/v1", api_key=None)
    assert "pw" not in repr(client)
    assert chat.is_loopback("http://localhost:8000/v1") and chat.is_loopback("http://[::1]:1/v1")
    assert not chat.is_loopback("http://gpu-box:8000/v1")


class _Misbehaving(ChatClient):
    def _headers(self) -> dict[str, str]:
        return {**super()._headers(), "X-Misbehave": "crash"}


async def test_misbehaviour_by_header(server: ChatTestServer) -> None:
    async with _Misbehaving(server.url, api_key=None) as client:
        event = final(await asyncio.wait_for(_events(client, "base"), LIMIT))
    assert event.kind == "server_error"


# -- cancellation ------------------------------------------------------------------------------
async def test_closing_the_stream_closes_the_connection(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        stream = client.stream_chat(HELLO, "endless")
        seen = 0
        async for event in stream:
            seen += isinstance(event, ContentDelta)
            if seen == 3:
                break
        await stream.aclose()
        assert await asyncio.to_thread(server.disconnected.wait, 3.0)
        assert stream.stats.content == " tok tok tok"


async def test_cancelling_the_task_closes_the_connection(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        got_token = asyncio.Event()

        async def consume() -> None:
            async with client.stream_chat(HELLO, "endless") as stream:
                async for event in stream:
                    if isinstance(event, ContentDelta):
                        got_token.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(got_token.wait(), LIMIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(server.disconnected.wait, 3.0)


async def test_retry_after_failure_works(server: ChatTestServer) -> None:
    convo = Conversation(system_prompt="Be brief.")
    convo.add_user("hi there")
    async with client_for(server) as client:
        answer = convo.begin_answer("crash")
        async with client.stream_chat(convo.messages(), "crash") as stream:
            async for event in stream:
                answer.absorb(event)
        assert answer.error and "CUDA" in answer.error
        assert convo.drop_failed_answer() is answer
        answer = convo.begin_answer("ckpt-step-120")
        async with client.stream_chat(convo.messages(), "ckpt-step-120") as stream:
            async for event in stream:
                answer.absorb(event)
    assert answer.error is None and answer.content.endswith("You said: hi there")
    assert server.requests[-1]["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi there"},
    ]


# -- models and endpoints ----------------------------------------------------------------------
async def test_list_models_and_pick_the_newest(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        models = await client.list_models()
    assert [m.id for m in models] == ["base", "ckpt-step-40", "ckpt-step-120"]
    assert pick_current_model(models).id == "ckpt-step-120"


def test_pick_current_model_rules() -> None:
    assert pick_current_model([]) is None
    by_created = [ModelInfo("a-step-900", created=1), ModelInfo("b", created=2)]
    assert pick_current_model(by_created).id == "b"
    by_step = [ModelInfo("ckpt-step-40"), ModelInfo("ckpt-step-120"), ModelInfo("Qwen2.5-7B")]
    assert pick_current_model(by_step).id == "ckpt-step-120"
    tie = [ModelInfo("x", created=5), ModelInfo("y", created=5)]
    assert pick_current_model(tie).id == "x"  # stable: first listed wins a tie
    assert step_in_model_id("run/checkpoint-40") == 40
    assert step_in_model_id("global_step_300-lora") == 300
    assert step_in_model_id("my-adapter-12") == 12
    assert step_in_model_id("Qwen2.5-7B-Instruct") is None


def test_resolve_endpoint_order() -> None:
    env = {"RLTOP_ENDPOINT": "http://127.0.0.1:9001"}
    assert resolve_endpoint("127.0.0.1:9000", env=env, config="http://127.0.0.1:9002/v1").url == (
        "http://127.0.0.1:9000/v1"
    )
    assert resolve_endpoint(env=env, config="x").source == "RLTOP_ENDPOINT"
    assert resolve_endpoint(env={}, config={"chat": {"endpoint": "http://127.0.0.1:9002"}}) == (
        chat.Endpoint("http://127.0.0.1:9002/v1", "config")
    )
    assert resolve_endpoint(env={}) == chat.Endpoint("http://127.0.0.1:8000/v1", "default")
    assert normalize_base_url("http://h:1/v1/chat/completions") == "http://h:1/v1"
    assert normalize_base_url("http://h:1/openai/v1/") == "http://h:1/openai/v1"


async def test_find_endpoint_probe(server: ChatTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    found = await find_endpoint(server.url, env={})
    assert found.url == server.url and found.source == "argument"
    nothing = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setattr(chat.endpoint, "DEFAULT_ENDPOINT", nothing)
    with pytest.raises(ChatError) as err:
        await find_endpoint(env={}, timeout=1.0)
    assert err.value.kind == "no_endpoint"
    assert nothing in err.value.message and "connection refused" in err.value.message
    assert "--endpoint" in err.value.message and "RLTOP_ENDPOINT" in err.value.message


# -- pieces ------------------------------------------------------------------------------------
def test_think_splitter_every_cut() -> None:
    text = "a<think>r1 r2</think>b c"
    for cut in range(len(text) + 1):
        splitter = ThinkSplitter()
        parts = splitter.feed(text[:cut]) + splitter.feed(text[cut:]) + splitter.flush()
        content = "".join(t for k, t in parts if k == "content")
        reasoning = "".join(t for k, t in parts if k == "reasoning")
        assert (content, reasoning) == ("ab c", "r1 r2"), cut
    splitter = ThinkSplitter()
    assert splitter.feed("x <thi") == [("content", "x ")]
    assert splitter.flush() == [("content", "<thi")]


def test_think_splitter_close_without_open_recasts() -> None:
    text = "r1 r2</think>ans <think>x</think> y"
    for cut in range(len(text) + 1):
        splitter = ThinkSplitter()
        parts = splitter.feed(text[:cut]) + splitter.feed(text[cut:]) + splitter.flush()
        kinds = [k for k, t in parts if t or k == "recast"]
        assert kinds.count("recast") == 1, cut
        before = "".join(t for k, t in parts[: parts.index(("recast", ""))])
        after = parts[parts.index(("recast", "")) + 1 :]
        assert before == "r1 r2", cut
        # after the first tag, tags work as usual
        assert "".join(t for k, t in after if k == "content") == "ans  y", cut
        assert "".join(t for k, t in after if k == "reasoning") == "x", cut


async def test_r1_style_stream_moves_text_into_reasoning(server: ChatTestServer) -> None:
    async with client_for(server) as client:
        events = await collect(client, "r1")
    stats = final(events).stats
    assert stats.reasoning == "Two plus two is four."
    assert stats.content == "\n\nThe answer is 4."
    recast = [e for e in events if isinstance(e, chat.ContentWasReasoning)]
    assert recast == [chat.ContentWasReasoning("Two plus two is four.")]
    turn = chat.Turn("assistant")
    for event in events:
        turn.absorb(event)
    assert (turn.reasoning, turn.content) == (stats.reasoning, stats.content)


def test_sse_decoder() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b'data: {"a":1}\r\n\r\n: keep-alive\n\nevent: x\ndata: li')
    assert events == ['{"a":1}']
    events = decoder.feed(b"ne1\ndata: line2\n\nnonsense\n")
    assert events == ["line1\nline2"] and decoder.malformed == 1
    assert decoder.feed(b"data: [DONE]") == [] and decoder.close() == ["[DONE]"]


def test_conversation_messages() -> None:
    convo = Conversation(system_prompt="sys", temperature=0.2, max_tokens=10)
    convo.add_user("one")
    failed = convo.begin_answer("m")
    failed.error, failed.done = "boom", True
    convo.add_user("two")
    answer = convo.begin_answer("m2")
    answer.absorb(ReasoningDelta("hidden"))
    answer.absorb(ContentDelta("ok"))
    assert convo.messages() == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "ok"},
    ]
    assert convo.last_user_text == "two"
    assert [t.model for t in convo.turns if t.role == "assistant"] == ["m", "m2"]


# -- the run's system prompt -------------------------------------------------------------------
def test_system_prompt_formats() -> None:
    assert system_prompt_of("system\nBe exact.\nuser\nWhat?\nassistant\n") == "Be exact."
    assert (
        system_prompt_of("<|im_start|>system\nThink first.<|im_end|>\n<|im_start|>user\nq")
        == "Think first."
    )
    # "[role] text" is what rltop rendered from messages: the messages are read, not the text
    assert system_prompt_of("[system] Be kind.\n[user] hello") is None
    rendered = '[{"role": "system", "content": [{"type": "text", "text": "Be kind."}]}]'
    assert system_prompt_of("[system] Be kind.", rendered) == "Be kind."
    llama = "<|start_header_id|>system<|end_header_id|>\n\nTerse.<|eot_id|><|start_header_id|>user"
    assert system_prompt_of(llama) == "Terse."
    messages = '[{"role": "system", "content": "From messages."}, {"role": "user", "content": "q"}]'
    assert system_prompt_of("ignored", messages) == "From messages."
    assert system_prompt_of("What is 2+2?") is None


def test_shared_system_prompt_from_rollouts() -> None:
    shared = [f"system\nSolve it.\nuser\nq{i}\nassistant\n" for i in range(20)]
    frame = pl.DataFrame({"step": list(range(20)), "prompt": shared})
    assert shared_system_prompt(frame) == "Solve it."
    mixed = shared[:10] + [f"system\nOther {i}.\nuser\nq\n" for i in range(10)]
    assert shared_system_prompt(pl.DataFrame({"prompt": mixed})) is None
    assert shared_system_prompt(pl.DataFrame({"prompt": ["plain question"] * 5})) is None
    assert shared_system_prompt(None) is None
    assert shared_system_prompt(pl.DataFrame({"prompt": []}, schema={"prompt": pl.String})) is None


def test_shared_system_prompt_of_the_demo_run(tmp_path) -> None:
    from rltop.core.follow import Follower
    from rltop.demo import SYSTEM, DemoRun

    run = DemoRun(tmp_path, prompts_per_step=2, group_size=2)
    run.prefill(3)
    follower = Follower([str(tmp_path)])
    follower.read_all()
    runs = [r for r in follower.store.snapshot().runs if r.rollouts is not None]
    assert runs
    assert shared_system_prompt(runs[0].rollouts) == SYSTEM.removeprefix("system\n")


def test_prompt_messages_from_logged_prompts() -> None:
    from rltop.core.chat import prompt_messages

    verl = "system\nBe exact.\nuser\nWhat is 2+2?\nassistant\n"
    assert prompt_messages(verl) == [
        {"role": "system", "content": "Be exact."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    chatml = (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert prompt_messages(chatml) == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q?"},
    ]
    # text rendered from chat messages is never parsed back: the messages column is read
    assert prompt_messages("[user] Q\nmore") == [{"role": "user", "content": "[user] Q\nmore"}]
    parts = '[{"role":"user","content":[{"type":"text","text":"Q"},{"type":"text","text":"more"}]}]'
    assert prompt_messages("[user] Q", parts) == [{"role": "user", "content": "Q\nmore"}]
    assert prompt_messages("plain q") == [{"role": "user", "content": "plain q"}]
    assert prompt_messages(None) == []
    logged = '[{"role":"user","content":"u"},{"role":"assistant","content":"logged answer"}]'
    assert prompt_messages("ignored", logged) == [{"role": "user", "content": "u"}]
