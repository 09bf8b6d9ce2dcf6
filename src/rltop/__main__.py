"""Entry point for ``python -m rltop``."""

from rltop.cli import main

raise SystemExit(main())
