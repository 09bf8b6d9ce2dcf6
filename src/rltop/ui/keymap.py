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
BINDING_MODULES = ("rltop.ui.app", "rltop.ui.screens", "rltop.ui.widgets")


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


def key_clashes(keys: dict[str, str], table: dict[str, KeyAction] | None = None) -> list[str]:
    """Remapped keys that another action of the same screen (or the app) already answers to.

    Only clashes involving a remapped action are reported: the defaults are laid out on purpose.
    A screen's binding wins over the app's, so remapping ``dashboard.filter`` to ``q`` hides quit
    on the dashboard; two actions of one screen on one key leave one of them unreachable.
    """
    table = binding_table() if table is None else table
    current = {a.id: keys.get(a.id, a.key) for a in table.values()}
    app_owner = next((a.owner for a in table.values() if a.id.startswith("app.")), None)
    clashes = []
    for remapped in keys:
        if remapped not in table:
            continue
        owner = table[remapped].owner
        mine = set(_split(current[remapped]))
        for other in table.values():
            same_place = owner == app_owner or other.owner in (owner, app_owner)
            if other.id == remapped or not same_place:
                continue
            shared = mine & set(_split(current[other.id]))
            if shared and (other.id not in keys or other.id > remapped):  # each pair once
                clashes.append(
                    f"{remapped} and {other.id} share key {', '.join(sorted(shared))}: "
                    "only one of them will answer to it"
                )
    return clashes


def _split(keys: str) -> list[str]:
    return [k.strip() for k in keys.split(",") if k.strip()]
