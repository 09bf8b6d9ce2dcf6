"""Copy the snapshot tests' SVGs into docs/images/, so the README shows exactly what the app shows.

Run after ``pytest tests/test_snapshots_*.py --snapshot-update``:

    python docs/make_screenshots.py

``docs/images/serve.png`` (``rltop serve`` in a browser) comes from the browser test instead:

    RLTOP_SCREENSHOT_DIR=docs/images pytest tests/test_serve_e2e.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests" / "__snapshots__"
IMAGES = ROOT / "docs" / "images"

#: README image -> the snapshot it comes from
PICTURES = {
    "dashboard.svg": "test_snapshots_dashboard/test_dashboard_layout[size1].svg",
    "dashboard-80x24.svg": "test_snapshots_warnings/test_dashboard_with_warnings[size0].svg",
    "warning-detail.svg": "test_snapshots_warnings/test_warning_detail[size1].svg",
    "rollouts.svg": "test_snapshots_rollouts/test_rollout_list_search_highlighted.svg",
    "rollout-detail.svg": "test_snapshots_rollouts/test_rollout_detail.svg",
    "warnings.svg": "test_snapshots_themes/test_screen_in_theme[warnings-160x48-rltop-dark].svg",
    "compare.svg": "test_snapshots_themes/test_screen_in_theme[compare-160x48-rltop-dark].svg",
    "runs.svg": "test_snapshots_runs/test_runs_screen_filtered.svg",
    "config-diff.svg": "test_snapshots_runs/test_config_diff.svg",
    "chat.svg": "test_snapshots_themes/test_chat_answered.svg",
    "help.svg": "test_snapshots_themes/test_screen_in_theme[help-160x48-rltop-dark].svg",
    "distribution.svg": "test_snapshots_themes/test_screen_in_theme[distribution-160x48-rltop-dark].svg",
    "dashboard-light.svg": "test_snapshots_themes/test_screen_in_theme[dashboard-160x48-rltop-light].svg",
}


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    for image, snapshot in PICTURES.items():
        shutil.copyfile(SNAPSHOTS / snapshot, IMAGES / image)
        print(f"docs/images/{image} <- tests/__snapshots__/{snapshot}")


if __name__ == "__main__":
    main()
