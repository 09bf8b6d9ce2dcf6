"""Run ``rltop`` as another user: the permission tests' way to meet a real ``EACCES`` as root.

    python tests/dropuser.py UID [--warm WARM_ARGS...] [--tui] -- RLTOP_ARGS...

The interpreter may live where that user cannot go (a pyenv under ``/root``), so this process
starts as root, imports what the command needs (``--warm``: runs the command once as root with
``WARM_ARGS``, its output discarded; ``--tui``: imports every module of rltop, Textual and Rich),
then drops to ``UID`` (group too, no supplementary groups) and runs the command for real: every
file it opens from then on is opened as that user.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pkgutil
import sys


def _preload(package: str) -> None:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if info.name.endswith("__main__"):
            continue  # runs a program when imported
        with contextlib.suppress(Exception):
            importlib.import_module(info.name)


def main() -> int:
    uid = int(sys.argv[1])
    rest = sys.argv[2:]
    split = rest.index("--")
    options, args = rest[:split], rest[split + 1 :]
    from rltop.cli import main as rltop_main

    if options[:1] == ["--warm"]:
        sink = io.StringIO()
        with (
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
            contextlib.suppress(SystemExit),
        ):
            rltop_main(options[1:])
    elif options == ["--tui"]:
        for package in ("rltop", "textual", "rich", "watchfiles"):
            _preload(package)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.geteuid() != uid or os.getegid() != uid:
        print("could not drop to uid", uid, file=sys.stderr)
        return 99
    return rltop_main(args)


if __name__ == "__main__":
    sys.exit(main())
