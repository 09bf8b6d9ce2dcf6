"""What the text rules see in one completion: a degenerate loop, garbled text; and a bounded sample
of the newest rollouts to judge, with verdicts kept per step so each completion is read once.

Verdicts are cheap by design (the rules run on every redraw of the warnings): words are hashed by
Python's ``hash`` and 8-word spans compared as numbers with numpy (imported only for a text long
enough to hold a loop: a run without rollout text never loads it); an ASCII text skips the Unicode
checks; a long text is judged on its last ``MAX_WORDS`` words (a loop runs to the length limit).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass

import polars as pl

from rltop.core.lazyre import lazy

#: the newest rollouts the text rules read (rows of the rollout frame, newest last) ...
NEWEST_ROWS = 4096
#: ... of at most this many of the newest steps ...
NEWEST_STEPS = 64
#: ... and of each step at most this many completions, spread over its groups
PER_STEP = 16
#: completions judged per evaluation once a watcher has judged the run before (a burst of steps
#: is caught up over the next evaluations; the first evaluation and ``rltop check`` judge all)
BUDGET = 16
#: words of one completion judged (its last ones)
MAX_WORDS = 1500
#: a span of this many words repeated back to back is a loop
SPAN = 8

_BAD = lazy(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]|[^\w\s]{20,}")
#: the same for ASCII text (a narrower class is several times faster to scan)
_BAD_ASCII = lazy(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[!-/:-@\[-`{-~]{20,}")
_SCRIPTS = {
    "Cyrillic": "\u0400-\u04ff",
    "Greek": "\u0370-\u03ff",
    "CJK": "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af",
    "Arabic": "\u0600-\u06ff",
    "Hebrew": "\u0590-\u05ff",
    "Devanagari": "\u0900-\u097f",
    "Thai": "\u0e00-\u0e7f",
    "Latin": "A-Za-z\u00c0-\u024f",
}


@functools.cache
def _script_patterns() -> tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...]:
    """(script, a word of it: 4+ letters in a row (CJK: 2+ characters), any letter of it),
    compiled on the first non-ASCII text (the CJK ranges alone take ~30 ms to compile: a run
    without such text, and every start of `rltop check`, does without them)."""
    return tuple(
        (
            name,
            re.compile(f"[{chars}]{{{2 if name == 'CJK' else 4},}}"),
            re.compile(f"[{chars}]"),
        )
        for name, chars in _SCRIPTS.items()
    )


_PRIME = 1_000_003


def loop_share(text: str) -> float:
    """Share of the text (in words, or in characters for lines) filled by one span of ``SPAN``+
    words repeated back to back (4+ copies at a fixed period), or by one line of 8+ characters
    said 3+ times: 0.0 when there is no such loop.

    Each 8-word span is hashed; for each position, the distance back to the same span's previous
    occurrence. Inside a loop of period P that distance is P at every position from the second
    copy on: a run of equal distances, P × (copies − 1) long."""
    words = text.split()
    n = len(words)
    best = 0.0
    if n >= 4 * SPAN:
        import numpy as np  # only here: check and the dashboard start without it

        tail = words[-MAX_WORDS:]
        ids = np.fromiter(map(hash, tail), dtype=np.int64, count=len(tail)).view(np.uint64)
        m = len(ids) - SPAN + 1
        h = ids[:m].copy()
        with np.errstate(over="ignore"):
            for j in range(1, SPAN):
                h = h * np.uint64(_PRIME) + ids[j : j + m]
        order = np.argsort(h, kind="stable")
        ordered = h[order]
        same = ordered[1:] == ordered[:-1]
        gap = np.zeros(m, dtype=np.int64)
        gap[order[1:][same]] = order[1:][same] - order[:-1][same]
        edges = np.flatnonzero(np.diff(gap) != 0) + 1
        starts = np.concatenate(([0], edges))
        lengths = np.diff(np.concatenate((starts, [m])))
        period = gap[starts]
        ok = (period > 0) & (lengths >= 3 * period)
        if ok.any():
            covered = lengths[ok] + period[ok] + SPAN - 1
            best = float(covered.max()) / n
    if text.count("\n") >= 2:
        lines = [s.strip() for s in text.splitlines()]
        lines = [s for s in lines if len(s) >= 8]
        if len(lines) >= 3:
            line, count = Counter(lines).most_common(1)[0]
            if count >= 3:
                best = max(best, count * len(line) / max(len(text), 1))
    return min(best, 1.0)


def garbled_reason(text: str, prompt: str = "") -> str | None:
    """Why a completion reads as garbled (replacement characters, control characters, a long run
    of mixed symbols, an unexpected switch of script mid-answer), or None."""
    ascii_only = text.isascii()
    for hit in (_BAD_ASCII if ascii_only else _BAD).finditer(text):
        got = hit.group()
        if got == "\ufffd":
            return "replacement characters (U+FFFD)"
        if len(got) == 1:
            return "control characters"
        if len(set(got)) >= 5:
            return "a long run of symbols"
    if ascii_only:
        return None
    # a script the prompt does not use, absent from the first fifth, then words of it
    head = text[: max(40, len(text) // 5)]
    for name, word, letter in _script_patterns():
        if name == "Latin" or letter.search(prompt) or letter.search(head):
            continue
        if len(word.findall(text)) >= 3:
            return f"a switch to {name} script mid-answer"
    return None


@dataclass(frozen=True)
class StepText:
    """The text rules' verdict on one step's completions."""

    step: int
    rows: int  # rollouts of the step seen (a step whose count moved is read again)
    sampled: int
    looping: int
    garbled: int
    example_loop: str = ""
    example_garbled: str = ""
    distinct: float | None = None  # median over groups of distinct completions / group size
    groups: int = 0
    reward: float | None = None  # the step's mean reward


#: verdicts kept per run while watching (one small record per step): the onset of a text rule
#: can be this many rollout steps old at most
MAX_KEEP = 1024


def _sample(n: int, k: int) -> list[int]:
    """Up to ``k`` indices spread evenly over ``range(n)``."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def newest_rollouts(ro: pl.DataFrame) -> pl.DataFrame | None:
    """The newest rollouts (the last ``NEWEST_ROWS`` rows) of a frame with completion text."""
    if ro.is_empty() or "completion" not in ro.columns or "step" not in ro.columns:
        return None
    return ro.tail(NEWEST_ROWS)


def _normalise(text: str) -> str:
    return " ".join(text[:4000].lower().split())


def _distinct(groups: list, texts: list[str]) -> tuple[float | None, int]:
    by: dict = {}
    for g, t in zip(groups, texts, strict=True):
        if g is not None:
            by.setdefault(g, []).append(t)
    ratios = [len({_normalise(t) for t in ts}) / len(ts) for ts in by.values() if len(ts) >= 2]
    if not ratios:
        return None, 0
    ratios.sort()
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
    return float(median), len(ratios)


def _judge(step: int, rows: int, cols: dict[str, list], loop_share_min: float) -> StepText:
    texts = cols["completion"]
    prompts = cols.get("prompt") or [""] * len(texts)
    looping = garbled = 0
    ex_loop = ex_garbled = ""
    pick = _sample(len(texts), PER_STEP)
    for i in pick:
        text = texts[i]
        if loop_share(text) >= loop_share_min:
            looping += 1
            ex_loop = ex_loop or text
        if garbled_reason(text, prompts[i] or "") is not None:
            garbled += 1
            ex_garbled = ex_garbled or text
    groups = cols.get("group") or cols.get("prompt")
    distinct, n_groups = _distinct(groups, texts) if groups else (None, 0)
    rewards = [r for r in cols.get("reward") or () if r is not None]
    return StepText(
        step,
        rows,
        len(pick),
        looping,
        garbled,
        ex_loop[:200],
        ex_garbled[:200],
        distinct,
        n_groups,
        float(sum(rewards) / len(rewards)) if rewards else None,
    )


def step_verdicts(tail: pl.DataFrame | None, cache: dict, loop_share_min: float) -> list[StepText]:
    """One ``StepText`` per step: those of ``tail``'s newest ``NEWEST_STEPS`` steps (read again
    only when a step's row count changed) and, while watching, those kept in ``cache`` from
    earlier reads (at most ``MAX_KEEP``). Rows without text or of a validation split are left
    out."""
    kept: dict[int, StepText] = cache.setdefault(("text", loop_share_min), {})
    if tail is not None and tail.height:
        steps = tail.get_column("step")
        per = steps.drop_nulls().value_counts(name="n").sort("step").tail(NEWEST_STEPS)
        wanted = {
            int(st): int(c)
            for st, c in per.iter_rows()
            if int(st) not in kept or kept[int(st)].rows != int(c)
        }
        if wanted and kept:
            # while watching, judge at most BUDGET completions now (oldest wanted steps first);
            # only their rows are read, so the cost of one evaluation stays bounded
            chosen: dict[int, int] = {}
            budget = BUDGET
            for step in sorted(wanted):
                if budget <= 0:
                    break  # the next evaluation goes on from here
                chosen[step] = wanted[step]
                budget -= min(PER_STEP, wanted[step])
            wanted = chosen
        if wanted:
            take = steps.is_in(list(wanted)).arg_true()
            names = [
                c for c in ("completion", "prompt", "group", "reward", "split") if c in tail.columns
            ]
            cols = {name: tail.get_column(name).gather(take).to_list() for name in names}
            by_step: dict[int, list[int]] = {}
            split = cols.get("split")
            for i, st in enumerate(steps.gather(take).to_list()):
                if cols["completion"][i] is None or (split and split[i] not in (None, "train")):
                    continue
                by_step.setdefault(st, []).append(i)
            for step in sorted(wanted):  # the first read judges every step at once
                rows = by_step.get(step)
                if not rows:
                    kept[step] = StepText(step, wanted[step], 0, 0, 0)
                    continue
                sub = {name: [values[i] for i in rows] for name, values in cols.items()}
                kept[step] = _judge(step, wanted[step], sub, loop_share_min)
    while len(kept) > MAX_KEEP:
        del kept[min(kept)]
    return [kept[s] for s in sorted(kept)]
