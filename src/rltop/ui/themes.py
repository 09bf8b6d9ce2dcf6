"""Themes: the ones shipped in ``themes/`` and any the user drops into ``<config dir>/themes/``.

A theme file is TOML with the fields of Textual's ``Theme`` (name, primary, background, ...).
Beside it, an optional ``.tcss`` file of the same stem is that theme's overlay: CSS applied while
the theme is active (heavier borders, bolder selection...). A ``.tcss`` without a TOML of its stem
in the same folder overlays the theme of that name, so a user can restyle a shipped theme.
A broken user file is skipped with a reason, never fatal.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.css.stylesheet import Stylesheet, StylesheetError
from textual.css.tokenizer import TokenError
from textual.theme import Theme

if TYPE_CHECKING:
    from textual.dom import DOMNode

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


@dataclass(frozen=True)
class Overlay:
    """The CSS of a theme's ``.tcss`` overlay and the file it came from."""

    path: Path
    css: str


@dataclass
class ThemeCatalog:
    """Every theme found, their overlays by theme name, and what was skipped and why."""

    themes: list[Theme] = field(default_factory=list)
    overlays: dict[str, Overlay] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _read_overlay(path: Path) -> Overlay:
    try:
        return Overlay(path, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc


def load_themes(extra_dirs: list[Path] | None = None) -> ThemeCatalog:
    """Bundled themes, then user themes (which may replace a bundled one, overlay included)."""
    themes: dict[str, Theme] = {}
    overlays: dict[str, Overlay] = {}
    problems: list[str] = []
    for folder in [bundled_dir(), *(extra_dirs if extra_dirs is not None else [user_dir()])]:
        try:
            if not folder.is_dir():
                continue
            files = sorted(folder.glob("*.toml"))
        except OSError:  # a folder this user may not read: the config notice says so already
            continue
        for path in files:
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
            overlays.pop(theme.name, None)  # a replaced theme does not keep the old overlay
            css = path.with_suffix(".tcss")
            if css.is_file():
                try:
                    overlays[theme.name] = _read_overlay(css)
                except ValueError as exc:
                    problems.append(str(exc))
        for css in sorted(folder.glob("*.tcss")):
            if css.with_suffix(".toml").is_file():
                continue  # the overlay of the theme in that file, read above
            if css.stem not in themes:
                problems.append(f"{css.name}: no theme named {css.stem!r} to overlay")
                continue
            try:
                overlays[css.stem] = _read_overlay(css)
            except ValueError as exc:
                problems.append(str(exc))
    return ThemeCatalog(list(themes.values()), overlays, problems)


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


#: the second half of the overlay's source key in the stylesheet (the first is its file)
OVERLAY_SOURCE = "rltop-theme-overlay"


def set_overlay(
    stylesheet: Stylesheet, overlay: Overlay | None, variables: dict[str, str]
) -> str | None:
    """Make ``overlay`` the stylesheet's only theme overlay (``None``: no overlay).

    Returns the problem instead of applying an overlay whose CSS does not parse with the theme's
    ``variables``: a broken user file must not take the whole stylesheet down with it.
    The caller refreshes the CSS (Textual does on every theme change).
    """
    for key in [key for key in stylesheet.source if key[1] == OVERLAY_SOURCE]:
        del stylesheet.source[key]
    if overlay is None:
        return None
    read_from = (str(overlay.path), OVERLAY_SOURCE)
    trial = Stylesheet(variables=variables)
    try:
        trial.add_source(overlay.css, read_from=read_from)
        trial.parse()
    except (StylesheetError, TokenError) as exc:
        errors = getattr(exc, "errors", None)
        reason = "; ".join(
            str(getattr(error, "summary", error))
            for rule in getattr(errors, "rules", [])
            for _, error in rule.errors
        )
        return f"{overlay.path.name}: not valid CSS ({reason or exc})"
    stylesheet.add_source(overlay.css, read_from=read_from, is_default_css=False)
    return None


#: what a ``$name`` in a Rich style becomes when there is no app (or the theme lacks the name)
STYLE_FALLBACKS = {
    "error": "red",
    "warning": "yellow",
    "primary": "blue",
    "success": "green",
    "text-success": "green",
}
_VARIABLE = re.compile(r"\$([a-z][a-z0-9-]*)")


def theme_style(style: str, widget: DOMNode | None = None) -> str:
    """A Rich style with ``$name`` replaced by the current theme's colour of that name.

    Rich text built in Python cannot read Textual's CSS variables; this lets it follow the theme
    as the CSS does (``"bold $warning"``, ``"$text-success"``).
    """
    variables: dict[str, str] = {}
    if widget is not None:
        try:
            variables = widget.app.get_css_variables()
        except Exception:  # not attached to an app yet
            variables = {}

    def colour(match: re.Match[str]) -> str:
        name = match.group(1)
        return variables.get(name) or STYLE_FALLBACKS.get(name, "")

    return _VARIABLE.sub(colour, style)
