"""``rltop demo``: a simulated GRPO run written step by step into a temporary folder, followed live."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from rltop.commands.common import add_view_arguments

#: start-up ends where this command makes its Follower (core/startup.py), not before `run`
SETTLES_AT_FOLLOWER = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between simulated steps (default 1)"
    )
    parser.add_argument("--steps", type=int, default=400, help="steps to simulate (default 400)")
    parser.add_argument(
        "--prefill",
        type=int,
        default=20,
        help="steps written before the dashboard opens (default 20)",
    )
    parser.add_argument(
        "--dir", default=None, help="write the run here instead of a temporary folder (kept)"
    )
    parser.add_argument("--seed", type=int, default=7)
    add_view_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rltop.demo import DemoRun

    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="rltop-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    demo = DemoRun(root, steps=args.steps, interval=args.interval, seed=args.seed)
    demo.prefill(min(args.prefill, args.steps))
    demo.start()
    from rltop.core.demo_endpoint import start_demo_endpoint

    # a toy OpenAI-compatible model on loopback that answers from the demo's own rollouts
    endpoint = start_demo_endpoint(demo.rollout_dir)
    try:
        from rltop.commands.view import run_view

        return run_view(
            [str(root)], args, title="rltop demo", endpoint=args.endpoint or endpoint.url
        )
    finally:
        endpoint.stop()
        demo.stop()
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
