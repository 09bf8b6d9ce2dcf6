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
    "serve": "serve the dashboard to web browsers (one session per tab; needs rltop[serve])",
}


def _main_parser() -> argparse.ArgumentParser:
    from rltop.commands.common import add_view_arguments

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


def _install_log_handler() -> None:
    """After the arguments are parsed (``--help`` and usage errors never log): rltop's log
    messages go to stderr made inert."""
    from rltop.core.inert import install_log_handler

    install_log_handler()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        name = argv[0]
        module = importlib.import_module(f"rltop.commands.{name}")
        sub = argparse.ArgumentParser(prog=f"rltop {name}", description=COMMANDS[name])
        module.add_arguments(sub)
        args = sub.parse_args(argv[1:])
        _install_log_handler()
        if not getattr(module, "SETTLES_AT_FOLLOWER", False):
            from rltop.core.startup import settled

            settled()
        return int(module.run(args) or 0)
    args = _main_parser().parse_args(argv)
    _install_log_handler()
    from rltop.commands.view import run_view

    return run_view(args.paths, args)  # start-up ends where the app makes its Follower


def entry() -> None:
    """The ``rltop`` command: ``main`` with the garbage collector kept out of start-up and exit
    (``rltop.core.startup``)."""
    from rltop.core import startup

    startup.starting()
    try:
        code = main()
    finally:
        startup.exiting()
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
