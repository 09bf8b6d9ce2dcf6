"""``rltop [PATH ...]``: the dashboard."""

from __future__ import annotations

import argparse
import os
import sys


def run_view(
    paths: list[str],
    args: argparse.Namespace,
    *,
    title: str | None = None,
    endpoint: str | None = None,
) -> int:
    missing = [p for p in paths if not os.path.exists(p)]
    if missing and len(missing) == len(paths):
        print(f"rltop: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    from rltop.core import coldtext
    from rltop.core.follow import Follower

    # read the logs while Textual is imported and starts: the first frame shows them sooner
    coldtext.set_max_memory(getattr(args, "max_memory", None))
    follower = Follower(paths, force_polling=getattr(args, "poll", False) or None)
    follower.preload()

    from rltop.config import Settings
    from rltop.ui.app import make_app

    # defaults < config file < RLTOP_* env < flags (thresholds and roles for the warnings too)
    settings = Settings.load(
        flags={"theme": getattr(args, "theme", None), "refresh": getattr(args, "refresh", None)}
    )
    app = make_app(
        paths,
        follower=follower,
        poll=getattr(args, "poll", False),
        smoothing=getattr(args, "smoothing", None),
        max_memory=getattr(args, "max_memory", None),
        title=title,
        theme=settings.theme,
        refresh=settings.refresh,
    )
    app.settings = settings
    # the chat pane reads this; the flag wins over $RLTOP_ENDPOINT and the config file
    app.chat_endpoint = getattr(args, "endpoint", None) or endpoint
    app.run()
    return app.return_code or 0
