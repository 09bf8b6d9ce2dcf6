"""A run's configuration, read where trainers write it, and what differs between runs.

Trainers keep their configuration beside their logs, not in the metric stream:

- W&B: ``files/config.yaml`` (``key: {value: ...}``; W&B's own ``_wandb`` key left out);
- Hydra (verl, NeMo-RL, ...): ``.hydra/config.yaml`` in the run's output folder;
- tinker-cookbook: ``config.json``;
- Hugging Face / TRL and argparse scripts: ``training_args.json``, ``args.json``.

Values are flattened with ``/`` (``actor_rollout_ref/actor/optim/lr``) so that a config key is a
filter key (``core/runs.py``) and a row of the diff of marked runs. Lists become their JSON text.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from rltop.core.formats.base import flatten, loads_json
from rltop.core.lazyre import lazy

#: (file relative to the run folder, what wrote it), in the order their values are merged:
#: later files win on keys that several give
CONFIG_FILES: tuple[tuple[str, str], ...] = (
    ("args.json", "args.json"),
    ("training_args.json", "training_args.json"),
    ("config.json", "config.json"),
    (".hydra/config.yaml", "hydra"),
    ("files/config.yaml", "wandb"),
)
#: configuration files are small; anything larger is not a config
MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class RunConfig:
    """A run's flattened configuration and the files it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def config_files(folder: str) -> list[str]:
    """The configuration files present in a run folder (existing paths, merge order)."""
    out = []
    for rel, _kind in CONFIG_FILES:
        path = os.path.join(folder, *rel.split("/"))
        if os.path.isfile(path):
            out.append(path)
    return out


def fingerprint(folder: str) -> tuple[tuple[str, int, float], ...]:
    """Cheap change detection: (path, size, mtime) of the config files there."""
    out = []
    for path in config_files(folder):
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.append((path, st.st_size, st.st_mtime))
    return tuple(out)


def read_run_config(folder: str) -> RunConfig:
    """Read and merge every configuration file of the run in ``folder``."""
    values: dict[str, Any] = {}
    sources: list[str] = []
    problems: list[str] = []
    for path in config_files(folder):
        try:
            if os.path.getsize(path) > MAX_CONFIG_BYTES:
                problems.append(f"{os.path.basename(path)}: larger than a config, not read")
                continue
            with open(path, "rb") as fh:
                data = fh.read()
            doc = _parse(path, data)
        except (OSError, ValueError) as exc:
            problems.append(f"{os.path.basename(path)}: {str(exc).splitlines()[0][:80]}")
            continue
        if not isinstance(doc, dict):
            problems.append(f"{os.path.basename(path)}: not a mapping")
            continue
        if path.endswith(os.path.join("files", "config.yaml")):
            doc = _unwrap_wandb(doc)
        yaml_file = not path.endswith(".json")
        values.update({k: _scalar(v, yaml_file) for k, v in flatten(doc).items()})
        sources.append(path)
    return RunConfig(values, tuple(sources), tuple(problems))


def _parse(path: str, data: bytes) -> Any:
    if path.endswith(".json"):
        return loads_json(data)
    try:
        import yaml
    except ImportError:
        raise ValueError("reading YAML needs PyYAML (pip install pyyaml)") from None
    try:
        return yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML ({exc})") from None


def _unwrap_wandb(doc: dict[str, Any]) -> dict[str, Any]:
    """W&B's ``key: {desc:, value:}`` entries to ``key: value``, without W&B's own keys."""
    out: dict[str, Any] = {}
    for key, entry in doc.items():
        if str(key).startswith("_wandb") or key == "wandb_version":
            continue
        out[str(key)] = (
            entry.get("value") if isinstance(entry, dict) and "value" in entry else entry
        )
    return out


_NUMBER = lazy(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _scalar(value: Any, yaml_file: bool = False) -> Any:
    """Numbers, strings, booleans and None as they are; lists and the rest as JSON text.

    YAML 1.1 reads ``2e-06`` (no dot) as a string: a YAML string that is a number is one."""
    if yaml_file and isinstance(value, str) and _NUMBER.match(value.strip()):
        return float(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def config_diff(configs: dict[str, dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """The keys whose values differ between runs (missing counts as different), with each run's
    value (None where it has none), in key order. ``configs``: run name -> flat config."""
    names = list(configs)
    keys = sorted({k for cfg in configs.values() for k in cfg})
    missing = object()
    out = []
    for key in keys:
        values = [configs[n].get(key, missing) for n in names]
        first = values[0]
        if all(_same(v, first) for v in values[1:]):
            continue
        out.append((key, [None if v is missing else v for v in values]))
    return out


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    return a == b


def shown(value: Any) -> str:
    """A config value as text for tables (``—`` when the run has none)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
