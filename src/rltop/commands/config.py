"""``rltop config``: where the config file is, and every effective setting with where it came from.

It takes the dashboard's flags too, so ``rltop config --theme x --key app.quit=ctrl+q`` shows what
``rltop --theme x --key app.quit=ctrl+q`` would use. Effective means what the app will do: a
setting left unset shows the app's own default (the theme under NO_COLOR, the chat endpoint, the
memory budget), and the key map lists every action id, remapped ones marked.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from rltop.commands.common import add_view_arguments, silence_stdout
from rltop.config import (
    LAYERS,
    TABLES,
    Settings,
    default_config_path,
    env_name,
    flag_name,
    setting_fields,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the effective settings as JSON")
    add_view_arguments(parser)


def effective(settings: Settings, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Setting name -> ``{"value", "origin", "note"}``: the values the app will use.

    The table settings also get ``"entries"``: item -> ``{"value", "origin"}`` (for keys, every
    action id with its default key and whether it is remapped).
    """
    from textual.theme import BUILTIN_THEMES

    from rltop.config import DEFAULT_SMOOTHING
    from rltop.core.chat import resolve_endpoint
    from rltop.core.coldtext import DEFAULT_MAX_MEMORY
    from rltop.core.redact import mask_url
    from rltop.ui.app import REDRAW_INTERVAL, STREAM_REDRAW_INTERVAL
    from rltop.ui.keymap import binding_table, key_clashes
    from rltop.ui.themes import load_themes, pick_theme

    out: dict[str, dict[str, Any]] = {}
    for f in setting_fields():
        out[f.name] = {"value": getattr(settings, f.name), "origin": settings.origin(f.name)}

    catalog = load_themes()
    settings.problems.extend(f"theme skipped: {p}" for p in catalog.problems)
    available = set(BUILTIN_THEMES) | {t.name for t in catalog.themes}
    theme = pick_theme(settings.theme, available, env)
    if settings.theme and theme != settings.theme:
        settings.problems.append(f"theme {settings.theme!r} not found, using {theme}")
        out["theme"]["origin"] = "default"
    if out["theme"]["origin"] == "default" and env.get("NO_COLOR"):
        out["theme"]["note"] = "NO_COLOR is set"
    out["theme"]["value"] = theme

    # the endpoint's own resolution (flag > RLTOP_ENDPOINT > config file > default), normalised
    from_file = settings.origins.get("endpoint") == "config file"
    from_flag = settings.origins.get("endpoint") == "flag"
    out["endpoint"]["value"] = mask_url(
        resolve_endpoint(
            settings.endpoint if from_flag else None,
            config={"endpoint": settings.endpoint} if from_file else None,
            env=env,
        ).url
    )
    if settings.smoothing is None:
        out["smoothing"]["value"] = DEFAULT_SMOOTHING
    if settings.refresh is None:
        out["refresh"]["note"] = (
            f"adaptive: at most {1 / REDRAW_INTERVAL:g} redraws/s, "
            f"{1 / STREAM_REDRAW_INTERVAL:g}/s while data streams in"
        )
    if settings.max_memory is None:
        out["max_memory"]["value"] = DEFAULT_MAX_MEMORY
    out["max_memory"]["note"] = _size(out["max_memory"]["value"])

    def entry(table: str, item: str) -> str:
        return settings.origins.get(f"{table}:{item}", "default")

    out["thresholds"]["entries"] = {
        f"{rule}.{param}": {"value": value, "origin": entry("thresholds", f"{rule}.{param}")}
        for rule, params in settings.thresholds.items()
        for param, value in params.items()
    }
    out["roles"]["entries"] = {
        role: {"value": names, "origin": entry("roles", role)}
        for role, names in settings.roles.items()
    }
    actions = binding_table()
    settings.check_keys(actions, key_clashes(settings.keys, actions))
    out["keys"]["entries"] = {
        action.id: {
            "value": settings.keys.get(action.id, action.key),
            "default": action.key,
            "remapped": action.id in settings.keys,
            "origin": entry("keys", action.id),
            "description": action.description,
        }
        for action in actions.values()
    }
    out["keys"]["value"] = {a: e["value"] for a, e in out["keys"]["entries"].items()}
    return out


def _size(size: int) -> str:
    for unit, factor in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if size >= factor:
            return f"{size / factor:g}{unit}"
    return f"{size} bytes"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:  # `rltop config | head`
        silence_stdout()
        return 0


def _run(args: argparse.Namespace) -> int:
    from rltop.config import CONFIG_ENV

    env = dict(os.environ)
    settings = Settings.from_args(args, env=env)
    values = effective(settings, env)
    path = settings.config_path or getattr(args, "config", None)
    path = path or env.get(CONFIG_ENV) or default_config_path()
    exists = os.path.isfile(path)
    if args.json:
        doc = {
            "config_file": str(path),
            "exists": exists,
            "precedence": list(LAYERS),
            "settings": {name: v["value"] for name, v in values.items()},
            "origin": {name: v["origin"] for name, v in values.items()},
            "notes": {name: v["note"] for name, v in values.items() if "note" in v},
            "entries": {name: values[name]["entries"] for name in TABLES},
            "problems": settings.problems,
        }
        print(json.dumps(doc, indent=2, default=str))
        return 0
    print(f"config file: {path}" + ("" if exists else "  (not there: defaults apply)"))
    print("precedence:  " + " < ".join(LAYERS) + "  (docs/config.md)")
    print()
    width = max(len(n) for n in values)
    for name, v in values.items():
        if name in TABLES:
            changed = {k: e for k, e in v["entries"].items() if e["origin"] != "default"}
            if name == "keys":
                print(f"  {name:<{width}}  {len(changed)} of {len(v['entries'])} remapped (below)")
                continue
            if not changed:
                print(f"  {name:<{width}}  —  (default)")
            for i, (item, e) in enumerate(changed.items()):
                label = name if i == 0 else ""
                print(f"  {label:<{width}}  {item} = {_show(e['value'])}  ({e['origin']})")
            continue
        shown = _show(v["value"])
        if v["value"] is None and "note" in v:
            shown, note = v["note"], ""  # an unset value: what the app does instead
        else:
            note = f"  [{v['note']}]" if "note" in v else ""
        print(f"  {name:<{width}}  {shown}  ({v['origin']}){note}")
    print()
    print("keys (action id, key, what it does; * remapped)")
    keys = values["keys"]["entries"]
    id_width = max(len(a) for a in keys)
    key_width = max(len(e["value"]) for e in keys.values())
    for action, e in keys.items():
        mark = "*" if e["remapped"] else " "
        line = f"  {mark} {action:<{id_width}}  {e['value']:<{key_width}}  {e['description']}"
        if e["remapped"]:
            line += f"  ({e['origin']}; default {e['default']})"
        print(line)
    if settings.problems:
        print()
    for problem in settings.problems:
        print(f"problem: {problem}")
    print()
    print(
        "every setting is also a flag (--name) and an environment variable (RLTOP_NAME): "
        f"e.g. {flag_name('max_memory')}, {env_name('max_memory')}; see docs/config.md"
    )
    return 0
