"""Which checkpoint to deploy: the best-checkpoint candidates of ``DIAGNOSTICS.md``.

Supervised runs: the step with the lowest validation loss (the full-pass valid loss where it is
logged, it is the more accurate one). Reinforcement runs: validation reward alone is not enough to
pick one, so three candidates to evaluate with the real task harness: the peak validation reward
(else the peak of the smoothed train reward), the final step, and the middle of training — each
with its numbers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import polars as pl

from rltop.core.diagnose import Context, Series
from rltop.core.diagnose import fmt_number as _n
from rltop.core.lazyre import lazy

#: roles whose values are shown beside each candidate, in this order
SHOWN_ROLES = (
    "reward",
    "valid_reward",
    "pass_at_k",
    "train_loss",
    "valid_loss",
    "valid_accuracy",
    "response_length",
)


class Candidate(NamedTuple):
    """One checkpoint to consider: why, at which step, and the numbers there."""

    label: str
    step: int
    values: dict[str, float]  # metric name -> value at that step
    saved: str | None = None  # the nearest checkpoint folder on disk (``checkpoint-100``), if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "step": self.step,
            "values": dict(self.values),
            "saved": self.saved,
        }

    def describe(self) -> str:
        nums = ", ".join(f"{k} {_n(v)}" for k, v in self.values.items())
        saved = f"; nearest saved: {self.saved}" if self.saved else ""
        return f"{self.label}: step {self.step}" + (f" ({nums}{saved})" if nums or saved else "")


class BestCheckpoint(NamedTuple):
    """The candidates for one run; ``kind`` is ``supervised`` or ``rl``."""

    kind: str
    candidates: tuple[Candidate, ...]
    basis: str  # the metric the choice rests on

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "basis": self.basis,
            "step": self.best.step,
            "candidates": [c.to_dict() for c in self.candidates],
        }


_SAVED = lazy(r"(?:checkpoint|global_step|step|ckpt|iter|iteration)[-_]?(\d+)", re.I)


def saved_checkpoints(root: str) -> dict[int, str]:
    """Checkpoint folders of a run (``checkpoint-N``, ``global_step_N``, ...) by step.

    Looks in the run folder and in a ``checkpoints/`` (``ckpt/``, ``ckpts/``) folder inside it.
    """
    found: dict[int, str] = {}
    for sub in ("", "checkpoints", "ckpt", "ckpts"):
        base = os.path.join(root, sub) if sub else root
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for entry in entries:
            m = _SAVED.fullmatch(entry.name)
            if m and entry.is_dir(follow_symlinks=True):
                found.setdefault(
                    int(m.group(1)), os.path.join(sub, entry.name) if sub else entry.name
                )
    return found


def _nearest_saved(step: int, saved: dict[int, str]) -> str | None:
    if not saved:
        return None
    best = min(saved, key=lambda s: (abs(s - step), s))
    return saved[best]


def _value_at(s: Series | None, step: int, *, exact: bool = False) -> float | None:
    """The value at ``step`` (else the latest before it, unless ``exact``)."""
    if s is None or not len(s):
        return None
    i = int(s.steps.search_sorted(step, side="right")) - 1
    if i < 0 or (exact and int(s.steps[i]) != step):
        return None
    return float(s.values[i])


def centered_mean(values: pl.Series, window: int) -> pl.Series:
    """Mean of the ``window`` points around each point (a peak is not shifted later)."""
    n = len(values)
    csum = pl.concat([pl.Series([0.0]), values.cast(pl.Float64).cum_sum()])
    idx = pl.int_range(0, n, eager=True, dtype=pl.Int64)
    lo = (idx - window // 2).clip(lower_bound=0)
    hi = (idx + (window - window // 2)).clip(upper_bound=n)
    return (csum.gather(hi) - csum.gather(lo)) / (hi - lo)


def _numbers(ctx: Context, step: int, extra: dict[str, float] | None = None) -> dict[str, float]:
    out: dict[str, float] = {}
    for role in SHOWN_ROLES:
        if ctx.is_rl and role in ("train_loss", "valid_loss"):
            continue  # an RL policy loss says nothing about which checkpoint is better
        s = ctx.series(role)
        # sparse evaluations count only at their own step; train metrics at the latest point
        exact = role in ("valid_reward", "valid_loss", "valid_accuracy")
        v = _value_at(s, step, exact=exact)
        if s is not None and v is not None:
            out[s.name] = v
    out.update(extra or {})
    return out


def best_checkpoint(
    run: Any,
    role_extra: Mapping[str, Iterable[str]] | None = None,
    *,
    smoothing: int = 10,
    look_on_disk: bool = True,
) -> BestCheckpoint | None:
    """The best-checkpoint candidates of a run snapshot, or None without the metrics to judge.

    With ``look_on_disk``, each candidate also names the nearest checkpoint folder saved in the run
    folder, since only saved steps can be deployed.
    """
    found = _candidates(run, role_extra, smoothing)
    if found is None or not look_on_disk or not getattr(run, "root", None):
        return found
    saved = saved_checkpoints(run.root)
    if not saved:
        return found
    return found._replace(
        candidates=tuple(c._replace(saved=_nearest_saved(c.step, saved)) for c in found.candidates)
    )


def _candidates(
    run: Any, role_extra: Mapping[str, Iterable[str]] | None, smoothing: int
) -> BestCheckpoint | None:
    ctx = Context(run, role_extra)
    if not ctx.is_rl:
        va = ctx.series("valid_loss")
        if va is None:
            return None
        i = int(va.values.arg_min())  # type: ignore[arg-type]
        step = va.at(i)
        return BestCheckpoint(
            "supervised",
            (Candidate("lowest valid loss", step, _numbers(ctx, step)),),
            va.name,
        )
    candidates: list[Candidate] = []
    vr, rw = ctx.series("valid_reward"), ctx.series("reward")
    basis = ""
    if vr is not None and rw is not None:
        # evaluations before training (step 0 is the base model) do not pick a checkpoint
        keep = vr.steps > rw.steps[0]
        vr = (
            Series(vr.name, vr.steps.filter(keep), vr.values.filter(keep))
            if keep.sum() >= 2
            else None
        )
    if vr is not None:
        i = int(vr.values.arg_max())  # type: ignore[arg-type]
        candidates.append(Candidate("peak valid reward", vr.at(i), _numbers(ctx, vr.at(i))))
        basis = vr.name
    elif rw is not None:
        sm = centered_mean(rw.values, max(1, min(smoothing, len(rw) // 4 or 1)))
        i = int(sm.arg_max())  # type: ignore[arg-type]
        label = "peak smoothed train reward"
        candidates.append(
            Candidate(label, rw.at(i), _numbers(ctx, rw.at(i), {"smoothed reward": float(sm[i])}))
        )
        basis = rw.name
    else:
        return None
    ref = vr if vr is not None else rw
    steps = ctx.steps
    final = int(steps[-1])
    first = int(steps[0])
    middle_target = first + (final - first) / 2
    middle = int(steps[int((steps - middle_target).abs().arg_min())])  # type: ignore[arg-type]
    candidates.append(Candidate("final", final, _numbers(ctx, final)))
    if ref is not None and len(ref) > 1:
        # the middle of training, at a step where the deciding metric was measured
        j = int((ref.steps - middle_target).abs().arg_min())  # type: ignore[arg-type]
        middle = ref.at(j)
    candidates.append(Candidate("middle of training", middle, _numbers(ctx, middle)))
    return BestCheckpoint("rl", tuple(candidates), basis)
