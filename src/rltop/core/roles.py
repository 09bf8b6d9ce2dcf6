"""Metric names -> roles: one alias table for every trainer rltop reads.

Each trainer names the same quantity differently (verl ``critic/score/mean``, TRL ``reward``,
tinker ``env/all/reward/total``, OpenAI ``train_mean_reward``...). Rules, the dashboard's ordering
and the best-checkpoint panel are written once against roles. Users extend the table in the config
file (``[roles] reward = ["my/reward"]``); their names are tried first.

Patterns are exact names, or globs with ``*`` (one or more path segments).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

#: role -> names in order of preference. The first name present in a run wins.
ALIASES: dict[str, list[str]] = {
    "reward": [
        "critic/score/mean",
        "critic/rewards/mean",
        "reward",
        "train/reward",
        "env/all/reward/total",
        "train_mean_reward",
        "train/agg/all/*/reward/mean",
        "rewards/mean",
        "train/rewards/mean",
        "reward/mean",
        "episode_reward/mean",
        "rollouts/reward_mean",
    ],
    "valid_reward": [
        "val-core/*/reward/mean@*",
        "val-core/*/acc/mean@*",
        "val-aux/*/reward/mean@*",
        "val/reward",
        "eval_reward",
        "test/env/all/reward/total",
        "full_valid_mean_reward",
        "valid_mean_reward",
        "eval/*/reward",
        "eval/reward",
        "val-rollouts/reward_mean",
        "eval/*/avg@*",
        "eval/*/reward/mean",
        "validation/reward",
        "validation/accuracy",
    ],
    "pass_at_k": [
        "pass@k",
        "train/pass@k",
        "rollouts/pass@k",
        "env/all/pass_rate",
        "eval/*/pass@*",  # evaluation pass@k last: rules compare pass@k with the train reward
    ],
    "max_at_k": ["max@k", "train/max@k", "rollouts/max@k"],
    "train_loss": [
        "train_loss",
        "loss",
        "train/loss",
        "loss/train",
        "optim/loss",
        "train/sft_loss",
        "epoch_loss",
        "batch_loss",
        "training_loss",  # OpenAI's legacy /v1/fine-tunes results
    ],
    # the RL objective's own loss (verl's actor; TRL's GRPO logs it as ``loss``, train_loss)
    "policy_loss": ["actor/pg_loss", "policy_loss", "loss/policy", "train/policy_loss"],
    # the KL between the old and the new policy of a PPO update (verl), beside the ``kl`` role's
    # KL to the reference (verl's actor/kl_loss)
    "policy_kl": ["actor/ppo_kl"],
    # share of tokens the PPO ratio clipped
    "policy_clip": ["actor/pg_clipfrac", "clip_ratio/region_mean", "optim/clipfrac"],
    "valid_loss": [
        "full_valid_loss",
        "valid_loss",
        "eval_loss",
        "eval/loss",
        "val/loss",
        "val_loss",
        "validation/loss",
        "epoch_val_loss",
        "eval/*/loss",
        "validation_loss",  # OpenAI's legacy /v1/fine-tunes results
    ],
    "response_length": [
        "response_length/mean",
        "completions/mean_length",
        "completion_length",
        "completion_tokens_mean",
        "env/all/ac_tokens_per_turn",
        "rollouts/tokens_mean",
        "rollouts/length_mean",
    ],
    "entropy": [
        "actor/entropy",
        "actor/entropy_loss",  # verl: the policy's entropy (logged under the loss's name)
        "entropy",
        "optim/entropy",
        "loss/entropy",
        "train/entropy",
    ],
    "kl": [  # KL to the reference first; verl's actor/ppo_kl (old vs new policy) only without it
        "actor/kl_loss",
        "actor/ppo_kl",
        "kl",
        "optim/kl_sample_train_v1",
        "loss/kl_div",
        "train/kl",
        "rollout_corr/kl",
    ],
    "grader_errors": [
        "train_other_error_count",
        "other_error_count",
        "grader/errors",
        "reward/errors",
    ],
    "parse_errors": [
        "train_sample_parse_error_count",
        "sample_parse_error_count",
        "parse_error_rate",
    ],
    "clip_ratio": [
        "response_length/clip_ratio",
        "completions/clipped_ratio",
        "rollout/truncated_frac",
        "train/agg/all/*/is_truncated/mean",
        "rollouts/truncated_frac",
    ],
    "zero_variance": ["frac_reward_zero_std", "rollouts/zero_variance_frac"],
    "grad_norm": [
        "actor/grad_norm",
        "grad_norm",
        "optim/grad_norm",
        "loss/grad_norm",
        "critic/grad_norm",
    ],
    "learning_rate": ["actor/lr", "learning_rate", "optim/lr", "lr"],
    "train_accuracy": [
        "train_accuracy",
        "train_mean_token_accuracy",
        "mean_token_accuracy",
        "training_token_accuracy",
        "training_sequence_accuracy",
    ],
    # numbers the rules read that the dashboard does not rank
    "mixed_groups": ["env/all/by_group/frac_mixed"],
    "turns": [
        "env/all/turns_per_episode",
        "num_turns/mean",
        "rollouts/turns_mean",
        "turns_per_episode",
    ],
    "epoch": ["epoch", "train/epoch", "training/epoch", "progress/epoch"],
    "step_time": [
        "timing_s/step",
        "perf/time_per_step",
        "time/total",
        "train/step_time",
        "step_time",
        "time_per_step",
    ],
    "timestamp": ["_timestamp", "timestamp", "wall_time", "time/wall"],
    "samples": ["rollouts/count", "train_sample_count", "env/all/total_episodes"],
    "valid_accuracy": [
        "valid_mean_token_accuracy",
        "full_valid_mean_token_accuracy",
        "eval_mean_token_accuracy",
        "validation_token_accuracy",
        "validation_sequence_accuracy",
    ],
}

#: W&B's own wall-clock columns: the time axis of a run (seconds), not metrics to show as cards
WALL_TIME_KEYS: tuple[str, ...] = ("_timestamp", "_runtime")

#: roles shown first on the dashboard, in this order: what a practitioner reads first (reward,
#: pass@k, losses, KL, entropy, length, clip ratios, grad norm; accuracy for fine-tuning)
KEY_ROLES: tuple[str, ...] = (
    "reward",
    "valid_reward",
    "pass_at_k",
    "max_at_k",
    "train_loss",
    "policy_loss",
    "valid_loss",
    "train_accuracy",
    "valid_accuracy",
    "response_length",
    "entropy",
    "kl",
    "policy_kl",
    "clip_ratio",
    "policy_clip",
    "zero_variance",
    "grad_norm",
)

#: namespace order for the remaining metrics (the most telling groups first)
NAMESPACE_ORDER: tuple[str, ...] = (
    "critic",
    "val-core",
    "rollouts",
    "val-rollouts",
    "env",
    "test",
    "rewards",
    "completions",
    "response_length",
    "actor",
    "train",
    "eval",
    "val-aux",
    "optim",
    "loss",
    "timing_s",
    "time",
    "perf",
    "progress",
)

_compiled: dict[str, re.Pattern[str]] = {}


def _match(pattern: str, name: str) -> bool:
    if "*" not in pattern:
        return pattern == name
    if "?" not in pattern and "[" not in pattern:
        return _star_match(pattern.split("*"), name)
    regex = _compiled.get(pattern)
    if regex is None:
        regex = _compiled[pattern] = re.compile(fnmatch.translate(pattern))
    return bool(regex.match(name))


def _star_match(parts: list[str], name: str) -> bool:
    """``fnmatch`` for a pattern whose only wildcard is ``*`` (split at it), without compiling
    a regular expression (the aliases' patterns: compiling them cost `rltop check` ~3 ms)."""
    first, *middle, last = parts
    if len(first) + len(last) > len(name) or not name.startswith(first):
        return False
    if not name.endswith(last):
        return False
    pos, end = len(first), len(name) - len(last)
    for part in middle:
        pos = name.find(part, pos, end)
        if pos < 0:
            return False
        pos += len(part)
    return True


def aliases(extra: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[str]]:
    """The alias table with user additions (tried first)."""
    table = {role: list(names) for role, names in ALIASES.items()}
    for role, names in (extra or {}).items():
        table[role] = list(names) + table.get(role, [])
    return table


def resolve(
    names: Iterable[str], extra: Mapping[str, Iterable[str]] | None = None
) -> dict[str, str]:
    """role -> the metric name that plays it in a run with these metric names."""
    present = tuple(names)
    key = (present, _freeze(extra))
    cached = _resolved.get(key)
    if cached is not None:
        return dict(cached)
    out = _resolve(present, extra)
    if len(_resolved) >= 64:  # the names of a few runs; a new metric makes a new entry
        _resolved.pop(next(iter(_resolved)))
    _resolved[key] = out
    return dict(out)


#: resolve() results by (metric names, user aliases): the rules and the cards ask for the same
#: run's roles at every redraw, and matching every alias against 150 names costs milliseconds
_resolved: dict[tuple, dict[str, str]] = {}


def _freeze(extra: Mapping[str, Iterable[str]] | None) -> tuple:
    return tuple(sorted((role, tuple(names)) for role, names in (extra or {}).items()))


def _resolve(present: tuple[str, ...], extra: Mapping[str, Iterable[str]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for role, patterns in aliases(extra).items():
        for pattern in patterns:
            hit = next((n for n in present if _match(pattern, n)), None)
            if hit is not None:
                out[role] = hit
                break
    return out


def namespace(name: str) -> str:
    """``critic/score/mean`` -> ``critic``; names without a slash share the ``""`` namespace."""
    return name.split("/", 1)[0] if "/" in name else ""


def order_metrics(
    names: Iterable[str], extra: Mapping[str, Iterable[str]] | None = None
) -> list[str]:
    """Key RL metrics first (by role), then the rest grouped by namespace, names sorted within."""
    names = list(names)
    roles = resolve(names, extra)
    key = [roles[r] for r in KEY_ROLES if r in roles]
    seen = set(key)
    key = list(dict.fromkeys(key))
    rank = {ns: i for i, ns in enumerate(NAMESPACE_ORDER)}
    rest = sorted(
        (n for n in names if n not in seen),
        key=lambda n: (rank.get(namespace(n), len(rank) if namespace(n) else -1), namespace(n), n),
    )
    return key + rest
