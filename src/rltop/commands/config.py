"""``rltop config``: where the config file is, and every effective setting with where it came from."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

LAYERS = ("default", "config file", "environment")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the effective settings as JSON")


def _values(settings) -> dict[str, object]:
    skip = {"config_path", "problems"}
    return {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if f.name not in skip
    }


def run(args: argparse.Namespace) -> int:
    from rltop.config import CONFIG_ENV, Settings, default_config_path

    env = dict(os.environ)
    only_env = {k: v for k, v in env.items() if k.startswith("RLTOP_") and k != CONFIG_ENV}
    no_env = {k: v for k, v in env.items() if k == CONFIG_ENV}
    # build the layers one at a time, so each setting can say which layer set it
    defaults = _values(Settings())
    with_file = _values(Settings.load(env=no_env))
    effective_settings = Settings.load(env=env)
    effective = _values(effective_settings)
    origin = {}
    for name, value in effective.items():
        if value != with_file[name] and only_env:
            origin[name] = "environment"
        elif with_file[name] != defaults[name]:
            origin[name] = "config file"
        else:
            origin[name] = "default"
    path = effective_settings.config_path or (env.get(CONFIG_ENV) or default_config_path())
    if args.json:
        print(
            json.dumps(
                {
                    "config_file": str(path),
                    "exists": os.path.isfile(path),
                    "settings": effective,
                    "origin": origin,
                    "problems": effective_settings.problems,
                },
                indent=2,
                default=str,
            )
        )
        return 0
    print(
        f"config file: {path}" + ("" if os.path.isfile(path) else "  (not there: defaults apply)")
    )
    width = max(len(n) for n in effective)
    for name, value in effective.items():
        shown = json.dumps(value, default=str) if value not in (None, {}, []) else "—"
        print(f"  {name:<{width}}  {shown}  ({origin[name]})")
    for problem in effective_settings.problems:
        print(f"  problem: {problem}")
    print("docs: docs/rules.md (thresholds, roles); every simple setting also reads RLTOP_<NAME>")
    return 0
