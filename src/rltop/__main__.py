"""Entry point for ``python -m rltop``."""

from rltop.cli import entry

entry()
