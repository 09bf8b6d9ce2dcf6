"""Metrics derived from rollouts, and smoothing.

Rollouts that share a prompt at one step form a group (k completions). From the groups:
``pass@k`` (share of groups with any reward > 0), ``max@k`` (mean over groups of the best reward),
the share of groups whose rewards are all equal (no advantage signal), mean reward and length.
Per-dimension scores (``score/<dimension>`` columns of episode logs) become ``scores/<dimension>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

from rltop.core.cols import named

#: prefix of derived per-step rollout statistics (``val-rollouts/`` for validation rollouts)
DERIVED_PREFIX = "rollouts/"
VALID_DERIVED_PREFIX = "val-rollouts/"

STAT_NAMES = (
    "reward_mean",
    "pass@k",
    "max@k",
    "zero_variance_frac",
    "length_mean",
    "tokens_mean",
    "group_size",
    "count",
)


def stats_columns(columns: Sequence[str]) -> list[str]:
    """The columns of a rollout frame ``rollout_step_stats`` reads (the rest, texts above all,
    need not be copied when only some steps' statistics are made again)."""
    key = "_gid" if "_gid" in columns else "group"
    wanted = ("step", "split", key, "reward", "length", "tokens")
    return [c for c in columns if c in wanted or c.startswith("score/")]


def rollout_step_stats(rollouts: pl.DataFrame) -> pl.DataFrame:
    """Per-step statistics of rollouts: one row per step, columns ``rollouts/<stat>``.

    Validation rollouts (``split == "valid"``) get the ``val-rollouts/`` prefix. Rows without a
    reward count towards ``count`` and length only.
    """
    if rollouts.is_empty():
        return pl.DataFrame({"step": pl.Series([], dtype=pl.Int64)})
    frames = []
    splits = (
        rollouts.get_column("split").unique().to_list() if "split" in rollouts.columns else [None]
    )
    for split in splits:
        part = rollouts if split is None else rollouts.filter(pl.col("split") == split)
        prefix = VALID_DERIVED_PREFIX if split == "valid" else DERIVED_PREFIX
        frames.append(_stats(part, prefix))
    out = frames[0]
    for other in frames[1:]:
        out = out.join(other, on="step", how="full", coalesce=True)
    return out.sort("step")


def _stats(part: pl.DataFrame, prefix: str) -> pl.DataFrame:
    reward = pl.col("reward")
    # ``_gid`` (a hash of the group, kept when the text of old steps is moved to disk) if present
    key = "_gid" if "_gid" in part.columns else "group"
    groups = part.group_by("step", key).agg(
        pl.len().alias("k"),
        (reward > 0).any().alias("solved"),
        reward.max().alias("best"),
        # a group of one has no variance to speak of: leave it out of the share
        pl.when(pl.len() > 1).then(reward.n_unique() == 1).otherwise(None).alias("zero_var"),
        reward.is_not_null().any().alias("scored"),
    )
    per_group = groups.group_by("step").agg(
        pl.col("solved").filter(pl.col("scored")).mean().alias(prefix + "pass@k"),
        pl.col("best").mean().alias(prefix + "max@k"),
        pl.col("zero_var").mean().alias(prefix + "zero_variance_frac"),
        pl.col("k").median().alias(prefix + "group_size"),
    )
    # per-dimension scores (episode logs' ``score/<dimension>``) -> ``scores/<dimension>`` means
    score_prefix = "val-scores/" if prefix == VALID_DERIVED_PREFIX else "scores/"
    scores = [
        named(c).cast(pl.Float64).mean().alias(score_prefix + c[len("score/") :])
        for c, dtype in part.schema.items()
        if c.startswith("score/") and dtype.is_numeric()
    ]
    per_row = part.group_by("step").agg(
        *scores,
        reward.mean().alias(prefix + "reward_mean"),
        pl.col("length").mean().alias(prefix + "length_mean"),
        pl.col("tokens").mean().alias(prefix + "tokens_mean"),
        pl.len().cast(pl.Float64).alias(prefix + "count"),
    )
    out = per_row.join(per_group, on="step", how="left")
    # pass@k is only meaningful with rewards; drop stats that are entirely empty
    keep = [c for c in out.columns if c == "step" or out.get_column(c).null_count() < out.height]
    return out.select(named(c) for c in keep).with_columns(pl.exclude("step").cast(pl.Float64))


def ema(values: Sequence[float | None], weight: float) -> list[float | None]:
    """Exponential moving average like TensorBoard's slider: ``weight`` 0 = raw, 0.99 = very smooth.

    Gaps (None/NaN) are carried over, not averaged in; the first points are debiased so the line
    does not start at zero.
    """
    if weight <= 0:
        return list(values)
    out: list[float | None] = []
    last = 0.0
    count = 0
    for value in values:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            out.append(None)
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        out.append(last / (1 - weight**count))
    return out
