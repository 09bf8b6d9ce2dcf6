"""Themes: the ones shipped in ``themes/`` and any the user drops into ``<config dir>/themes/``.

A theme file is TOML with the fields of Textual's ``Theme`` (name, primary, background, ...).
A broken user file is skipped with a reason, never fatal.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from textual.theme import Theme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_THEME = "rltop-dark"
NO_COLOR_THEME = "rltop-mono"
FIELDS = {
    "name",
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "dark",
    "luminosity_spread",
    "text_alpha",
    "variables",
}


def bundled_dir() -> Path:
    """``rltop/themes`` inside an installed wheel, else the repository's ``themes/``."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "themes"
    return installed if installed.is_dir() else package.parents[1] / "themes"


def user_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("rltop")) / "themes"


def load_theme_file(path: Path) -> Theme:
    """One theme from a TOML file (ValueError with the reason when it is not a valid theme)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    unknown = set(data) - FIELDS
    if unknown:
        raise ValueError(f"{path.name}: unknown fields {', '.join(sorted(unknown))}")
    if "name" not in data or "primary" not in data:
        raise ValueError(f"{path.name}: a theme needs at least name and primary")
    return Theme(**data)


def load_themes(extra_dirs: list[Path] | None = None) -> tuple[list[Theme], list[str]]:
    """Bundled themes, then user themes (which may replace a bundled one); and the problems."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in [bundled_dir(), *(extra_dirs if extra_dirs is not None else [user_dir()])]:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems


def pick_theme(
    requested: str | None, available: set[str], env: dict[str, str] | None = None
) -> str:
    """The theme to start with: the one asked for, else monochrome under NO_COLOR, else the default."""
    env = dict(os.environ) if env is None else env
    if requested and requested in available:
        return requested
    if env.get("NO_COLOR"):
        return NO_COLOR_THEME
    return DEFAULT_THEME
