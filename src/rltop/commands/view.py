"""``rltop [PATH ...]``: the dashboard."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rltop.ui.app import RltopApp


#: start-up ends where this command makes its Follower (core/startup.py), not before `run`
SETTLES_AT_FOLLOWER = True


def build_app(
    paths: list[str],
    args: argparse.Namespace,
    *,
    title: str | None = None,
    endpoint: str | None = None,
) -> RltopApp:
    """The dashboard app for ``paths`` with every setting layer applied (tests run it too)."""
    from rltop.config import Settings
    from rltop.core import coldtext
    from rltop.core.follow import Follower

    # defaults < config file < RLTOP_* env < flags, for the view and the warnings alike
    settings = Settings.from_args(args)
    # read the logs while Textual is imported and starts: the first frame shows them sooner
    coldtext.set_max_memory(settings.max_memory)
    # always a bool: the settings have read RLTOP_POLL already (and know that 0 means no)
    follower = Follower(paths, force_polling=settings.poll, previews=True)
    follower.preload()

    from rltop.ui.app import make_app
    from rltop.ui.keymap import binding_table, key_clashes

    settings.check_keys(binding_table(), key_clashes(settings.keys))
    # the chat: the --endpoint flag (or the demo's own model) wins over $RLTOP_ENDPOINT and the
    # config file, which the app and the chat read from the settings with their own names
    chat_endpoint = getattr(args, "endpoint", None) or endpoint
    app = make_app(paths, settings, follower, title=title, chat_endpoint=chat_endpoint)
    return app


def run_view(
    paths: list[str],
    args: argparse.Namespace,
    *,
    title: str | None = None,
    endpoint: str | None = None,
) -> int:
    from rltop.commands.common import path_exists

    missing = [p for p in paths if not path_exists(p)]
    if missing and len(missing) == len(paths):
        print(f"rltop: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    app = build_app(paths, args, title=title, endpoint=endpoint)
    app.run()
    return app.return_code or 0
