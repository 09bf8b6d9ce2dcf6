"""Scenario generator for the diagnostics: runs with a seeded onset for every rule, and healthy runs.

``FAILING[rule_id](seed) -> Scenario``: a run where the rule must fire, the step its condition truly
began at (the seeded change, or for a rule that judges a whole run — "always negative", "flat
from the start" — the first step its documented minimum lets it judge), the severity it must
report and the spacing of the points it reads (for the tolerance: max(5 points, 5% of the run)).
``HEALTHY[name](seed) -> RunSnapshot``: runs where nothing at ``warning`` or above may fire.

Everything is generated from the seed (numpy ``default_rng``): noise, and where it matters the
exact onset, so the tests cover more than one lucky draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from rltop.core.model import Skip
from rltop.core.store import RunSnapshot

from diaghelp import RunBuilder, rows_from

N = 200  # steps of a generated run


@dataclass
class Scenario:
    run: RunSnapshot
    onset: int | None  # the true onset step
    severity: str
    spacing: int = 1  # steps between the points the rule reads
    steps: int = N  # the run's length in steps
    kwargs: dict | None = None  # extra arguments for diagnose (run.stalled's clock)

    @property
    def tolerance(self) -> float:
        return max(5 * self.spacing, 0.05 * self.steps)


def _t() -> np.ndarray:
    return np.arange(1, N + 1, dtype=float)


def _run(cols: dict, steps=None) -> RunSnapshot:
    return RunBuilder().add(rows_from(cols, steps)).snapshot()


def _noise(rng: np.random.Generator, sigma: float, n: int = N) -> np.ndarray:
    return rng.normal(0.0, sigma, n)


def _learning(rng: np.random.Generator, lo=0.2, hi=0.7, mid=60.0, sigma=0.03) -> np.ndarray:
    t = _t()
    return lo + (hi - lo) / (1 + np.exp(-(t - mid) / 15)) + _noise(rng, sigma)


def _onset(rng: np.random.Generator, lo: int = 90, hi: int = 130) -> int:
    return int(rng.integers(lo, hi))


# -- supervised ----------------------------------------------------------------------------------
def _train(rng, start=2.0, floor=0.6, tau=60.0, sigma=0.02) -> np.ndarray:
    t = _t()
    return floor + (start - floor) * np.exp(-t / tau) + _noise(rng, sigma)


def _sft(train, valid, every=5, extra=None) -> RunSnapshot:
    cols = {"train_loss": list(train)}
    valid = np.asarray(valid, dtype=float)
    cols["valid_loss"] = [v if (i + 1) % every == 0 else None for i, v in enumerate(valid)]
    cols.update(extra or {})
    return _run(cols)


def sft_overfit_ratio(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    train = np.full(N, 0.8) + _noise(rng, 0.01)
    start = _onset(rng, 60, 90)
    ratio = np.where(_t() < start, 1.0, 1.0 + 1.6 * (_t() - start) / (N - start))
    valid = train * ratio + _noise(rng, 0.01)
    crossing = math.ceil(start + (2.0 - 1.0) / 1.6 * (N - start))  # critical: 2.0×
    return Scenario(_sft(train, valid), crossing, "critical", spacing=5)


def sft_valid_rising(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    train = _train(rng)
    best = _onset(rng, 70, 100)
    t = _t()
    valid = np.where(t < best, 1.5 - 0.6 * t / best, 0.9 + 0.9 * (t - best) / (N - best))
    valid = valid + _noise(rng, 0.01)
    crossing = math.ceil(best + (0.9 * 0.2) / 0.9 * (N - best))  # 1.2 × the best
    return Scenario(_sft(train, valid, every=2), crossing, "warning", spacing=2)


def sft_train_flat(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    train = 2.0 + _noise(rng, 0.02)
    return Scenario(_run({"train_loss": list(train)}), 30, "warning")  # min_points: 30


def sft_train_collapse(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng, 80, 120)
    t = _t()
    train = np.where(t < start, 1.0 - 0.002 * t, (1.0 - 0.002 * start) * np.exp(-(t - start) / 4))
    train = np.abs(train + _noise(rng, 0.001))
    limit = 0.02 * 1.0
    crossing = int(np.argmax(np.where(t >= start, train, 9) <= limit)) + 1
    return Scenario(_run({"train_loss": list(train)}), crossing, "warning")


def sft_valid_plateau(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    train = _train(rng)
    t = _t()
    epoch_end = 100
    valid = np.where(t < epoch_end, 1.5 - 0.5 * t / epoch_end, 1.0) + _noise(rng, 0.003)
    epoch = t / epoch_end
    return Scenario(
        _sft(train, valid, every=5, extra={"epoch": list(epoch)}), epoch_end, "info", spacing=5
    )


def sft_valid_oscillating(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    train = _train(rng)
    start = _onset(rng, 80, 120)
    t = _t()
    base = 1.2 - 0.001 * t
    swing = np.where(t >= start, 0.25 * np.where(t % 2 == 0, 1, -1), 0.0)
    valid = base + swing + _noise(rng, 0.005)
    return Scenario(_sft(train, valid, every=1), start, "warning")


def sft_both_high(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    train = 2.5 + _noise(rng, 0.03)
    valid = 2.7 + _noise(rng, 0.03)
    return Scenario(_sft(train, valid, every=5), 30, "warning")  # min_train_points: 30


def sft_gap_from_start(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    train = _train(rng)
    valid = train * 1.8 + _noise(rng, 0.01)
    return Scenario(_sft(train, valid, every=5), 5, "warning", spacing=5)


# -- reinforcement: rewards ---------------------------------------------------------------------
def rl_narrowing(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng, 70, 110)
    t = _t()
    reward = 0.3 + np.where(t >= start, 0.4 * (t - start) / (N - start), 0) + _noise(rng, 0.02)
    passk = 0.5 + _noise(rng, 0.01)
    return Scenario(_run({"reward": list(reward), "pass@k": list(passk)}), start, "warning")


def rl_stagnant(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    reward = 0.3 + _noise(rng, 0.03)
    passk = 0.4 + _noise(rng, 0.01)
    # judged once the starting level (warm-up: 10% of the points) and one window (a quarter of
    # the run) lie behind: its documented minimum
    first = max(5, int(0.1 * N)) + N // 4 - 1
    return Scenario(_run({"reward": list(reward), "pass@k": list(passk)}), first + 1, "warning")


def rl_reward_zero(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng)
    t = _t()
    reward = np.where(t < start, 0.3 + _noise(rng, 0.03), 0.0)
    return Scenario(_run({"reward": list(reward)}), start, "critical")


def rl_reward_negative(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    reward = -0.5 + _noise(rng, 0.05)
    return Scenario(_run({"reward": list(reward)}), 1, "warning")


def rl_reward_saturated(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    reward = np.clip(0.96 + _noise(rng, 0.01), 0, 1)
    return Scenario(_run({"reward": list(reward)}), 1, "warning")


def rl_reward_declining(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    peak = _onset(rng, 80, 110)
    t = _t()
    rise = 0.3 + 0.4 * np.minimum(t, peak) / peak
    fall = np.where(t > peak, -0.3 * (t - peak) / 150, 0)
    reward = rise + fall + _noise(rng, 0.02)
    return Scenario(_run({"reward": list(reward)}), peak, "warning")


def rl_train_valid_gap(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng, 80, 120)
    t = _t()
    reward = 0.4 + 0.002 * t + _noise(rng, 0.02)
    valid = 0.4 + 0.002 * t - np.where(t >= start, 0.25, 0) + _noise(rng, 0.01)
    cols = {
        "reward": list(reward),
        "val/reward": [v if i % 5 == 4 else None for i, v in enumerate(valid)],
    }
    return Scenario(_run(cols), start, "warning", spacing=5)


def rl_dimension_regression(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng, 80, 110)
    t = _t()
    reward = 0.2 + 0.003 * t + _noise(rng, 0.02)
    dim = 0.8 - np.where(t >= start, 0.4 * (t - start) / (N - start), 0) + _noise(rng, 0.01)
    cols = {"reward": list(reward), "scores/empathy": list(dim)}
    return Scenario(_run(cols), start, "warning")


# -- reinforcement: rollouts (aggregates) -------------------------------------------------------
def rl_token_growth(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng, 40, 70)
    t = _t()
    length = 200 * (1 + np.where(t >= start, 3.5 * (t - start) / (N - start), 0))
    length = length * (1 + _noise(rng, 0.02))
    crossing = math.ceil(start + 2.0 / 3.5 * (N - start))  # the warning tier: 3×
    cols = {"reward": list(0.4 + _noise(rng, 0.02)), "response_length/mean": list(length)}
    return Scenario(_run(cols), crossing, "warning")


def rl_truncation(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng)
    t = _t()
    clip = np.clip(np.where(t < start, 0.1, 0.8) + _noise(rng, 0.03), 0, 1)
    return Scenario(_run({"response_length/clip_ratio": list(clip)}), start, "warning")


def rl_grader_errors(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng)
    t = _t()
    errors = np.where(t < start, 0, rng.integers(1, 4, N))
    cols = {"reward": list(0.4 + _noise(rng, 0.02)), "train_other_error_count": list(errors)}
    return Scenario(_run(cols), start, "critical")


def rl_parse_errors(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng)
    t = _t()
    rate = np.clip(np.where(t < start, 0.01, 0.3) + _noise(rng, 0.01), 0, 1)
    cols = {"reward": list(0.4 + _noise(rng, 0.02)), "parse_error_rate": list(rate)}
    return Scenario(_run(cols), start, "info")


def rl_zero_variance(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng)
    t = _t()
    share = np.clip(np.where(t < start, 0.2, 0.8) + _noise(rng, 0.05), 0, 1)
    cols = {"reward": list(0.4 + _noise(rng, 0.02)), "frac_reward_zero_std": list(share)}
    return Scenario(_run(cols), start, "warning")


def rl_early_termination(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng, 40, 60)
    rows = []
    for step in range(1, 101):
        for k in range(10):
            bad = step >= start and rng.random() < 0.5
            rows.append(
                {
                    "step": step,
                    "group": f"s{step}-{k}",
                    "reward": 0.5,
                    "terminal_reason": "critical_error" if bad else "resolved",
                }
            )
    run = RunBuilder().add_rollouts(pl.DataFrame(rows)).snapshot()
    return Scenario(run, start, "warning", steps=100)


# -- reinforcement: the policy -------------------------------------------------------------------
def rl_entropy_collapse(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng)
    t = _t()
    entropy = np.where(t < start, 1.0, np.exp(-(t - start) / 5)) * (1 + _noise(rng, 0.03))
    crossing = start + math.ceil(5 * math.log(10))  # 10% of the start
    cols = {"reward": list(0.4 + _noise(rng, 0.02)), "actor/entropy": list(np.abs(entropy))}
    return Scenario(_run(cols), crossing, "warning")


def rl_kl_spike(seed: int) -> Scenario:
    """KL jumps 14× and stays at least 10× until the end (the spike must not be forgotten)."""
    rng = np.random.default_rng(seed)
    start = _onset(rng, 100, 140)
    t = _t()
    kl = np.abs(0.01 + _noise(rng, 0.001))
    kl = np.where(t >= start, kl * 14 * np.linspace(1, 0.75, N), kl)
    cols = {"reward": list(0.4 + _noise(rng, 0.02)), "actor/kl_loss": list(kl)}
    return Scenario(_run(cols), start, "warning")


# -- rollout text and run pace --------------------------------------------------------------------
_WORDS = [
    "the",
    "packs",
    "add",
    "items",
    "so",
    "we",
    "count",
    "each",
    "one",
    "then",
    "subtract",
    "what",
    "was",
    "given",
    "away",
    "and",
    "check",
    "the",
    "total",
    "against",
    "the",
    "question",
    "before",
    "writing",
    "the",
    "final",
    "answer",
    "clearly",
]


def _answer(rng: np.random.Generator) -> str:
    words = rng.choice(_WORDS, size=int(rng.integers(30, 60)))
    return " ".join(words) + f". #### {int(rng.integers(1, 100))}"


def _looping(rng: np.random.Generator) -> str:
    loop = "Wait, let me re-check the number of packs and items once more. "
    return _answer(rng)[:80] + " " + loop * int(rng.integers(12, 20))


def _garbled(rng: np.random.Generator) -> str:
    return _answer(rng)[:60] + " \ufffd\ufffd Ответ неизвестен ответ ответ \x07 ####"


def _text_run(
    rng: np.random.Generator, start: int, bad: Callable | None, share: float, same: bool = False
) -> RunSnapshot:
    rows = []
    for step in range(1, 101):
        for g in range(8):
            group_text = _answer(rng)
            for _k in range(4):
                if step >= start and same and g < 6:
                    text = group_text
                elif step >= start and bad is not None and rng.random() < share:
                    text = bad(rng)
                else:
                    text = _answer(rng)
                rows.append(
                    {
                        "step": step,
                        "group": f"{step}-{g}",
                        "prompt": "How many items are left?",
                        "completion": text,
                        "reward": float(rng.random() < 0.35 + step / 320),
                    }
                )
    return RunBuilder().add_rollouts(pl.DataFrame(rows)).snapshot()


def rl_repetition(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng, 40, 60)
    return Scenario(_text_run(rng, start, _looping, 0.3), start, "warning", steps=100)


def rl_garbled(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng, 40, 60)
    return Scenario(_text_run(rng, start, _garbled, 0.2), start, "warning", steps=100)


def rl_mode_collapse(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng, 40, 60)
    return Scenario(_text_run(rng, start, None, 0.0, same=True), start, "warning", steps=100)


def run_slowdown(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng)
    t = _t()
    secs = np.where(t < start, 10.0, 25.0) * (1 + _noise(rng, 0.05))
    cols = {"reward": list(0.4 + _noise(rng, 0.02)), "timing_s/step": list(secs)}
    return Scenario(_run(cols), start, "warning")


def run_slowdown_from_timestamps(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng)
    t = _t()
    secs = np.where(t < start, 10.0, 25.0) * (1 + _noise(rng, 0.05))
    stamps = 1.7e9 + np.cumsum(secs)
    cols = {"reward": list(0.4 + _noise(rng, 0.02)), "_timestamp": list(stamps)}
    return Scenario(_run(cols), start, "warning")


def run_nan(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    start = _onset(rng)
    loss = list(_train(rng))
    loss[start - 1] = math.nan
    return Scenario(_run({"train_loss": loss}), start, "critical")


def run_stalled(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    run = _run({"train_loss": list(_train(rng))})
    now = 1.7e9
    return Scenario(
        run,
        N,
        "critical",
        kwargs={"now": now, "last_activity": now - 3600, "live": True},
    )


def run_unreadable(seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    builder = RunBuilder().add(
        rows_from({"train_loss": list(_train(rng))}),
        skips=[Skip(line=3, reason="not JSON")] * int(rng.integers(1, 5)),
    )
    return Scenario(builder.snapshot(), None, "info")


FAILING: dict[str, Callable[[int], Scenario]] = {
    "sft.overfit_ratio": sft_overfit_ratio,
    "sft.valid_rising": sft_valid_rising,
    "sft.train_flat": sft_train_flat,
    "sft.train_collapse": sft_train_collapse,
    "sft.valid_plateau": sft_valid_plateau,
    "sft.valid_oscillating": sft_valid_oscillating,
    "sft.both_high": sft_both_high,
    "sft.gap_from_start": sft_gap_from_start,
    "rl.narrowing": rl_narrowing,
    "rl.stagnant": rl_stagnant,
    "rl.reward_zero": rl_reward_zero,
    "rl.reward_negative": rl_reward_negative,
    "rl.reward_saturated": rl_reward_saturated,
    "rl.reward_declining": rl_reward_declining,
    "rl.train_valid_gap": rl_train_valid_gap,
    "rl.dimension_regression": rl_dimension_regression,
    "rl.token_growth": rl_token_growth,
    "rl.truncation": rl_truncation,
    "rl.grader_errors": rl_grader_errors,
    "rl.parse_errors": rl_parse_errors,
    "rl.zero_variance": rl_zero_variance,
    "rl.early_termination": rl_early_termination,
    "rl.entropy_collapse": rl_entropy_collapse,
    "rl.kl_spike": rl_kl_spike,
    "rl.repetition": rl_repetition,
    "rl.garbled": rl_garbled,
    "rl.mode_collapse": rl_mode_collapse,
    "run.slowdown": run_slowdown,
    "run.nan": run_nan,
    "run.stalled": run_stalled,
    "run.unreadable": run_unreadable,
}
#: more ways a rule must fire (another source of the same quantity)
EXTRA_FAILING: dict[str, tuple[str, Callable[[int], Scenario]]] = {
    "run.slowdown/timestamps": ("run.slowdown", run_slowdown_from_timestamps),
}


# -- healthy runs ---------------------------------------------------------------------------------
def healthy_rl(seed: int) -> RunSnapshot:
    """Learning with noise, pass@k first, 1.6× length growth, slowly falling entropy, KL growing
    steadily from 0 (printed with 3 decimals, as console logs do), steady step times."""
    rng = np.random.default_rng(seed)
    t = _t()
    passk = np.clip(_learning(rng, 0.3, 0.8, 50, 0.03), 0, 1)
    reward = _learning(rng, 0.15, 0.65, 70, 0.04)
    kl = np.round(np.abs(0.00002 * t + _noise(rng, 0.0006)), 3)
    cols = {
        "critic/score/mean": list(reward),
        "pass@k": list(passk),
        "response_length/mean": list(300 * (1 + 0.6 * t / N) * (1 + _noise(rng, 0.03))),
        "response_length/clip_ratio": list(np.clip(0.03 + _noise(rng, 0.01), 0, 1)),
        "actor/entropy_loss": list(0.9 * np.exp(-t / 400) + _noise(rng, 0.01)),
        "actor/kl_loss": list(kl),
        "actor/ppo_kl": list(np.round(np.abs(_noise(rng, 0.0005)), 3)),
        "frac_reward_zero_std": list(np.clip(0.3 + _noise(rng, 0.05), 0, 1)),
        "timing_s/step": list(30 * (1 + 0.3 * t / N) * (1 + _noise(rng, 0.05))),
    }
    val = _learning(rng, 0.15, 0.62, 70, 0.01)
    cols["val/reward"] = [v if i % 10 == 9 else None for i, v in enumerate(val)]
    return _run(cols)


def healthy_rl_plateau(seed: int) -> RunSnapshot:
    """Took off late, then converged: a long noisy plateau."""
    rng = np.random.default_rng(seed)
    reward = _learning(rng, 0.1, 0.75, 40, 0.04)
    passk = np.clip(_learning(rng, 0.2, 0.9, 30, 0.02), 0, 1)
    return _run({"reward": list(reward), "pass@k": list(passk)})


def healthy_rl_rollouts(seed: int) -> RunSnapshot:
    """Varied completions in groups, a few long ones, answers that restate the question."""
    rng = np.random.default_rng(seed)
    rows = []
    for step in range(1, 81):
        for g in range(8):
            for k in range(4):
                text = _answer(rng)
                if k == 0:
                    text = "How many items are left? " + text + " How many items are left?"
                rows.append(
                    {
                        "step": step,
                        "group": f"{step}-{g}",
                        "prompt": "How many items are left?",
                        "completion": text,
                        "reward": float(rng.random() < 0.35 + step / 320),
                    }
                )
    return RunBuilder().add_rollouts(pl.DataFrame(rows)).snapshot()


def healthy_sft(seed: int) -> RunSnapshot:
    rng = np.random.default_rng(seed)
    train = _train(rng)
    valid = train * 1.08 + _noise(rng, 0.01)
    t = _t()
    return _sft(train, valid, every=10, extra={"epoch": list(3 * t / N)})


HEALTHY: dict[str, Callable[[int], RunSnapshot]] = {
    "rl": healthy_rl,
    "rl_plateau": healthy_rl_plateau,
    "rl_rollouts": healthy_rl_rollouts,
    "sft": healthy_sft,
}
