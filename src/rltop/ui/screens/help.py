"""``?``: every binding of the screen underneath, generated from the bindings themselves."""

from __future__ import annotations

import re

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import key_to_character
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def _key_label(key: str) -> str:
    """A key as a user types it: ``>`` not ``greater_than_sign``, ``Ctrl+B`` not ``ctrl+b``."""
    names = {
        "question_mark": "?",
        "slash": "/",
        "escape": "Esc",
        "enter": "Enter",
        "space": "Space",
        "plus": "+",
        "minus": "-",
        "equals_sign": "=",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
        "ctrl+c": "Ctrl+C",
        "pageup": "PgUp",
        "pagedown": "PgDn",
    }
    return "/".join(names.get(k.strip()) or _one_key(k.strip()) for k in key.split(","))


def _one_key(key: str) -> str:
    *modifiers, name = key.split("+")
    character = key_to_character(name) if len(name) > 1 else name
    shown = character if character and character.isprintable() else name.replace("_", " ").title()
    if modifiers and len(shown) == 1:
        shown = shown.upper()  # Ctrl+B, as keyboards and manuals write it
    return "+".join([*(m.title() for m in modifiers), shown])


#: where a binding works, in the user's words (classes not listed: "FooBarScreen" -> "foo bar")
WHERE = {"MetricGrid": "cards", "MetricChart": "chart", "RolloutList": "rollout list"}


def where_label(node: object) -> str:
    name = type(node).__name__
    if name in WHERE:
        return WHERE[name]
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name.removesuffix("Screen")) or [name]
    return " ".join(w.lower() for w in words)


def binding_rows(screen: Screen) -> list[tuple[str, str, str]]:
    """(keys, what it does, where it works) for every described binding in reach of ``screen``."""
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    # keys remapped in the config file ([keys] binding id -> keys) replace the defaults
    keymap = getattr(screen.app, "_keymap", {}) or {}
    for node in [*reversed(screen.focus_chain), screen, screen.app]:
        where = "everywhere" if node is screen.app else where_label(node)
        for binding in getattr(node, "BINDINGS", []):
            if not isinstance(binding, Binding) or not binding.description:
                continue
            key = _key_label(keymap.get(binding.id, binding.key) if binding.id else binding.key)
            if (key, binding.description) in seen:
                continue
            seen.add((key, binding.description))
            rows.append((key, binding.description, where))
    return rows


def bindings_table(screen: Screen) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("action")
    table.add_column("where", style="dim")
    for key, description, where in binding_rows(screen):
        table.add_row(key, Text(description), where)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close help")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, target: Screen) -> None:
        super().__init__()
        self.target = target
        self.rows = binding_rows(target)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("rltop keys", style="bold"))
            yield Static(bindings_table(self.target))
            yield Static(Text("Esc or ? closes this help.", style="dim"))
