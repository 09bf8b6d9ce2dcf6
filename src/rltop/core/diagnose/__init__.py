"""Warnings that diagnose a run: the rules of ``DIAGNOSTICS.md`` over a run snapshot.

Each rule is written once against roles (``rltop.core.roles``), decides on smoothed series (a
trailing rolling median for levels, rolling means for trends), never on one noisy point, and stays
silent until it has its minimum number of points. Every threshold is a default that the config file
overrides (``[thresholds."rl.kl_spike"] factor = 20``; ``enabled = false`` turns a rule off).

``diagnose(run)`` evaluates one snapshot once (``rltop check``); ``Diagnoser`` keeps per-run state,
re-evaluates only runs whose ``version`` changed, tracks ``run.stalled`` against a clock, and reports
which warnings started, changed severity or cleared (``rltop watch``, the dashboard).

The package: ``registry`` (result types, ``RULES``, ``@rule``), ``series`` (the numeric toolkit),
``context`` (``Context``), ``rules/`` (one module per family), ``engine`` (``diagnose``,
``Diagnoser``).
"""

from __future__ import annotations

from rltop.core.diagnose import rules as _rules  # noqa: F401  (registers every rule)
from rltop.core.diagnose.context import Context
from rltop.core.diagnose.engine import (
    COMMON_PARAMS,
    Diagnoser,
    WarningsUpdate,
    check_thresholds,
    diagnose,
    rule_params,
    worst,
)
from rltop.core.diagnose.registry import (
    RULES,
    SEVERITIES,
    SEVERITY_RANK,
    Finding,
    Rule,
    RunWarning,
    Warning,
    rule,
)
from rltop.core.diagnose.series import (
    Series,
    early_level,
    fmt_number,
    noise,
    rolling_max,
    rolling_mean,
    rolling_median,
    spread,
    trailing_onset,
    trend_window,
    valid_window,
    warmup_points,
)

__all__ = [
    "COMMON_PARAMS",
    "RULES",
    "SEVERITIES",
    "SEVERITY_RANK",
    "Context",
    "Diagnoser",
    "Finding",
    "Rule",
    "RunWarning",
    "Series",
    "Warning",
    "WarningsUpdate",
    "check_thresholds",
    "diagnose",
    "early_level",
    "fmt_number",
    "noise",
    "rolling_max",
    "rolling_mean",
    "rolling_median",
    "rule",
    "rule_params",
    "spread",
    "trailing_onset",
    "trend_window",
    "valid_window",
    "warmup_points",
    "worst",
]
