"""For the ``rltop serve`` tests: the server in a process group of its own, and headless Chromium
driven through the DevTools protocol.

Plain CDP over aiohttp's websocket client (aiohttp comes with textual-serve): no browser download,
no Playwright. The page's terminal is xterm.js drawn on a canvas, so its text is read from the
xterm buffer: the page keeps its ``Terminal`` in a closure, found once on the heap
(``Runtime.queryObjects``) and kept in ``window.__rltopTerm``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)

#: CDP key events for the keys the test presses (key, code, virtual key code, text)
KEYS = {
    "enter": ("Enter", "Enter", 13, "\r"),
    "escape": ("Escape", "Escape", 27, ""),
    "/": ("/", "Slash", 191, "/"),
}

FIND_TERMINAL = """function () {
  const owner = this.find(o => o && o.terminal && o.terminal.buffer && "websocket_url" in o);
  if (owner) window.__rltopTerm = owner.terminal;
  return !!owner;
}"""

SCREEN_TEXT = """(() => {
  const term = window.__rltopTerm, buf = term.buffer.active, rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buf.getLine(buf.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
})()"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(folder: Path, token: str) -> tuple[subprocess.Popen, str]:
    """``rltop serve folder --token token`` on a free port, in a process group of its own (the
    server, its shells and every tab's rltop); returns it and the URL it printed."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rltop",
            "serve",
            str(folder),
            "--port",
            str(port),
            "--token",
            token,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the server, its shells and every tab's rltop: one group
        # the page in the rltop-dark theme even where the test runner asks for no colour
        env={k: v for k, v in os.environ.items() if k != "NO_COLOR"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "rltop serve: open http://...", printed once listening
    assert "open http://" in line, line
    return proc, line.split("open ", 1)[1].split()[0]


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> bool:
    """SIGTERM a process started with ``start_new_session``, then SIGKILL its whole group if it
    or anything it started is still there after ``grace`` s; True if all went on the SIGTERM."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    clean = False
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            clean = True
            break
        proc.poll()  # reap the leader so the group can empty
        time.sleep(0.1)
    if not clean:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)
    return clean


class Browser:
    """One headless Chromium with one page, in its own process group and profile folder."""

    def __init__(self, profile: Path, size: tuple[int, int] = (1280, 800)) -> None:
        assert CHROMIUM is not None
        self.profile = profile
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",  # tests run as root in CI
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-dev-shm-usage",  # containers with a small /dev/shm
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._id = 0

    async def connect(self, timeout: float = 20.0) -> None:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("chromium did not open its DevTools port")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json(content_type=None)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        self._id += 1
        ident = self._id
        await self.ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.receive_str(timeout=20))
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:60]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def find_terminal(self) -> bool:
        """Keep the page's xterm ``Terminal`` in ``window.__rltopTerm`` (True once found)."""
        if await self.evaluate("!!window.__rltopTerm"):
            return True
        proto = await self.send("Runtime.evaluate", expression="Object.prototype")
        heap = await self.send(
            "Runtime.queryObjects", prototypeObjectId=proto["result"]["objectId"]
        )
        found = await self.send(
            "Runtime.callFunctionOn",
            objectId=heap["objects"]["objectId"],
            functionDeclaration=FIND_TERMINAL,
            returnByValue=True,
        )
        return bool(found["result"].get("value"))

    async def screen_text(self) -> str:
        """The terminal's visible rows, as text."""
        if not await self.find_terminal():
            return ""
        return await self.evaluate(SCREEN_TEXT)

    async def wait_text(self, predicate, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = await self.screen_text()
            if predicate(text):
                return text
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; page:\n{text}")

    async def press(self, key: str) -> None:
        """One key, as the browser's keyboard would send it to the focused terminal."""
        await self.evaluate("window.__rltopTerm && window.__rltopTerm.focus()")
        name, code, vk, text = KEYS.get(
            key, (key, f"Key{key.upper()}" if key.isalpha() else "", ord(key.upper()[0]), key)
        )
        down = {"key": name, "code": code, "windowsVirtualKeyCode": vk, "text": text}
        await self.send("Input.dispatchKeyEvent", type="keyDown", **down)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=name, code=code)

    async def type(self, text: str) -> None:
        for char in text:
            await self.press(char)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
        stop_group(self.proc, grace=5)
