"""The garbage collector around start-up and exit.

Start-up imports polars and rltop's modules and builds their tables: tens of thousands of objects
that live as long as the process. A collection among them frees nothing, yet on a one-file
``rltop check`` the collections during start-up cost ~10 ms and the full one at exit ~25 ms (the
interpreter collects once more as it finalizes). So the command-line entry point turns the
collector off while the process starts; ``settled()`` marks the end of start-up (a command begins
its work, or a ``Follower`` is made to read the logs): what exists then is frozen, never scanned
again (``gc.freeze``), and the collector is on for the work itself. ``exiting()`` freezes again
before the interpreter finalizes, so the last collection is skipped too.

Only the entry point (``rltop.cli.entry``) turns the collector off: ``rltop.cli.main`` called from
Python (the tests) leaves it alone.
"""

from __future__ import annotations

import gc

__all__ = ["exiting", "settled", "starting"]

_started = False


def starting() -> None:
    """The process starts (the entry point): no collections until ``settled()``."""
    global _started
    _started = True
    gc.disable()


def settled() -> None:
    """Start-up is over: freeze what it made and collect garbage from here on. Idempotent; does
    nothing unless ``starting()`` turned the collector off."""
    global _started
    if _started:
        _started = False
        gc.freeze()
        gc.enable()


def exiting() -> None:
    """The process is about to end: skip the interpreter's final collection over every object."""
    gc.freeze()
