"""Settings: defaults < config file < ``RLTOP_*`` environment variables < command-line flags.

The config file is TOML, at ``$RLTOP_CONFIG`` (or ``--config FILE``) else
``<user config dir>/rltop/config.toml`` (platformdirs)::

    theme = "textual-dark"          # any top-level field of Settings
    smoothing = 0.6
    max_memory = "2G"

    [thresholds."rl.kl_spike"]      # rule id -> overrides of its defaults (docs/rules.md)
    factor = 20
    [thresholds."sft.train_flat"]
    enabled = false                 # turn a rule off

    [roles]                         # role -> extra metric names (tried first; globs with *)
    reward = ["my/reward"]

    [keys]                          # key action id -> key(s)
    "dashboard.filter" = "f"

Every field ``x`` is also ``RLTOP_X`` in the environment and ``--x`` on the command line. The
three tables take ``name=value`` items instead: ``--threshold rl.kl_spike.factor=20``,
``--role reward=my/reward,env/*/reward``, ``--key dashboard.filter=f`` (repeatable), and
``RLTOP_THRESHOLDS`` / ``RLTOP_ROLES`` / ``RLTOP_KEYS`` with items separated by ``;`` (thresholds
also by ``,``). docs/config.md documents every setting; a test keeps it complete.
To add a setting, add a field with a default here, a flag in ``commands.common.add_view_arguments`` and a
section in docs/config.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "RLTOP_"
CONFIG_ENV = "RLTOP_CONFIG"
#: where a value came from, lowest precedence first
LAYERS = ("default", "config file", "environment", "flag")
#: fields that describe the loading, not something a user sets
META_FIELDS = frozenset({"config_path", "problems", "origins"})
#: the table settings: their repeatable flag and the syntax of one item
TABLES: dict[str, tuple[str, str]] = {
    "thresholds": ("--threshold", "RULE.PARAM=VALUE"),
    "roles": ("--role", "ROLE=METRIC[,METRIC...]"),
    "keys": ("--key", "ACTION=KEY"),
}
#: the chart's EMA smoothing weight when none is set
DEFAULT_SMOOTHING = 0.6


def setting_fields() -> list[dataclasses.Field]:
    """The fields of ``Settings`` a user can set (in every layer)."""
    return [f for f in dataclasses.fields(Settings) if f.name not in META_FIELDS]


def flag_name(name: str) -> str:
    """The command-line flag of a setting: ``max_memory`` -> ``--max-memory``, ``roles`` -> ``--role``."""
    return TABLES[name][0] if name in TABLES else "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    """The environment variable of a setting: ``max_memory`` -> ``RLTOP_MAX_MEMORY``."""
    return ENV_PREFIX + name.upper()


def default_config_path() -> Path:
    """``<user config dir>/rltop/config.toml`` (``~/.config/rltop/config.toml`` on Linux)."""
    if sys.platform.startswith("linux"):
        # platformdirs' XDG rule, without importing it (~5 ms of every headless start)
        base = os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
        return Path(base) / "rltop" / "config.toml"
    from platformdirs import user_config_dir

    return Path(user_config_dir("rltop")) / "config.toml"


@dataclass
class Settings:
    """Everything users can configure; each field is a top-level TOML key, a flag and an env var."""

    #: Textual theme name of the dashboard (None: rltop-dark, or rltop-mono when NO_COLOR is set)
    theme: str | None = None
    #: OpenAI-compatible endpoint for the chat pane (None: the chat module's default)
    endpoint: str | None = None
    #: EMA smoothing weight of the charts, 0..0.99 (None: DEFAULT_SMOOTHING)
    smoothing: float | None = None
    #: poll files instead of watching them (NFS, some containers)
    poll: bool = False
    #: at most this many redraws per second of live data (None: rltop's own pacing); slow links
    refresh: float | None = None
    #: memory budget in bytes for rollout text kept in memory (None: coldtext's 2 GiB)
    max_memory: int | None = None
    #: rule id -> {threshold name: value}; see docs/rules.md for every rule's names
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: role -> extra metric names for that role, tried before the built-in aliases
    roles: dict[str, list[str]] = field(default_factory=dict)
    #: key action id (a binding id such as ``dashboard.filter``) -> key(s)
    keys: dict[str, str] = field(default_factory=dict)
    #: the config file that was read, if any
    config_path: Path | None = None
    #: what was wrong in the file, the environment or the flags: shown, not fatal
    problems: list[str] = field(default_factory=list)
    #: which layer set what (``LAYERS``): a field name, or ``table:item`` for table entries
    origins: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        flags: Mapping[str, Any] | None = None,
        threshold_pairs: Iterable[str] = (),
        role_pairs: Iterable[str] = (),
        key_pairs: Iterable[str] = (),
    ) -> Settings:
        """Build settings from every layer. ``flags`` values of None are "not given";
        the ``*_pairs`` are the repeatable ``--threshold``/``--role``/``--key`` flags."""
        env = os.environ if env is None else env
        settings = cls()
        file = Path(path) if path else Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None
        explicit = file is not None
        file = file or default_config_path()
        try:
            present = file.is_file()
        except OSError as exc:  # e.g. a $HOME this user may not enter
            present = False
            settings.problems.append(
                f"cannot look at the config file {file} ({exc.strerror or exc}): using defaults"
            )
        if present:
            if sys.version_info >= (3, 11):  # the TOML parser only when there is a file
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            try:
                with open(file, "rb") as fh:
                    settings.merge(tomllib.load(fh), source=str(file))
                settings.config_path = file
            except (OSError, tomllib.TOMLDecodeError) as exc:
                settings.problems.append(f"cannot read {file}: {exc}")
        elif explicit and not settings.problems:
            settings.problems.append(f"config file not found: {file}")
        settings.merge_env(env)
        if flags:
            given = {k: v for k, v in flags.items() if v is not None}
            settings.merge(given, source="flags", layer="flag")
        for name, pairs in (
            ("thresholds", threshold_pairs),
            ("roles", role_pairs),
            ("keys", key_pairs),
        ):
            settings.set_pairs(name, pairs, flag_name(name), "flag")
        settings.validate()
        return settings

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
        """Settings with the flags of ``commands.common.add_view_arguments`` (or a subset) on top."""
        flags = {
            f.name: getattr(args, f.name, None) for f in setting_fields() if f.name not in TABLES
        }
        flags["poll"] = flags["poll"] or None  # store_true: False means "not given"
        return cls.load(
            getattr(args, "config", None),
            env=env,
            flags=flags,
            threshold_pairs=getattr(args, "threshold", None) or (),
            role_pairs=getattr(args, "role", None) or (),
            key_pairs=getattr(args, "key", None) or (),
        )

    # -- layers ------------------------------------------------------------------------------
    def merge(self, data: Mapping[str, Any], source: str = "", layer: str = "config file") -> None:
        """Apply one layer (a parsed TOML document, or flags) over the current values."""
        names = {f.name for f in setting_fields()}
        for key, value in data.items():
            where = flag_name(key) if layer == "flag" and key in names else source
            if key not in names:
                self.problems.append(f"{source}: unknown setting {key!r}")
            elif key == "thresholds":
                self.set_thresholds(value, where, layer)
            elif key in TABLES:
                if not isinstance(value, Mapping):
                    self.problems.append(f"{where}: [{key}] must be a table")
                    continue
                # unquoted dotted TOML keys (dashboard.filter = "f") arrive as nested tables
                items = _dotted(value) if key == "keys" else value.items()
                for item, item_value in items:
                    self._set_item(key, str(item), item_value, where, layer)
            else:
                self._set_simple(key, value, where, layer)

    def merge_env(self, env: Mapping[str, str]) -> None:
        """``RLTOP_<NAME>`` for every setting; the tables take ``;``-separated ``name=value`` items."""
        for f in setting_fields():
            raw = env.get(env_name(f.name))
            if raw is None or raw == "":
                continue
            if f.name in TABLES:
                items = re.split(r"[;,]" if f.name == "thresholds" else ";", raw)
                self.set_pairs(f.name, items, env_name(f.name), "environment")
            else:
                self._set_simple(f.name, raw, env_name(f.name), "environment")

    def set_thresholds(self, value: Any, source: str = "", layer: str = "config file") -> None:
        """``{rule id: {name: value}}``; nested TOML tables (``[thresholds.rl.kl_spike]``) too."""
        if not isinstance(value, Mapping):
            self.problems.append(f"{source}: [thresholds] must be a table")
            return
        for rule_id, params in _flatten_rule_tables(value):
            for param, param_value in params.items():
                self._set_item("thresholds", f"{rule_id}.{param}", param_value, source, layer)

    def set_pairs(self, name: str, pairs: Iterable[str], source: str, layer: str = "flag") -> None:
        """``name=value`` items of a table setting (``--role reward=a,b``, ``RLTOP_KEYS`` items)."""
        syntax = TABLES[name][1]
        for pair in pairs:
            pair = pair.strip()
            if not pair:
                continue
            item, sep, raw = pair.partition("=")
            item, raw = item.strip(), raw.strip()
            if not sep or not item or not raw:
                self.problems.append(f"{source}: expected {syntax}, got {pair!r}")
                continue
            if name == "thresholds":
                value: Any = _parse_scalar(raw)
            elif name == "roles":
                value = [m.strip() for m in raw.split(",") if m.strip()]
            else:
                value = raw
            self._set_item(name, item, value, source, layer)

    def _set_item(self, table: str, item: str, value: Any, source: str, layer: str) -> None:
        """One entry of a table setting, checked; ``item`` is ``rule.param``, a role or an action."""
        if table == "thresholds":
            rule_id, dot, param = item.rpartition(".")
            if not dot or not rule_id or not param:
                self.problems.append(f"{source}: a threshold is RULE.PARAM, got {item!r}")
                return
            self.thresholds.setdefault(rule_id, {})[param] = value
        elif table == "roles":
            from rltop.core.roles import ALIASES

            names = [value] if isinstance(value, str) else value
            if item not in ALIASES:
                self.problems.append(
                    f"{source}: unknown role {item!r} (roles: {', '.join(ALIASES)})"
                )
                return
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                self.problems.append(f"{source}: role {item!r} takes metric names, got {value!r}")
                return
            # a higher layer's names are tried first, then the lower layer's, then the built-ins
            self.roles[item] = list(names) + self.roles.get(item, [])
        else:
            if not isinstance(value, str) or not value.strip():
                self.problems.append(
                    f"{source}: key for {item!r} must be a key name, got {value!r}"
                )
                return
            self.keys[item] = value.strip()
        self.origins[f"{table}:{item}"] = layer

    def _set_simple(self, name: str, value: Any, source: str, layer: str = "config file") -> None:
        current = {f.name: f for f in dataclasses.fields(self)}[name]
        kind = str(current.type)
        try:
            if name in _PARSERS:
                value = _PARSERS[name](value)
            elif "bool" in kind:
                value = _parse_bool(value)
            elif "float" in kind:
                value = float(value)
            elif "int" in kind:
                value = int(value)
            else:
                value = str(value)
        except (TypeError, ValueError) as exc:
            # the parsers of _PARSERS say what they expected; a failed int()/float() says nothing new
            why = f" ({exc})" if name in _PARSERS else ""
            self.problems.append(f"{source}: bad value for {name}: {value!r}{why}")
            return
        setattr(self, name, value)
        self.origins[name] = layer

    def validate(self) -> None:
        """Record unknown rule ids and threshold names (needs the rule catalogue)."""
        if not self.thresholds:
            return  # nothing to check: the rules (and polars) are not imported for nothing
        from rltop.core.diagnose import check_thresholds

        self.problems.extend(check_thresholds(self.thresholds))
        for rule_id, params in self.thresholds.items():
            if not isinstance(params, dict):
                continue
            for param in list(params):
                problem = threshold_value_problem(rule_id, param, params[param])
                if problem:  # the rule keeps its default
                    self.problems.append(problem)
                    del params[param]

    def check_keys(self, actions: Collection[str], clashes: Iterable[str] = ()) -> None:
        """Record remapped action ids that are not in ``actions`` (the app's binding ids) and the
        ``clashes`` of remapped keys with other actions (``ui.keymap.key_clashes``)."""
        unknown = [a for a in self.keys if a not in actions]
        if unknown:
            self.problems.append(
                f"unknown key action {', '.join(map(repr, unknown))} "
                f"(valid: {', '.join(sorted(actions))})"
            )
        self.problems.extend(f"keys: {clash}" for clash in clashes)

    def origin(self, name: str) -> str:
        """The layer that set a field (for a table: the highest layer of any of its entries)."""
        if name in TABLES:
            layers = [v for k, v in self.origins.items() if k.startswith(name + ":")]
            return max(layers, key=LAYERS.index, default="default")
        return self.origins.get(name, "default")


def _number(value: Any, low: float, high: float, expected: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(expected) from None
    if not low <= number <= high:
        raise ValueError(expected)
    return number


def _parse_smoothing(value: Any) -> float:
    return _number(value, 0.0, 0.99, "a weight between 0 and 0.99")


def _parse_refresh(value: Any) -> float:
    return _number(value, 1e-6, float("inf"), "redraws per second, above 0")


def _parse_size(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("not a size")
    if isinstance(value, int) and value > 0:
        return value
    from rltop.core.numfmt import parse_size

    return parse_size(str(value))


#: settings whose values need more than a type conversion
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "smoothing": _parse_smoothing,
    "refresh": _parse_refresh,
    "max_memory": _parse_size,
}


def _flatten_rule_tables(
    table: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``{"rl": {"kl_spike": {"factor": 8}}}`` and ``{"rl.kl_spike": {...}}`` -> pairs."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    if prefix and scalars:
        yield prefix, scalars
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _flatten_rule_tables(value, f"{prefix}.{key}" if prefix else key)


def _dotted(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"dashboard": {"filter": "f"}}`` -> ``("dashboard.filter", "f")``."""
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _dotted(value, name)
        else:
            yield name, value


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


def threshold_value_problem(rule_id: str, param: str, value: Any) -> str | None:
    """Why ``value`` cannot be threshold ``rule_id.param`` (its default's type decides), or
    None (also for unknown rules and names: ``check_thresholds`` reports those)."""
    from rltop.core.diagnose import COMMON_PARAMS, RULES

    rule = RULES.get(rule_id)
    if rule is None:
        return None
    default = rule.defaults.get(param, 0 if param in COMMON_PARAMS else None)
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
        want = "a number"
    elif isinstance(default, str):
        ok, want = isinstance(value, str), "text"
    else:
        return None
    if ok:
        return None
    return f"bad value for threshold {rule_id}.{param}: {value!r} (expected {want})"


def threshold_flag(text: str) -> str:
    """``--threshold RULE.PARAM=VALUE``, checked when the command line is read: a value of the
    wrong type is a usage error (``ValueError``), as a bad value of any other flag is."""
    item, sep, raw = text.partition("=")
    rule_id, dot, param = item.strip().rpartition(".")
    if sep and dot and raw.strip():
        problem = threshold_value_problem(rule_id, param, _parse_scalar(raw.strip()))
        if problem:
            raise ValueError(problem)
    return text


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
