"""Settings: defaults < config file < ``RLTOP_*`` environment variables < command-line flags.

The config file is TOML, at ``$RLTOP_CONFIG`` or ``<user config dir>/rltop/config.toml``
(platformdirs)::

    theme = "textual-dark"          # any top-level field of Settings
    smoothing = 0.6

    [thresholds."rl.kl_spike"]      # rule id -> overrides of its defaults (docs/rules.md)
    factor = 20
    [thresholds."sft.train_flat"]
    enabled = false                 # turn a rule off

    [roles]                         # role -> extra metric names (tried first; globs with *)
    reward = ["my/reward"]

Every simple field ``x`` also reads ``RLTOP_X`` from the environment; ``RLTOP_THRESHOLDS`` takes
``rule.param=value`` pairs separated by commas (``rl.kl_spike.factor=20,run.stalled.minutes=30``).
To add a setting, add a field with a default here: the file and the environment pick it up.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_PREFIX = "RLTOP_"
CONFIG_ENV = "RLTOP_CONFIG"


def default_config_path() -> Path:
    """``<user config dir>/rltop/config.toml`` (``~/.config/rltop/config.toml`` on Linux)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("rltop")) / "config.toml"


@dataclass
class Settings:
    """Everything users can configure. Simple fields map to ``RLTOP_<NAME>`` and top-level TOML."""

    #: Textual theme name of the dashboard (None: the app's default)
    theme: str | None = None
    #: OpenAI-compatible endpoint for the chat pane (None: the chat module's resolution)
    endpoint: str | None = None
    #: EMA smoothing weight of the charts, 0..0.99 (None: the dashboard's default)
    smoothing: float | None = None
    #: poll files instead of watching them (NFS, some containers)
    poll: bool = False
    #: at most this many redraws per second of live data (None: rltop's own pacing); slow links
    refresh: float | None = None
    #: rule id -> {threshold name: value}; see docs/rules.md for every rule's names
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: role -> extra metric names for that role, tried before the built-in aliases
    roles: dict[str, list[str]] = field(default_factory=dict)
    #: key binding id -> key (for the dashboard)
    keys: dict[str, str] = field(default_factory=dict)
    #: the config file that was read, if any
    config_path: Path | None = None
    #: what was wrong in the file or the environment (unknown keys, bad values): shown, not fatal
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        flags: Mapping[str, Any] | None = None,
        threshold_pairs: Iterable[str] = (),
    ) -> Settings:
        """Build settings from every layer. ``flags`` values of None are "not given";
        ``threshold_pairs`` are ``--threshold rule.param=value`` flags."""
        env = os.environ if env is None else env
        settings = cls()
        file = Path(path) if path else Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None
        explicit = file is not None
        file = file or default_config_path()
        if file.is_file():
            try:
                with open(file, "rb") as fh:
                    settings.merge(tomllib.load(fh), source=str(file))
                settings.config_path = file
            except (OSError, tomllib.TOMLDecodeError) as exc:
                settings.problems.append(f"cannot read {file}: {exc}")
        elif explicit:
            settings.problems.append(f"config file not found: {file}")
        settings.merge_env(env)
        if flags:
            settings.merge({k: v for k, v in flags.items() if v is not None}, source="flags")
        settings.set_threshold_pairs(threshold_pairs, "--threshold")
        settings.validate()
        return settings

    # -- layers ------------------------------------------------------------------------------
    def merge(self, data: Mapping[str, Any], source: str = "") -> None:
        """Apply one layer (a parsed TOML document, or flags) over the current values."""
        names = {f.name for f in dataclasses.fields(self)} - {"config_path", "problems"}
        for key, value in data.items():
            if key not in names:
                self.problems.append(f"{source}: unknown setting {key!r}")
            elif key == "thresholds":
                self.set_thresholds(value, source)
            elif key == "roles":
                self._merge_roles(value, source)
            elif key == "keys":
                if isinstance(value, Mapping):
                    self.keys.update({str(k): str(v) for k, v in value.items()})
            else:
                self._set_simple(key, value, source)

    def merge_env(self, env: Mapping[str, str]) -> None:
        for f in dataclasses.fields(self):
            if f.name in ("thresholds", "roles", "keys", "config_path", "problems"):
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                self._set_simple(f.name, raw, ENV_PREFIX + f.name.upper())
        if env.get(ENV_PREFIX + "THRESHOLDS"):
            self.set_threshold_pairs(
                env[ENV_PREFIX + "THRESHOLDS"].split(","), ENV_PREFIX + "THRESHOLDS"
            )

    def set_thresholds(self, value: Any, source: str = "") -> None:
        """``{rule id: {name: value}}``; nested TOML tables (``[thresholds.rl.kl_spike]``) too."""
        if not isinstance(value, Mapping):
            self.problems.append(f"{source}: [thresholds] must be a table")
            return
        for rule_id, params in _flatten_rule_tables(value):
            self.thresholds.setdefault(rule_id, {}).update(params)

    def set_threshold_pairs(self, pairs: Iterable[str], source: str = "flags") -> None:
        """``rule.id.param=value`` strings (``--threshold`` flags, ``RLTOP_THRESHOLDS``)."""
        for pair in pairs:
            pair = pair.strip()
            if not pair:
                continue
            key, sep, raw = pair.partition("=")
            rule_id, dot, param = key.strip().rpartition(".")
            if not sep or not dot or not rule_id:
                self.problems.append(f"{source}: expected rule.param=value, got {pair!r}")
                continue
            self.thresholds.setdefault(rule_id, {})[param] = _parse_scalar(raw.strip())

    def _merge_roles(self, value: Any, source: str) -> None:
        if not isinstance(value, Mapping):
            self.problems.append(f"{source}: [roles] must be a table of lists")
            return
        for role, names in value.items():
            names = [names] if isinstance(names, str) else list(names or [])
            self.roles[str(role)] = [str(n) for n in names] + self.roles.get(str(role), [])

    def _set_simple(self, name: str, value: Any, source: str) -> None:
        current = {f.name: f for f in dataclasses.fields(self)}[name]
        kind = str(current.type)
        try:
            if "bool" in kind:
                value = _parse_bool(value)
            elif "float" in kind:
                value = float(value)
            elif "int" in kind:
                value = int(value)
            else:
                value = str(value)
        except (TypeError, ValueError):
            self.problems.append(f"{source}: bad value for {name}: {value!r}")
            return
        setattr(self, name, value)

    def validate(self) -> None:
        """Record unknown rule ids and threshold names (needs the rule catalogue)."""
        from rltop.core.diagnose import check_thresholds

        self.problems.extend(check_thresholds(self.thresholds))


def _flatten_rule_tables(table: Mapping[str, Any], prefix: str = ""):
    """``{"rl": {"kl_spike": {"factor": 8}}}`` and ``{"rl.kl_spike": {...}}`` -> pairs."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    if prefix and scalars:
        yield prefix, scalars
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _flatten_rule_tables(value, f"{prefix}.{key}" if prefix else key)


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


def _parse_scalar(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
