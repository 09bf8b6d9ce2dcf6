"""``rltop serve`` without a browser: the guard in front of the pages, the command each tab runs,
and a terminal ``rltop`` that never loads the web server."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from rltop.cli import _main_parser
from rltop.commands import serve as serve_cmd
from rltop.commands.common import add_view_arguments
from rltop.webserve import RltopServer, is_loopback

from browserhelp import start_serve, stop_group
from uihelp import demo_folder

TOKEN = "s3cret-token"


@pytest.fixture
async def client():
    server = RltopServer("true", host="127.0.0.1", port=8080, token=TOKEN)
    test_client = TestClient(TestServer(await server._make_app()))
    await test_client.start_server()
    yield test_client
    await test_client.close()


@pytest.fixture
async def open_client():
    server = RltopServer("true", host="127.0.0.1", port=8080, token=None)
    test_client = TestClient(TestServer(await server._make_app()))
    await test_client.start_server()
    yield test_client
    await test_client.close()


async def test_page_needs_the_token(client):
    assert (await client.get("/")).status == 403
    assert (await client.get("/?token=wrong")).status == 403
    assert (await client.get("/static/js/textual.js")).status == 403
    page = await client.get(f"/?token={TOKEN}")
    assert page.status == 200
    html = await page.text()
    # the page's websocket and assets are on the host the browser used (an SSH tunnel's port)
    assert f'data-session-websocket-url="ws://{page.url.host}:{page.url.port}/ws"' in html
    assert 'src="/static/js/textual.js"' in html


async def test_the_first_authorised_request_lets_the_page_load_its_parts(client):
    assert (await client.get("/static/js/textual.js")).status == 403
    page = await client.get(f"/?token={TOKEN}")
    cookie = page.cookies["rltop_token_8080"]
    assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
    # the client keeps the cookie, as the browser does: the script and styles now load
    assert (await client.get("/static/js/textual.js")).status == 200
    assert (await client.get("/static/css/xterm.css")).status == 200
    client.session.cookie_jar.clear()
    assert (await client.get("/static/js/textual.js")).status == 403


async def test_websocket_refused_without_the_token(client):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws?width=80&height=24")
    assert refused.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws?token=nope")
    assert refused.value.status == 403


async def test_loopback_server_refuses_other_host_names_and_foreign_websockets(open_client):
    # without a token the page opens as it is ...
    assert (await open_client.get("/")).status == 200
    # ... but not under another name (DNS rebinding) ...
    assert (await open_client.get("/", headers={"Host": "evil.example:8080"})).status == 403
    assert (await open_client.get("/", headers={"Host": "localhost:8080"})).status == 200
    # ... and no other site's page may open the websocket (its handshake carries its Origin)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_client.ws_connect("/ws", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403


def test_loopback_names():
    assert all(map(is_loopback, ["127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"]))
    assert not any(map(is_loopback, ["0.0.0.0", "10.0.0.2", "gpu-box", "::", "example.com"]))


def _view_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    serve_cmd.add_arguments(parser)
    return parser.parse_args(argv)


def test_each_tab_runs_rltop_with_the_same_settings(tmp_path):
    flags = [
        "--smoothing", "0.3", "--max-memory", "800M", "--poll", "--refresh", "2",
        "--theme", "rltop-light", "--endpoint", "http://gpu:8000/v1", "--config", "my.toml",
        "--threshold", "rl.kl_spike.factor=20", "--threshold", "rl.entropy_collapse.enabled=false",
        "--role", "reward=my/reward", "--key", "dashboard.filter=f",
    ]  # fmt: skip
    args = _view_args([str(tmp_path), "--port", "9000", "--token", "t", *flags])
    command = serve_cmd.app_command(args.paths, args)
    import shlex

    argv = shlex.split(command)
    assert argv[:3] == [sys.executable, "-m", "rltop"]
    assert "--port" not in argv and "--token" not in argv
    # rltop's own parser reads back every setting and the path
    reread = _main_parser().parse_args(argv[3:])
    assert reread.paths == [str(tmp_path)]
    view = argparse.ArgumentParser()
    add_view_arguments(view)
    for action in view._actions:
        if action.dest != "help":
            assert getattr(reread, action.dest) == getattr(args, action.dest), action.dest


def test_a_path_named_like_a_command_or_a_flag_stays_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = _view_args(["demo", "--", "-odd"])
    import shlex

    argv = shlex.split(serve_cmd.app_command(args.paths, args))
    assert _main_parser().parse_args(argv[3:]).paths == [
        str(tmp_path / "demo"),
        str(tmp_path / "-odd"),
    ]


@pytest.fixture
def served(monkeypatch):
    """``rltop serve`` up to the point where it would listen: the server it built."""
    seen: list[RltopServer] = []
    monkeypatch.setattr(RltopServer, "serve", lambda self, debug=False: seen.append(self))
    return seen


def test_token_generated_and_url_printed(tmp_path, served, capsys):
    assert serve_cmd.run(_view_args([str(tmp_path), "--token"])) == 0
    server = served[0]
    assert len(server.token) >= 32
    assert server.open_url == f"http://127.0.0.1:8080/?token={server.token}"
    assert server.open_url in server.banner
    assert "caution" not in capsys.readouterr().err


def test_other_hosts_get_a_caution(tmp_path, served, capsys):
    assert serve_cmd.run(_view_args([str(tmp_path), "--host", "0.0.0.0", "--port", "81"])) == 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "caution" in err and "ssh -L 81:localhost:81" in err
    assert served[0].token is None and not served[0].loopback_only


def test_token_swallowing_the_path_is_an_error(tmp_path, served, capsys):
    assert serve_cmd.run(_view_args(["--token", str(tmp_path)])) == 2
    assert "put --token after the paths" in capsys.readouterr().err
    assert serve_cmd.run(_view_args([str(tmp_path), "--token=a b"])) == 2
    assert served == []


def test_terminal_rltop_never_loads_the_web_server():
    code = (
        "import sys\n"
        "from rltop.cli import _main_parser\n"
        "from rltop.commands.view import build_app\n"
        "import rltop.ui.app\n"
        "_main_parser().parse_args([])\n"
        "web = ('textual_serve', 'aiohttp', 'aiohttp_jinja2', 'jinja2')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in web or m == 'rltop.webserve')\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _tab_processes(group: int) -> list[int]:
    """The rltop app processes (not the server) in a process group."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        pgrp = int(stat.rsplit(")", 1)[1].split()[2])
        if pgrp == group and b"rltop" in cmdline and b"serve" not in cmdline:
            found.append(int(entry))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="counts processes through /proc")
async def test_each_tab_is_its_own_rltop_and_all_end_with_the_server(tmp_path):
    """Two websockets (two tabs, no browser needed): two rltop processes drawing; closing a tab
    ends its rltop; SIGHUP (the SSH session that started the server closed) ends the rest."""
    proc, url = start_serve(demo_folder(tmp_path / "logs", steps=5), TOKEN)
    websocket = url.replace("http://", "ws://").replace("/?", "/ws?") + "&width=100&height=30"
    tabs = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                ws = await session.ws_connect(websocket)
                tabs.append(ws)
                # the tab's rltop draws: bytes of the dashboard arrive on its socket
                drawn = b""
                while b"rltop" not in drawn:
                    message = await ws.receive(timeout=30)
                    assert message.type == aiohttp.WSMsgType.BINARY, message
                    drawn += message.data
            assert len(_tab_processes(proc.pid)) == 2
            # a tab closed: its rltop ends, the other goes on
            await tabs[0].close()
            deadline = time.monotonic() + 15
            while len(_tab_processes(proc.pid)) > 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert len(_tab_processes(proc.pid)) == 1 and proc.poll() is None
            proc.send_signal(signal.SIGHUP)
            proc.wait(timeout=15)
            deadline = time.monotonic() + 10
            while _tab_processes(proc.pid) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert _tab_processes(proc.pid) == []
    finally:
        stop_group(proc, grace=5)
