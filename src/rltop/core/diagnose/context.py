"""What rules read: ``Context`` (the run, its roles, its series)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import polars as pl

from rltop.core import roles as roles_mod
from rltop.core.cols import named
from rltop.core.diagnose.series import Series, rolling_median
from rltop.core.lazyre import lazy
from rltop.core.store import RunSnapshot

# -- context ---------------------------------------------------------------------------------
_NAN_WATCH = lazy(r"loss|reward|grad_norm|(^|/)score", re.IGNORECASE)
_ERROR_REASON = lazy(
    r"err|critical|fail|abort|exception|crash|violation|unsafe|invalid|harm", re.IGNORECASE
)
_LENGTH_STOP = {"length", "max_tokens", "max_length", "truncated", "truncation", "max_new_tokens"}


class Context:
    """What rules read: the run, its roles, its series (finite points) and a few derived ones."""

    def __init__(
        self,
        run: RunSnapshot,
        role_extra: Mapping[str, Iterable[str]] | None = None,
        *,
        now: float | None = None,
        last_activity: float | None = None,
        live: bool = False,
        text_cache: dict | None = None,
    ) -> None:
        self.run = run
        self.columns = [c for c in run.metrics.columns if c != "step"]
        self.roles = roles_mod.resolve(self.columns, role_extra)
        self.now = now
        self.last_activity = last_activity
        self.live = live
        self.text_cache = text_cache if text_cache is not None else {}
        self.memo: dict = {}  # what several rules derive once per evaluation
        self._steps: pl.Series | None = None
        self._cache: dict[str, Series | None] = {}
        self._medians: dict[tuple[str, int, int], pl.Series] = {}
        self.is_rl = any(
            r in self.roles for r in ("reward", "valid_reward", "pass_at_k", "max_at_k")
        )

    @property
    def steps(self) -> pl.Series:
        if self._steps is None:
            self._steps = self.run.metrics.get_column("step").cast(pl.Int64)
        return self._steps

    def column(self, name: str) -> Series | None:
        """Finite points of a metric column (nulls and NaN left out; ``run.nan`` reports those)."""
        if name in self._cache:
            return self._cache[name]
        out = None
        if name in self.run.metrics.columns:
            finite = (
                self.run.metrics.lazy()
                .select(pl.col("step").cast(pl.Int64), named(name).cast(pl.Float64))
                .filter(named(name).is_finite())
                .collect()
            )
            if finite.height:
                out = Series(name, finite.get_column("step"), finite.get_column(name))
        self._cache[name] = out
        return out

    def series(self, role: str) -> Series | None:
        name = self.roles.get(role)
        return self.column(name) if name else None

    def median(self, s: Series, window: int) -> pl.Series:
        """Trailing rolling median of a series, computed once per context (rules share it)."""
        key = (s.name, len(s), int(window))
        got = self._medians.get(key)
        if got is None:
            got = self._medians[key] = rolling_median(s.values, int(window))
        return got
