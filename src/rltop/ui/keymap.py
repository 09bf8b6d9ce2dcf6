"""The key action ids users can remap (``[keys]``, ``--key``, ``RLTOP_KEYS``): every ``Binding``
with an ``id`` in the app, its screens and widgets, read from the classes without starting a
terminal, so ``rltop config`` can list them and the dashboard can reject unknown ids."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache

from textual.binding import Binding

#: modules whose classes may declare bindings (packages are walked)
BINDING_MODULES = ("rltop.ui.app", "rltop.ui.chat", "rltop.ui.screens", "rltop.ui.widgets")


@dataclass(frozen=True)
class KeyAction:
    """One remappable action: its id, default key(s), what it does and the class that owns it."""

    id: str
    key: str
    description: str
    owner: str


def _modules() -> list[object]:
    modules = []
    for name in BINDING_MODULES:
        module = importlib.import_module(name)
        modules.append(module)
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            modules.append(importlib.import_module(f"{name}.{info.name}"))
    return modules


@cache
def binding_table() -> dict[str, KeyAction]:
    """Action id -> ``KeyAction``, sorted by id; each class's own ``BINDINGS`` only."""
    table: dict[str, KeyAction] = {}
    for module in _modules():
        for obj in vars(module).values():
            if not isinstance(obj, type) or obj.__module__ != module.__name__:
                continue
            for binding in obj.__dict__.get("BINDINGS", []):
                if isinstance(binding, Binding) and binding.id:
                    table[binding.id] = KeyAction(
                        binding.id, binding.key, binding.description or binding.action, obj.__name__
                    )
    return dict(sorted(table.items()))
