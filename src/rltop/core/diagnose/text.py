"""What the text rules see in one completion: a degenerate loop, garbled text; and a bounded sample
of the newest rollouts to judge, with verdicts kept per step so each completion is read once.

Verdicts are cheap by design (the rules run on every redraw of the warnings): words are hashed by
Python's ``hash`` and 8-word spans compared as numbers with numpy; an ASCII text skips the Unicode
checks; a long text is judged on its last ``MAX_WORDS`` words (a loop runs to the length limit).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import polars as pl

#: the newest rollouts the text rules read (rows of the rollout frame, newest last) ...
NEWEST_ROWS = 4096
#: ... of at most this many of the newest steps ...
NEWEST_STEPS = 64
#: ... and of each step at most this many completions, spread over its groups
PER_STEP = 16
#: words of one completion judged (its last ones)
MAX_WORDS = 1500
#: a span of this many words repeated back to back is a loop
SPAN = 8

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]")
_SYMBOL_RUN = re.compile(r"[^\w\s]{20,}")
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
#: a word of a script: 4+ letters (CJK: 2+ characters) in a row
_SCRIPT_WORD = {
    name: re.compile(f"[{chars}]{{{2 if name == 'CJK' else 4},}}")
    for name, chars in _SCRIPTS.items()
}
_SCRIPT_ANY = {name: re.compile(f"[{chars}]") for name, chars in _SCRIPTS.items()}
_PRIME = np.uint64(1_000_003)


def loop_share(text: str) -> float:
    """Share of the text (in words, or in characters for lines) filled by one span of ``SPAN``+
    words repeated back to back (4+ copies at a fixed period), or by one line of 8+ characters
    said 3+ times: 0.0 when there is no such loop."""
    words = text.split()
    n = len(words)
    best = 0.0
    if n >= 3 * SPAN:
        tail = words[-MAX_WORDS:]
        ids = np.array(list(map(hash, tail)), dtype=np.int64).view(np.uint64)
        m = len(ids) - SPAN + 1
        h = np.zeros(m, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(SPAN):
                h = h * _PRIME + ids[j : j + m]
        values, counts = np.unique(h, return_counts=True)
        if counts.max() >= 3:
            for gram in values[np.argsort(counts)[-3:]]:
                pos = np.flatnonzero(h == gram)
                if len(pos) < 3:
                    continue
                gaps = np.diff(pos)
                # the longest stretch of occurrences at one fixed period: the loop
                change = np.flatnonzero(np.diff(gaps) != 0)
                edges = np.concatenate(([0], change + 1, [len(gaps)]))
                k = int(np.argmax(np.diff(edges)))
                reps = int(edges[k + 1] - edges[k])  # gaps at that period
                period = int(gaps[edges[k]])
                if reps >= 3:  # four copies back to back: a loop, not a phrase said twice
                    covered = reps * period + SPAN
                    best = max(best, covered / n)
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
    if _CONTROL.search(text):
        return "control characters"
    for run in _SYMBOL_RUN.findall(text):
        if len(set(run)) >= 5:
            return "a long run of symbols"
    if text.isascii():
        return None
    if "\ufffd" in text:
        return "replacement characters (U+FFFD)"
    # a script the prompt does not use, absent from the first fifth, then words of it
    head = text[: max(40, len(text) // 5)]
    for name, word in _SCRIPT_WORD.items():
        if name == "Latin" or _SCRIPT_ANY[name].search(prompt) or _SCRIPT_ANY[name].search(head):
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


#: verdicts kept per run while watching (one small record per step)
MAX_KEEP = 20_000


def _sample(n: int, k: int) -> list[int]:
    """Up to ``k`` indices spread evenly over ``range(n)``."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def newest_rollouts(ro: pl.DataFrame) -> pl.DataFrame | None:
    """The newest rollouts of the newest ``NEWEST_STEPS`` steps (train split, text present)."""
    if ro.is_empty() or "completion" not in ro.columns or "step" not in ro.columns:
        return None
    tail = ro.tail(NEWEST_ROWS)
    cols = [
        c for c in ("step", "group", "prompt", "completion", "reward", "split") if c in tail.columns
    ]
    tail = tail.select(cols).filter(pl.col("completion").is_not_null())
    if "split" in tail.columns:
        tail = tail.filter(pl.col("split").is_null() | (pl.col("split") == "train"))
    if tail.is_empty():
        return None
    steps = tail.get_column("step").unique().sort()
    if len(steps) > NEWEST_STEPS:
        tail = tail.filter(pl.col("step") >= steps[-NEWEST_STEPS])
    return tail


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
    return float(np.median(ratios)), len(ratios)


def _judge(frame: pl.DataFrame, rows: int, loop_share_min: float) -> StepText:
    step = int(frame.get_column("step")[0])
    texts = [t or "" for t in frame.get_column("completion").to_list()]
    prompts = (
        frame.get_column("prompt").to_list() if "prompt" in frame.columns else [""] * len(texts)
    )
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
    key = "group" if "group" in frame.columns else "prompt" if "prompt" in frame.columns else None
    distinct, groups = _distinct(frame.get_column(key).to_list(), texts) if key else (None, 0)
    reward = frame.get_column("reward").mean() if "reward" in frame.columns else None
    return StepText(
        step,
        rows,
        len(pick),
        looping,
        garbled,
        ex_loop[:200],
        ex_garbled[:200],
        distinct,
        groups,
        float(reward) if isinstance(reward, int | float) else None,
    )


def step_verdicts(tail: pl.DataFrame | None, cache: dict, loop_share_min: float) -> list[StepText]:
    """One ``StepText`` per step: those of ``tail`` (read again only when a step's rows changed)
    and, while watching, those kept in ``cache`` from earlier reads (at most ``MAX_KEEP``)."""
    kept: dict[int, StepText] = cache.setdefault(("text", loop_share_min), {})
    if tail is not None:
        counts = tail.group_by("step").len().sort("step")
        wanted = {
            step: rows
            for step, rows in counts.iter_rows()
            if step not in kept or kept[step].rows != rows
        }
        if wanted:
            part = tail.filter(pl.col("step").is_in(list(wanted)))
            for frame in part.partition_by("step", maintain_order=True):
                step = int(frame.get_column("step")[0])
                kept[step] = _judge(frame, wanted[step], loop_share_min)
    while len(kept) > MAX_KEEP:
        del kept[min(kept)]
    return [kept[s] for s in sorted(kept)]
