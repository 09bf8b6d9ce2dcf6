"""Command line: ``rltop [PATH ...]`` opens the dashboard; ``rltop <command>`` runs a command.

Each command lives in ``rltop.commands.<name>`` with ``add_arguments(parser)`` and
``run(args) -> int`` and is imported only when used, so ``rltop --help`` and the headless commands
start fast and never import Textual unless they draw a screen.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rltop import __version__

#: command name -> one-line help. Modules are ``rltop.commands.<name>``.
COMMANDS: dict[str, str] = {
    "demo": "follow a simulated GRPO run (no set-up, no network)",
    "sources": "list the files found, how each was read, and why others were not",
    "check": "read the runs once, report warnings and best checkpoints; exit 0/1/2/3",
    "watch": "follow the runs headless and print a line as each warning starts or clears",
    "export": "write each run's per-step metrics to CSV or Parquet",
    "config": "show the config file's path and the effective settings",
}


def _main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rltop",
        description="A live terminal monitor for RL and fine-tuning runs. "
        "Give it the folders your trainer logs into; it finds the files itself.",
        epilog="commands:\n"
        + "\n".join(f"  rltop {name:<8} {text}" for name, text in COMMANDS.items())
        + "\n\nrun 'rltop <command> --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="folders or files to follow (default: .)",
    )
    parser.add_argument("--version", action="version", version=f"rltop {__version__}")
    add_view_arguments(parser)
    return parser


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the dashboard, shared by ``rltop``, ``rltop demo`` and ``rltop config``: one flag
    per setting (docs/config.md; ``tests/test_config_docs.py`` checks that none is missing)."""
    add_table_arguments(parser)
    parser.add_argument(
        "--poll",
        action="store_true",
        help="poll files instead of watching them (NFS, some containers)",
    )
    parser.add_argument(
        "--smoothing",
        type=float,
        default=None,
        metavar="W",
        help="EMA smoothing weight 0..0.99 for the chart (default 0.6)",
    )
    parser.add_argument(
        "--max-memory",
        type=_size,
        default=None,
        metavar="SIZE",
        help="memory budget, e.g. 2G or 800M (default 2G): the newest steps' rollout text stays "
        "in memory, older steps' text is read back from the logs when looked at",
    )
    parser.add_argument(
        "--refresh",
        type=float,
        default=None,
        metavar="N",
        help="at most N redraws per second of live data (for slow SSH links; default: adaptive)",
    )
    parser.add_argument(
        "--theme",
        default=None,
        metavar="NAME",
        help="rltop-dark (default), rltop-light, rltop-high-contrast, rltop-mono (automatic with "
        "NO_COLOR), a Textual theme, or your own from <config dir>/themes/*.toml",
    )
    parser.add_argument(
        "--endpoint",
        default=None,
        metavar="URL",
        help="OpenAI-compatible server of the checkpoint, for the chat pane (e.g. "
        "http://gpu-box:8000/v1; default: $RLTOP_ENDPOINT, else http://127.0.0.1:8000/v1)",
    )


def add_table_arguments(parser: argparse.ArgumentParser, *, keys: bool = True) -> None:
    """``--config`` and the repeatable flags of the table settings (thresholds, roles, keys)."""
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="config file (default: $RLTOP_CONFIG or the user config dir's rltop/config.toml)",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        type=_threshold,
        default=[],
        metavar="RULE.PARAM=VALUE",
        help="override a rule threshold, e.g. rl.kl_spike.factor=20 (repeatable)",
    )
    parser.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE=METRIC[,METRIC...]",
        help="metric names that play a role, tried before the built-in ones, e.g. "
        "reward=env/my_task/reward (globs with *; repeatable)",
    )
    if keys:
        parser.add_argument(
            "--key",
            action="append",
            default=[],
            metavar="ACTION=KEY",
            help="remap a key by its action id, e.g. dashboard.filter=f (repeatable; "
            "'rltop config' lists the ids)",
        )


def _threshold(text: str) -> str:
    from rltop.config import threshold_flag

    try:
        return threshold_flag(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size(text: str) -> int:
    from rltop.core.coldtext import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from rltop.core.inert import install_log_handler

    install_log_handler()
    if argv and argv[0] in COMMANDS:
        name = argv[0]
        module = importlib.import_module(f"rltop.commands.{name}")
        sub = argparse.ArgumentParser(prog=f"rltop {name}", description=COMMANDS[name])
        module.add_arguments(sub)
        args = sub.parse_args(argv[1:])
        return int(module.run(args) or 0)
    args = _main_parser().parse_args(argv)
    from rltop.commands.view import run_view

    return run_view(args.paths, args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
