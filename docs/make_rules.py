"""Write the rule sections of docs/rules.md from the registry: ``python docs/make_rules.py``.

``--check`` exits 1 when the page is out of date (the test suite checks the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "rules.md"


def main(argv: list[str]) -> int:
    from rltop.core.diagnose.docs import render_page

    current = PAGE.read_text(encoding="utf-8")
    fresh = render_page(current)
    if "--check" in argv:
        return 0 if fresh == current else 1
    PAGE.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
