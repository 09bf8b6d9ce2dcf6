"""The reward distribution of one step's rollouts: a histogram and the groups' spread.

The shape is what the mean hides: a saturated grader (every group all 1), a bimodal one (groups
either all 0 or all 1: no advantage signal) or a spread that still teaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from rltop.core.cols import named

#: up to this many distinct reward values get a bar each (binary and few-level graders)
DISTINCT_BARS = 12


@dataclass(frozen=True)
class Bar:
    low: float
    high: float
    count: int

    @property
    def label(self) -> str:
        if self.low == self.high:
            return f"{self.low:g}"
        return f"{self.low:.3g} – {self.high:.3g}"


@dataclass(frozen=True)
class GroupSpread:
    group: str
    rewards: tuple[float, ...]  # sorted

    @property
    def mean(self) -> float:
        return sum(self.rewards) / len(self.rewards)

    @property
    def all_equal(self) -> bool:
        return len(self.rewards) > 1 and self.rewards[0] == self.rewards[-1]


@dataclass(frozen=True)
class Distribution:
    step: int
    rewards: tuple[float, ...]
    bars: tuple[Bar, ...]
    groups: tuple[GroupSpread, ...]  # empty when the rollouts have no groups
    missing: int  # rollouts without a (finite) reward

    @property
    def equal_groups(self) -> int:
        return sum(1 for g in self.groups if g.all_equal)


def histogram(rewards: list[float], bins: int = 10) -> list[Bar]:
    """One bar per distinct value when there are few, else ``bins`` equal-width bins."""
    if not rewards:
        return []
    distinct = sorted(set(rewards))
    if len(distinct) <= DISTINCT_BARS:
        counts = {v: 0 for v in distinct}
        for r in rewards:
            counts[r] += 1
        return [Bar(v, v, counts[v]) for v in distinct]
    lo, hi = distinct[0], distinct[-1]
    width = (hi - lo) / bins
    counts = [0] * bins
    for r in rewards:
        counts[min(bins - 1, int((r - lo) / width))] += 1
    return [Bar(lo + i * width, lo + (i + 1) * width, c) for i, c in enumerate(counts)]


def distribution(rollouts: pl.DataFrame, step: int, bins: int = 10) -> Distribution:
    """The distribution of the rewards of ``step``'s rollouts (``rollouts``: a run's frame)."""
    part = rollouts.filter(pl.col("step") == step)
    rewards_col = part.get_column("reward") if "reward" in part.columns else pl.Series([])
    rewards = [r for r in rewards_col.to_list() if r is not None and math.isfinite(r)]
    key = "_gid" if "_gid" in part.columns else "group" if "group" in part.columns else None
    groups: list[GroupSpread] = []
    if key is not None and "reward" in part.columns:
        # named by the logged group id, else by the end of the prompt, where the question is
        # (its start is often a system prompt all groups share; ``_gid`` is a hash)
        # (a group without an id is its prompt: long text, named the same way)
        name = pl.col("group") if "group" in part.columns else pl.lit(None, dtype=pl.String)
        if "prompt" in part.columns:
            name = pl.coalesce(name, pl.col("prompt"))
        text = name.str.strip_chars()
        name = (
            pl.when(text.str.len_chars() > 40)
            .then(pl.lit("…") + text.str.slice(-60))
            .otherwise(text)
        )
        by = (
            part.filter(named(key).is_not_null() & pl.col("reward").is_finite())
            .group_by(key, maintain_order=True)
            .agg(pl.col("reward").sort(), name.first().alias("_name"))
        )
        for gid, values, label in by.iter_rows():
            if len(values) > 1:
                label = " ".join(str(label if label is not None else gid).split())
                groups.append(GroupSpread(label, tuple(values)))
    return Distribution(
        step=step,
        rewards=tuple(rewards),
        bars=tuple(histogram(rewards, bins)),
        groups=tuple(groups),
        missing=part.height - len(rewards),
    )
