"""What the commands share: argument groups, settings loading and output helpers.

Each command module imports from here (never from another command or from ``cli``), so ``cli``
only dispatches and a command can be read on its own.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

from rltop.core.inert import plain
from rltop.core.numfmt import parse_size

#: exit statuses of the headless commands (the monitoring-plugin convention)
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3


def add_paths_argument(parser: argparse.ArgumentParser, help: str = "folders or files") -> None:
    parser.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help=f"{help} (default: .)"
    )


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
    """A ``--threshold`` whose value has the wrong type is a usage error (``config.threshold_flag``)."""
    from rltop.config import threshold_flag

    try:
        return threshold_flag(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``check`` and ``watch``: the config file, thresholds and roles.

    A usage error exits 3 (UNKNOWN), not argparse's 2, which monitoring reads as CRITICAL.
    """

    def usage_error(message: str) -> None:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_UNKNOWN)

    parser.error = usage_error  # type: ignore[method-assign]
    add_table_arguments(parser, keys=False)
    add_memory_argument(parser)


def add_memory_argument(parser: argparse.ArgumentParser) -> None:
    """``--max-memory`` for the headless commands (also ``RLTOP_MAX_MEMORY`` and the config file)."""
    parser.add_argument(
        "--max-memory",
        type=_size,
        default=None,
        metavar="SIZE",
        help="memory budget, e.g. 2G or 512M (default 2G): rollout text beyond it stays on disk",
    )


def apply_memory_budget(settings: Any) -> None:
    """The process-wide rollout text budget, before anything is read."""
    from rltop.core import coldtext

    coldtext.set_max_memory(settings.max_memory)


def path_exists(path: str) -> bool:
    """``objstore.path_exists`` without importing the object-store code for a local path."""
    if "://" not in path:
        return os.path.exists(path)
    from rltop.core.objstore import path_exists as exists

    return exists(path)


def object_store_errors(paths: list[str]) -> tuple[type[Exception], ...]:
    """What ``except`` should catch for object-store failures: ``ObjectStoreError`` when a path is
    a URL, nothing otherwise (so local paths never import the object-store code)."""
    if not any("://" in p for p in paths):
        return ()
    from rltop.core.objstore import ObjectStoreError

    return (ObjectStoreError,)


def has_candidates(paths: list[str]) -> bool:
    """Whether any file under ``paths`` is one rltop might read (by name; nothing heavy is
    imported: polars and the rules wait until there is something to read)."""
    from rltop.core import discover

    if any("://" in p for p in paths):
        from rltop.core.objstore import is_url

        if any(is_url(p) for p in paths):
            return True  # an object-store prefix: its listing says what is there
    return next(discover.walk([p for p in paths if os.path.exists(p)]), None) is not None


def load_settings(args: argparse.Namespace) -> Any:
    """Settings from every layer, with the flags last; problems go to stderr."""
    from rltop.config import Settings

    settings = Settings.from_args(args)
    for problem in settings.problems:
        print(f"rltop: config: {plain(problem)}", file=sys.stderr)
    return settings


def json_safe(value: Any) -> Any:
    """JSON-safe: NaN and ±inf become null (a bare NaN is not JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone (``rltop check | head``), so the
    interpreter's final flush does not raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
