"""``rltop serve [PATH ...]``: the dashboard in a browser, one ``rltop`` per browser tab.

The web part (textual-serve, aiohttp) is imported only here, and only when the command runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sys

from rltop.commands.common import add_paths_argument, add_view_arguments, load_settings
from rltop.core.inert import plain

#: the flag's value when ``--token`` is given without one: generate a token
GENERATE = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths_argument(parser, "folders or files to follow")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; open it from elsewhere "
        "through an SSH tunnel)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--token",
        nargs="?",
        const=GENERATE,
        default=None,
        metavar="T",
        help="answer only requests carrying ?token=T (a random token when T is omitted; "
        "put --token after the paths, or write --token=T)",
    )
    add_view_arguments(parser)


def view_argv(args: argparse.Namespace) -> list[str]:
    """The dashboard's flags that ``args`` set, as a command line ``rltop`` parses back to the
    same values: every tab's ``rltop`` runs with the settings ``rltop serve`` was given."""
    view = argparse.ArgumentParser(add_help=False)
    add_view_arguments(view)
    out: list[str] = []
    for action in view._actions:
        value = getattr(args, action.dest, None)
        flag = action.option_strings[-1]
        if value is None or value == action.default:
            continue
        if action.nargs == 0:  # a switch (--poll)
            out.append(flag)
        elif isinstance(value, list):  # a repeatable flag (--threshold, --role, --key)
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out


def app_command(paths: list[str], args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each browser tab."""
    # absolute paths after "--": a path named like a command or a flag stays a path
    argv = [sys.executable, "-m", "rltop", *view_argv(args), "--"]
    argv += [os.path.abspath(p) for p in paths]
    return shlex.join(argv)


def run(args: argparse.Namespace) -> int:
    try:
        from rltop.webserve import TOKEN_RE, RltopServer, is_loopback
    except ImportError as exc:
        print(
            f"rltop serve needs the serve extra ({exc.name} is missing): "
            "pip install 'rltop[serve]'",
            file=sys.stderr,
        )
        return 2
    paths = list(args.paths) or ["."]
    token = args.token
    if token is not None and token != GENERATE and os.path.exists(token):
        # "rltop serve --token runs/": argparse gave the folder to --token
        print(
            f"rltop serve: --token took {plain(token)!r}, a file or folder here: put --token "
            "after the paths, or choose another token",
            file=sys.stderr,
        )
        return 2
    if token == GENERATE:
        token = secrets.token_urlsafe(24)
    elif token is not None and not TOKEN_RE.fullmatch(token):
        print("rltop serve: a token may hold letters, digits and - _ . ~ only", file=sys.stderr)
        return 2
    missing = [p for p in paths if not os.path.exists(p)]
    if len(missing) == len(paths):
        print(f"rltop serve: no such file or folder: {plain(', '.join(missing))}", file=sys.stderr)
        return 2
    # a setting's problems show at start too, not only in each browser tab
    load_settings(args)
    if not is_loopback(args.host):
        print(
            f"rltop serve: caution: listening on {plain(args.host)}, reachable from other "
            "machines over plain HTTP with no login (--token only); an SSH tunnel to 127.0.0.1 "
            f"is safer (ssh -L {args.port}:localhost:{args.port} <this machine>)",
            file=sys.stderr,
        )
    server = RltopServer(
        app_command(paths, args), host=args.host, port=args.port, token=token, title="rltop"
    )
    server.banner = (
        f"rltop serve: open {server.open_url}  (each browser tab runs its own rltop on "
        f"{plain(' '.join(paths))}; Ctrl+C stops)"
    )
    try:
        server.serve()
    except OSError as exc:  # the port is taken, the address is not ours, ...
        print(
            f"rltop serve: cannot listen on {plain(args.host)}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    return 0
